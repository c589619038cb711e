/**
 * Secret config values never reach a snapshot, a log line or an error: not when another plugin
 * quotes them (through a service it called), not through a host hook, a hooks getter, a long
 * value the engine quotes, or a log field's key.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createConsoleLogger, createPluginManager, defineService } from '../../src/index.ts';
import type { PluginContext, PluginDefinition, PluginManager } from '../../src/index.ts';

const URL = 'postgres://admin:SEKRIT-PASSWORD-0123456789@db-primary.internal.example.com:5432/production-database';
const PASSWORD = 'SEKRIT-PASSWORD';

const managers: PluginManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.stop()));
});

function host(plugins: PluginDefinition[]) {
  const lines: string[] = [];
  const manager = createPluginManager({
    plugins,
    logger: createConsoleLogger({ level: 'debug', write: (line) => lines.push(line) }),
    health: { intervalMs: 10, timeoutMs: 100, unhealthyThreshold: 100 },
  });
  managers.push(manager);
  return { manager, lines };
}

const noop = { init() {}, start() {}, stop() {} };
const Db = defineService<{ query(): Promise<void> }>('db.client');

/** `db` holds the secret; its service's errors quote it. */
const db: PluginDefinition = {
  manifest: { name: 'db', version: '1.0.0', config: { url: { type: 'string', required: true, secret: true } } },
  config: { url: URL },
  module: {
    ...noop,
    start(ctx: PluginContext) {
      ctx.services.provide(Db, {
        query: async () => {
          throw new Error(`connect ${String(ctx.config['url'])} refused`);
        },
      });
    },
  },
};

const everything = (manager: PluginManager, lines: string[]) => `${JSON.stringify(manager.getSnapshot())}\n${lines.join('\n')}`;

describe('secrets', () => {
  it("another plugin's error quoting the secret (from a service it called) is scrubbed, in its snapshot and logs", async () => {
    const app: PluginDefinition = {
      manifest: { name: 'app', version: '1.0.0', dependencies: { db: '*' } },
      module: {
        ...noop,
        async start(ctx: PluginContext) {
          try {
            await ctx.services.get(Db).query();
          } catch (error) {
            ctx.logger.error({ err: error, pools: { [URL]: 'down' } }, `query failed: ${(error as Error).message}`);
            throw error;
          }
        },
      },
    };
    const { manager, lines } = host([db, app]);
    await manager.start();
    const snapshot = manager.getSnapshot();
    expect(snapshot.plugins.find((plugin) => plugin.name === 'app')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED' } });
    expect(lines.some((line) => line.includes('query failed'))).toBe(true);
    expect(everything(manager, lines)).not.toContain(PASSWORD);
  });

  it('a host hook implementation that fails quoting a secret: HOST_HOOK_FAILED, message and cause scrubbed', async () => {
    const info = { name: 'app.info', mode: 'collect' } as const;
    const { manager } = host([
      {
        ...db,
        module: {
          ...noop,
          start(ctx: PluginContext) {
            ctx.hooks.implement(info, () => {
              throw new Error(`cannot reach ${String(ctx.config['url'])}`);
            });
          },
        },
      },
    ]);
    const ref = manager.defineHook(info.name, { mode: 'collect' });
    await manager.start();
    const failure = (await manager.callHook(ref, undefined).catch((error: unknown) => error)) as Error & { code: string };
    expect(failure.code).toBe('HOST_HOOK_FAILED');
    expect(`${failure.message} ${String(failure.cause)}`).not.toContain(PASSWORD);
  });

  it('a hooks object whose start getter throws a text with the secret: HOOK_FAILED, scrubbed', async () => {
    let reads = 0;
    const { manager, lines } = host([
      {
        ...db,
        module: {
          init() {},
          stop() {},
          get start() {
            // Validation reads it once; the call reads it again, and then it throws.
            if (reads++ > 0) throw new Error(`start getter ${URL}`);
            return () => undefined;
          },
        },
      },
    ]);
    await manager.start();
    expect(manager.getSnapshot().plugins[0]).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'start' } });
    expect(everything(manager, lines)).not.toContain(PASSWORD);
  });

  it('a long secret where a name is expected, or as a health result, is not quoted in part', async () => {
    const { manager, lines } = host([
      {
        ...db,
        module: {
          ...noop,
          start(ctx: PluginContext) {
            ctx.events.publish(String(ctx.config['url']), {});
          },
        },
      },
      {
        manifest: { name: 'cache', version: '1.0.0', config: { token: { type: 'string', secret: true } } },
        config: { token: URL },
        module: {
          ...noop,
          health: (ctx: PluginContext) => String(ctx.config['token']),
        },
      },
    ]);
    await manager.start();
    await new Promise((resolve) => setTimeout(resolve, 60));
    const [dbSnapshot, cache] = manager.getSnapshot().plugins;
    expect(dbSnapshot).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED' } });
    expect(cache?.health).toMatchObject({ status: 'unhealthy', error: { code: 'HEALTH_INVALID' } });
    expect(everything(manager, lines)).not.toContain(PASSWORD);
  });

  it("a secret used as a log field's key, a child binding's key or an error property's key is redacted", async () => {
    const { manager, lines } = host([
      {
        ...db,
        module: {
          ...noop,
          init(ctx: PluginContext) {
            const url = String(ctx.config['url']);
            ctx.logger.info({ pools: { [url]: 'up' } }, 'pools');
            ctx.logger.child({ [url]: true }).info('child');
            ctx.logger.error({ err: Object.assign(new Error('refused'), { details: { [url]: 'refused' } }) }, 'error');
          },
        },
      },
    ]);
    await manager.start();
    expect(lines.filter((line) => /pools|child|error/.test(line)).length).toBeGreaterThanOrEqual(3);
    expect(lines.join('\n')).not.toContain(PASSWORD);
  });
});
