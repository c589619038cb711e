/**
 * The platform services as a plugin sees them through `ctx`, driven through the public API:
 * permissions, lifetimes tied to the chart (nothing of a stopped plugin remains), health as a
 * substate of running, lifecycle events, host hooks, store, metrics and the plugin logger.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createConsoleLogger, createPluginManager, defineService, silentLogger } from '../../src/index.ts';
import type { Logger, PluginContext, PluginDefinition, PluginFactoryError, PluginManager, PluginManagerOptions } from '../../src/index.ts';
import { pluginOf, stopWithin } from '../helpers/host.ts';
import { sleep, until } from '../helpers/time.ts';
import { SimulatedClock } from 'xstate';

type Hooks = Partial<Record<'init' | 'start' | 'stop' | 'dispose' | 'health', (ctx: PluginContext) => unknown>>;

function plugin(name: string, hooks: Hooks = {}, manifest: Record<string, unknown> = {}): PluginDefinition {
  const noop = () => undefined;
  return {
    manifest: { name, version: '1.0.0', ...manifest },
    module: { init: noop, start: noop, stop: noop, ...hooks },
  };
}

const hosts: PluginManager[] = [];
function host(plugins: PluginDefinition[], options: PluginManagerOptions = {}) {
  const manager = createPluginManager({ plugins, logger: silentLogger, hookTimeoutMs: 500, ...options });
  hosts.push(manager);
  return manager;
}
afterEach(async () => {
  for (const manager of hosts.splice(0)) await stopWithin(manager, 2000);
});

const codeOf = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'no error';
};

describe('ctx.events', () => {
  it('delivers declared events, refuses undeclared ones, and ends subscriptions when the plugin stops', async () => {
    const received: unknown[] = [];
    const refused: unknown[] = [];
    let publish: ((type: string) => void) | null = null;
    const manager = host([
      plugin('source', {
        start: (ctx) => {
          publish = (type) => ctx.events.publish(type, { n: received.length });
          refused.push(codeOf(() => ctx.events.publish('other.thing')));
          refused.push(codeOf(() => ctx.events.subscribe('source.ready', () => undefined)));
        },
      }, { events: { publishes: ['source.*'] } }),
      plugin('sink', {
        start: (ctx) => {
          ctx.events.subscribe('source.*', (event) => void received.push(event.type));
        },
      }, { events: { subscribes: ['source.*'] } }),
    ]);
    await manager.start();
    expect(refused).toEqual(['PERMISSION_DENIED', 'PERMISSION_DENIED']);
    publish!('source.ready');
    await until(() => received.length === 1);
    expect(received).toEqual(['source.ready']);
    await manager.stopPlugin('sink');
    publish!('source.ready');
    await sleep(20);
    expect(received).toEqual(['source.ready']);
  });

  it('a manifest with a malformed event name is invalid before any hook runs', async () => {
    let ran = false;
    const manager = host([plugin('bad', { init: () => void (ran = true) }, { events: { publishes: ['Not Valid'] } })]);
    await manager.start();
    expect(pluginOf(manager, 'bad').state).toBe('invalid');
    expect(pluginOf(manager, 'bad').error?.code).toBe('MANIFEST_INVALID');
    expect(ran).toBe(false);
  });

  it("no plugin can publish the host's plugin.… events: a manifest declaring one is invalid, and '**' does not reach them", async () => {
    for (const declared of ['plugin.*.failed', 'plugin.**', 'plugin']) {
      const manager = host([plugin('forger', {}, { events: { publishes: [declared] } })]);
      await manager.start();
      expect([declared, pluginOf(manager, 'forger').state, pluginOf(manager, 'forger').error?.code]).toEqual([declared, 'invalid', 'MANIFEST_INVALID']);
      await manager.stop();
    }
    const seen: Array<[string, string]> = [];
    const refused: unknown[] = [];
    const manager = host([
      plugin('db'),
      plugin('wide', {
        start: (ctx) => {
          refused.push(codeOf(() => ctx.events.publish('plugin.db.failed')), codeOf(() => ctx.events.publish('plugin')));
          ctx.events.publish('plugins.db.failed');
        },
      }, { events: { publishes: ['**'] } }),
    ]);
    manager.events.subscribe('plugin.**', (event) => void seen.push([event.type, event.source]));
    manager.events.subscribe('plugins.**', (event) => void seen.push([event.type, event.source]));
    await manager.start();
    await until(() => seen.some(([type]) => type === 'plugins.db.failed'));
    expect(refused).toEqual(['PERMISSION_DENIED', 'PERMISSION_DENIED']);
    expect(seen.filter(([type]) => type === 'plugin.db.failed')).toEqual([]);
    expect(seen.filter(([type]) => type.startsWith('plugin.')).every(([, source]) => source === 'host')).toBe(true);
    await manager.stop();
  });

  it('the host sees lifecycle events plugin.<name>.<state> on its own scope', async () => {
    const seen: string[] = [];
    const manager = host([plugin('db')]);
    manager.events.subscribe('plugin.db.*', (event) => void seen.push(event.type));
    await manager.start();
    await manager.stopPlugin('db');
    await until(() => seen.includes('plugin.db.stopped'));
    expect(seen.indexOf('plugin.db.running')).toBeGreaterThan(seen.indexOf('plugin.db.starting'));
    expect(seen.indexOf('plugin.db.stopping')).toBeGreaterThan(seen.indexOf('plugin.db.running'));
  });

  it("the host's subscriptions end with stop(): it hears the last plugin's stop, and a handler republishing to itself stops too", async () => {
    const heard: string[] = [];
    let pings = 0;
    const manager = host([plugin('db')]);
    manager.events.subscribe('plugin.db.*', (event) => void heard.push(event.type));
    manager.events.subscribe('ping.pong', () => {
      pings++;
      manager.events.publish('ping.pong', pings);
    });
    await manager.start();
    manager.events.publish('ping.pong', 0);
    await until(() => pings > 10);
    await manager.stop();
    expect(heard).toContain('plugin.db.stopped');
    const atStop = pings;
    await sleep(50);
    expect(pings).toBe(atStop);
    expect(codeOf(() => manager.events.subscribe('plugin.**', () => undefined))).toBe('SCOPE_DISPOSED');
    // The host's own scope is no plugin's: the error names none.
    let thrown: unknown;
    try {
      manager.events.publish('ping.pong', 0);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'SCOPE_DISPOSED' });
    expect((thrown as PluginFactoryError).plugin).toBeUndefined();
  });

  it("the host disposing its scope ends its own subscriptions only: plugins still hear lifecycle events", async () => {
    const heard: string[] = [];
    const hostHeard: string[] = [];
    const manager = host([
      plugin('watcher', { start: (ctx) => void ctx.events.subscribe('plugin.**', (event) => void heard.push(event.type)) }, { events: { subscribes: ['plugin.**'] } }),
      plugin('other'),
    ]);
    manager.events.subscribe('plugin.**', (event) => void hostHeard.push(event.type));
    await manager.start();
    manager.events.dispose();
    heard.length = 0;
    hostHeard.length = 0;
    await manager.restartPlugin('other');
    await until(() => heard.includes('plugin.other.running'));
    expect(hostHeard).toEqual([]);
  });
});

describe('ctx.services', () => {
  interface Pool {
    query(sql: string): string;
  }
  const PoolService = defineService<Pool>('db.pool');

  it('a dependent gets the typed service; a plugin that did not declare the provider is refused', async () => {
    const results: unknown[] = [];
    let held: Pool | null = null;
    const manager = host([
      plugin('db', { start: (ctx) => ctx.services.provide(PoolService, { query: (sql: string) => `rows of ${sql}` }) }),
      plugin('api', {
        start: (ctx) => {
          const pool = ctx.services.get(PoolService);
          held = pool;
          results.push(pool.query('users'));
        },
      }, { dependencies: { db: '*' } }),
      plugin('stranger', { start: (ctx) => void results.push(codeOf(() => ctx.services.get(PoolService))) }),
    ]);
    await manager.start();
    expect(results).toContain('rows of users');
    expect(results).toContain('PERMISSION_DENIED');
    // The provider leaves running (its dependent first): the handle the dependent kept is dead.
    await manager.stopPlugin('db');
    expect(['SERVICE_NOT_FOUND', 'SCOPE_DISPOSED']).toContain(codeOf(() => held!.query('x')));
    // Back up: a fresh handle works again.
    await manager.startPlugin('api');
    expect(results.filter((r) => r === 'rows of users')).toHaveLength(2);
  });

  it('a start that fails after providing a service takes the service with it: an optional dependent finds none', async () => {
    const codes: unknown[] = [];
    const manager = host([
      plugin('db', {
        start: (ctx) => {
          ctx.services.provide(PoolService, { query: () => 'stale rows' });
          throw new Error('the pool never came up');
        },
      }, { retry: { retries: 0 } }),
      plugin('api', { start: (ctx) => void codes.push(codeOf(() => ctx.services.get(PoolService).query('users'))) }, { optionalDependencies: { db: '*' } }),
    ]);
    await manager.start();
    expect([pluginOf(manager, 'db').state, pluginOf(manager, 'api').state]).toEqual(['failed.halted', 'running']);
    expect(codes).toEqual(['SERVICE_NOT_FOUND']);
  });

  it('providing outside start is refused', async () => {
    const codes: unknown[] = [];
    const manager = host([plugin('db', { init: (ctx) => void codes.push(codeOf(() => ctx.services.provide(PoolService, { query: () => '' }))) })]);
    await manager.start();
    expect(codes).toEqual(['PERMISSION_DENIED']);
  });
});

describe('host hooks', () => {
  it('implementations are called in dependency order and vanish when their plugin stops', async () => {
    const manager = host([
      plugin('web', { start: (ctx) => void ctx.hooks.implement('http.routes', () => '/web') }, { dependencies: { auth: '*' } }),
      plugin('auth', { start: (ctx) => void ctx.hooks.implement('http.routes', () => '/auth') }),
    ]);
    const routes = manager.defineHook<void, string>('http.routes', { mode: 'collect' });
    await manager.start();
    expect(await manager.callHook(routes, undefined)).toEqual(['/auth', '/web']);
    await manager.stopPlugin('web');
    expect(await manager.callHook(routes, undefined)).toEqual(['/auth']);
    await expect(manager.callHook('no.such.hook')).rejects.toMatchObject({ code: 'HOST_HOOK_NOT_FOUND' });
  });

  it('a reload that changes dependencies changes the call order with them', async () => {
    const implementing = (name: string, manifest: Record<string, unknown> = {}) =>
      plugin(name, { start: (ctx) => void ctx.hooks.implement('setup', () => name) }, manifest);
    const manager = host([implementing('x'), implementing('y')]);
    const setup = manager.defineHook<unknown, string>('setup', { mode: 'collect' });
    await manager.start();
    expect(await manager.callHook(setup, {})).toEqual(['x', 'y']);
    await manager.reloadPlugin('x', implementing('x', { dependencies: { y: '^1.0.0' } }));
    expect(await manager.callHook(setup, {})).toEqual(['y', 'x']);
  });

  it('a listener before a lifecycle hook can veto it: the hook fails with HOOK_FAILED and never runs', async () => {
    let started = false;
    const manager = host([plugin('db', { start: () => void (started = true) })]);
    manager.onBeforeHook('start', () => {
      throw new Error('not today');
    });
    await manager.start();
    expect(started).toBe(false);
    expect(pluginOf(manager, 'db').state).toBe('failed.halted');
    expect(pluginOf(manager, 'db').error?.code).toBe('HOOK_FAILED');
  });

  it("before-listeners count against the hook's time: too slow, the hook times out never called, and the error says the listeners took it", async () => {
    let started = false;
    const manager = host([plugin('db', { start: () => void (started = true) })], { hookTimeoutMs: 50 });
    manager.onBeforeHook('start', () => sleep(300));
    await manager.start();
    expect(started).toBe(false);
    const db = pluginOf(manager, 'db');
    expect([db.state, db.error?.code]).toEqual(['failed.halted', 'HOOK_TIMEOUT']);
    expect(db.error?.message).toContain('onBeforeHook');
  });

  it('a before-listener that hung once holds the plugin no longer: its retry calls the hook, and a reload after one hung on stop inits the new version', async () => {
    let starts = 0;
    const manager = host([plugin('db', { start: () => void starts++ }, { retry: { retries: 1, backoffMs: 0 } })], { hookTimeoutMs: 50 });
    let calls = 0;
    manager.onBeforeHook('start', () => (calls++ === 0 ? new Promise(() => undefined) : undefined));
    await manager.start();
    await until(() => pluginOf(manager, 'db').state === 'running');
    expect(starts).toBe(1);
    // Hung on a stop: the next init of a new version is still called.
    const stopping = manager.onBeforeHook('stop', () => new Promise(() => undefined));
    expect(await manager.stopPlugin('db').then(() => 'stopped', (error: { code?: string }) => error.code)).toBe('HOOK_TIMEOUT');
    stopping();
    let inits = 0;
    await manager.reloadPlugin('db', plugin('db', { init: () => void inits++ }));
    expect([pluginOf(manager, 'db').state, inits]).toEqual(['running', 1]);
  });

  it('an after-listener that stops a plugin it is told has started gets a real stop: the stop hook runs', async () => {
    const calls: string[] = [];
    const manager = host([plugin('db', { start: () => void calls.push('start'), stop: () => void calls.push('stop') })]);
    await manager.start();
    await manager.stopPlugin('db');
    calls.length = 0;
    const stopped: Array<Promise<unknown>> = [];
    manager.onAfterHook('start', ({ ok }) => {
      if (ok) stopped.push(manager.stopPlugin('db').catch(() => undefined));
    });
    await manager.startPlugin('db').catch(() => undefined);
    await Promise.all(stopped);
    expect(calls).toEqual(['start', 'stop']);
    expect(pluginOf(manager, 'db').state).toBe('stopped');
  });

  it('after-listeners told of a veto find it taken: the plugin has failed, and a retry from the listener runs the hook', async () => {
    let starts = 0;
    const manager = host([plugin('db', { start: () => void starts++ })]);
    await manager.start();
    await manager.stopPlugin('db');
    let vetoes = 0;
    manager.onBeforeHook('start', () => {
      if (vetoes++ === 0) throw new Error('not yet');
    });
    const seen: string[] = [];
    const retried: Array<Promise<unknown>> = [];
    manager.onAfterHook('start', ({ ok }) => {
      if (ok) return;
      seen.push(pluginOf(manager, 'db').state);
      retried.push(manager.retryPlugin('db').then((snapshot) => snapshot.state, (error: { code?: string }) => error.code));
    });
    await manager.startPlugin('db').catch(() => undefined); // the retry may have brought it back first
    expect(seen).toEqual(['failed.halted']);
    expect(await Promise.all(retried)).toEqual(['running']);
    expect(starts).toBe(2);
  });

  it('a lifecycle listener removed meanwhile is not called, also by a dispatch already under way', async () => {
    const told: string[] = [];
    const manager = host([plugin('db', { start: () => sleep(20) })]);
    let removeSecond = () => undefined as void;
    manager.onBeforeHook('start', () => {
      told.push('before 1');
      removeSecond();
    });
    removeSecond = manager.onBeforeHook('start', () => void told.push('before 2'));
    const removeAfter = manager.onAfterHook('start', () => void told.push('after'));
    manager.onBeforeHook('start', () => {
      removeAfter();
    });
    await manager.start();
    expect(told).toEqual(['before 1']);
  });

  it('a hook that is called and then runs out of time is not blamed on the before-listeners', async () => {
    const manager = host([plugin('db', { start: () => sleep(300) })], { hookTimeoutMs: 50 });
    manager.onBeforeHook('start', () => undefined);
    await manager.start();
    const db = pluginOf(manager, 'db');
    expect([db.state, db.error?.code]).toEqual(['failed.halted', 'HOOK_TIMEOUT']);
    expect(db.error?.message).not.toContain('onBeforeHook');
  });
});

describe('ctx.store', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = '';
  });

  it('survives a restart of the host', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pf-store-'));
    const first = host([plugin('counter', { start: async (ctx) => ctx.store.set('boots', ((await ctx.store.get('boots')) as number ?? 0) + 1) })], { dataDir: dir });
    await first.start();
    await first.stop();
    let seen: unknown;
    const second = host([plugin('counter', { start: async (ctx) => void (seen = await ctx.store.get('boots')) })], { dataDir: dir });
    await second.start();
    expect(seen).toBe(1);
  });

  it('a corrupt store file is reported with STORE_CORRUPT and left as it was', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pf-store-'));
    await writeFile(join(dir, 'counter.json'), '{ not json');
    let code: unknown;
    const manager = host([plugin('counter', { start: async (ctx) => { await ctx.store.get('boots').catch((e: { code?: unknown }) => (code = e.code)); } })], { dataDir: dir });
    await manager.start();
    expect(code).toBe('STORE_CORRUPT');
  });

  it('refuses a bad dataDir with OPTIONS_INVALID', () => {
    expect(() => createPluginManager({ dataDir: '' })).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
    // A path no file system call accepts: refused here, not at every store call later.
    expect(() => createPluginManager({ dataDir: 'data\0dir' })).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
    expect(() => createPluginManager({ dataDir: '   ' })).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
  });

  it.each([{ intervalMs: 0 }, { timeoutMs: 1.5 }, { unhealthyThreshold: -1 }, { unhealthyThreshold: 1001 }, null])('refuses health option %o with OPTIONS_INVALID', (health) => {
    expect(() => createPluginManager({ health: health as never })).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
  });

  it.each([{ intervalMs: 0 }, { unhealthyThreshold: 0 }, { restart: 'yes' }, { every: 5 }])('a manifest health block %o is MANIFEST_INVALID', async (health) => {
    const manager = host([plugin('db', {}, { health })]);
    await manager.start();
    expect(pluginOf(manager, 'db')).toMatchObject({ state: 'invalid', error: { code: 'MANIFEST_INVALID' } });
  });
});

describe('health', () => {
  it('manager.health() lists an invalid plugin under the name its manifest gave, __proto__ included', async () => {
    const manifest = JSON.parse('{ "name": "__proto__", "version": "1.0.0" }') as PluginDefinition['manifest'];
    const manager = host([{ manifest, module: { init() {}, start() {}, stop() {} } }, plugin('ok')]);
    await manager.start();
    const health = manager.health();
    expect(Object.keys(health.down)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(health.down)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(health.down, '__proto__')?.value).toEqual({ state: 'invalid', code: 'MANIFEST_INVALID' });
  });

  it('is a substate of running, shown in the snapshot and in manager.health(); it stops with the plugin', async () => {
    let status = 'degraded';
    let checks = 0;
    const manager = host(
      [plugin('db', { health: () => (checks++, { status, components: { pool: { status } } }) }), plugin('plain')],
      { health: { intervalMs: 10, timeoutMs: 100 } },
    );
    await manager.start();
    await until(() => pluginOf(manager, 'db').health?.status === 'degraded');
    expect(pluginOf(manager, 'db').state).toBe('running');
    expect(manager.health().status).toBe('degraded');
    expect(manager.actor.getSnapshot().context.registry.get('db')!.ref!.getSnapshot().value).toEqual({ running: 'degraded' });
    status = 'healthy';
    await until(() => pluginOf(manager, 'db').health?.status === 'healthy');
    expect(manager.health().status).toBe('healthy');
    await manager.stopPlugin('db');
    expect(pluginOf(manager, 'db').health).toBeNull();
    const after = checks;
    await sleep(50);
    expect(checks).toBe(after);
  });

  it("a restarted plugin does not show its previous run's health before a check of the new run says anything", async () => {
    let answer: () => unknown = () => 'degraded';
    const manager = host([plugin('db', { health: () => answer() })], { health: { intervalMs: 10, timeoutMs: 5000 } });
    await manager.start();
    await until(() => pluginOf(manager, 'db').health?.status === 'degraded');
    answer = () => new Promise(() => undefined); // the new run's checks say nothing for now
    await manager.restartPlugin('db');
    expect([pluginOf(manager, 'db').state, pluginOf(manager, 'db').health]).toEqual(['running', null]);
  });

  it('each change of health reaches subscribe() as plugin.health, its state staying running', async () => {
    let status = 'degraded';
    const manager = host([plugin('db', { health: () => status })], { health: { intervalMs: 10, timeoutMs: 100 } });
    const seen: unknown[] = [];
    manager.subscribe((change) => {
      if (change.type === 'plugin.health') seen.push([change.name, change.state, change.previous, change.previousHealth, change.health]);
    });
    await manager.start();
    await until(() => seen.length === 1);
    status = 'healthy';
    await until(() => seen.length === 2);
    expect(seen).toEqual([
      ['db', 'running', 'running', 'healthy', 'degraded'],
      ['db', 'running', 'running', 'degraded', 'healthy'],
    ]);
  });

  it('a failed check says why in at most 1,000 characters', async () => {
    const manager = host([plugin('db', { health: () => { throw new Error('x'.repeat(100_000)); } })], { health: { intervalMs: 10, timeoutMs: 100 } });
    await manager.start();
    await until(() => pluginOf(manager, 'db').health?.status === 'unhealthy');
    const health = pluginOf(manager, 'db').health!;
    expect([health.error?.code, health.message!.length <= 1000, health.error!.message.length <= 1000]).toEqual(['HOOK_FAILED', true, true]);
  });

  it('a check that never settles is not called again after a restart: checks of a plugin never overlap', async () => {
    let calls = 0;
    const manager = host([plugin('db', { health: () => (calls++, new Promise(() => undefined)) })], { health: { intervalMs: 10, timeoutMs: 20 } });
    await manager.start();
    await until(() => calls === 1);
    for (let i = 0; i < 3; i++) await manager.restartPlugin('db');
    await until(() => pluginOf(manager, 'db').health?.error?.code === 'HOOK_TIMEOUT');
    await sleep(60);
    expect(calls).toBe(1);
  });

  it('counts a plugin out of service as degraded and names it with its code; a stop by hand does not count', async () => {
    let broken = true;
    let sick = false;
    const manager = host([
      plugin('db', { init: () => { if (broken) throw new Error('no database'); } }, { retry: { retries: 0 } }),
      plugin('api', {}, { dependencies: { db: '^1.0.0' } }),
      plugin('bad', {}, { config: { port: { type: 'integer', required: true } } }),
      plugin('cache', { health: () => (sick ? 'unhealthy' : 'healthy') }),
      plugin('idle'),
    ], { health: { intervalMs: 10, timeoutMs: 100 } });
    await manager.start();
    await manager.stopPlugin('idle');
    const health = manager.health();
    expect(health.status).toBe('degraded');
    expect(health.down).toEqual({
      db: { state: 'failed.halted', code: 'HOOK_FAILED' },
      api: { state: 'failed.blocked', code: 'DEPENDENCY_FAILED' },
      bad: { state: 'invalid', code: 'CONFIG_INVALID' },
    });
    expect(Object.keys(health.plugins)).toEqual(['cache']);
    // A worse check of a running plugin still wins over degraded.
    sick = true;
    await until(() => manager.health().status === 'unhealthy');
    sick = false;
    await until(() => pluginOf(manager, 'cache').health?.status === 'healthy');
    // Fixed and retried: db and api are back; only the invalid plugin keeps the host degraded.
    broken = false;
    await manager.retryPlugin('db');
    expect(manager.health()).toMatchObject({ status: 'degraded', down: { bad: { state: 'invalid' } } });
    expect(Object.keys(manager.health().down)).toEqual(['bad']);
    await manager.unloadPlugin('bad');
    expect(manager.health()).toMatchObject({ status: 'healthy', down: {} });
  });

  it('a streak of unhealthy checks restarts a plugin whose manifest asks for it', async () => {
    let starts = 0;
    let sick = true;
    const manager = host(
      [plugin('flaky', { start: () => void starts++, health: () => (sick ? 'unhealthy' : 'healthy') }, { health: { intervalMs: 10, unhealthyThreshold: 2, restart: true } })],
    );
    await manager.start();
    await until(() => starts >= 2);
    sick = false;
    await until(() => pluginOf(manager, 'flaky').health?.status === 'healthy');
    expect(pluginOf(manager, 'flaky').state).toBe('running');
    expect(manager.metrics()).toMatch(/flaky/);
  });

  it('a streak that asks for a restart the plugin cannot take yet is not lost: the restart comes once it can', async () => {
    // While the host still boots (a slow plugin elsewhere).
    let starts = 0;
    const booting = host([
      plugin('sick', { start: () => void starts++, health: () => 'unhealthy' }, { health: { intervalMs: 5, unhealthyThreshold: 2, restart: true } }),
      plugin('slow', { start: () => sleep(200) }),
    ]);
    await booting.start();
    await until(() => starts >= 2);
    // While a restart of it is still settling (a dependent coming back slowly).
    let aStarts = 0;
    const settling = host([
      plugin('a', { start: () => void aStarts++, health: () => 'unhealthy' }, { health: { intervalMs: 5, unhealthyThreshold: 2, restart: true } }),
      plugin('b', { start: () => sleep(150) }, { dependencies: { a: '*' } }),
    ]);
    await settling.start();
    await until(() => aStarts >= 3, 5000);
  });

  it('a throwing health check counts as unhealthy with HOOK_FAILED', async () => {
    const manager = host([plugin('db', { health: () => { throw new Error('down'); } })], { health: { intervalMs: 10 } });
    await manager.start();
    await until(() => pluginOf(manager, 'db').health?.status === 'unhealthy');
    expect(pluginOf(manager, 'db').health?.error?.code).toBe('HOOK_FAILED');
  });
});

describe('ctx.logger', () => {
  it('carries the plugin name and state and redacts secret config values', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const capture = (bindings: Record<string, unknown>): Logger => {
      const log = (fields: unknown, message?: unknown) =>
        void lines.push({ ...bindings, ...(typeof fields === 'object' ? (fields as object) : { msg: fields }), ...(message ? { msg: message } : {}) });
      return { debug: log, info: log, warn: log, error: log, child: (more) => capture({ ...bindings, ...more }) } as Logger;
    };
    const manager = createPluginManager({
      logger: capture({}),
      plugins: [{
        manifest: { name: 'db', version: '1.0.0', config: { url: { type: 'string', secret: true } } },
        config: { url: 'postgres://user:hunter2@db' },
        module: { init: () => undefined, start: (ctx: PluginContext) => ctx.logger.info({ url: ctx.config['url'] }, `connecting to ${String(ctx.config['url'])}`), stop: () => undefined },
      }],
    });
    hosts.push(manager);
    await manager.start();
    const line = lines.find((l) => l['plugin'] === 'db' && String(l['msg']).startsWith('connecting'));
    expect(line).toMatchObject({ plugin: 'db', state: 'starting.hook' });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it("a failed event handler is reported through its plugin's logger (its bindings and state), secrets scrubbed", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const capture = (bindings: Record<string, unknown>, via: string): Logger => {
      const log = (fields: unknown, message?: unknown) => void lines.push({ via, ...bindings, ...(fields as object), msg: message });
      return { debug: log, info: log, warn: log, error: log, child: (more) => capture({ ...bindings, ...more }, 'child') } as Logger;
    };
    const manager = createPluginManager({
      logger: capture({}, 'root'),
      plugins: [{
        manifest: { name: 'db', version: '1.0.0', events: { publishes: ['db.*'], subscribes: ['db.*'] }, config: { url: { type: 'string', secret: true } } },
        config: { url: 'postgres://user:hunter2@db' },
        module: {
          init: () => undefined,
          start: (ctx: PluginContext) => {
            ctx.events.subscribe('db.ping', () => {
              throw new Error(`cannot reach ${String(ctx.config['url'])}`);
            });
            ctx.events.publish('db.ping');
          },
          stop: () => undefined,
        },
      }],
    });
    hosts.push(manager);
    await manager.start();
    await until(() => lines.some((l) => l['code'] === 'EVENT_HANDLER_FAILED'));
    const line = lines.find((l) => l['code'] === 'EVENT_HANDLER_FAILED');
    expect(line).toMatchObject({ via: 'child', plugin: 'db', event: 'db.ping' });
    expect(typeof line?.['state']).toBe('string');
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it("an old version's handler failing after a reload that keeps the plugin stopped is logged with the state the plugin is in", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const capture = (bindings: Record<string, unknown>): Logger => {
      const log = (fields: unknown, message?: unknown) => void lines.push({ ...bindings, ...(fields as object), msg: message });
      return { debug: log, info: log, warn: log, error: log, child: (more) => capture({ ...bindings, ...more }) } as Logger;
    };
    let release = () => undefined as void;
    let handling = false;
    const held = new Promise<void>((resolve) => (release = resolve));
    const version = (v: string): PluginDefinition => ({
      manifest: { name: 'a', version: v, events: { subscribes: ['tick'] } },
      module: {
        init: () => undefined,
        start: (ctx: PluginContext) => {
          ctx.events.subscribe('tick', async () => {
            handling = true;
            await held;
            throw new Error(`late failure of ${v}`);
          });
        },
        stop: () => undefined,
      },
    });
    const manager = createPluginManager({ logger: capture({}), plugins: [version('1.0.0')] });
    hosts.push(manager);
    await manager.start();
    manager.events.publish('tick');
    await until(() => handling);
    await manager.stopPlugin('a');
    await manager.reloadPlugin('a', version('2.0.0'), { keepStopped: true });
    expect(manager.getSnapshot().plugins[0]).toMatchObject({ state: 'created', version: '2.0.0' });
    release();
    await until(() => lines.some((l) => l['code'] === 'EVENT_HANDLER_FAILED'));
    expect(lines.find((l) => l['code'] === 'EVENT_HANDLER_FAILED')).toMatchObject({ state: 'created' });
  });
});

describe('metrics', () => {
  /** A sample of db's health-hook figures in Prometheus text (NaN when absent). */
  const figure = (text: string, metric: string) => Number(new RegExp(`^${metric}\\{plugin="db",hook="health"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  it('renders Prometheus text with a sample per plugin', async () => {
    const manager = host([plugin('db'), plugin('api', {}, { dependencies: { db: '*' } })]);
    await manager.start();
    const text = manager.metrics();
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-z_:][a-z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+$|^[a-z_:][a-z0-9_:]*(\{[^}]*\})? (NaN|\+Inf|-Inf)$/);
    }
    expect(text).toMatch(/plugin="db"/);
    expect(text).toMatch(/plugin="api"/);
  });

  it('every health check counts as a call of hook "health"; one that threw or answered nothing usable as a failure', async () => {
    let checks = 0;
    const health = async () => {
      checks++;
      if (checks === 2) throw new Error('probe failed');
      if (checks === 3) return 'fine'; // not a health result
      if (checks === 4) return 'unhealthy'; // an unhealthy answer is a check that worked
      await sleep(20);
      return 'healthy';
    };
    const manager = host([plugin('db', { health })], { health: { intervalMs: 5, timeoutMs: 1000 } });
    await manager.start();
    let text = '';
    await until(() => figure((text = manager.metrics()), 'plugin_factory_hook_duration_seconds_count') >= 5);
    expect(figure(text, 'plugin_factory_hook_failures_total')).toBe(2);
    // The first and the fifth took 20 ms each at least (whole milliseconds, hence 19).
    expect(figure(text, 'plugin_factory_hook_duration_seconds_sum')).toBeGreaterThanOrEqual(0.038);
    // A failed check is the plugin's health, not an error of its lifecycle.
    expect(text).not.toMatch(/plugin_factory_plugin_last_error_info\{plugin="db"/);
  });

  it('a health check that hangs counts once, timed out at its limit, however many rounds find it still hanging', async () => {
    let checks = 0;
    const manager = host([plugin('db', { health: () => (checks++, new Promise(() => undefined)) })], { health: { intervalMs: 5, timeoutMs: 20 } });
    await manager.start();
    await until(() => figure(manager.metrics(), 'plugin_factory_hook_duration_seconds_count') === 1);
    await sleep(150); // rounds every 5 ms find the first call still hanging
    expect(checks).toBe(1);
    const text = manager.metrics();
    expect([figure(text, 'plugin_factory_hook_duration_seconds_count'), figure(text, 'plugin_factory_hook_failures_total')]).toEqual([1, 1]);
    expect(figure(text, 'plugin_factory_hook_duration_seconds_sum')).toBeGreaterThanOrEqual(0.019);
  });

  it('a timed-out hook counts as a failed call of that hook', async () => {
    // Each call outlives the limit but ends before the retry's: the retry calls the hook too.
    let calls = 0;
    const manager = host([plugin('slow', { start: () => (calls++, sleep(45)) })], { hookTimeoutMs: 30, retry: { retries: 1, backoffMs: 1 } });
    await manager.start();
    expect([pluginOf(manager, 'slow').state, pluginOf(manager, 'slow').error?.code, calls]).toEqual(['failed.halted', 'HOOK_TIMEOUT', 2]);
    const text = manager.metrics();
    expect(text).toContain('plugin_factory_hook_duration_seconds_count{plugin="slow",hook="start"} 2');
    expect(text).toContain('plugin_factory_hook_failures_total{plugin="slow",hook="start"} 2');
  });

  it('a retry that times out waiting for the abandoned call before it was never called, and counts as no call', async () => {
    let calls = 0;
    const manager = host([plugin('stuck', { start: () => (calls++, new Promise(() => undefined)) })], { hookTimeoutMs: 30, retry: { retries: 2, backoffMs: 1 } });
    await manager.start();
    const stuck = pluginOf(manager, 'stuck');
    expect([stuck.state, stuck.error?.code, stuck.attempts, calls]).toEqual(['failed.halted', 'HOOK_TIMEOUT', 3, 1]);
    const text = manager.metrics();
    expect(text).toContain('plugin_factory_hook_duration_seconds_count{plugin="stuck",hook="start"} 1');
    expect(text).toContain('plugin_factory_hook_failures_total{plugin="stuck",hook="start"} 1');
    expect(text).toContain('plugin_factory_plugin_last_error_info{plugin="stuck",code="HOOK_TIMEOUT"} 1');
  });

  it('the last error of a plugin out of service is its code, however it got there (invalid, blocked, failed)', async () => {
    const manager = host([
      plugin('broken', { start: () => Promise.reject(new Error('down')) }),
      plugin('blocked', {}, { dependencies: { broken: '*' } }),
      plugin('misconfigured', {}, { config: { url: { type: 'string', required: true } } }),
      plugin('fine'),
    ]);
    await manager.start();
    const text = manager.metrics();
    const lastErrors = text.split('\n').filter((line) => line.startsWith('plugin_factory_plugin_last_error_info{'));
    expect(lastErrors.sort()).toEqual([
      'plugin_factory_plugin_last_error_info{plugin="blocked",code="DEPENDENCY_FAILED"} 1',
      'plugin_factory_plugin_last_error_info{plugin="broken",code="HOOK_FAILED"} 1',
      'plugin_factory_plugin_last_error_info{plugin="misconfigured",code="CONFIG_INVALID"} 1',
    ]);
  });
});

describe('lifetimes at the edges', () => {
  it('health checks end with the host even when unhealthy streaks keep restarting the plugin', async () => {
    let checks = 0;
    const manager = host([plugin('sick', { health: () => (checks++, 'unhealthy') }, { health: { intervalMs: 5, unhealthyThreshold: 1, restart: true } })]);
    await manager.start();
    await sleep(60);
    await manager.stop();
    const after = checks;
    await sleep(60);
    expect(checks).toBe(after);
  });

  it('a hooks object whose getter throws fails that hook (HOOK_FAILED) without an unhandled rejection', async () => {
    let armed = false;
    const module = {
      init: () => void (armed = true),
      get start() {
        if (armed) throw new Error('getter exploded');
        return () => undefined;
      },
      stop: () => undefined,
    };
    const manager = host([{ manifest: { name: 'odd', version: '1.0.0' }, module }]);
    await manager.start();
    expect(pluginOf(manager, 'odd').state).toBe('failed.halted');
    expect(pluginOf(manager, 'odd').error?.code).toBe('HOOK_FAILED');
  });

  it('a required hook that stopped being a function after validation fails (HOOK_FAILED), it is never taken as done', async () => {
    const module: Record<string, unknown> = { init: () => undefined, start: () => undefined, stop: () => undefined };
    const manager = host([{ manifest: { name: 'patched', version: '1.0.0' }, module }]);
    module['start'] = 'not a function';
    await manager.start();
    expect(pluginOf(manager, 'patched')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'start' } });
    module['start'] = () => undefined;
    await manager.retryPlugin('patched');
    delete module['stop'];
    await manager.stop();
    expect(pluginOf(manager, 'patched').error).toMatchObject({ code: 'HOOK_FAILED', hook: 'stop' });
  });

  it('a ctx kept from an earlier start makes nothing after a restart, and the live subscription stays', async () => {
    const contexts: PluginContext[] = [];
    const got: number[] = [];
    const manager = host([
      plugin('sink', {
        start: (ctx) => {
          contexts.push(ctx);
          const generation = contexts.length;
          // The first start never touches ctx.events: its ctx is first used late, after a restart.
          if (generation > 1) ctx.events.subscribe('tick', () => void got.push(generation));
        },
      }, { events: { subscribes: ['tick'] } }),
    ]);
    await manager.start();
    await manager.restartPlugin('sink');
    expect(codeOf(() => contexts[0]!.events.subscribe('tick', () => undefined))).toBe('SCOPE_DISPOSED');
    manager.events.publish('tick');
    await until(() => got.length > 0);
    expect(got).toEqual([2]);
  });

  it('a reload keeps what the new version registers in start: subscriptions, services, implementations', async () => {
    const Api = defineService<{ version(): number }>('a.api');
    const got: number[] = [];
    const version = (n: number) =>
      plugin('a', {
        start: (ctx) => {
          ctx.events.subscribe('tick', () => void got.push(n));
          ctx.services.provide(Api, { version: () => n });
          ctx.hooks.implement('routes', () => `route-${n}`);
        },
      }, { version: `1.0.${n}`, events: { subscribes: ['tick'] } });
    let user: PluginContext | undefined;
    const manager = host([version(1), plugin('user', { start: (ctx) => void (user = ctx) }, { dependencies: { a: '^1.0.0' } })]);
    const routes = manager.defineHook<unknown, string>('routes', { mode: 'collect' });
    await manager.start();
    expect((await manager.reloadPlugin('a', version(2))).state).toBe('running');
    expect(await manager.callHook(routes, {})).toEqual(['route-2']);
    expect(user!.services.find(Api)?.version()).toBe(2);
    manager.events.publish('tick');
    await until(() => got.length > 0);
    expect(got).toEqual([2]);
  });

  it('a ctx kept from init or from a health check and first used after that call ended makes nothing: SCOPE_DISPOSED', async () => {
    let initCtx: PluginContext | undefined;
    let checkCtx: PluginContext | undefined;
    let checkSignal: { during: boolean; signal: AbortSignal } | undefined;
    const manager = host(
      [plugin('kept', {
        init: (ctx) => void (initCtx = ctx),
        // Its scopes are never touched during the call: they are first made when used late.
        health: (ctx) => {
          checkCtx ??= ctx;
          checkSignal ??= { during: ctx.signal.aborted, signal: ctx.signal };
          return 'healthy';
        },
      }, { events: { publishes: ['kept.ping'] } })],
      { health: { intervalMs: 5, timeoutMs: 100, unhealthyThreshold: 1000 } },
    );
    await manager.start();
    await until(() => checkCtx !== undefined && manager.getSnapshot().plugins[0]?.health !== null);
    expect(codeOf(() => initCtx!.events.publish('kept.ping'))).toBe('SCOPE_DISPOSED');
    expect(codeOf(() => initCtx!.services.find(defineService('kept.none')))).toBe('SCOPE_DISPOSED');
    expect(codeOf(() => initCtx!.hooks.implement('kept.hook', () => undefined))).toBe('SCOPE_DISPOSED');
    expect(codeOf(() => checkCtx!.events.publish('kept.ping'))).toBe('SCOPE_DISPOSED');
    // A health check gets a live signal of its own, aborted by the time the plugin has stopped.
    expect(checkSignal?.during).toBe(false);
    await manager.stopPlugin('kept');
    expect(checkSignal?.signal.aborted).toBe(true);
  });

  it('a ctx kept from start and first used later, while running, registers for the service period', async () => {
    let kept: PluginContext | undefined;
    const got: string[] = [];
    const manager = host([plugin('late', { start: (ctx) => void (kept = ctx) }, { events: { subscribes: ['tick'], publishes: ['late.ready'] } })]);
    await manager.start();
    // First use of ctx.events after start returned, as from a timer.
    kept!.events.subscribe('tick', () => void got.push('tick'));
    kept!.events.publish('late.ready');
    manager.events.publish('tick');
    await until(() => got.length > 0);
    await manager.stopPlugin('late');
    // The service period ended with running: the kept ctx makes nothing any more.
    expect(codeOf(() => kept!.events.subscribe('tick', () => undefined))).toBe('SCOPE_DISPOSED');
    manager.events.publish('tick');
    await sleep(20);
    expect(got).toEqual(['tick']);
  });

  it('a health check keeps its scopes until it settles', async () => {
    const manager = host(
      [plugin('db', { health: async (ctx) => { const events = ctx.events; await sleep(5); events.publish('db.checked'); return 'healthy'; } }, { events: { publishes: ['db.checked'] } })],
      { health: { intervalMs: 10 } },
    );
    await manager.start();
    await until(() => pluginOf(manager, 'db').health !== null);
    expect(pluginOf(manager, 'db').health).toMatchObject({ status: 'healthy' });
  });

  it('stop waits for a health check in flight: the two never overlap', async () => {
    const log: string[] = [];
    const manager = host(
      [plugin('db', {
        health: async () => { log.push('check'); await sleep(40); log.push('check:done'); return 'healthy'; },
        stop: () => void log.push('stop'),
      })],
      { health: { intervalMs: 5, timeoutMs: 200 } },
    );
    await manager.start();
    await until(() => log.includes('check'));
    await manager.stopPlugin('db');
    expect(log.indexOf('stop')).toBeGreaterThan(log.indexOf('check:done'));
  });

  it('an after-listener slower than the hook timeout changes nothing, and one that never settles does not hold stop()', async () => {
    const seen: string[] = [];
    const manager = host([plugin('quick')], { hookTimeoutMs: 50 });
    manager.onAfterHook('start', async ({ plugin: name, ok }) => {
      await sleep(150);
      seen.push(`${name} ${ok}`);
    });
    manager.onAfterHook('stop', () => new Promise<void>(() => undefined));
    await manager.start();
    expect(pluginOf(manager, 'quick').state).toBe('running');
    await until(() => seen.length > 0);
    expect(seen).toEqual(['quick true']);
    expect((await stopWithin(manager, 1000)).state).toBe('stopped');
    expect(pluginOf(manager, 'quick').state).toBe('stopped');
  });

  it("after-listeners hear of a hook the engine gave up on when it gives up, once: HOOK_TIMEOUT, or an AbortError when cancelled", async () => {
    const outcomes: Array<{ plugin: string; ok: boolean; code: unknown; name: unknown }> = [];
    const listen = (manager: PluginManager) =>
      manager.onAfterHook('start', ({ plugin: name, ok, error }) => {
        const coded = error as { code?: unknown; name?: unknown } | undefined;
        outcomes.push({ plugin: name, ok, code: typeof coded?.code === 'string' ? coded.code : undefined, name: coded?.name });
      });
    let vettedStarts = 0;
    const timing = host(
      [
        // Its before-listener outlasts the timeout: start is never called.
        plugin('vetted', { start: () => void vettedStarts++ }),
        // Resolves long after its timeout.
        plugin('late', { start: () => sleep(300) }),
      ],
      { hookTimeoutMs: 100, retry: { retries: 0 } },
    );
    timing.onBeforeHook('start', ({ plugin: name }) => (name === 'vetted' ? sleep(250) : undefined));
    listen(timing);
    // Hangs until its signal aborts: the host is stopped while it starts.
    const cancelled = host([plugin('hung', { start: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)) })], { hookTimeoutMs: 5000 });
    listen(cancelled);
    const booting = cancelled.start();
    await until(() => pluginOf(cancelled, 'hung').state === 'starting.hook');
    await stopWithin(cancelled, 2000);
    await booting.catch(() => undefined); // stopped before boot finished
    await timing.start();
    await sleep(400); // past every late settle: nothing more is told
    expect(pluginOf(timing, 'vetted').state).toBe('failed.halted');
    expect(vettedStarts).toBe(0);
    expect(pluginOf(timing, 'late').state).toBe('failed.halted');
    const of = (name: string) => outcomes.filter((outcome) => outcome.plugin === name);
    expect(of('vetted')).toEqual([{ plugin: 'vetted', ok: false, code: 'HOOK_TIMEOUT', name: 'PluginFactoryError' }]);
    expect(of('late')).toEqual([{ plugin: 'late', ok: false, code: 'HOOK_TIMEOUT', name: 'PluginFactoryError' }]);
    expect(of('hung')).toEqual([{ plugin: 'hung', ok: false, code: undefined, name: 'AbortError' }]);
  });

  it("an after-listener gets a failed hook's error as the snapshot has it, secrets scrubbed; one that fails is logged scrubbed", async () => {
    const secret = 'postgres://admin:hunter2-very-secret@db';
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'warn', write: (line) => lines.push(line) });
    const told: unknown[] = [];
    const manager = host(
      [
        {
          manifest: { name: 'db', version: '1.0.0', config: { url: { type: 'string', required: true, secret: true } } },
          module: { init() {}, start: (ctx: PluginContext) => { throw new Error(`cannot connect to ${String(ctx.config['url'])}`); }, stop() {} },
          config: { url: secret },
        },
      ],
      { logger, retry: { retries: 0 } },
    );
    manager.onAfterHook('start', ({ error }) => {
      told.push(error);
      throw new Error(`audit sink rejected: ${(error as Error).message}`);
    });
    await manager.start();
    await until(() => lines.some((line) => line.includes('HOST_HOOK_FAILED')));
    expect(told).toHaveLength(1);
    expect((told[0] as { code?: unknown }).code).toBe('HOOK_FAILED');
    expect((told[0] as Error).message).toBe(pluginOf(manager, 'db').error?.message);
    expect(String((told[0] as Error).message)).not.toContain('hunter2');
    expect(lines.filter((line) => line.includes('hunter2'))).toEqual([]);
  });

  it('an async event handler that never settles does not hold stop(): it is let go of with its subscription, and that is said', async () => {
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'warn', write: (line) => lines.push(line) });
    const manager = host(
      [
        plugin(
          'pinger',
          {
            start: (ctx) => {
              ctx.events.subscribe('pinger.ping', () => new Promise(() => undefined));
              ctx.events.publish('pinger.ping', 1);
            },
          },
          { events: { publishes: ['pinger.ping'], subscribes: ['pinger.ping'] } },
        ),
      ],
      { hookTimeoutMs: 100, logger },
    );
    await manager.start();
    expect((await stopWithin(manager, 1500)).state).toBe('stopped');
    const said = lines.find((line) => line.includes('pinger.ping') && line.includes('not settled'));
    // Through the plugin's own logger: its state is on the line.
    expect(said).toContain('"state":');
  });

  it('a handler or after-listener that shuts the host down with manager.stop() is not waited for by that stop (it awaits it)', async () => {
    for (const how of ['host handler', 'after-listener', 'plugin handler'] as const) {
      const lines: string[] = [];
      const logger = createConsoleLogger({ level: 'warn', write: (line) => lines.push(line) });
      let stopping: Promise<unknown> | undefined;
      const shutdown = () => (stopping ??= manager.stop());
      const admin = plugin(
        'admin',
        { start: (ctx) => void (how === 'plugin handler' && ctx.events.subscribe('plugin.*.failed', () => shutdown())) },
        { events: { subscribes: ['plugin.*.failed'] } },
      );
      const api = plugin('api', { start: () => sleep(5).then(() => Promise.reject(new Error('port in use'))) });
      const manager = host([admin, api], { logger });
      if (how === 'host handler') manager.events.subscribe('plugin.*.failed', () => shutdown());
      if (how === 'after-listener') manager.onAfterHook('start', ({ ok }) => (ok ? undefined : shutdown()));
      await manager.start().catch(() => undefined);
      await until(() => stopping !== undefined);
      expect(((await stopping) as { state: string }).state).toBe('stopped');
      // Waited for, the call would hold the stop its whole hookTimeoutMs and say it was still busy.
      expect({ how, waited: lines.filter((line) => line.includes('"waitedMs"')) }).toEqual({ how, waited: [] });
    }
  });

  it('a health check that ignores its signal and never settles holds stop no longer than its own timeout; its scopes end with running', async () => {
    let stopped = false;
    let checkCtx: PluginContext | undefined;
    const manager = host(
      [plugin('probe', {
        stop: () => void (stopped = true),
        health: (ctx) => {
          checkCtx = ctx;
          void ctx.events;
          return new Promise(() => undefined);
        },
      }, { events: { publishes: ['probe.ping'] } })],
      { hookTimeoutMs: 500, health: { intervalMs: 5, timeoutMs: 30, unhealthyThreshold: 1000 } },
    );
    await manager.start();
    await until(() => checkCtx !== undefined);
    const snapshot = await manager.stopPlugin('probe');
    expect([snapshot.state, stopped]).toEqual(['stopped', true]);
    expect(codeOf(() => checkCtx!.events.publish('probe.ping'))).toBe('SCOPE_DISPOSED');
  });

  it('a hung health check with a longer timeout than the hook timeout still lets stop be called with its whole budget', async () => {
    let checking = false;
    let stopped = false;
    const manager = host(
      [plugin('probe', {
        stop: async () => {
          await sleep(40); // uses part of its own budget: none of it went to the wait
          stopped = true;
        },
        health: () => {
          checking = true;
          return new Promise(() => undefined);
        },
      })],
      { hookTimeoutMs: 60, health: { intervalMs: 5, timeoutMs: 150, unhealthyThreshold: 1000 } },
    );
    await manager.start();
    await until(() => checking);
    const snapshot = await manager.stopPlugin('probe');
    expect([snapshot.state, stopped]).toEqual(['stopped', true]);
  });

  it('a hung check is waited for only what is left of its time limit: nothing once it timed out; at shutdown, the rest of it', async () => {
    const boot = async () => {
      const clock = new SimulatedClock();
      let checks = 0;
      let stopped = false;
      const manager = host(
        [plugin('probe', { stop: () => void (stopped = true), health: () => (checks++, new Promise(() => undefined)) })],
        { clock, health: { intervalMs: 10, timeoutMs: 100, unhealthyThreshold: 1000 } },
      );
      await manager.start();
      for (let i = 0; i < 50 && checks === 0; i++) {
        clock.increment(10);
        await sleep(1);
      }
      expect(checks).toBe(1);
      return { clock, manager, stopped: () => stopped };
    };
    // The check timed out on the host's clock: stopPlugin does not wait for it again.
    const first = await boot();
    first.clock.increment(100);
    await until(() => pluginOf(first.manager, 'probe').health?.error?.code === 'HOOK_TIMEOUT');
    void first.manager.stopPlugin('probe');
    await until(first.stopped, 2000);
    // Still within its time limit as the host stops: stop waits for the rest of it, no more.
    const second = await boot();
    void second.manager.stop();
    await sleep(20);
    expect(second.stopped()).toBe(false);
    second.clock.increment(100);
    await until(second.stopped, 2000);
  });

  it('once the host is stopping no health check starts: the plugins still running while others stop start none', async () => {
    let stopping = false;
    let startedWhileStopping = 0;
    const check = () => {
      if (stopping) startedWhileStopping++;
      return new Promise<string>((resolve) => setTimeout(() => resolve('healthy'), 15));
    };
    const chain = Array.from({ length: 4 }, (_, i) =>
      plugin(`p${i}`, { health: check, stop: () => sleep(20) }, { ...(i > 0 ? { dependencies: { [`p${i - 1}`]: '*' } } : {}) }),
    );
    const manager = host(chain, { health: { intervalMs: 5, timeoutMs: 200, unhealthyThreshold: 1000 } });
    await manager.start();
    await sleep(30);
    stopping = true;
    await manager.stop();
    expect(startedWhileStopping).toBe(0);
  });

  it('no timer of a hung health check outlives manager.stop()', async () => {
    const live = new Set<ReturnType<typeof setTimeout>>();
    const clock = {
      setTimeout: (fn: () => void, ms: number) => {
        const id = setTimeout(() => {
          live.delete(id);
          fn();
        }, ms);
        live.add(id);
        return id;
      },
      clearTimeout: (id: unknown) => {
        clearTimeout(id as ReturnType<typeof setTimeout>);
        live.delete(id as ReturnType<typeof setTimeout>);
      },
    };
    let checking = false;
    const manager = host(
      [plugin('probe', {
        health: () => {
          checking = true;
          return new Promise(() => undefined);
        },
      })],
      { clock, hookTimeoutMs: 2000, health: { intervalMs: 5, timeoutMs: 100, unhealthyThreshold: 1000 } },
    );
    await manager.start();
    await until(() => checking);
    expect((await manager.stop()).state).toBe('stopped');
    expect(live.size).toBe(0);
  });

  it('a hook whose before-listener outlasts the timeout is never called', async () => {
    let called = false;
    const manager = host([plugin('db', { init: () => void (called = true) })], { hookTimeoutMs: 30 });
    manager.onBeforeHook('init', () => sleep(80));
    await manager.start();
    await sleep(80);
    expect(pluginOf(manager, 'db').error?.code).toBe('HOOK_TIMEOUT');
    expect(called).toBe(false);
  });

  it('secrets stay out of health messages cut to length and out of failed event handlers\' log lines', async () => {
    const secret = 'S3CRET-VALUE-42';
    const lines: string[] = [];
    const capture: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (...args: unknown[]) => void lines.push(JSON.stringify(args)),
      error: (...args: unknown[]) => void lines.push(JSON.stringify(args)),
      child: () => capture,
    };
    const manager = createPluginManager({
      logger: capture,
      health: { intervalMs: 10 },
      plugins: [{
        manifest: { name: 'db', version: '1.0.0', config: { key: { type: 'string', secret: true } }, events: { subscribes: ['tick'] } },
        config: { key: secret },
        module: {
          init: () => undefined,
          start: (ctx: PluginContext) => void ctx.events.subscribe('tick', () => { throw new Error(`bad ${secret}`); }),
          stop: () => undefined,
          health: () => ({ status: 'degraded', message: `${'x'.repeat(995)}${secret}` }),
        },
      }],
    });
    hosts.push(manager);
    await manager.start();
    manager.events.publish('tick');
    await until(() => pluginOf(manager, 'db').health !== null && lines.length > 0);
    expect(JSON.stringify(manager.getSnapshot())).not.toContain('S3CR');
    expect(lines.join('\n')).not.toContain('S3CR');
  });
});
