/**
 * Behaviour of the public API (`createPluginManager` and the manager it returns), driven only
 * through `src/index.ts`. Assertions are on error codes and states, never on message wording.
 */
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { pluginOf, stopWithin } from '../helpers/host.ts';
import {
  PLUGIN_COMMANDS,
  PluginFactoryError,
  createConsoleLogger,
  createPluginManager,
  silentLogger,
} from '../../src/index.ts';
import type {
  Logger,
  ManagerChange,
  ManifestInput,
  PluginContext,
  PluginDefinition,
  PluginManager,
  PluginManagerOptions,
} from '../../src/index.ts';
import { settleWithin, sleep, until } from '../helpers/time.ts';
import { reloadFrom, snapshotsOf } from '../../src/manager.ts';

// ── helpers ────────────────────────────────────────────────────────────────

type HookFn = (ctx: PluginContext) => unknown;
type HookKey = 'init' | 'start' | 'stop' | 'dispose';

interface Spec {
  version?: string;
  deps?: Record<string, string>;
  optional?: Record<string, string>;
  /** Replaces the body of a hook (the log entries around it stay). */
  hooks?: Partial<Record<HookKey, HookFn>>;
  /** Extra manifest fields. */
  manifest?: Partial<ManifestInput>;
  config?: Record<string, unknown>;
  /** Every hook awaits this many ms (0: resolves on a microtask). */
  delay?: number;
  /** Tag the log entries carry, to tell two generations of one plugin apart. */
  tag?: string;
}


/** A plugin whose hooks log `name.hook` when they begin and `name.hook:done` when they succeed. */
function plugin(log: string[], name: string, spec: Spec = {}): PluginDefinition {
  const label = spec.tag ? `${name}${spec.tag}` : name;
  const hook =
    (key: HookKey) =>
    async (ctx: PluginContext): Promise<void> => {
      log.push(`${label}.${key}`);
      if (spec.delay) await sleep(spec.delay);
      const body = spec.hooks?.[key];
      if (body) await body(ctx);
      log.push(`${label}.${key}:done`);
    };
  const manifest: ManifestInput = { name, version: spec.version ?? '1.0.0', ...spec.manifest };
  if (spec.deps) manifest.dependencies = spec.deps;
  if (spec.optional) manifest.optionalDependencies = spec.optional;
  const definition: PluginDefinition = {
    manifest,
    module: { init: hook('init'), start: hook('start'), stop: hook('stop'), dispose: hook('dispose') },
  };
  if (spec.config) definition.config = spec.config;
  return definition;
}

const managers: PluginManager[] = [];

function host(plugins: PluginDefinition[], options: Omit<PluginManagerOptions, 'plugins'> = {}): PluginManager {
  const manager = createPluginManager({ logger: silentLogger, hookTimeoutMs: 100, ...options, plugins });
  managers.push(manager);
  return manager;
}

afterEach(async () => {
  // Bounded: a host that cannot shut down must not hang the next test (see the shutdown tests).
  await Promise.all(managers.splice(0).map((manager) => settleWithin(manager.stop().catch(() => undefined), 50)));
});



const stateOf = (manager: PluginManager, name: string) => pluginOf(manager, name).state;

/** Resolves once `name` is in `state` (or rejects after `ms`). */
function waitForPlugin(manager: PluginManager, name: string, state: string, ms = 2000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = () => manager.getSnapshot().plugins.some((p) => p.name === name && p.state === state);
    if (check()) return resolve();
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(new Error(`test: '${name}' did not reach '${state}' (is ${stateOf(manager, name)})`));
    }, ms);
    const subscription = manager.subscribe(() => {
      if (!check()) return;
      clearTimeout(timer);
      subscription.unsubscribe();
      resolve();
    });
  });
}

/** Awaits `promise`, expects it to reject with a PluginFactoryError of `code`; returns the error. */
async function rejection(promise: Promise<unknown>, code: string): Promise<PluginFactoryError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a rejection with ${code}`).toBeInstanceOf(PluginFactoryError);
  expect((caught as PluginFactoryError).code).toBe(code);
  return caught as PluginFactoryError;
}

/** Calls `fn`, expects it to throw a PluginFactoryError of `code`. */
function thrown(fn: () => unknown, code: string): PluginFactoryError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a throw with ${code}`).toBeInstanceOf(PluginFactoryError);
  expect((caught as PluginFactoryError).code).toBe(code);
  return caught as PluginFactoryError;
}

const at = (log: string[], entry: string) => {
  const index = log.indexOf(entry);
  expect(index, `log has no '${entry}': ${log.join(', ')}`).toBeGreaterThanOrEqual(0);
  return index;
};

/** `first` is logged (its first occurrence) before `second`. */
function before(log: string[], first: string, second: string) {
  expect(at(log, first), `${first} before ${second} in: ${log.join(', ')}`).toBeLessThan(at(log, second));
}

const count = (log: string[], entry: string) => log.filter((e) => e === entry).length;

// ── boot order ─────────────────────────────────────────────────────────────

describe('boot order', () => {
  it('a host of many factory plugins boots without a listener-leak warning (every factory runs at once)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const manager = host(
        Array.from({ length: 20 }, (_, i) => ({ manifest: { name: `p${i}`, version: '1.0.0' }, module: () => ({ init() {}, start() {}, stop() {} }) })),
      );
      const snapshot = await manager.start();
      expect(snapshot.plugins.every((p) => p.state === 'running')).toBe(true);
      await manager.stop();
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => warning.name)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("runs a plugin's init and start only after its required dependencies are running", async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'web', { deps: { api: '^1.0.0' }, delay: 3 }),
      plugin(log, 'api', { deps: { db: '^1.0.0' }, delay: 3 }),
      plugin(log, 'db', { delay: 3 }),
    ]);
    const snapshot = await manager.start();
    expect(snapshot.state).toBe('running');
    expect(snapshot.plugins.map((p) => p.state)).toEqual(['running', 'running', 'running']);
    before(log, 'db.start:done', 'api.init');
    before(log, 'api.start:done', 'web.init');
    before(log, 'api.init:done', 'api.start');
    for (const name of ['db', 'api', 'web']) {
      expect(count(log, `${name}.init`)).toBe(1);
      expect(count(log, `${name}.start`)).toBe(1);
    }
  });

  it('boots independent plugins concurrently', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const waitGate: HookFn = () => gate;
    const manager = host([
      plugin(log, 'left', { hooks: { init: waitGate } }),
      plugin(log, 'right', { hooks: { init: waitGate } }),
    ]);
    const started = manager.start();
    // Both inits begin although neither has resolved.
    for (let i = 0; i < 50 && !(log.includes('left.init') && log.includes('right.init')); i++) await sleep(1);
    expect(log).toContain('left.init');
    expect(log).toContain('right.init');
    expect(log.filter((e) => e.endsWith(':done'))).toEqual([]);
    release();
    await started;
    expect(stateOf(manager, 'left')).toBe('running');
    expect(stateOf(manager, 'right')).toBe('running');
  });

  it('orders by an optional dependency that is present', async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'reporter', { optional: { metrics: '*' } }),
      plugin(log, 'metrics', { delay: 10 }),
    ]);
    await manager.start();
    before(log, 'metrics.start:done', 'reporter.init');
    expect(pluginOf(manager, 'reporter').dependencies).toEqual(['metrics']);
    expect(pluginOf(manager, 'reporter').optionalDependencies).toEqual(['metrics']);
    expect(stateOf(manager, 'reporter')).toBe('running');
  });

  it('ignores an optional dependency that is absent', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'reporter', { optional: { metrics: '*' } })]);
    await manager.start();
    const reporter = pluginOf(manager, 'reporter');
    expect(reporter.state).toBe('running');
    expect(reporter.error).toBeNull();
    expect(log).toContain('reporter.start:done');
  });

  it('does not list an absent optional dependency in the snapshot', async () => {
    const manager = host([plugin([], 'reporter', { optional: { metrics: '*' } }), plugin([], 'user', { deps: { reporter: '*' } })]);
    await manager.start();
    expect(pluginOf(manager, 'reporter').dependencies).toEqual([]);
    expect(pluginOf(manager, 'reporter').optionalDependencies).toEqual([]);
  });

  it('still boots a plugin whose optional dependency failed', async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'reporter', { optional: { metrics: '*' } }),
      plugin(log, 'metrics', { hooks: { start: () => Promise.reject(new Error('down')) } }),
    ]);
    await manager.start();
    expect(stateOf(manager, 'metrics')).toBe('failed.halted');
    expect(stateOf(manager, 'reporter')).toBe('running');
  });
});

// ── shutdown ───────────────────────────────────────────────────────────────

describe('shutdown', () => {
  it("is the exact reverse: a plugin's stop is called only after every dependent's stop finished", async () => {
    const log: string[] = [];
    // base ← left, right ← top (diamond), plus an independent plugin.
    const manager = host([
      plugin(log, 'base', { delay: 2 }),
      plugin(log, 'left', { deps: { base: '*' }, delay: 5 }),
      plugin(log, 'right', { deps: { base: '*' }, delay: 1 }),
      plugin(log, 'top', { deps: { left: '*', right: '*' }, delay: 3 }),
      plugin(log, 'alone', { delay: 1 }),
    ]);
    await manager.start();
    const snapshot = await stopWithin(manager);
    expect(snapshot.state).toBe('stopped');
    expect(snapshot.plugins.every((p) => p.state === 'stopped')).toBe(true);
    const edges: Array<[string, string]> = [
      ['left', 'base'],
      ['right', 'base'],
      ['top', 'left'],
      ['top', 'right'],
    ];
    for (const [dependent, dependency] of edges) before(log, `${dependent}.stop:done`, `${dependency}.stop`);
    for (const name of ['base', 'left', 'right', 'top', 'alone']) expect(count(log, `${name}.stop`)).toBe(1);
  });

  it('stop() twice is harmless and stop hooks run once', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'base'), plugin(log, 'user', { deps: { base: '*' } })]);
    await manager.start();
    const [first, second] = await Promise.all([stopWithin(manager), stopWithin(manager)]);
    expect(first.state).toBe('stopped');
    expect(second.state).toBe('stopped');
    expect(count(log, 'base.stop')).toBe(1);
    expect(count(log, 'user.stop')).toBe(1);
  });

  it('stop() before start() ends stopped without running any hook', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'base'), plugin(log, 'user', { deps: { base: '*' } })]);
    const snapshot = await stopWithin(manager);
    expect(snapshot.state).toBe('stopped');
    expect(log).toEqual([]);
    expect(snapshot.plugins.some((p) => p.state === 'running')).toBe(false);
  });

  // Regression (fixed in d273597): a running plugin with no active dependent was never told to stop.
  it('stops a plugin that has no dependencies and no dependents', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'solo')]);
    await manager.start();
    const snapshot = await stopWithin(manager, 300);
    expect(snapshot.state).toBe('stopped');
    expect(stateOf(manager, 'solo')).toBe('stopped');
    expect(log).toContain('solo.stop:done');
  });

  it('stops a plugin whose only dependent failed', async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'base'),
      plugin(log, 'user', { deps: { base: '*' }, hooks: { start: () => Promise.reject(new Error('x')) } }),
    ]);
    await manager.start();
    expect(stateOf(manager, 'user')).toBe('failed.halted');
    const snapshot = await stopWithin(manager, 300);
    expect(snapshot.state).toBe('stopped');
    expect(stateOf(manager, 'base')).toBe('stopped');
  });
});

// ── snapshot ───────────────────────────────────────────────────────────────

describe('getSnapshot()', () => {
  it('has the documented shape and round-trips through JSON', async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'config', { version: '1.2.3' }),
      plugin(log, 'db', { version: '2.0.0', deps: { config: '^1.0.0' }, optional: { cache: '*' } }),
      plugin(log, 'cache'),
      plugin(log, 'broken', { hooks: { start: () => Promise.reject(new Error('nope')) } }),
    ]);
    const idle = manager.getSnapshot();
    expect(idle.state).toBe('idle');
    expect(idle.plugins.map((p) => p.name)).toEqual(['config', 'db', 'cache', 'broken']);

    const booted = await manager.start();
    expect(booted.state).toBe('running');
    const snapshot = manager.getSnapshot();
    expect(snapshot).toEqual(booted);
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);

    const db = pluginOf(manager, 'db');
    expect(db).toMatchObject({
      name: 'db',
      version: '2.0.0',
      state: 'running',
      attempts: 1,
      dependencies: ['config', 'cache'],
      error: null,
    });
    expect(typeof db.timings.initMs).toBe('number');
    expect(typeof db.timings.startMs).toBe('number');
    expect(db.timings.initMs).toBeGreaterThanOrEqual(0);
    expect(pluginOf(manager, 'config').version).toBe('1.2.3');

    const broken = pluginOf(manager, 'broken');
    expect(broken.state).toBe('failed.halted');
    expect(broken.error).toMatchObject({ code: 'HOOK_FAILED', hook: 'start' });
    expect(typeof broken.error?.message).toBe('string');

    const stopped = await stopWithin(manager);
    expect(stopped.state).toBe('stopped');
    expect(JSON.parse(JSON.stringify(stopped))).toEqual(stopped);
    expect(typeof pluginOf(manager, 'db').timings.stopMs).toBe('number');
  });

  it('returns a fresh object: mutating it does not change the host', async () => {
    const manager = host([plugin([], 'solo')]);
    await manager.start();
    const snapshot = manager.getSnapshot();
    snapshot.state = 'hacked';
    snapshot.plugins[0]!.state = 'hacked';
    snapshot.plugins[0]!.dependencies.push('x');
    expect(manager.getSnapshot().state).toBe('running');
    expect(stateOf(manager, 'solo')).toBe('running');
    expect(pluginOf(manager, 'solo').dependencies).toEqual([]);
  });

  it('its errors are copies and its health record is frozen: changing them changes no later snapshot', async () => {
    const manager = host(
      [
        plugin([], 'broken', { hooks: { start: () => Promise.reject(new Error('nope')) } }),
        { manifest: { name: 'bad', version: '1.0.0' }, module: { init() {}, start() {} } as never },
        { manifest: { name: 'checked', version: '1.0.0' }, module: { init() {}, start() {}, stop() {}, health: () => ({ status: 'degraded', message: 'slow' }) } },
      ],
      { health: { intervalMs: 5, timeoutMs: 100 } },
    );
    await manager.start();
    await until(() => pluginOf(manager, 'checked').health !== null);
    const snapshot = manager.getSnapshot();
    const [broken, bad, checked] = snapshot.plugins;
    broken!.error!.message = 'changed';
    broken!.error!.code = 'INTERNAL_ERROR';
    bad!.errors.length = 0;
    // A health record is handed out frozen (a copy per snapshot would cost a large host).
    expect(() => {
      checked!.health!.status = 'healthy';
    }).toThrow(TypeError);
    expect(pluginOf(manager, 'broken').error).toMatchObject({ code: 'HOOK_FAILED' });
    expect(pluginOf(manager, 'broken').error?.message).not.toBe('changed');
    expect(pluginOf(manager, 'bad').errors.map((e) => e.code)).toEqual(['CONTRACT_INVALID']);
    expect(pluginOf(manager, 'checked').health?.status).toBe('degraded');
  });
});

// ── subscribe ──────────────────────────────────────────────────────────────

describe('subscribe()', () => {
  it('receives plugin.changed and manager.changed changes until unsubscribed', async () => {
    const manager = host([plugin([], 'solo'), plugin([], 'user', { deps: { solo: '*' } })]);
    const changes: ManagerChange[] = [];
    const subscription = manager.subscribe((change) => changes.push(change));
    await manager.start();
    expect(changes).toContainEqual({ type: 'manager.changed', state: 'booting', previous: 'idle' });
    expect(changes).toContainEqual({ type: 'manager.changed', state: 'running', previous: 'booting' });
    const solo = changes.filter((c) => c.type === 'plugin.changed' && c.name === 'solo');
    expect(solo.map((c) => c.state)).toContain('running');
    // Each change continues from the previous one.
    for (let i = 1; i < solo.length; i++) expect(solo[i]!.previous).toBe(solo[i - 1]!.state);

    subscription.unsubscribe();
    const seen = changes.length;
    await stopWithin(manager);
    expect(stateOf(manager, 'solo')).toBe('stopped');
    expect(changes.length).toBe(seen);
  });

  it('snapshotsOf gives the host state and the named plugins as getSnapshot has them, null for a name not registered', async () => {
    const manager = host([plugin([], 'solo'), plugin([], 'user', { deps: { solo: '*' } })]);
    await manager.start();
    const full = manager.getSnapshot();
    const some = snapshotsOf(manager, ['user', 'ghost']);
    expect(some.state).toBe(full.state);
    expect([...some.plugins]).toEqual([
      ['user', full.plugins.find((p) => p.name === 'user')],
      ['ghost', null],
    ]);
  });

  it('one function subscribed twice is two subscriptions: each hears every change, and ending one leaves the other', async () => {
    const manager = host([plugin([], 'solo')]);
    const heard: string[] = [];
    const shared = (change: ManagerChange) => void (change.type === 'manager.changed' && heard.push(change.state));
    const first = manager.subscribe(shared);
    manager.subscribe(shared);
    await manager.start();
    expect(heard).toEqual(['booting', 'booting', 'running', 'running']);
    first.unsubscribe();
    await stopWithin(manager);
    expect(heard.slice(4)).toEqual(['stopping', 'stopped']);
  });

  it('a listener that stops the host as it reaches running does not make start() reject: boot did finish', async () => {
    const manager = host([plugin([], 'solo'), plugin([], 'user', { deps: { solo: '*' } })]);
    let stopping: Promise<unknown> | null = null;
    manager.subscribe((change) => {
      if (change.type === 'manager.changed' && change.state === 'running') stopping = manager.stop();
    });
    const booted = await manager.start();
    expect(booted.plugins.map((p) => p.name)).toEqual(['solo', 'user']);
    expect(stopping).not.toBeNull();
    await stopping;
    expect(manager.getSnapshot().state).toBe('stopped');
  });

  it('a listener added during a change gets the next change, not that one; one removed during it is not called', async () => {
    const manager = host([plugin([], 'solo')]);
    let calls = 0;
    let subscription = manager.subscribe(function again() {
      calls += 1;
      if (calls > 1000) return; // without the rule above, one change would call it without end
      subscription.unsubscribe();
      subscription = manager.subscribe(again);
    });
    const removedCalls: string[] = [];
    let later: { unsubscribe(): void } | null = null;
    manager.subscribe(() => later?.unsubscribe());
    later = manager.subscribe((change) => void removedCalls.push(change.type));
    await manager.start();
    await stopWithin(manager);
    expect(calls).toBeGreaterThan(1);
    expect(calls).toBeLessThan(100);
    expect(removedCalls).toEqual([]);
  });

  it('an async listener or inspect observer that rejects is logged; no rejection goes unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const errors: string[] = [];
      const record = (_fields: unknown, message?: string) => void errors.push(message ?? '');
      const logger = { debug() {}, info() {}, warn() {}, error: record, child: () => logger };
      const manager = host([plugin([], 'a')], {
        logger,
        inspect: async () => {
          throw new Error('inspector backend unreachable');
        },
      });
      manager.subscribe(async () => {
        throw new Error('listener bug');
      });
      await manager.start();
      await manager.restartPlugin('a');
      expect(stateOf(manager, 'a')).toBe('running');
      await sleep(20); // rejections are reported a tick later
      expect(unhandled).toEqual([]);
      expect(errors.filter((m) => m.includes('subscribe() listener')).length).toBeGreaterThan(1);
      expect(errors.filter((m) => m.includes('inspect observer'))).toHaveLength(1); // once, then ignored
      expect((await stopWithin(manager)).state).toBe('stopped');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a throwing listener does not break the host or the other listeners', async () => {
    const manager = host([plugin([], 'a'), plugin([], 'b', { deps: { a: '*' } })]);
    let thrownCount = 0;
    manager.subscribe(() => {
      thrownCount++;
      throw new Error('listener bug');
    });
    const changes: ManagerChange[] = [];
    manager.subscribe((change) => changes.push(change));
    const snapshot = await manager.start();
    expect(snapshot.state).toBe('running');
    expect(stateOf(manager, 'b')).toBe('running');
    expect(thrownCount).toBeGreaterThan(0);
    expect(changes.length).toBe(thrownCount);
    await manager.stopPlugin('a');
    expect(stateOf(manager, 'a')).toBe('stopped');
    const stopped = await stopWithin(manager);
    expect(stopped.state).toBe('stopped');
    expect(changes.at(-1)).toMatchObject({ type: 'manager.changed', state: 'stopped' });
  });
});

// ── runtime commands ───────────────────────────────────────────────────────

describe('runtime commands', () => {
  function chain(log: string[]) {
    return host([
      plugin(log, 'db'),
      plugin(log, 'api', { deps: { db: '^1.0.0' } }),
      plugin(log, 'web', { deps: { api: '^1.0.0' } }),
      plugin(log, 'other'),
    ]);
  }

  it('stopPlugin stops dependents first; startPlugin brings them back', async () => {
    const log: string[] = [];
    const manager = chain(log);
    await manager.start();
    log.length = 0;

    const stopped = await manager.stopPlugin('db');
    expect(stopped.state).toBe('stopped');
    expect(stateOf(manager, 'api')).toBe('stopped');
    expect(stateOf(manager, 'web')).toBe('stopped');
    expect(stateOf(manager, 'other')).toBe('running');
    before(log, 'web.stop:done', 'api.stop');
    before(log, 'api.stop:done', 'db.stop');
    expect(log).not.toContain('other.stop');

    log.length = 0;
    const started = await manager.startPlugin('db');
    expect(started.state).toBe('running');
    expect(stateOf(manager, 'web')).toBe('running');
    expect(stateOf(manager, 'api')).toBe('running');
    before(log, 'db.start:done', 'api.start');
    before(log, 'api.start:done', 'web.start');
    // stopped → start goes straight to starting: no second init.
    expect(log.filter((e) => e.endsWith('.init'))).toEqual([]);
  });

  it('stopPlugin on a leaf touches nothing else, and startPlugin of a dependent starts its dependencies', async () => {
    const log: string[] = [];
    const manager = chain(log);
    await manager.start();
    await manager.stopPlugin('db');
    log.length = 0;
    const web = await manager.startPlugin('web');
    expect(web.state).toBe('running');
    expect(stateOf(manager, 'db')).toBe('running');
    expect(stateOf(manager, 'api')).toBe('running');
    before(log, 'db.start:done', 'api.start');
    before(log, 'api.start:done', 'web.start');

    log.length = 0;
    await manager.stopPlugin('web');
    expect(log.filter((e) => e.endsWith('.stop'))).toEqual(['web.stop']);
    expect(stateOf(manager, 'api')).toBe('running');
  });

  it('restartPlugin stops dependents first, then restarts and brings them back in order', async () => {
    const log: string[] = [];
    const manager = chain(log);
    await manager.start();
    log.length = 0;
    const restarted = await manager.restartPlugin('db');
    expect(restarted.state).toBe('running');
    expect(stateOf(manager, 'web')).toBe('running');
    const calls = log.filter((e) => !e.endsWith(':done'));
    expect(calls).toEqual(['web.stop', 'api.stop', 'db.stop', 'db.start', 'api.start', 'web.start']);
    before(log, 'web.stop:done', 'api.stop');
    before(log, 'api.stop:done', 'db.stop');
    before(log, 'db.stop:done', 'db.start');
    before(log, 'db.start:done', 'api.start');
    before(log, 'api.start:done', 'web.start');
    expect(stateOf(manager, 'other')).toBe('running');
  });

  it('reloadPlugin swaps in a new module: old stop and dispose, then the new init and start', async () => {
    const log: string[] = [];
    const manager = chain(log);
    await manager.start();
    log.length = 0;
    const reloaded = await manager.reloadPlugin('db', plugin(log, 'db', { version: '1.1.0', tag: '#2' }));
    expect(reloaded.state).toBe('running');
    expect(reloaded.version).toBe('1.1.0');
    expect(stateOf(manager, 'web')).toBe('running');
    expect(stateOf(manager, 'api')).toBe('running');
    expect(log.filter((e) => !e.endsWith(':done'))).toEqual([
      'web.stop',
      'api.stop',
      'db.stop',
      'db.dispose',
      'db#2.init',
      'db#2.start',
      'api.start',
      'web.start',
    ]);
    before(log, 'web.stop:done', 'api.stop');
    before(log, 'api.stop:done', 'db.stop');
    before(log, 'db.stop:done', 'db.dispose');
    before(log, 'db.dispose:done', 'db#2.init');
    before(log, 'db#2.init:done', 'db#2.start');
    before(log, 'db#2.start:done', 'api.start');
    expect(count(log, 'db.init')).toBe(0);
    expect(count(log, 'db.start')).toBe(0);

    // The old generation is gone: later hooks run the new module.
    log.length = 0;
    await manager.restartPlugin('db');
    expect(log).toContain('db#2.stop');
    expect(log).toContain('db#2.start');
    expect(log).not.toContain('db.stop');
  });

  it('reloadPlugin of a failed plugin brings it up with the fixed module', async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'db', { hooks: { start: () => Promise.reject(new Error('bad build')) } }),
      plugin(log, 'api', { deps: { db: '*' } }),
    ]);
    await manager.start();
    expect(stateOf(manager, 'db')).toBe('failed.halted');
    expect(pluginOf(manager, 'api').error?.code).toBe('DEPENDENCY_FAILED');
    const reloaded = await manager.reloadPlugin('db', plugin(log, 'db', { version: '1.0.1', tag: '#2' }));
    expect(reloaded.state).toBe('running');
    expect(stateOf(manager, 'api')).toBe('running');
    expect(log).toContain('db.dispose');
    expect(log).toContain('db#2.start:done');
  });

  it('reloadPlugin with keepStopped leaves a plugin stopped by hand stopped; a held or running one boots as without it', async () => {
    const log: string[] = [];
    const manager = chain(log);
    await manager.start();
    await manager.stopPlugin('api'); // web is held down by api
    log.length = 0;
    const kept = await manager.reloadPlugin('api', plugin(log, 'api', { version: '1.1.0', deps: { db: '^1.0.0' }, tag: '#2' }), { keepStopped: true });
    expect(kept).toMatchObject({ state: 'created', version: '1.1.0' }); // installed, never started
    expect(stateOf(manager, 'web')).toBe('stopped');
    expect(log).toEqual(['api.dispose', 'api.dispose:done']); // no hook of the new version ran
    // A held plugin reloaded with keepStopped still comes back with the plugin that holds it.
    await manager.reloadPlugin('web', plugin(log, 'web', { version: '1.2.0', deps: { api: '^1.0.0' }, tag: '#2' }), { keepStopped: true });
    expect(stateOf(manager, 'web')).toBe('created');
    await manager.startPlugin('api');
    expect(pluginOf(manager, 'api')).toMatchObject({ state: 'running', version: '1.1.0' });
    expect(pluginOf(manager, 'web')).toMatchObject({ state: 'running', version: '1.2.0' });
    expect(log).toContain('api#2.start:done');
    expect(log).toContain('web#2.start:done');
    // Running: it reloads and runs, keepStopped or not.
    expect((await manager.reloadPlugin('other', plugin(log, 'other', { version: '1.0.1' }), { keepStopped: true })).state).toBe('running');
    // Without keepStopped, a reload of a plugin stopped by hand boots the new version (the later command wins).
    await manager.stopPlugin('other');
    expect((await manager.reloadPlugin('other', plugin(log, 'other', { version: '1.0.2' }))).state).toBe('running');
  });

  describe('a reload whose new definition is invalid rejects and leaves the old version running', () => {
    const cases: Array<{ title: string; code: string; next: (log: string[]) => PluginDefinition }> = [
      {
        title: 'module without stop',
        code: 'CONTRACT_INVALID',
        next: () => ({ manifest: { name: 'db', version: '1.1.0' }, module: { init() {}, start() {} } }),
      },
      {
        title: 'a dependency cycle',
        code: 'DEPENDENCY_CYCLE',
        next: (log) => plugin(log, 'db', { version: '1.1.0', deps: { web: '*' }, tag: '#2' }),
      },
      {
        title: "a version outside a dependent's range",
        code: 'DEPENDENCY_VERSION_MISMATCH',
        next: (log) => plugin(log, 'db', { version: '2.0.0', tag: '#2' }),
      },
      {
        title: 'a missing dependency',
        code: 'MISSING_DEPENDENCY',
        next: (log) => plugin(log, 'db', { version: '1.1.0', deps: { ghost: '*' }, tag: '#2' }),
      },
      {
        title: 'a bad manifest',
        code: 'MANIFEST_INVALID',
        next: () => ({ manifest: { name: 'db', version: 'one' }, module: { init() {}, start() {}, stop() {} } }),
      },
      {
        title: 'another name',
        code: 'MANIFEST_INVALID',
        next: (log) => plugin(log, 'other-db', { tag: '#2' }),
      },
      {
        title: 'a definition that cannot be read (its own problem, not a name it lacks)',
        code: 'CONTRACT_INVALID',
        next: () =>
          ({
            get manifest() {
              throw new Error('trap');
            },
            module: {},
          }) as unknown as PluginDefinition,
      },
      {
        title: 'a module that throws when read',
        code: 'CONTRACT_INVALID',
        next: () =>
          ({
            manifest: { name: 'db', version: '1.1.0' },
            get module() {
              throw new Error('trap');
            },
          }) as unknown as PluginDefinition,
      },
      {
        title: 'a factory that throws',
        code: 'MODULE_LOAD_FAILED',
        next: () => ({
          manifest: { name: 'db', version: '1.1.0' },
          module: () => {
            throw new Error('factory bug');
          },
        }),
      },
      {
        title: 'bad config',
        code: 'CONFIG_INVALID',
        next: (log) => ({ ...plugin(log, 'db', { version: '1.1.0', tag: '#2' }), config: { nope: 1 } }),
      },
    ];
    for (const { title, code, next } of cases) {
      it(`${title} → ${code}`, async () => {
        const log: string[] = [];
        const manager = chain(log);
        await manager.start();
        log.length = 0;
        await rejection(manager.reloadPlugin('db', next(log)), code);
        const db = pluginOf(manager, 'db');
        expect(db.state).toBe('running');
        expect(db.version).toBe('1.0.0');
        expect(db.error).toBeNull();
        expect(stateOf(manager, 'api')).toBe('running');
        expect(stateOf(manager, 'web')).toBe('running');
        expect(log).toEqual([]);
        // The old module still serves the next command.
        await manager.restartPlugin('db');
        expect(log).toContain('db.stop');
        expect(log).toContain('db.start');
        expect(log.some((e) => e.startsWith('db#2'))).toBe(false);
      });
    }
  });

  it('a reload whose new version requires a dead plugin is refused with DEPENDENCY_FAILED; the running version and its dependents stay up', async () => {
    const log: string[] = [];
    const manager = host([
      { manifest: { name: 'bad', version: '1.0.0' }, module: { init() {}, stop() {} } as never },
      plugin(log, 'db'),
      plugin(log, 'api', { deps: { db: '^1.0.0' } }),
    ]);
    await manager.start();
    log.length = 0;
    const error = await rejection(manager.reloadPlugin('db', plugin(log, 'db', { version: '1.1.0', deps: { bad: '*' }, tag: '#2' })), 'DEPENDENCY_FAILED');
    expect(error.plugins).toEqual(['bad']);
    expect(manager.getSnapshot().plugins.map((p) => [p.name, p.version, p.state])).toEqual([
      ['bad', '1.0.0', 'invalid'],
      ['db', '1.0.0', 'running'],
      ['api', '1.0.0', 'running'],
    ]);
    expect(log).toEqual([]);
    // Held down for a moment by a restart of its own requirement, it is refused all the same: it
    // comes back with that restart on the version it has.
    let stopped = () => undefined as void;
    const stopping = new Promise<void>((resolve) => (stopped = resolve));
    const slow = host([
      { manifest: { name: 'bad', version: '1.0.0' }, module: { init() {}, stop() {} } as never },
      plugin(log, 'base', { hooks: { stop: () => stopping } }),
      plugin(log, 'db', { deps: { base: '*' } }),
    ], { hookTimeoutMs: 5000 });
    await slow.start();
    const restarting = slow.restartPlugin('base');
    await waitForPlugin(slow, 'base', 'stopping');
    expect(pluginOf(slow, 'db').state).toBe('stopped');
    await rejection(slow.reloadPlugin('db', plugin(log, 'db', { version: '1.1.0', deps: { base: '*', bad: '*' }, tag: '#2' })), 'DEPENDENCY_FAILED');
    stopped();
    await restarting;
    expect(slow.getSnapshot().plugins.map((p) => [p.name, p.version, p.state])).toEqual([
      ['bad', '1.0.0', 'invalid'],
      ['base', '1.0.0', 'running'],
      ['db', '1.0.0', 'running'],
    ]);
    // Stopped by hand and kept stopped, it has nothing to lose: the new version is installed at rest.
    await manager.stopPlugin('db');
    const kept = await manager.reloadPlugin('db', plugin(log, 'db', { version: '1.1.0', deps: { bad: '*' }, tag: '#2' }), { keepStopped: true });
    expect([kept.version, kept.state]).toEqual(['1.1.0', 'created']);
  });

  it('a reload of a dependent while its requirement is disposing for a reload of its own installs the new version, which comes back with it', async () => {
    const log: string[] = [];
    let disposed = () => undefined as void;
    const disposing = new Promise<void>((resolve) => (disposed = resolve));
    const manager = host([plugin(log, 'a', { hooks: { dispose: () => disposing } }), plugin(log, 'b', { deps: { a: '*' } })], { hookTimeoutMs: 5000 });
    await manager.start();
    const reloadingA = manager.reloadPlugin('a', plugin(log, 'a', { version: '1.1.0', tag: '#2' }));
    await waitForPlugin(manager, 'a', 'disposing');
    // What run --watch does when both files change at once.
    const reloadingB = manager.reloadPlugin('b', plugin(log, 'b', { version: '1.1.0', deps: { a: '*' }, tag: '#2' }), { keepStopped: true });
    reloadingB.catch(() => undefined);
    await settleWithin(reloadingB, 50);
    disposed();
    await reloadingA;
    await until(() => pluginOf(manager, 'b').state === 'running');
    expect(manager.getSnapshot().plugins.map((p) => [p.name, p.version, p.state])).toEqual([
      ['a', '1.1.0', 'running'],
      ['b', '1.1.0', 'running'],
    ]);
    // It waited for the new version of its requirement, and was not told it had failed.
    expect(log.indexOf('a#2.start:done')).toBeGreaterThan(-1);
    expect(log.indexOf('a#2.start:done')).toBeLessThan(log.indexOf('b#2.start'));
    expect(await reloadingB).toMatchObject({ version: '1.1.0' });
  });

  it("a dependent's reload requiring a failed plugin whose fix still loads waits for that fix, and is refused only if the fix is", async () => {
    const log: string[] = [];
    const broken = plugin(log, 'a', { hooks: { start: () => Promise.reject(new Error('a is broken')) } });
    const manager = host([broken, plugin(log, 'b')]);
    await manager.start();
    expect(stateOf(manager, 'a')).toBe('failed.halted');
    let loaded = () => undefined as void;
    const gate = new Promise<void>((resolve) => (loaded = resolve));
    // The fix of a is on its way (a reload whose definition is still loading, as the dashboard's).
    const fixingA = reloadFrom(manager, 'a', async () => (await gate, plugin(log, 'a', { version: '1.1.0', tag: '#2' })));
    const reloadingB = manager.reloadPlugin('b', plugin(log, 'b', { version: '1.1.0', deps: { a: '*' }, tag: '#2' }));
    let settled = false;
    void reloadingB.then(() => (settled = true), () => (settled = true));
    await settleWithin(reloadingB, 50);
    expect(settled).toBe(false); // waiting for a's new version, not refused
    loaded();
    await fixingA;
    expect(await reloadingB).toMatchObject({ version: '1.1.0', state: 'running' });
    expect(manager.getSnapshot().plugins.map((p) => [p.name, p.version, p.state])).toEqual([
      ['a', '1.1.0', 'running'],
      ['b', '1.1.0', 'running'],
    ]);
    // A fix that is itself refused leaves the requirement dead: the dependent's reload is refused then.
    const other = host([broken, plugin(log, 'b')]);
    await other.start();
    const badFix = reloadFrom(other, 'a', async () => {
      await sleep(20);
      throw new Error('the new file does not parse');
    });
    badFix.catch(() => undefined);
    await rejection(other.reloadPlugin('b', plugin(log, 'b', { version: '1.1.0', deps: { a: '*' }, tag: '#2' })), 'DEPENDENCY_FAILED');
    expect(pluginOf(other, 'b')).toMatchObject({ version: '1.0.0', state: 'running' });
    // Two reloads each requiring the other never wait for each other: the graph check refuses one.
    const pair = host([plugin(log, 'x'), plugin(log, 'y')]);
    await pair.start();
    const results = await Promise.allSettled([
      pair.reloadPlugin('x', plugin(log, 'x', { version: '1.1.0', deps: { y: '*' } })),
      pair.reloadPlugin('y', plugin(log, 'y', { version: '1.1.0', deps: { x: '*' } })),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.state : (r.reason as PluginFactoryError).code)).sort()).toEqual(['DEPENDENCY_CYCLE', 'running']);
  });

  it("a reload that waited for a requirement's fix is refused if the fix does not run, ends when the host stops, and waits through a chain", async () => {
    const log: string[] = [];
    const failing = () => plugin(log, 'a', { hooks: { start: () => Promise.reject(new Error('a is broken')) } });
    const gate = () => {
      let open = () => undefined as void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      return { open, opened };
    };
    // The fix installs but its start fails: the dependent's reload is refused, its running version kept.
    const one = host([failing(), plugin(log, 'b')]);
    await one.start();
    const fix = gate();
    const badFix = reloadFrom(one, 'a', async () => (await fix.opened, { ...failing(), manifest: { name: 'a', version: '1.1.0' } }));
    badFix.catch(() => undefined);
    const needingA = one.reloadPlugin('b', plugin(log, 'b', { version: '1.1.0', deps: { a: '*' }, tag: '#2' }));
    needingA.catch(() => undefined);
    fix.open();
    await rejection(needingA, 'DEPENDENCY_FAILED');
    expect(pluginOf(one, 'b')).toMatchObject({ version: '1.0.0', state: 'running' });
    // The host stops while the fix still loads: the waiting reload ends, refused.
    const two = host([failing(), plugin(log, 'b')]);
    await two.start();
    const never = gate();
    const hanging = reloadFrom(two, 'a', async () => (await never.opened, plugin(log, 'a', { version: '1.1.0' })));
    hanging.catch(() => undefined);
    const waiting = two.reloadPlugin('b', plugin(log, 'b', { version: '1.1.0', deps: { a: '*' }, tag: '#2' }));
    waiting.catch(() => undefined);
    await sleep(20);
    await two.stop();
    await rejection(waiting, 'INVALID_TRANSITION');
    never.open();
    // A chain fixed at once (c needs b needs a), b's new code loaded before c's reload arrives.
    const three = host([failing(), plugin(log, 'b', { deps: { a: '*' } }), plugin(log, 'c', { deps: { b: '*' } })]);
    await three.start();
    const aLoads = gate();
    const fixes = [
      reloadFrom(three, 'a', async () => (await aLoads.opened, plugin(log, 'a', { version: '1.1.0' }))),
      three.reloadPlugin('b', plugin(log, 'b', { version: '1.1.0', deps: { a: '*' } })),
    ];
    await sleep(20);
    fixes.push(three.reloadPlugin('c', plugin(log, 'c', { version: '1.1.0', deps: { b: '*' } })));
    aLoads.open();
    const settled = await Promise.allSettled(fixes);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(three.getSnapshot().plugins.map((p) => `${p.name}@${p.version}:${p.state}`)).toEqual(['a@1.1.0:running', 'b@1.1.0:running', 'c@1.1.0:running']);
  });

  it('unloadPlugin stops dependents first, then stops, disposes and removes the plugin', async () => {
    const log: string[] = [];
    const manager = chain(log);
    await manager.start();
    log.length = 0;
    await manager.unloadPlugin('db');
    expect(manager.getSnapshot().plugins.map((p) => p.name)).not.toContain('db');
    before(log, 'web.stop:done', 'api.stop');
    before(log, 'api.stop:done', 'db.stop');
    before(log, 'db.stop:done', 'db.dispose');
    expect(count(log, 'db.dispose')).toBe(1);
    expect(stateOf(manager, 'api')).not.toBe('running');
    expect(stateOf(manager, 'web')).not.toBe('running');
    expect(stateOf(manager, 'other')).toBe('running');
    await rejection(manager.stopPlugin('db'), 'PLUGIN_NOT_FOUND');
    for (const command of PLUGIN_COMMANDS) expect(manager.can('db', command)).toBe(false);
  });

  // Regression (fixed in d273597): the dependents stayed 'stopped' (held by the removed plugin).
  it('unloadPlugin leaves its dependents failed.blocked with MISSING_DEPENDENCY', async () => {
    const log: string[] = [];
    const manager = chain(log);
    await manager.start();
    log.length = 0;
    await manager.unloadPlugin('db');
    // unloadPlugin resolves once the dependents it took down have settled.
    const api = pluginOf(manager, 'api');
    expect(api.state).toBe('failed.blocked');
    expect(api.error?.code).toBe('MISSING_DEPENDENCY');
    expect(api.error?.plugins).toEqual(['db']);
    const web = pluginOf(manager, 'web');
    expect(web.state).toBe('failed.blocked');
    expect(['DEPENDENCY_FAILED', 'MISSING_DEPENDENCY']).toContain(web.error?.code);
    expect(log.filter((e) => e === 'api.init' || e === 'api.start' || e === 'web.start')).toEqual([]);
    // The host still shuts down cleanly around the hole.
    const end = await stopWithin(manager);
    expect(end.state).toBe('stopped');
    expect(stateOf(manager, 'other')).toBe('stopped');
  });

  it("the manager lets go of an unloaded plugin's module and of a reloaded plugin's old one", async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const held: Array<WeakRef<object>> = [];
    const definition = (name: string): PluginDefinition => {
      const module = { init() {}, start() {}, stop() {} };
      held.push(new WeakRef(module));
      return { manifest: { name, version: '1.0.0' }, module };
    };
    const manager = host([definition('gone'), definition('stay')]);
    await manager.start();
    await manager.unloadPlugin('gone');
    await manager.reloadPlugin('stay', definition('stay'));
    for (let i = 0; i < 3; i++) {
      gc();
      await sleep(10);
    }
    expect(held.map((ref) => ref.deref() !== undefined)).toEqual([false, false, true]);
  });

  it('a dependent blocked on a dead plugin says MISSING_DEPENDENCY once that plugin is unloaded', async () => {
    const manager = host([{ manifest: { name: 'bad', version: '1.0.0' }, module: {} }, plugin([], 'api', { deps: { bad: '*' } })]);
    await manager.start();
    expect([pluginOf(manager, 'api').state, pluginOf(manager, 'api').error?.code]).toEqual(['failed.blocked', 'DEPENDENCY_FAILED']);
    await manager.unloadPlugin('bad');
    const api = pluginOf(manager, 'api');
    expect([api.state, api.error?.code, api.error?.plugins]).toEqual(['failed.blocked', 'MISSING_DEPENDENCY', ['bad']]);
  });

  it('a blocked dependent held down by another restart also says MISSING_DEPENDENCY once its dead dependency is unloaded', async () => {
    let release = () => undefined as void;
    const stopping = new Promise<void>((resolve) => (release = resolve));
    const manager = host([
      { manifest: { name: 'bad', version: '1.0.0' }, module: {} },
      plugin([], 'x', { hooks: { stop: () => stopping } }),
      plugin([], 'api', { deps: { bad: '*', x: '*' } }),
    ]);
    await manager.start();
    // x restarts, and holds api down with it while its stop hook hangs.
    const restarting = manager.restartPlugin('x');
    await until(() => pluginOf(manager, 'x').state === 'stopping');
    await manager.unloadPlugin('bad');
    const api = pluginOf(manager, 'api');
    expect([api.state, api.error?.code, api.error?.plugins]).toEqual(['failed.blocked', 'MISSING_DEPENDENCY', ['bad']]);
    release();
    await restarting;
    expect([pluginOf(manager, 'x').state, pluginOf(manager, 'api').error?.code]).toEqual(['running', 'MISSING_DEPENDENCY']);
  });

  it('a dependent blocked on two dead requirements names the one still dead when the other runs again, or is missing', async () => {
    let failStop = true;
    const failing = (name: string) => plugin([], name, { hooks: { stop: () => (failStop ? Promise.reject(new Error(`${name} stop`)) : undefined) } });
    const manager = host([failing('f1'), failing('f2'), plugin([], 'd', { deps: { f1: '*', f2: '*' } })]);
    await manager.start();
    await rejection(manager.restartPlugin('f1'), 'HOOK_FAILED');
    await rejection(manager.restartPlugin('f2'), 'HOOK_FAILED');
    const reason = () => [pluginOf(manager, 'd').state, pluginOf(manager, 'd').error?.code, pluginOf(manager, 'd').error?.plugins];
    expect(reason()).toEqual(['failed.blocked', 'DEPENDENCY_FAILED', ['f1']]);
    failStop = false;
    await manager.resetPlugin('f1');
    expect(pluginOf(manager, 'f1').state).toBe('running');
    expect(reason()).toEqual(['failed.blocked', 'DEPENDENCY_FAILED', ['f2']]);
    await manager.unloadPlugin('f2');
    expect(reason()).toEqual(['failed.blocked', 'MISSING_DEPENDENCY', ['f2']]);
    expect(manager.health().down).toEqual({ d: { state: 'failed.blocked', code: 'MISSING_DEPENDENCY' } });
  });

  it('a dependent blocked on a failed requirement and missing another names the missing one once the failed one runs again', async () => {
    let failStop = true;
    const manager = host([
      plugin([], 'f1', { hooks: { stop: () => (failStop ? Promise.reject(new Error('f1 stop')) : undefined) } }),
      plugin([], 'f2'),
      plugin([], 'd', { deps: { f1: '*', f2: '*' } }),
    ]);
    await manager.start();
    await rejection(manager.restartPlugin('f1'), 'HOOK_FAILED');
    await manager.unloadPlugin('f2');
    failStop = false;
    await manager.resetPlugin('f1');
    const d = pluginOf(manager, 'd');
    expect([d.state, d.error?.code, d.error?.plugins]).toEqual(['failed.blocked', 'MISSING_DEPENDENCY', ['f2']]);
  });

  it('unloadPlugin of an invalid plugin removes it', async () => {
    const manager = host([{ manifest: { name: 'bad', version: '1.0.0' }, module: {} }, plugin([], 'good')]);
    await manager.start();
    expect(stateOf(manager, 'bad')).toBe('invalid');
    expect(manager.can('bad', 'unload')).toBe(true);
    await manager.unloadPlugin('bad');
    expect(manager.getSnapshot().plugins.map((p) => p.name)).toEqual(['good']);
  });

  it('retryPlugin runs the failed hook again; blocked dependents come back', async () => {
    const log: string[] = [];
    let failures = 1;
    const manager = host([
      plugin(log, 'flaky', {
        hooks: {
          start: () => {
            if (failures-- > 0) throw new Error('not yet');
          },
        },
      }),
      plugin(log, 'user', { deps: { flaky: '*' } }),
    ]);
    await manager.start();
    expect(pluginOf(manager, 'flaky')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'start' } });
    expect(pluginOf(manager, 'user')).toMatchObject({ state: 'failed.blocked', error: { code: 'DEPENDENCY_FAILED' } });
    expect(manager.can('flaky', 'retry')).toBe(true);
    expect(manager.can('flaky', 'reset')).toBe(true);
    log.length = 0;
    const retried = await manager.retryPlugin('flaky');
    expect(retried.state).toBe('running');
    expect(retried.error).toBeNull();
    expect(retried.attempts).toBe(1);
    // retry re-runs the hook that failed (start), not init.
    expect(log.filter((e) => e.startsWith('flaky.') && !e.endsWith(':done'))).toEqual(['flaky.start']);
    await waitForPlugin(manager, 'user', 'running');
    expect(pluginOf(manager, 'user').error).toBeNull();
  });

  it('retryPlugin rejects with the hook error when the hook fails again', async () => {
    const manager = host([plugin([], 'broken', { hooks: { init: () => Promise.reject(new Error('always')) } })]);
    await manager.start();
    await rejection(manager.retryPlugin('broken'), 'HOOK_FAILED');
    expect(pluginOf(manager, 'broken')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'init' } });
  });

  it('resetPlugin clears a failed plugin back to created and boots it again from init', async () => {
    const log: string[] = [];
    let failures = 1;
    const manager = host([
      plugin(log, 'flaky', {
        hooks: {
          start: () => {
            if (failures-- > 0) throw new Error('not yet');
          },
        },
      }),
    ]);
    await manager.start();
    expect(stateOf(manager, 'flaky')).toBe('failed.halted');
    log.length = 0;
    const seen: string[] = [];
    manager.subscribe((change) => {
      if (change.type === 'plugin.changed') seen.push(change.state);
    });
    const reset = await manager.resetPlugin('flaky');
    expect(reset.state).toBe('running');
    expect(reset.error).toBeNull();
    expect(seen).toContain('created');
    expect(log.filter((e) => !e.endsWith(':done'))).toEqual(['flaky.init', 'flaky.start']);
  });
});

// ── refused commands and can() ─────────────────────────────────────────────

describe('refused commands', () => {
  it('every command before start() rejects with INVALID_TRANSITION and can() says false', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'solo')]);
    for (const command of PLUGIN_COMMANDS) expect(manager.can('solo', command)).toBe(false);
    await rejection(manager.startPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.stopPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.restartPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.retryPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.resetPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.unloadPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.reloadPlugin('solo', plugin(log, 'solo')), 'INVALID_TRANSITION');
    expect(log).toEqual([]);
    expect(manager.getSnapshot().state).toBe('idle');
  });

  it('commands after stop() reject with INVALID_TRANSITION', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'base'), plugin(log, 'solo', { deps: { base: '*' } })]);
    await manager.start();
    await stopWithin(manager);
    log.length = 0;
    await rejection(manager.startPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.restartPlugin('solo'), 'INVALID_TRANSITION');
    expect(manager.can('solo', 'start')).toBe(false);
    expect(log).toEqual([]);
  });

  it('stopPlugin on a stopped plugin and restart/retry/reset on the wrong state reject with INVALID_TRANSITION', async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'solo'),
      { manifest: { name: 'bad', version: '1.0.0' }, module: { init() {}, start() {} } },
    ]);
    await manager.start();
    await manager.stopPlugin('solo');
    log.length = 0;
    const error = await rejection(manager.stopPlugin('solo'), 'INVALID_TRANSITION');
    expect(error.plugin).toBe('solo');
    await rejection(manager.restartPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.retryPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.resetPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.restartPlugin('bad'), 'INVALID_TRANSITION');
    await rejection(manager.startPlugin('bad'), 'INVALID_TRANSITION');
    await rejection(manager.stopPlugin('bad'), 'INVALID_TRANSITION');
    await rejection(manager.retryPlugin('bad'), 'INVALID_TRANSITION');
    await rejection(manager.resetPlugin('bad'), 'INVALID_TRANSITION');
    await manager.startPlugin('solo');
    await rejection(manager.startPlugin('solo'), 'INVALID_TRANSITION');
    await rejection(manager.retryPlugin('solo'), 'INVALID_TRANSITION');
    expect(log.filter((e) => !e.endsWith(':done'))).toEqual(['solo.start']);
    expect(stateOf(manager, 'bad')).toBe('invalid');
  });

  it('unknown plugin names reject with PLUGIN_NOT_FOUND; can() says false', async () => {
    const manager = host([plugin([], 'solo')]);
    await manager.start();
    await rejection(manager.startPlugin('ghost'), 'PLUGIN_NOT_FOUND');
    await rejection(manager.stopPlugin('ghost'), 'PLUGIN_NOT_FOUND');
    await rejection(manager.restartPlugin('ghost'), 'PLUGIN_NOT_FOUND');
    await rejection(manager.retryPlugin('ghost'), 'PLUGIN_NOT_FOUND');
    await rejection(manager.resetPlugin('ghost'), 'PLUGIN_NOT_FOUND');
    await rejection(manager.unloadPlugin('ghost'), 'PLUGIN_NOT_FOUND');
    await rejection(manager.reloadPlugin('ghost', plugin([], 'ghost')), 'PLUGIN_NOT_FOUND');
    for (const command of PLUGIN_COMMANDS) expect(manager.can('ghost', command)).toBe(false);
    expect(manager.can('solo', 'bogus' as never)).toBe(false);
    // A name of a megabyte, or one holding a terminal escape, is not echoed as it is.
    const long = await rejection(manager.stopPlugin('g'.repeat(1_000_000)), 'PLUGIN_NOT_FOUND');
    expect(long.message.length).toBeLessThan(300);
    const escaped = await rejection(manager.stopPlugin('a\n\u001b[2J'), 'PLUGIN_NOT_FOUND');
    expect(escaped.message).not.toMatch(/[\n\u001b]/);
  });

  it.each<[string, (manager: PluginManager) => void]>([
    ['stopped from outside (manager.actor.stop())', (manager) => manager.actor.stop()],
    ['fed an event it cannot read (an engine fault)', (manager) => (manager.actor as unknown as { send(event: unknown): void }).send({ type: 'command.reload', entry: null, op: 1 })],
  ])('a manager actor %s: the host is crashed, commands reject with INTERNAL_ERROR, and stop() still stops the plugins dependents first', async (_, breakIt) => {
    const log: string[] = [];
    let interval: ReturnType<typeof setInterval> | undefined;
    const manager = host([
      plugin(log, 'base', { hooks: { start: () => void (interval = setInterval(() => undefined, 1000)), stop: () => clearInterval(interval) } }),
      plugin(log, 'top', { deps: { base: '*' } }),
    ]);
    await manager.start();
    const changes: string[] = [];
    manager.subscribe((change) => void (change.type === 'manager.changed' && changes.push(change.state)));
    breakIt(manager);
    expect([manager.getSnapshot().state, changes]).toEqual(['crashed', ['crashed']]);
    expect(manager.can('top', 'stop')).toBe(false);
    await rejection(manager.stopPlugin('top'), 'INTERNAL_ERROR');
    await rejection(manager.start(), 'INTERNAL_ERROR');
    log.length = 0;
    await rejection(manager.stop(), 'INTERNAL_ERROR');
    expect(log).toEqual(['top.stop', 'top.stop:done', 'base.stop', 'base.stop:done']);
    expect(manager.getSnapshot().plugins.map((p) => p.state)).toEqual(['stopped', 'stopped']);
    // A second stop() does not run them again.
    await rejection(manager.stop(), 'INTERNAL_ERROR');
    expect(log).toHaveLength(4);
  });

  it('a manager actor failing while stop() runs, a plugin in its stop hook: that stop() still lets it finish, stops the rest after it, and only then rejects', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'base'), plugin(log, 'top', { deps: { base: '*' }, hooks: { stop: () => sleep(60) } })], { hookTimeoutMs: 1000 });
    await manager.start();
    log.length = 0;
    const stopping = manager.stop();
    await waitForPlugin(manager, 'top', 'stopping');
    manager.actor.stop();
    await rejection(stopping, 'INTERNAL_ERROR');
    expect(log).toEqual(['top.stop', 'top.stop:done', 'base.stop', 'base.stop:done']);
    expect(manager.getSnapshot().plugins.map((p) => [p.name, p.state])).toEqual([
      ['base', 'stopped'],
      ['top', 'stopped'],
    ]);
  });

  it('a manager actor stopped from outside while a restart is under way: the restart rejects with INTERNAL_ERROR at once, and stop() lets the hook under way finish first', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'base'), plugin(log, 'top', { deps: { base: '*' }, hooks: { stop: () => sleep(60) } })], { hookTimeoutMs: 1000 });
    await manager.start();
    log.length = 0;
    const restarting = manager.restartPlugin('base');
    restarting.catch(() => undefined);
    await waitForPlugin(manager, 'top', 'stopping');
    manager.actor.stop();
    // Rejected before the stop hook under way has finished.
    await rejection(restarting, 'INTERNAL_ERROR');
    expect(log).toEqual(['top.stop']);
    await rejection(manager.stop(), 'INTERNAL_ERROR');
    expect(log).toEqual(['top.stop', 'top.stop:done', 'base.stop', 'base.stop:done']);
    expect(manager.getSnapshot().plugins.map((p) => [p.name, p.state])).toEqual([
      ['base', 'stopped'],
      ['top', 'stopped'],
    ]);
  });

  it.each(['restart', 'unload', 'stop()'] as const)('a reload whose new module is still loading when %s comes: the reload is refused with INVALID_TRANSITION once it has loaded, the new version never runs', async (command) => {
    const log: string[] = [];
    let loaded = () => undefined as void;
    let stopped = () => undefined as void;
    const loading = new Promise<void>((resolve) => (loaded = resolve));
    const stopping = new Promise<void>((resolve) => (stopped = resolve));
    const manager = host([plugin(log, 'a', { hooks: { stop: () => stopping } })], { hookTimeoutMs: 5000 });
    await manager.start();
    const next = plugin(log, 'a', { version: '2.0.0', tag: '@2' });
    const hooks = next.module;
    const reloading = manager.reloadPlugin('a', { ...next, module: async () => (await loading, hooks) } as PluginDefinition);
    reloading.catch(() => undefined);
    const other = command === 'restart' ? manager.restartPlugin('a') : command === 'unload' ? manager.unloadPlugin('a') : manager.stop();
    await waitForPlugin(manager, 'a', 'stopping');
    loaded();
    await rejection(reloading, 'INVALID_TRANSITION');
    stopped();
    await other;
    expect(log.some((entry) => entry.includes('@2'))).toBe(false);
    const expected = { restart: [['1.0.0', 'running']], unload: [], 'stop()': [['1.0.0', 'stopped']] }[command];
    expect(manager.getSnapshot().plugins.map((p) => [p.version, p.state])).toEqual(expected);
  });

  it('a reload that closes a cycle through several plugins is refused with DEPENDENCY_CYCLE naming all of them; the running version stays', async () => {
    const manager = host([plugin([], 'a'), plugin([], 'b', { deps: { a: '*' } }), plugin([], 'c', { deps: { b: '*' } }), plugin([], 'aside')]);
    await manager.start();
    const error = await rejection(manager.reloadPlugin('a', plugin([], 'a', { deps: { c: '*' } })), 'DEPENDENCY_CYCLE');
    expect(new Set(error.plugins)).toEqual(new Set(['a', 'b', 'c']));
    expect(manager.getSnapshot().plugins.map((p) => p.state)).toEqual(['running', 'running', 'running', 'running']);
  });

  it('a name that is not a string, bad reload options and a listener that is not a function: ARGUMENT_INVALID', async () => {
    const manager = host([plugin([], 'solo')]);
    await manager.start();
    await rejection(manager.stopPlugin(['solo'] as never), 'ARGUMENT_INVALID');
    await rejection(manager.startPlugin(null as never), 'ARGUMENT_INVALID');
    await rejection(manager.reloadPlugin('solo', plugin([], 'solo'), null as never), 'ARGUMENT_INVALID');
    await rejection(manager.reloadPlugin('solo', null as never), 'ARGUMENT_INVALID');
    expect([manager.can(42 as never, 'start'), manager.can(undefined as never, 'stop')]).toEqual([false, false]);
    thrown(() => manager.subscribe(null as never), 'ARGUMENT_INVALID');
    // Arguments that throw when looked at are bad arguments too, not faults.
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    await rejection(manager.restartPlugin(proxy as never), 'ARGUMENT_INVALID');
    const options = {
      get keepStopped(): boolean {
        throw new Error('no');
      },
    };
    await rejection(manager.reloadPlugin('solo', plugin([], 'solo'), options), 'ARGUMENT_INVALID');
    expect(stateOf(manager, 'solo')).toBe('running');
    // A misspelt or mistyped keepStopped would start a plugin stopped by hand: refused, nothing reloaded.
    await manager.stopPlugin('solo');
    for (const bad of [{ keepstopped: true }, { keepStopped: 'true' }, { keepStopped: 1 }, { keepStopped: true, force: true }]) {
      await rejection(manager.reloadPlugin('solo', plugin([], 'solo'), bad as never), 'ARGUMENT_INVALID');
    }
    const { proxy: keys, revoke: revokeKeys } = Proxy.revocable({}, {});
    revokeKeys();
    await rejection(manager.reloadPlugin('solo', plugin([], 'solo'), keys as never), 'ARGUMENT_INVALID');
    expect(stateOf(manager, 'solo')).toBe('stopped');
    await manager.reloadPlugin('solo', plugin([], 'solo'), { keepStopped: undefined });
    expect(stateOf(manager, 'solo')).toBe('running');
  });

  it('can(name, command) agrees with what each command then does', async () => {
    type Case = { plugin: string; command: Exclude<(typeof PLUGIN_COMMANDS)[number], 'reload'> };
    const makeHost = () => {
      const log: string[] = [];
      return host([
        plugin(log, 'up'),
        plugin(log, 'down'),
        plugin(log, 'broken', { hooks: { start: () => Promise.reject(new Error('x')) } }),
        plugin(log, 'blocked', { deps: { broken: '*' } }),
        { manifest: { name: 'bad', version: '1.0.0' }, module: 42 },
      ]);
    };
    const run = (manager: PluginManager, { plugin: name, command }: Case): Promise<unknown> => {
      switch (command) {
        case 'start':
          return manager.startPlugin(name);
        case 'stop':
          return manager.stopPlugin(name);
        case 'restart':
          return manager.restartPlugin(name);
        case 'unload':
          return manager.unloadPlugin(name);
        case 'retry':
          return manager.retryPlugin(name);
        case 'reset':
          return manager.resetPlugin(name);
      }
    };
    const expected: Record<string, Record<Case['command'], boolean>> = {
      up: { start: false, stop: true, restart: true, unload: true, retry: false, reset: false },
      down: { start: true, stop: false, restart: false, unload: true, retry: false, reset: false },
      broken: { start: false, stop: false, restart: false, unload: true, retry: true, reset: true },
      blocked: { start: false, stop: false, restart: false, unload: true, retry: false, reset: true },
      bad: { start: false, stop: false, restart: false, unload: true, retry: false, reset: false },
    };
    for (const name of Object.keys(expected)) {
      for (const command of Object.keys(expected[name]!) as Array<Case['command']>) {
        const manager = makeHost();
        await manager.start();
        await manager.stopPlugin('down');
        const can = manager.can(name, command);
        expect(can, `can(${name}, ${command})`).toBe(expected[name]![command]);
        let refusedCode: string | null = null;
        try {
          await run(manager, { plugin: name, command });
        } catch (error) {
          refusedCode = (error as PluginFactoryError).code;
        }
        if (can) {
          // 'retry' on 'broken' fails again with the hook's error: allowed, but not an INVALID_TRANSITION.
          expect(refusedCode, `${command} ${name}`).not.toBe('INVALID_TRANSITION');
        } else {
          expect(refusedCode, `${command} ${name}`).toBe('INVALID_TRANSITION');
        }
      }
    }
  });
});

// ── failure policy ─────────────────────────────────────────────────────────

describe('failure policy', () => {
  it("'isolate' (default): a failing plugin's dependents end failed.blocked with DEPENDENCY_FAILED; the rest runs", async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'base', { hooks: { init: () => Promise.reject(new Error('db down')) } }),
      plugin(log, 'mid', { deps: { base: '*' } }),
      plugin(log, 'leaf', { deps: { mid: '*' } }),
      plugin(log, 'soft', { optional: { base: '*' } }),
      plugin(log, 'apart'),
    ]);
    const snapshot = await manager.start();
    expect(snapshot.state).toBe('running');
    expect(pluginOf(manager, 'base')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'init' } });
    const mid = pluginOf(manager, 'mid');
    expect(mid.state).toBe('failed.blocked');
    expect(mid.error?.code).toBe('DEPENDENCY_FAILED');
    expect(mid.error?.plugins).toEqual(['base']);
    const leaf = pluginOf(manager, 'leaf');
    expect(leaf.state).toBe('failed.blocked');
    expect(leaf.error?.code).toBe('DEPENDENCY_FAILED');
    expect(stateOf(manager, 'soft')).toBe('running');
    expect(stateOf(manager, 'apart')).toBe('running');
    expect(log).not.toContain('mid.init');
    expect(log).not.toContain('leaf.init');
    const end = await stopWithin(manager);
    expect(end.state).toBe('stopped');
    expect(stateOf(manager, 'apart')).toBe('stopped');
    expect(stateOf(manager, 'soft')).toBe('stopped');
    expect(stateOf(manager, 'mid')).toBe('failed.blocked');
  });

  it("'isolate': a dependency that is invalid blocks its dependents with DEPENDENCY_FAILED", async () => {
    const log: string[] = [];
    const manager = host([
      { manifest: { name: 'base', version: '1.0.0', engine: '>=99.0.0' }, module: { init() {}, start() {}, stop() {} } },
      plugin(log, 'user', { deps: { base: '*' } }),
    ]);
    await manager.start();
    expect(stateOf(manager, 'base')).toBe('invalid');
    expect(pluginOf(manager, 'user')).toMatchObject({ state: 'failed.blocked', error: { code: 'DEPENDENCY_FAILED' } });
    expect(log).toEqual([]);
  });

  it("'abort': start() rejects with the failing plugin's code and afterwards nothing is running", async () => {
    const log: string[] = [];
    const manager = host(
      [
        plugin(log, 'first'),
        plugin(log, 'second', { deps: { first: '*' } }),
        plugin(log, 'bomb', { deps: { first: '*' }, delay: 5, hooks: { start: () => Promise.reject(new Error('boom')) } }),
      ],
      { failurePolicy: 'abort' },
    );
    const error = await rejection(manager.start(), 'HOOK_FAILED');
    expect(error.hook).toBe('start');
    const snapshot = manager.getSnapshot();
    expect(snapshot.state).toBe('stopped');
    expect(snapshot.plugins.filter((p) => p.state === 'running')).toEqual([]);
    expect(stateOf(manager, 'bomb')).toBe('failed.halted');
    // What had started was shut down in reverse order.
    expect(log).toContain('first.stop');
    if (log.includes('second.start:done')) before(log, 'second.stop:done', 'first.stop');
    await rejection(manager.startPlugin('first'), 'INVALID_TRANSITION');
  });

  it("'abort' with a timeout: start() rejects with HOOK_TIMEOUT", async () => {
    const log: string[] = [];
    const manager = host(
      [
        plugin(log, 'ok'),
        plugin(log, 'ok-user', { deps: { ok: '*' } }),
        plugin(log, 'slow', { hooks: { init: () => new Promise(() => {}) } }),
      ],
      { failurePolicy: 'abort', hookTimeoutMs: 30 },
    );
    await rejection(manager.start(), 'HOOK_TIMEOUT');
    expect(manager.getSnapshot().state).toBe('stopped');
    expect(manager.getSnapshot().plugins.some((p) => p.state === 'running')).toBe(false);
    expect(pluginOf(manager, 'slow').error).toMatchObject({ code: 'HOOK_TIMEOUT', hook: 'init' });
  });

  // Regression (fixed in d273597): under 'abort' a running plugin without dependents was never
  // stopped, so start() never settled.
  it("'abort' stops a running plugin that has no dependents", async () => {
    const manager = host(
      [plugin([], 'ok'), plugin([], 'bomb', { delay: 5, hooks: { start: () => Promise.reject(new Error('boom')) } })],
      { failurePolicy: 'abort' },
    );
    const outcome = await Promise.race([
      manager.start().then(
        () => 'resolved',
        (error: unknown) => (error as PluginFactoryError).code,
      ),
      sleep(300).then(() => 'pending'),
    ]);
    expect(outcome).toBe('HOOK_FAILED');
    expect(stateOf(manager, 'ok')).toBe('stopped');
  });

  it("'abort' with an invalid plugin: start() rejects with its validation code", async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'ok'), plugin(log, 'needy', { deps: { ghost: '*' } })], { failurePolicy: 'abort' });
    await rejection(manager.start(), 'MISSING_DEPENDENCY');
    expect(manager.getSnapshot().state).toBe('stopped');
    expect(manager.getSnapshot().plugins.some((p) => p.state === 'running')).toBe(false);
  });
});

// ── retries ────────────────────────────────────────────────────────────────

describe('retries', () => {
  it('an init that fails twice then succeeds is called 3 times (ctx.attempt 1, 2, 3) with backoff and ends running', async () => {
    const attempts: number[] = [];
    const times: number[] = [];
    let calls = 0;
    const manager = host(
      [
        plugin([], 'flaky', {
          hooks: {
            init: (ctx) => {
              attempts.push(ctx.attempt);
              times.push(performance.now());
              if (++calls <= 2) throw new Error(`fail ${calls}`);
            },
          },
        }),
      ],
      { retry: { retries: 2, backoffMs: 5 } },
    );
    await manager.start();
    const flaky = pluginOf(manager, 'flaky');
    expect(flaky.state).toBe('running');
    expect(calls).toBe(3);
    expect(attempts).toEqual([1, 2, 3]);
    expect(flaky.error).toBeNull();
    // attempts counts the calls of the current hook: init needed 3, but the last hook run is start (1 call).
    expect(flaky.attempts).toBe(1);
    // Backoff: 5 ms, then 10 ms (factor 2).
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(4);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(9);
  });

  it('a start hook that fails twice then succeeds ends running with attempts 3', async () => {
    let calls = 0;
    const manager = host(
      [
        plugin([], 'flaky', {
          hooks: {
            start: () => {
              if (++calls <= 2) return Promise.reject(new Error('later'));
              return undefined;
            },
          },
        }),
      ],
      { retry: { retries: 2, backoffMs: 5 } },
    );
    await manager.start();
    expect(pluginOf(manager, 'flaky')).toMatchObject({ state: 'running', attempts: 3, error: null });
    expect(calls).toBe(3);
  });

  it('a hook that always fails is called exactly 1 + retries times and ends failed.halted', async () => {
    let calls = 0;
    const manager = host(
      [
        plugin([], 'doomed', {
          hooks: {
            start: () => {
              calls++;
              throw new Error('never');
            },
          },
        }),
      ],
      { retry: { retries: 2, backoffMs: 5 } },
    );
    await manager.start();
    expect(pluginOf(manager, 'doomed')).toMatchObject({
      state: 'failed.halted',
      attempts: 3,
      error: { code: 'HOOK_FAILED', hook: 'start' },
    });
    expect(calls).toBe(3);
    await sleep(40);
    expect(calls).toBe(3);
    expect(stateOf(manager, 'doomed')).toBe('failed.halted');
  });

  it("a manifest's retry overrides the host default", async () => {
    let calls = 0;
    const manager = host(
      [
        plugin([], 'doomed', {
          manifest: { retry: { retries: 1, backoffMs: 1 } },
          hooks: {
            init: () => {
              calls++;
              throw new Error('never');
            },
          },
        }),
      ],
      { retry: { retries: 4, backoffMs: 1 } },
    );
    await manager.start();
    expect(calls).toBe(2);
    expect(pluginOf(manager, 'doomed')).toMatchObject({ state: 'failed.halted', attempts: 2 });
  });

  it('backoff runs on the clock option (SimulatedClock): nothing is retried until the clock moves', async () => {
    const clock = new SimulatedClock();
    let calls = 0;
    const manager = host(
      [
        plugin([], 'flaky', {
          hooks: {
            init: () => {
              if (++calls === 1) throw new Error('first');
            },
          },
        }),
      ],
      { retry: { retries: 1, backoffMs: 60_000 }, clock },
    );
    const started = manager.start();
    await waitForPlugin(manager, 'flaky', 'failed.retrying');
    await sleep(20);
    expect(calls).toBe(1);
    expect(stateOf(manager, 'flaky')).toBe('failed.retrying');
    clock.increment(60_000);
    await started;
    expect(calls).toBe(2);
    expect(stateOf(manager, 'flaky')).toBe('running');
  });

  it('stopPlugin stops a plugin waiting to retry: it rests failed.halted, the stop resolves, the command it was retrying for rejects with the failure', async () => {
    let starts = 0;
    const manager = host(
      [plugin([], 'flaky', { hooks: { start: () => { if (++starts > 1) throw new Error('down'); } } })],
      { retry: { retries: 5, backoffMs: 60_000 } },
    );
    await manager.start();
    await manager.stopPlugin('flaky');
    const starting = manager.startPlugin('flaky');
    await waitForPlugin(manager, 'flaky', 'failed.retrying');
    expect(manager.can('flaky', 'stop')).toBe(true);
    expect((await manager.stopPlugin('flaky')).state).toBe('failed.halted');
    expect((await rejection(starting, 'HOOK_FAILED')).plugin).toBe('flaky');
    expect(starts).toBe(2);
  });
});

// ── createPluginManager: options and definitions ────────────────────────────

describe('createPluginManager refuses bad options', () => {
  const bad: Array<[string, unknown]> = [
    ['hookTimeoutMs 0', { hookTimeoutMs: 0 }],
    ['hookTimeoutMs negative', { hookTimeoutMs: -5 }],
    ['hookTimeoutMs fractional', { hookTimeoutMs: 1.5 }],
    ['hookTimeoutMs string', { hookTimeoutMs: '100' }],
    ['unknown failurePolicy', { failurePolicy: 'panic' }],
    ['negative retries', { retry: { retries: -1 } }],
    ['fractional retries', { retry: { retries: 1.5 } }],
    ['factor below 1', { retry: { factor: 0.5 } }],
    ['negative backoff', { retry: { backoffMs: -1 } }],
    ['backoff null', { retry: { retries: 2, backoffMs: null } }],
    ['maxBackoff null (would turn back-off off)', { retry: { retries: 2, maxBackoffMs: null } }],
    ['backoff a string', { retry: { backoffMs: '150' } }],
    ['backoff true', { retry: { backoffMs: true } }],
    ['factor Infinity', { retry: { factor: Infinity } }],
    ['an unknown retry key', { retry: { retires: 2 } }],
    ['retry null', { retry: null }],
    ['plugins not an array', { plugins: { name: 'x' } }],
    ['options null', null],
    ['options an array', []],
    ['an unknown option (a typo of hookTimeoutMs)', { hookTimeout: 100 }],
    ['an unknown health key (a typo)', { health: { timeoutMS: 100 } }],
    ['health a number', { health: 5 }],
    ['health an array', { health: [] }],
    ['a dataDir under a file', { dataDir: fileURLToPath(new URL('../../package.json/store', import.meta.url)) }],
  ];
  for (const [title, options] of bad) {
    it(`${title} → OPTIONS_INVALID`, () => {
      thrown(() => createPluginManager(options as PluginManagerOptions), 'OPTIONS_INVALID');
    });
  }

  it('duplicate names → DUPLICATE_PLUGIN', () => {
    const error = thrown(
      () => createPluginManager({ logger: silentLogger, plugins: [plugin([], 'twin'), plugin([], 'solo'), plugin([], 'twin')] }),
      'DUPLICATE_PLUGIN',
    );
    expect(error.plugin).toBe('twin');
  });

  it('reads each option once: what was checked is what is used', async () => {
    const reads = new Map<string, number>();
    const given: Record<string, unknown> = { plugins: [plugin([], 'solo')], logger: silentLogger, inspect: () => undefined, clock: new SimulatedClock(), hookTimeoutMs: 1000 };
    const options = Object.defineProperties(
      {},
      Object.fromEntries(
        Object.keys(given).map((key) => [
          key,
          {
            enumerable: true,
            get: () => {
              reads.set(key, (reads.get(key) ?? 0) + 1);
              // Only the first read is sound.
              return reads.get(key) === 1 ? given[key] : {};
            },
          },
        ]),
      ),
    ) as PluginManagerOptions;
    const manager = createPluginManager(options);
    managers.push(manager);
    await manager.start();
    expect(stateOf(manager, 'solo')).toBe('running');
    await manager.stop();
    expect(Object.fromEntries(reads)).toEqual(Object.fromEntries(Object.keys(given).map((key) => [key, 1])));
  });

  it('accepts no options at all', async () => {
    const manager = createPluginManager({ logger: silentLogger });
    managers.push(manager);
    const snapshot = await manager.start();
    expect(snapshot).toEqual({ state: 'running', plugins: [] });
  });
});

describe('invalid definitions', () => {
  const hooks = () => ({ init() {}, start() {}, stop() {} });

  async function boot(definitions: PluginDefinition[]) {
    const log: string[] = [];
    const manager = host([...definitions, plugin(log, 'bystander')]);
    await manager.start();
    expect(stateOf(manager, 'bystander')).toBe('running');
    return manager;
  }

  async function expectInvalid(definition: PluginDefinition, code: string, name = String(definition.manifest.name)) {
    const manager = await boot([definition]);
    const snapshot = pluginOf(manager, name);
    expect(snapshot.state).toBe('invalid');
    expect(snapshot.error?.code).toBe(code);
    expect(snapshot.errors.map((e) => e.code)).toContain(code);
    return snapshot;
  }

  it('options, a plugin list, or a definition that throw when read are coded errors, not a crash', async () => {
    const boom = () => {
      throw new Error('trap');
    };
    thrown(() => createPluginManager(new Proxy({}, { get: boom }) as PluginManagerOptions), 'OPTIONS_INVALID');
    thrown(() => createPluginManager({ logger: silentLogger, plugins: new Proxy([], { get: boom }) }), 'OPTIONS_INVALID');
    const manager = await boot([
      { manifest: new Proxy({}, { get: boom, ownKeys: boom }) as ManifestInput, module: hooks() },
      new Proxy({}, { get: boom, has: boom, ownKeys: boom }) as PluginDefinition,
      plugin([], 'fine'),
    ]);
    expect(manager.getSnapshot().plugins.map((p: { name: string; state: string; error: { code: string } | null }) => [p.name, p.state, p.error?.code ?? null])).toEqual([
      ['#1', 'invalid', 'CONTRACT_INVALID'],
      ['#2', 'invalid', 'CONTRACT_INVALID'],
      ['fine', 'running', null],
      ['bystander', 'running', null],
    ]);
    await expect(manager.reloadPlugin('fine', null as unknown as PluginDefinition)).rejects.toMatchObject({ code: 'ARGUMENT_INVALID' });
    expect(stateOf(manager, 'fine')).toBe('running');
  });

  it('an unknown manifest key → MANIFEST_INVALID', async () => {
    const snapshot = await expectInvalid(
      { manifest: { name: 'typo', version: '1.0.0', dependecies: {} } as unknown as ManifestInput, module: hooks() },
      'MANIFEST_INVALID',
    );
    expect(snapshot.error?.path).toContain('dependecies');
  });

  it('a name holding control characters → MANIFEST_INVALID, and the name shown has them escaped', async () => {
    const manifest = { name: 'esc\u001b[2J\nx\u202eevil', version: '1.0.0', 'typo\u001b[2J': 1, dependencies: { 'dep\u001b[2J': '*' } } as ManifestInput;
    const shown = 'esc\\u001b[2J\\u000ax\\u202eevil';
    const snapshot = await expectInvalid({ manifest, module: hooks() }, 'MANIFEST_INVALID', shown);
    expect(snapshot.errors.length).toBeGreaterThanOrEqual(3);
    for (const text of [snapshot.name, ...snapshot.errors.flatMap((e) => [e.message, e.path ?? ''])]) expect(text).not.toMatch(/[\u0000-\u001f\u202e]/);
  });

  it("the name 'host', which the host's own events carry as their source → MANIFEST_INVALID", async () => {
    const snapshot = await expectInvalid({ manifest: { name: 'host', version: '1.0.0' }, module: hooks() }, 'MANIFEST_INVALID');
    expect(snapshot.error?.path).toBe('name');
  });

  it('a bad name → MANIFEST_INVALID', async () => {
    await expectInvalid({ manifest: { name: 'Bad_Name', version: '1.0.0' }, module: hooks() }, 'MANIFEST_INVALID');
  });

  it('a name longer than 214 characters (it could never run) → MANIFEST_INVALID', async () => {
    const snapshot = await expectInvalid({ manifest: { name: `a${'b'.repeat(214)}`, version: '1.0.0' }, module: hooks() }, 'MANIFEST_INVALID');
    expect(snapshot.error?.path).toBe('name');
  });

  it('a plugin invalid for a name over 214 characters is reported once, with no engine error for each of its changes', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn() {},
      error: (fields) => void errors.push(fields as Record<string, unknown>),
      child: () => logger,
    };
    const manager = host([{ manifest: { name: 'a'.repeat(215), version: '1.0.0' }, module: hooks() }], { logger });
    await manager.start();
    await manager.stop();
    expect(errors.map((fields) => fields['code'])).toEqual(['MANIFEST_INVALID']);
  });

  it.each([
    ['min above max', { type: 'integer', min: 10, max: 1 }, 'config.pool.min'],
    ['an enum value not of its type', { type: 'integer', enum: [1, 'two'] }, 'config.pool.enum.1'],
  ])('a config spec no value could pass (%s) → MANIFEST_INVALID at its field', async (_title, spec, path) => {
    const snapshot = await expectInvalid(
      { manifest: { name: 'specs', version: '1.0.0', config: { pool: spec } } as unknown as ManifestInput, module: hooks() },
      'MANIFEST_INVALID',
    );
    expect(snapshot.error?.path).toBe(path);
  });

  it.each(['constructor', '__proto__', 'prototype'])('a config field named %s (it could never be given) → MANIFEST_INVALID at its field', async (field) => {
    // Parsed from text, as a manifest file is: `__proto__` is then an own key, not the prototype.
    const manifest = JSON.parse(`{ "name": "reserved", "version": "1.0.0", "config": { "${field}": { "type": "string", "required": true } } }`) as ManifestInput;
    const snapshot = await expectInvalid({ manifest, module: hooks() }, 'MANIFEST_INVALID');
    expect(snapshot.error?.path).toBe(`config.${field}`);
  });

  it.each(['dependencies', 'optionalDependencies'])('%s naming __proto__ (dropped unseen before) → MANIFEST_INVALID at that key', async (field) => {
    const manifest = JSON.parse(`{ "name": "deps", "version": "1.0.0", "${field}": { "__proto__": "*" } }`) as ManifestInput;
    const snapshot = await expectInvalid({ manifest, module: hooks() }, 'MANIFEST_INVALID');
    expect(snapshot.error?.path).toBe(`${field}.__proto__`);
  });

  it('a dependency with a bad name → MANIFEST_INVALID at that key, saying what a name may hold', async () => {
    const snapshot = await expectInvalid({ manifest: { name: 'deps', version: '1.0.0', dependencies: { 'Bad Name': '*' } }, module: hooks() }, 'MANIFEST_INVALID');
    expect(snapshot.error?.path).toBe('dependencies.Bad Name');
    expect(snapshot.error?.message).toMatch(/lower-case/);
  });

  it('a name starting with a digit → MANIFEST_INVALID', async () => {
    await expectInvalid({ manifest: { name: '1plugin', version: '1.0.0' }, module: hooks() }, 'MANIFEST_INVALID');
  });

  it('a bad semver version → MANIFEST_INVALID', async () => {
    await expectInvalid({ manifest: { name: 'vers', version: '1.0' }, module: hooks() }, 'MANIFEST_INVALID');
  });

  it('a bad dependency range → MANIFEST_INVALID', async () => {
    await expectInvalid(
      { manifest: { name: 'ranged', version: '1.0.0', dependencies: { bystander: 'not a range!' } }, module: hooks() },
      'MANIFEST_INVALID',
    );
  });

  it('an engine range this engine does not satisfy → ENGINE_VERSION_MISMATCH', async () => {
    await expectInvalid(
      { manifest: { name: 'future', version: '1.0.0', engine: '>=99.0.0' }, module: hooks() },
      'ENGINE_VERSION_MISMATCH',
    );
  });

  it('an engine range that fits is accepted', async () => {
    const manager = await boot([{ manifest: { name: 'fits', version: '1.0.0', engine: '>=0.1.0' }, module: hooks() }]);
    expect(stateOf(manager, 'fits')).toBe('running');
  });

  it('a required dependency that is not registered → MISSING_DEPENDENCY', async () => {
    const snapshot = await expectInvalid(
      { manifest: { name: 'needy', version: '1.0.0', dependencies: { ghost: '^1.0.0' } }, module: hooks() },
      'MISSING_DEPENDENCY',
    );
    expect(snapshot.error?.plugins).toEqual(['ghost']);
  });

  it('a dependency version out of range → DEPENDENCY_VERSION_MISMATCH', async () => {
    await expectInvalid(
      { manifest: { name: 'picky', version: '1.0.0', dependencies: { bystander: '^2.0.0' } }, module: hooks() },
      'DEPENDENCY_VERSION_MISMATCH',
    );
  });

  it('an optional dependency version out of range → DEPENDENCY_VERSION_MISMATCH', async () => {
    await expectInvalid(
      { manifest: { name: 'picky', version: '1.0.0', optionalDependencies: { bystander: '>=3' } }, module: hooks() },
      'DEPENDENCY_VERSION_MISMATCH',
    );
  });

  it('a dependency cycle → DEPENDENCY_CYCLE on every member, error.plugins lists the cycle', async () => {
    const log: string[] = [];
    const manager = await boot([
      plugin(log, 'x', { deps: { y: '*' } }),
      plugin(log, 'y', { deps: { z: '*' } }),
      plugin(log, 'z', { deps: { x: '*' } }),
      plugin(log, 'outside', { deps: { x: '*' } }),
      plugin(log, 'self', { deps: { self: '*' } }),
    ]);
    for (const name of ['x', 'y', 'z']) {
      const member = pluginOf(manager, name);
      expect(member.state).toBe('invalid');
      expect(member.error?.code).toBe('DEPENDENCY_CYCLE');
      const cycle = member.error?.plugins ?? [];
      expect(cycle.length).toBe(4);
      expect(cycle[0]).toBe(cycle[3]);
      expect([...new Set(cycle)].sort()).toEqual(['x', 'y', 'z']);
    }
    const self = pluginOf(manager, 'self');
    expect(self.state).toBe('invalid');
    expect(self.error?.code).toBe('DEPENDENCY_CYCLE');
    expect(self.error?.plugins).toEqual(['self', 'self']);
    // Depending on a cycle is not being in it.
    expect(pluginOf(manager, 'outside')).toMatchObject({ state: 'failed.blocked', error: { code: 'DEPENDENCY_FAILED' } });
    expect(log).toEqual([]);
  });

  const contracts: Array<[string, unknown]> = [
    ['a module without stop', { init() {}, start() {} }],
    ['a module whose init is not a function', { init: 'yes', start() {}, stop() {} }],
    ['a dispose that is not a function', { init() {}, start() {}, stop() {}, dispose: 1 }],
    ['a module that is a number', 42],
    ['a module that is null', null],
    ['a factory returning nothing', () => undefined],
  ];
  for (const [title, module] of contracts) {
    it(`${title} → CONTRACT_INVALID`, async () => {
      await expectInvalid({ manifest: { name: 'shape', version: '1.0.0' }, module }, 'CONTRACT_INVALID');
    });
  }

  it('a definition without a module → CONTRACT_INVALID', async () => {
    await expectInvalid({ manifest: { name: 'empty', version: '1.0.0' } } as PluginDefinition, 'CONTRACT_INVALID');
  });

  describe('config', () => {
    const manifest = (): ManifestInput => ({
      name: 'configured',
      version: '1.0.0',
      config: {
        url: { type: 'string', required: true },
        pool: { type: 'integer', default: 10, min: 1, max: 100 },
        mode: { type: 'string', enum: ['fast', 'safe'], default: 'safe' },
        ratio: { type: 'number' },
        tags: { type: 'array', max: 2 },
        debug: { type: 'boolean', default: false },
        opts: { type: 'object' },
      },
    });
    const bad: Array<[string, unknown]> = [
      ['wrong type (string for integer)', { url: 'x', pool: '5' }],
      ['wrong type (float for integer)', { url: 'x', pool: 2.5 }],
      ['wrong type (number for string)', { url: 7 }],
      ['wrong type (string for boolean)', { url: 'x', debug: 'yes' }],
      ['missing required', { pool: 5 }],
      ['below min', { url: 'x', pool: 0 }],
      ['above max', { url: 'x', pool: 101 }],
      ['array longer than max', { url: 'x', tags: [1, 2, 3] }],
      ['not in enum', { url: 'x', mode: 'reckless' }],
      ['unknown key', { url: 'x', pol: 5 }],
      ['NaN for a number', { url: 'x', ratio: Number.NaN }],
      ['not an object', ['url']],
      // Not plain data: a field of type object is a plain object, and values are JSON data.
      ['a Map for an object', { url: 'x', opts: new Map() }],
      ['a Date for an object', { url: 'x', opts: new Date() }],
      ['a function inside an array', { url: 'x', tags: [() => 1] }],
      ['a getter that throws', Object.defineProperty({ url: 'x' }, 'opts', { enumerable: true, get: () => { throw new Error('unreadable'); } })],
      ['a Proxy whose ownKeys throws', new Proxy({}, { ownKeys: () => { throw new Error('unreadable'); } })],
    ];
    for (const [title, config] of bad) {
      it(`${title} → CONFIG_INVALID`, async () => {
        await expectInvalid(
          { manifest: manifest(), module: hooks(), config: config as Record<string, unknown> },
          'CONFIG_INVALID',
        );
      });
    }

    it('a __proto__ key → CONFIG_INVALID and Object.prototype is not polluted', async () => {
      const config = JSON.parse('{"url":"x","__proto__":{"polluted":true}}') as Record<string, unknown>;
      let seen: Readonly<Record<string, unknown>> | null = null;
      const manager = await boot([
        { manifest: manifest(), module: hooks(), config },
        {
          manifest: { name: 'probe', version: '1.0.0', config: { url: { type: 'string' } } },
          module: {
            init(ctx: PluginContext) {
              seen = ctx.config;
            },
            start() {},
            stop() {},
          },
          config: { url: 'y' },
        },
      ]);
      expect(pluginOf(manager, 'configured')).toMatchObject({ state: 'invalid', error: { code: 'CONFIG_INVALID' } });
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(seen).toEqual({ url: 'y' });
    });

    it("ctx.config is the plugin's own deep copy, frozen all the way down: neither side's change reaches the other", async () => {
      const given = { url: 'x', tags: ['a'], opts: { nested: { n: 1 } } };
      const seen: Array<Readonly<Record<string, unknown>>> = [];
      let pushed: unknown = null;
      const manager = await boot([
        {
          manifest: manifest(),
          module: {
            init() {},
            start(ctx: PluginContext) {
              seen.push(ctx.config);
              try {
                (ctx.config['tags'] as string[]).push('evil');
              } catch (error) {
                pushed = error;
              }
            },
            stop() {},
          },
          config: given,
        },
      ]);
      expect(pushed).toBeInstanceOf(TypeError);
      given.tags.push('later');
      given.opts.nested.n = 2;
      await manager.restartPlugin('configured');
      expect(seen).toHaveLength(2);
      expect(seen[1]).toMatchObject({ tags: ['a'], opts: { nested: { n: 1 } } });
      expect(Object.isFrozen((seen[1]!['opts'] as { nested: object }).nested)).toBe(true);
      expect(given.tags).toEqual(['a', 'later']);
    });

    it('a __proto__ field in the manifest spec does not pollute Object.prototype', async () => {
      const spec = JSON.parse('{"__proto__":{"type":"object","default":{"polluted":true}}}') as NonNullable<ManifestInput['config']>;
      const manager = host([{ manifest: { name: 'sneaky', version: '1.0.0', config: spec }, module: hooks() }]);
      await manager.start();
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('type');
    });

    it('defaults are applied to ctx.config, given values kept, and ctx.config is read-only', async () => {
      let seen: Readonly<Record<string, unknown>> | null = null;
      let frozen = false;
      const manager = await boot([
        {
          manifest: manifest(),
          module: {
            init(ctx: PluginContext) {
              seen = ctx.config;
              frozen = Object.isFrozen(ctx.config);
            },
            start() {},
            stop() {},
          },
          config: { url: 'postgres://db', pool: 5 },
        },
      ]);
      expect(stateOf(manager, 'configured')).toBe('running');
      expect(seen).toEqual({ url: 'postgres://db', pool: 5, mode: 'safe', debug: false });
      expect(frozen).toBe(true);
    });

    it('an object default is copied, not shared between hosts', async () => {
      const seen: Array<Record<string, unknown>> = [];
      const shared: ManifestInput = { name: 'shared', version: '1.0.0', config: { opts: { type: 'object', default: { n: 1 } } } };
      const definition = (): PluginDefinition => ({
        manifest: shared,
        module: {
          init(ctx: PluginContext) {
            const opts = ctx.config['opts'] as Record<string, unknown>;
            seen.push({ ...opts });
            opts['n'] = 2;
          },
          start() {},
          stop() {},
        },
      });
      const one = host([definition()]);
      const two = host([definition()]);
      await one.start();
      await two.start();
      expect(seen).toEqual([{ n: 1 }, { n: 1 }]);
    });
  });

  describe('factories', () => {
    it('a factory that throws synchronously → MODULE_LOAD_FAILED', async () => {
      await expectInvalid(
        {
          manifest: { name: 'factory', version: '1.0.0' },
          module: () => {
            throw new Error('cannot build');
          },
        },
        'MODULE_LOAD_FAILED',
      );
    });

    it('a factory that rejects → MODULE_LOAD_FAILED', async () => {
      await expectInvalid(
        { manifest: { name: 'factory', version: '1.0.0' }, module: async () => Promise.reject(new Error('async fail')) },
        'MODULE_LOAD_FAILED',
      );
    });

    it('an async factory works and is called once', async () => {
      const log: string[] = [];
      let built = 0;
      const manager = host([
        plugin([], 'user', { deps: { factory: '*' } }),
        {
          manifest: { name: 'factory', version: '1.0.0' },
          module: async () => {
            built++;
            await sleep(2);
            return {
              init: () => void log.push('init'),
              start: () => void log.push('start'),
              stop: () => void log.push('stop'),
            };
          },
        },
      ]);
      await manager.start();
      expect(stateOf(manager, 'factory')).toBe('running');
      expect(stateOf(manager, 'user')).toBe('running');
      await manager.restartPlugin('factory');
      await stopWithin(manager);
      expect(built).toBe(1);
      expect(log).toEqual(['init', 'start', 'stop', 'start', 'stop']);
    });

    it('a sync factory works', async () => {
      const manager = await boot([{ manifest: { name: 'factory', version: '1.0.0' }, module: () => hooks() }]);
      expect(stateOf(manager, 'factory')).toBe('running');
    });
  });
});

// ── secrets ────────────────────────────────────────────────────────────────

describe('secrets', () => {
  const SECRET = 'hunter2-s3cr3t-value';
  const manifest = (name: string): ManifestInput => ({
    name,
    version: '1.0.0',
    config: {
      url: { type: 'string', required: true, secret: true },
      token: { type: 'string', secret: true, enum: ['only-this'] },
      pool: { type: 'integer', default: 3 },
    },
  });

  it('a secret config value never appears in the snapshot, even in a hook error', async () => {
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'debug', write: (line) => lines.push(line) });
    const manager = host(
      [
        {
          manifest: manifest('leaky'),
          module: {
            init(ctx: PluginContext) {
              throw new Error(`cannot connect to ${String(ctx.config['url'])}`);
            },
            start() {},
            stop() {},
          },
          config: { url: `postgres://admin:${SECRET}@db` },
        },
        {
          manifest: manifest('leaky-string'),
          module: {
            init() {},
            start(ctx: PluginContext) {
              return Promise.reject(`rejected with ${String(ctx.config['url'])}`);
            },
            stop() {},
          },
          config: { url: SECRET },
        },
        {
          manifest: manifest('bad-enum'),
          module: { init() {}, start() {}, stop() {} },
          config: { url: SECRET, token: SECRET },
        },
        {
          manifest: manifest('fine'),
          module: { init() {}, start() {}, stop() {} },
          config: { url: SECRET },
        },
        plugin([], 'fine-user', { deps: { fine: '*' } }),
      ],
      { logger },
    );
    const booted = await manager.start();
    expect(pluginOf(manager, 'leaky')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'init' } });
    expect(pluginOf(manager, 'leaky-string')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'start' } });
    expect(pluginOf(manager, 'bad-enum')).toMatchObject({ state: 'invalid', error: { code: 'CONFIG_INVALID' } });
    expect(stateOf(manager, 'fine')).toBe('running');
    expect(JSON.stringify(booted)).not.toContain(SECRET);
    expect(JSON.stringify(manager.getSnapshot())).not.toContain(SECRET);
    // The errors a command rejects with are scrubbed too.
    const error = await rejection(manager.retryPlugin('leaky'), 'HOOK_FAILED');
    expect(error.message).not.toContain(SECRET);
    expect(String(error.cause ?? '')).not.toContain(SECRET);
    expect(JSON.stringify(error)).not.toContain(SECRET);
    await stopWithin(manager);
    expect(stateOf(manager, 'fine')).toBe('stopped');
    expect(JSON.stringify(manager.getSnapshot())).not.toContain(SECRET);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  it('a secret object or array field does not leak its members through a hook error', async () => {
    const manager = host([
      {
        manifest: { name: 'creds', version: '1.0.0', config: { login: { type: 'object', secret: true } } },
        module: {
          init(ctx: PluginContext) {
            const login = ctx.config['login'] as { password: string };
            throw new Error(`login refused for password ${login.password}`);
          },
          start() {},
          stop() {},
        },
        config: { login: { user: 'admin', password: SECRET } },
      },
      {
        manifest: { name: 'keys', version: '1.0.0', config: { keys: { type: 'array', secret: true } } },
        module: {
          init(ctx: PluginContext) {
            throw new Error(`key ${String((ctx.config['keys'] as string[])[0])} rejected`);
          },
          start() {},
          stop() {},
        },
        config: { keys: [`${SECRET}-key`, 'other-key'] },
      },
    ]);
    await manager.start();
    expect(pluginOf(manager, 'creds')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'init' } });
    expect(pluginOf(manager, 'keys')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'init' } });
    expect(JSON.stringify(manager.getSnapshot())).not.toContain(SECRET);
  });

  it("under 'abort', the error start() rejects with does not carry the secret", async () => {
    const manager = host(
      [
        {
          manifest: manifest('leaky'),
          module: {
            init(ctx: PluginContext) {
              throw new Error(`bad ${String(ctx.config['url'])}`);
            },
            start() {},
            stop() {},
          },
          config: { url: SECRET },
        },
      ],
      { failurePolicy: 'abort' },
    );
    const error = await rejection(manager.start(), 'HOOK_FAILED');
    expect(error.message).not.toContain(SECRET);
    expect(JSON.stringify(error)).not.toContain(SECRET);
    expect(String(error.cause ?? '')).not.toContain(SECRET);
    expect(JSON.stringify(manager.getSnapshot())).not.toContain(SECRET);
  });
});
