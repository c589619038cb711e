/**
 * Secret config values never reach a snapshot, a log line or an error: not when another plugin
 * quotes them (through a service it called), not through a host hook, a hooks getter, a long
 * value the engine quotes, or a log field's key.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createConsoleLogger, createPluginManager, defineService } from '../../src/index.ts';
import type { Logger, PluginContext, PluginDefinition, PluginManager } from '../../src/index.ts';

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

type Line = { bindings: Record<string, unknown>; fields: Record<string, unknown>; msg: string | undefined };

/** A host whose log lines are kept as records (fields and message apart). */
function recordingHost(plugins: PluginDefinition[]) {
  const records: Line[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const log = (first: unknown, second?: unknown) => {
      if (typeof first === 'string') records.push({ bindings, fields: {}, msg: first });
      else records.push({ bindings, fields: first as Record<string, unknown>, msg: second as string | undefined });
    };
    return { debug: log, info: log, warn: log, error: log, child: (more) => make({ ...bindings, ...more }) };
  };
  const manager = createPluginManager({ plugins, logger: make({}) });
  managers.push(manager);
  return { manager, records };
}

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

  it('a health getter that throws quoting the secret when checks start: the plugin runs without them, the log line scrubbed', async () => {
    let reads = 0;
    const { manager, lines } = host([
      {
        ...db,
        module: {
          ...noop,
          get health() {
            // Validation reads it once; health checks starting read it again, and then it throws.
            if (reads++ > 0) throw new Error(`health getter ${URL}`);
            return () => 'healthy' as const;
          },
        },
      },
    ]);
    await manager.start();
    expect(reads).toBeGreaterThan(1);
    expect(manager.getSnapshot().plugins[0]).toMatchObject({ state: 'running', health: null });
    expect(lines.some((line) => line.includes('health getter'))).toBe(true);
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

  it("a short secret (a PIN) is scrubbed from its own plugin's output only; a long one from every plugin's", async () => {
    const lock: PluginDefinition = {
      manifest: { name: 'lock', version: '1.0.0', config: { pin: { type: 'string', secret: true }, key: { type: 'string', secret: true } } },
      config: { pin: '42', key: 'LOCK-KEY-9f3a' },
      module: {
        ...noop,
        init(ctx: PluginContext) {
          ctx.logger.info({ attempts: 42 }, `pin ${String(ctx.config['pin'])} accepted`);
        },
        start(ctx: PluginContext) {
          throw new Error(`door ${String(ctx.config['pin'])} jammed`);
        },
      },
    };
    const shop: PluginDefinition = {
      manifest: { name: 'shop', version: '1.0.0' },
      module: {
        ...noop,
        init(ctx: PluginContext) {
          ctx.logger.info({ count: 42 }, '42 items, key LOCK-KEY-9f3a');
        },
      },
    };
    const { manager, records } = recordingHost([lock, shop]);
    await manager.start();
    const lockLine = records.find((line) => line.msg?.includes('accepted'));
    expect(lockLine?.msg).toBe('pin [redacted] accepted');
    expect(lockLine?.fields['attempts']).toBe('[redacted]');
    const error = manager.getSnapshot().plugins.find((plugin) => plugin.name === 'lock')?.error;
    expect(error).toMatchObject({ code: 'HOOK_FAILED', cause: 'door [redacted] jammed' });
    const shopLine = records.find((line) => line.msg?.includes('items'));
    expect(shopLine?.msg).toBe('42 items, key [redacted]');
    expect(shopLine?.fields['count']).toBe(42);
  });

  it('a plain date logged as a field is scrubbed where its JSON text holds a secret, and kept a date where it holds none', async () => {
    const vault: PluginDefinition = {
      manifest: { name: 'vault', version: '1.0.0', config: { pin: { type: 'string', secret: true } } },
      config: { pin: '2031' },
      module: {
        ...noop,
        init(ctx: PluginContext) {
          ctx.logger.info({ expires: new Date(Date.UTC(2031, 0, 2)), created: new Date(Date.UTC(1999, 0, 2)) }, 'dates');
        },
      },
    };
    const { manager, records } = recordingHost([vault]);
    await manager.start();
    const line = records.find((record) => record.msg === 'dates');
    expect(JSON.stringify(line?.fields['expires'])).not.toContain('2031');
    expect(line?.fields['created']).toBeInstanceOf(Date);
  });

  it("an unloaded version's code that still runs logs its secret scrubbed", async () => {
    let late: ((text: string) => void) | null = null;
    const { manager, records } = recordingHost([
      {
        manifest: { name: 'db', version: '1.0.0', config: { url: { type: 'string', secret: true } } },
        config: { url: 'postgres://admin:S3cretPw@db' },
        module: { ...noop, start: (ctx: PluginContext) => void (late = (text) => ctx.logger.info(text)) },
      },
    ]);
    await manager.start();
    await manager.unloadPlugin('db');
    late!('pool for postgres://admin:S3cretPw@db closed late');
    expect(records.filter((line) => line.msg?.startsWith('pool')).map((line) => line.msg)).toEqual(['pool for [redacted] closed late']);
  });

  it('a secret stays scrubbed when a plugin holding it is unloaded or reloaded with another; a reload brings its new secret', async () => {
    const holder = (name: string, token: string): PluginDefinition => ({
      manifest: { name, version: '1.0.0', config: { token: { type: 'string', secret: true } } },
      config: { token },
      module: noop,
    });
    let say: ((text: string) => void) | null = null;
    const talker: PluginDefinition = {
      manifest: { name: 'talker', version: '1.0.0' },
      module: {
        ...noop,
        init(ctx: PluginContext) {
          say = (text) => ctx.logger.info(text);
        },
      },
    };
    const { manager, records } = recordingHost([holder('a', 'SHARED-TOKEN-1'), holder('b', 'SHARED-TOKEN-1'), talker]);
    await manager.start();
    await manager.unloadPlugin('a');
    say!('saw SHARED-TOKEN-1');
    await manager.reloadPlugin('b', holder('b', 'FRESH-TOKEN-22'));
    say!('saw FRESH-TOKEN-22 and SHARED-TOKEN-1');
    const said = records.filter((line) => line.msg?.startsWith('saw')).map((line) => line.msg);
    expect(said).toEqual(['saw [redacted]', 'saw [redacted] and [redacted]']);
  });

  it("a module's factory or hooks getter that throws quoting a secret: MODULE_LOAD_FAILED / CONTRACT_INVALID, scrubbed in snapshot, cause and logs", async () => {
    const { manager, lines } = host([
      db,
      {
        manifest: { name: 'factory', version: '1.0.0', config: { key: { type: 'string', secret: true } } },
        config: { key: 'OWN-FACTORY-KEY-42' },
        module: async () => {
          throw new Error(`login to ${URL} with OWN-FACTORY-KEY-42 refused`);
        },
      },
      {
        manifest: { name: 'getter', version: '1.0.0' },
        module: {
          start() {},
          stop() {},
          get init(): () => void {
            throw new Error(`getter saw ${URL}`);
          },
        },
      },
    ]);
    await manager.start();
    const plugins = manager.getSnapshot().plugins;
    expect(plugins.find((p) => p.name === 'factory')).toMatchObject({ state: 'invalid', error: { code: 'MODULE_LOAD_FAILED' } });
    expect(plugins.find((p) => p.name === 'getter')).toMatchObject({ state: 'invalid', error: { code: 'CONTRACT_INVALID' } });
    const all = everything(manager, lines);
    expect(all).toContain('[redacted]');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain('OWN-FACTORY-KEY-42');
  });

  it("a plugin's secret is scrubbed from the start: while its factory still runs, and when it never validates", async () => {
    let release: () => void = () => undefined;
    const slow: PluginDefinition = {
      ...db,
      module: () => new Promise((resolve) => (release = () => resolve(noop))),
    };
    // Invalid for another field: its module never counts, its secret still does.
    const broken: PluginDefinition = {
      manifest: { name: 'broken', version: '1.0.0', config: { token: { type: 'string', secret: true }, port: { type: 'integer' } } },
      config: { token: 'BROKEN-PLUGIN-TOKEN-77', port: 'eighty' },
      module: noop,
    };
    const quoting: PluginDefinition = {
      manifest: { name: 'quoting', version: '1.0.0' },
      module: {
        ...noop,
        init(ctx: PluginContext) {
          ctx.logger.info(`saw ${URL} and BROKEN-PLUGIN-TOKEN-77`);
          release();
        },
        start() {
          throw new Error(`upstream rejected BROKEN-PLUGIN-TOKEN-77 at ${URL}`);
        },
      },
    };
    const { manager, lines } = host([slow, broken, quoting]);
    await manager.start();
    const plugins = manager.getSnapshot().plugins;
    expect(plugins.find((p) => p.name === 'broken')).toMatchObject({ state: 'invalid', error: { code: 'CONFIG_INVALID' } });
    expect(plugins.find((p) => p.name === 'quoting')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED' } });
    expect(lines.some((line) => line.includes('saw [redacted] and [redacted]'))).toBe(true);
    const all = everything(manager, lines);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain('BROKEN-PLUGIN-TOKEN-77');
  });

  it('a factory throwing a Proxy whose every trap throws quoting the secret: MODULE_LOAD_FAILED, nothing of it quoted', async () => {
    const trap = () => {
      throw new Error(`trap saw ${URL}`);
    };
    const hostile = new Proxy({}, { get: trap, getPrototypeOf: trap, ownKeys: trap, has: trap, getOwnPropertyDescriptor: trap });
    const { manager, lines } = host([
      {
        ...db,
        module: () => {
          throw hostile;
        },
      },
    ]);
    await manager.start();
    expect(manager.getSnapshot().plugins[0]).toMatchObject({ state: 'invalid', error: { code: 'MODULE_LOAD_FAILED' } });
    expect(everything(manager, lines)).not.toContain(PASSWORD);
  });

  it("a secret given by the manifest's default counts from the start too, for a factory that fails and a plugin that never validates", async () => {
    const key = { type: 'string', secret: true, default: 'DEFAULTED-SECRET-5150' } as const;
    const { manager, lines } = host([
      {
        manifest: { name: 'factory', version: '1.0.0', config: { key } },
        module: () => {
          throw new Error('vault refused DEFAULTED-SECRET-5150');
        },
      },
      { manifest: { name: 'broken', version: '1.0.0', config: { key, port: { type: 'integer' } } }, config: { port: 'eighty' }, module: noop },
      {
        manifest: { name: 'quoting', version: '1.0.0' },
        module: {
          ...noop,
          init(ctx: PluginContext) {
            ctx.logger.warn('upstream said DEFAULTED-SECRET-5150');
          },
        },
      },
    ]);
    await manager.start();
    expect(manager.getSnapshot().plugins.map((p) => [p.name, p.error?.code ?? null])).toEqual([
      ['factory', 'MODULE_LOAD_FAILED'],
      ['broken', 'CONFIG_INVALID'],
      ['quoting', null],
    ]);
    expect(lines.some((line) => line.includes('upstream said [redacted]'))).toBe(true);
    expect(everything(manager, lines)).not.toContain('DEFAULTED-SECRET-5150');
  });

  it("a reload whose new factory throws quoting the new config's secret rejects scrubbed; the old version keeps running", async () => {
    const { manager } = host([db]);
    await manager.start();
    const failure = (await manager
      .reloadPlugin('db', {
        ...db,
        config: { url: 'postgres://admin:NEW-RELOAD-SECRET-55@db' },
        module: () => {
          throw new Error('cannot open postgres://admin:NEW-RELOAD-SECRET-55@db');
        },
      })
      .catch((error: unknown) => error)) as Error & { code: string };
    expect(failure.code).toBe('MODULE_LOAD_FAILED');
    expect(`${failure.message} ${String((failure.cause as Error | undefined)?.message)}`).not.toContain('NEW-RELOAD-SECRET-55');
    expect(manager.getSnapshot().plugins[0]).toMatchObject({ name: 'db', state: 'running', version: '1.0.0' });
  });

  it("a scrubbed problem keeps its cause an error with its fields and stack, scrubbed; one with nothing to scrub is the plugin's own", async () => {
    const { manager } = host([db]);
    await manager.start();
    const reloadThrowing = (thrown: Error) =>
      manager.reloadPlugin('db', { ...db, module: () => { throw thrown; } }).catch((error: unknown) => error) as Promise<Error & { code: string }>;
    const quoting = Object.assign(new Error(`no route to ${URL}`), { errno: -113, detail: { url: URL } });
    const scrubbed = await reloadThrowing(quoting);
    const cause = scrubbed.cause as Error & { errno?: number; detail?: { url: string } };
    expect([scrubbed.code, cause instanceof Error, cause.errno, cause.detail?.url]).toEqual(['MODULE_LOAD_FAILED', true, -113, '[redacted]']);
    expect(`${scrubbed.message} ${scrubbed.stack} ${cause.message} ${cause.stack}`).not.toContain(PASSWORD);
    const plain = Object.assign(new Error('no route to host'), { errno: -113 });
    expect((await reloadThrowing(plain)).cause).toBe(plain);
  });

  it("ctx.logger scrubs an error's class name, a date whose JSON is not a date's, and a symbol's description", async () => {
    class Upstream extends Error {
      override get name() {
        return `Upstream(${URL})`;
      }
    }
    const when = Object.assign(new Date(0), { toJSON: () => `date ${URL}` });
    class Stamp extends Date {
      override toISOString() {
        return `stamp ${URL}`;
      }
    }
    const stamped = Object.assign(new Date(0), { toISOString: () => `own ${URL}` });
    const { manager, lines } = host([
      {
        ...db,
        module: {
          ...noop,
          init(ctx: PluginContext) {
            ctx.logger.error({ err: new Upstream('down'), when, since: new Stamp(0), stamped, plain: new Date(0), tag: Symbol(URL) }, 'fields');
            ctx.logger.warn({ nested: { err: new Upstream('deeper') } }, 'nested');
          },
        },
      },
    ]);
    await manager.start();
    expect(lines.filter((line) => line.includes('[redacted]')).length).toBeGreaterThanOrEqual(2);
    expect(lines.join('\n')).not.toContain(PASSWORD);
    // A plain date is written as a date.
    expect(lines.join('\n')).toContain('1970-01-01T00:00:00.000Z');
  });

  it('a secret with quotes and backslashes is scrubbed also where it is escaped twice (JSON text inside a thrown object)', async () => {
    const password = 'Pa55\\word-"quoted"-9981';
    const { manager, lines } = host([
      {
        manifest: { name: 'api', version: '1.0.0', config: { password: { type: 'string', secret: true } } },
        config: { password },
        module: {
          ...noop,
          start(ctx: PluginContext) {
            throw { status: 401, body: JSON.stringify({ error: 'bad password', password: ctx.config['password'] }) };
          },
        },
      },
    ]);
    await manager.start();
    expect(manager.getSnapshot().plugins[0]).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED' } });
    expect(everything(manager, lines)).not.toContain('quoted');
  });

  it("the host's own listener or observer that throws quoting a secret is logged scrubbed", async () => {
    const lines: string[] = [];
    const manager = createPluginManager({
      plugins: [db],
      logger: createConsoleLogger({ level: 'debug', write: (line) => lines.push(line) }),
      inspect: () => {
        throw new Error(`observer saw ${URL}`);
      },
    });
    managers.push(manager);
    manager.subscribe(() => {
      throw new Error(`listener saw ${URL}`);
    });
    await manager.start();
    expect(lines.some((line) => line.includes('observer saw [redacted]'))).toBe(true);
    expect(lines.some((line) => line.includes('listener saw [redacted]'))).toBe(true);
    expect(lines.join('\n')).not.toContain(PASSWORD);
  });
});
