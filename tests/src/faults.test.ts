/**
 * Fault injection: plugins that throw, reject (with anything), hang, settle late, fail while
 * stopping, or fail to build. Whatever a plugin does, the host must not crash, must report the
 * right code and state, must keep two hooks of one plugin from overlapping, and must leave no
 * timer behind after `stop()`.
 */
import { createHook } from 'node:async_hooks';
import { SimulatedClock } from 'xstate';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PluginFactoryError, createPluginManager, silentLogger } from '../../src/index.ts';
import { selfThrowing } from '../helpers/hostile.ts';
import { pluginOf, stopWithin } from '../helpers/host.ts';
import type {
  ManifestInput,
  PluginContext,
  PluginDefinition,
  PluginManager,
  PluginManagerOptions,
} from '../../src/index.ts';
import { settleWithin, sleep } from '../helpers/time.ts';

// ── process-level guards ───────────────────────────────────────────────────

const escaped: Array<{ kind: 'uncaughtException' | 'unhandledRejection'; error: unknown }> = [];
const onUncaught = (error: unknown) => void escaped.push({ kind: 'uncaughtException', error });
const onUnhandled = (reason: unknown) => void escaped.push({ kind: 'unhandledRejection', error: reason });

/**
 * Every Timeout created while this file runs, until it fires or is cleared, with where it was
 * created. Vitest's own timers (its throttled task-update timer comes and goes during a test)
 * are marked so that the leak check can tell them from the engine's.
 */
const liveTimers = new Map<number, { seq: number; vitest: boolean; where: string }>();
let timerSeq = 0;
const timerHook = createHook({
  init(asyncId, type) {
    if (type !== 'Timeout') return;
    const frames = (new Error().stack ?? '').split('\n').slice(1).map((line) => line.trim());
    const caller = frames.filter((line) => !line.includes('node:internal') && !line.includes('node:timers'));
    liveTimers.set(asyncId, {
      seq: ++timerSeq,
      vitest: caller.slice(0, 2).some((line) => line.includes('/@vitest/') || line.includes('/vitest/')),
      where: caller.slice(0, 3).join(' < '),
    });
  },
  destroy(asyncId) {
    liveTimers.delete(asyncId);
  },
});

beforeAll(() => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  timerHook.enable();
});

afterAll(() => {
  timerHook.disable();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);
  expect(escaped).toEqual([]);
});

const managers: PluginManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => settleWithin(manager.stop().catch(() => undefined), 50)));
  // Let pending rejections surface before checking that none escaped.
  await new Promise<void>((resolve) => setImmediate(resolve));
  expect(escaped).toEqual([]);
});

// ── helpers ────────────────────────────────────────────────────────────────

type HookKey = 'init' | 'start' | 'stop' | 'dispose';
type HookFn = (ctx: PluginContext) => unknown;

const never = () => new Promise<never>(() => {});
const TIMEOUT = 30;

const activeTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

interface Probe {
  log: string[];
  /** Every hook call, in order, with the context it received. */
  calls: Array<{ name: string; hook: HookKey; ctx: PluginContext }>;
  /** Per plugin: hooks running right now, and the most ever at once. */
  inFlight: Map<string, number>;
  maxInFlight: Map<string, number>;
}

function probe(): Probe {
  return { log: [], calls: [], inFlight: new Map(), maxInFlight: new Map() };
}

/** The contexts `name`'s `hook` received, in call order. */
const contexts = (p: Probe, name: string, hook: HookKey) =>
  p.calls.filter((c) => c.name === name && c.hook === hook).map((c) => c.ctx);

/** The most hooks of any one plugin that ever ran at once. */
const mostInFlight = (p: Probe) => Math.max(0, ...p.maxInFlight.values());

/**
 * A plugin whose hooks are instrumented: each logs `name.hook` when called and `name.hook:done` when
 * it succeeds, records its context and counts hooks in flight (until the hook's own promise settles,
 * however late). `hooks` replace the bodies.
 */
function plugin(
  p: Probe,
  name: string,
  options: { deps?: Record<string, string>; hooks?: Partial<Record<HookKey, HookFn>>; manifest?: Partial<ManifestInput> } = {},
): PluginDefinition {
  const enter = () => {
    const now = (p.inFlight.get(name) ?? 0) + 1;
    p.inFlight.set(name, now);
    p.maxInFlight.set(name, Math.max(p.maxInFlight.get(name) ?? 0, now));
  };
  const leave = () => void p.inFlight.set(name, (p.inFlight.get(name) ?? 1) - 1);
  const hook = (key: HookKey) => (ctx: PluginContext) => {
    p.log.push(`${name}.${key}`);
    p.calls.push({ name, hook: key, ctx });
    enter();
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(options.hooks?.[key]?.(ctx));
    } catch (error) {
      leave();
      throw error;
    }
    void result.then(
      () => {
        leave();
        p.log.push(`${name}.${key}:done`);
      },
      () => leave(),
    );
    return result;
  };
  const manifest: ManifestInput = { name, version: '1.0.0', ...options.manifest };
  if (options.deps) manifest.dependencies = options.deps;
  return { manifest, module: { init: hook('init'), start: hook('start'), stop: hook('stop'), dispose: hook('dispose') } };
}

function host(plugins: PluginDefinition[], options: Omit<PluginManagerOptions, 'plugins'> = {}): PluginManager {
  const manager = createPluginManager({ logger: silentLogger, hookTimeoutMs: TIMEOUT, ...options, plugins });
  managers.push(manager);
  return manager;
}

/** A healthy pair (`healthy` ← `healthy-user`) to show that the rest of the host keeps running. */
function healthy(p: Probe): PluginDefinition[] {
  return [plugin(p, 'healthy'), plugin(p, 'healthy-user', { deps: { healthy: '*' } })];
}



/** Taken before a host is created: how many timers are active, and the last one created so far. */
interface TimerMark {
  count: number;
  seq: number;
}

function markTimers(): TimerMark {
  return { count: activeTimeouts(), seq: timerSeq };
}

/**
 * Stops the host and checks that no timer is left: the active Timeout count is not above the
 * mark (vitest's own throttle timer may fire in between, never appear), and no timer created
 * since the mark, other than vitest's, is still alive.
 */
async function stopAndCheckTimers(manager: PluginManager, mark: TimerMark) {
  const snapshot = await stopWithin(manager);
  expect(snapshot.state).toBe('stopped');
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  expect(activeTimeouts()).toBeLessThanOrEqual(mark.count);
  const leaked = [...liveTimers.values()].filter((t) => t.seq > mark.seq && !t.vitest).map((t) => t.where);
  expect(leaked).toEqual([]);
  return snapshot;
}

const count = (log: string[], entry: string) => log.filter((e) => e === entry).length;

function before(log: string[], first: string, second: string) {
  const a = log.indexOf(first);
  const b = log.indexOf(second);
  expect(a, `log has no '${first}': ${log.join(', ')}`).toBeGreaterThanOrEqual(0);
  expect(b, `log has no '${second}': ${log.join(', ')}`).toBeGreaterThanOrEqual(0);
  expect(a, `${first} before ${second} in: ${log.join(', ')}`).toBeLessThan(b);
}


/** A cyclic object without a prototype: neither JSON.stringify nor String() can describe it. */
function undescribable(): object {
  const value = Object.create(null) as Record<string, unknown>;
  value['self'] = value;
  return value;
}

// ── failing hooks ──────────────────────────────────────────────────────────

describe('hooks that fail', () => {
  const failures: Array<{ title: string; hook: 'init' | 'start'; body: HookFn }> = [
    {
      title: 'init throws synchronously',
      hook: 'init',
      body: () => {
        throw new Error('sync init failure');
      },
    },
    { title: 'start rejects with an Error', hook: 'start', body: () => Promise.reject(new Error('async start failure')) },
    { title: 'init rejects with a string', hook: 'init', body: () => Promise.reject('just a string') },
    { title: 'start rejects with undefined', hook: 'start', body: () => Promise.reject(undefined) },
    {
      title: 'init throws null',
      hook: 'init',
      body: () => {
        throw null;
      },
    },
    {
      title: 'start throws a circular object',
      hook: 'start',
      body: () => {
        const value: Record<string, unknown> = { reason: 'loop' };
        value['self'] = value;
        throw value;
      },
    },
    {
      title: 'init throws an object dressed as an engine error',
      hook: 'init',
      body: () => {
        throw { code: 'DEPENDENCY_CYCLE', message: 'not really' };
      },
    },
    {
      title: 'init throws an Error whose message getter throws the error itself',
      hook: 'init',
      body: () => {
        throw selfThrowing();
      },
    },
    {
      title: 'start rejects with a cyclic object without a prototype',
      hook: 'start',
      body: () => Promise.reject(undescribable()),
    },
    {
      title: 'start throws an Error subclass with a getter that throws',
      hook: 'start',
      body: () => {
        class Nasty extends Error {
          override get message(): string {
            throw new Error('message getter exploded');
          }
        }
        throw new Nasty();
      },
    },
  ];

  for (const { title, hook, body } of failures) {
    it(`${title} → HOOK_FAILED (hook '${hook}'), failed.halted, the rest keeps running`, async () => {
      const timers = markTimers();
      const p = probe();
      const manager = host([plugin(p, 'faulty', { hooks: { [hook]: body } }), ...healthy(p)]);
      const booted = await manager.start();
      expect(booted.state).toBe('running');
      const faulty = pluginOf(manager, 'faulty');
      expect(faulty.state).toBe('failed.halted');
      expect(faulty.error?.code).toBe('HOOK_FAILED');
      expect(faulty.error?.hook).toBe(hook);
      expect(typeof faulty.error?.message).toBe('string');
      expect(faulty.attempts).toBe(1);
      expect(count(p.log, `faulty.${hook}`)).toBe(1);
      if (hook === 'init') expect(p.log).not.toContain('faulty.start');
      expect(pluginOf(manager, 'healthy').state).toBe('running');
      expect(pluginOf(manager, 'healthy-user').state).toBe('running');
      // The snapshot is still plain JSON.
      const snapshot = manager.getSnapshot();
      expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
      // retryPlugin reports the same kind of failure as a coded error.
      const error = await manager.retryPlugin('faulty').then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PluginFactoryError);
      expect((error as PluginFactoryError).code).toBe('HOOK_FAILED');
      await stopAndCheckTimers(manager, timers);
      expect(pluginOf(manager, 'faulty').state).toBe('failed.halted');
    });
  }

  it("a failing dependency blocks its dependent (DEPENDENCY_FAILED) and the dependent's hooks never run", async () => {
    const timers = markTimers();
    const p = probe();
    const manager = host([
      plugin(p, 'base', { hooks: { start: () => Promise.reject(new Error('x')) } }),
      plugin(p, 'user', { deps: { base: '*' } }),
    ]);
    await manager.start();
    expect(pluginOf(manager, 'base')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED' } });
    expect(pluginOf(manager, 'user')).toMatchObject({ state: 'failed.blocked', error: { code: 'DEPENDENCY_FAILED' } });
    expect(p.log.filter((e) => e.startsWith('user.'))).toEqual([]);
    await stopAndCheckTimers(manager, timers);
  });

  it('a hook returning a thenable that settles twice (resolve, then reject) counts once', async () => {
    const timers = markTimers();
    const p = probe();
    const twice: HookFn = () => ({
      then(resolve: (value: unknown) => void, reject: (reason: unknown) => void) {
        resolve('first');
        reject(new Error('second'));
        resolve('third');
      },
    });
    const manager = host([plugin(p, 'twice', { hooks: { init: twice, start: twice } }), plugin(p, 'user', { deps: { twice: '*' } })]);
    await manager.start();
    expect(pluginOf(manager, 'twice')).toMatchObject({ state: 'running', error: null });
    expect(pluginOf(manager, 'user').state).toBe('running');
    expect(count(p.log, 'twice.init')).toBe(1);
    expect(count(p.log, 'twice.start')).toBe(1);
    await stopAndCheckTimers(manager, timers);
  });

  it('a hook returning a plain value (not a promise) is fine', async () => {
    const p = probe();
    const manager = host([plugin(p, 'plain', { hooks: { init: () => 42, start: () => ({ then: 1 }) } }), plugin(p, 'user', { deps: { plain: '*' } })]);
    await manager.start();
    expect(pluginOf(manager, 'plain').state).toBe('running');
  });
});

// ── hanging and late hooks ─────────────────────────────────────────────────

describe('hooks that hang or settle late', () => {
  for (const hook of ['init', 'start'] as const) {
    it(`${hook} that never settles → HOOK_TIMEOUT (hook '${hook}'), failed.halted, ctx.signal aborted`, async () => {
      const timers = markTimers();
      const p = probe();
      let abortEvents = 0;
      const manager = host([
        plugin(p, 'stuck', {
          hooks: {
            [hook]: (ctx: PluginContext) => {
              ctx.signal.addEventListener('abort', () => abortEvents++);
              return never();
            },
          },
        }),
        ...healthy(p),
      ]);
      const t0 = performance.now();
      await manager.start();
      const elapsed = performance.now() - t0;
      const stuck = pluginOf(manager, 'stuck');
      expect(stuck.state).toBe('failed.halted');
      expect(stuck.error).toMatchObject({ code: 'HOOK_TIMEOUT', hook });
      expect(stuck.error?.cause).toBeUndefined();
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 1);
      const ctx = contexts(p, 'stuck', hook)[0];
      expect(ctx).toBeDefined();
      expect(ctx!.signal.aborted).toBe(true);
      expect(abortEvents).toBe(1);
      expect(pluginOf(manager, 'healthy-user').state).toBe('running');
      await stopAndCheckTimers(manager, timers);
    });
  }

  it('a signal-aware hook that gives up on abort is still reported as HOOK_TIMEOUT', async () => {
    const timers = markTimers();
    const p = probe();
    const manager = host([
      plugin(p, 'polite', {
        hooks: {
          init: (ctx) =>
            new Promise<void>((_, reject) => {
              ctx.signal.addEventListener('abort', () => reject(new Error('aborted by signal')));
            }),
        },
      }),
    ]);
    await manager.start();
    expect(pluginOf(manager, 'polite')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_TIMEOUT', hook: 'init' } });
    await stopAndCheckTimers(manager, timers);
  });

  it('init that resolves after its timeout: the result is ignored and the plugin stays failed', async () => {
    const timers = markTimers();
    const p = probe();
    let resolvedLate = false;
    const manager = host([
      plugin(p, 'late', {
        hooks: {
          init: async () => {
            await sleep(TIMEOUT * 2);
            resolvedLate = true;
          },
        },
      }),
      plugin(p, 'user', { deps: { late: '*' } }),
    ]);
    await manager.start();
    expect(pluginOf(manager, 'late')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_TIMEOUT', hook: 'init' } });
    await sleep(TIMEOUT * 2);
    expect(resolvedLate).toBe(true);
    const late = pluginOf(manager, 'late');
    expect(late.state).toBe('failed.halted');
    expect(late.error?.code).toBe('HOOK_TIMEOUT');
    expect(late.timings.initMs).toBeUndefined();
    expect(p.log).not.toContain('late.start');
    expect(pluginOf(manager, 'user')).toMatchObject({ state: 'failed.blocked', error: { code: 'DEPENDENCY_FAILED' } });
    await stopAndCheckTimers(manager, timers);
  });

  it('start that rejects after its timeout: still HOOK_TIMEOUT, and the late rejection escapes nowhere', async () => {
    const timers = markTimers();
    const p = probe();
    let rejectedLate = false;
    const manager = host([
      plugin(p, 'late', {
        hooks: {
          start: async () => {
            await sleep(TIMEOUT * 2);
            rejectedLate = true;
            throw new Error('too late');
          },
        },
      }),
    ]);
    await manager.start();
    await sleep(TIMEOUT * 2 + 10);
    expect(rejectedLate).toBe(true);
    expect(pluginOf(manager, 'late')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_TIMEOUT', hook: 'start' } });
    await stopAndCheckTimers(manager, timers);
  });

  it('stop() during boot cancels a hanging init at once: signal aborted, no wait for the timeout', async () => {
    const timers = markTimers();
    const p = probe();
    const manager = host([plugin(p, 'stuck', { hooks: { init: never } }), plugin(p, 'user', { deps: { stuck: '*' } })], {
      hookTimeoutMs: 2000,
    });
    const booting = manager.start().then(
      (snapshot) => snapshot.state,
      (error: unknown) => (error as PluginFactoryError).code,
    );
    await sleep(5);
    expect(pluginOf(manager, 'stuck').state).toBe('initializing');
    const t0 = performance.now();
    await stopAndCheckTimers(manager, timers);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(contexts(p, 'stuck', 'init')[0]!.signal.aborted).toBe(true);
    expect(await booting).not.toBe('running');
    expect(p.log.filter((e) => e.startsWith('user.'))).toEqual([]);
    expect(manager.getSnapshot().plugins.some((x) => x.state === 'running' || x.state === 'initializing')).toBe(false);
  });
});

// ── failing stop ───────────────────────────────────────────────────────────

describe('stop hooks that fail', () => {
  const cases: Array<{ title: string; body: HookFn; code: string }> = [
    {
      title: 'throws synchronously',
      body: () => {
        throw new Error('stop failed');
      },
      code: 'HOOK_FAILED',
    },
    { title: 'rejects', body: () => Promise.reject(new Error('stop failed')), code: 'HOOK_FAILED' },
    { title: 'rejects with a non-Error', body: () => Promise.reject(7), code: 'HOOK_FAILED' },
    {
      title: 'throws an Error whose message getter throws it',
      body: () => {
        throw selfThrowing();
      },
      code: 'HOOK_FAILED',
    },
    { title: 'hangs', body: never, code: 'HOOK_TIMEOUT' },
  ];

  for (const { title, body, code } of cases) {
    it(`a dependent whose stop ${title}: shutdown continues, ${code} (hook 'stop'), its dependency still stopped`, async () => {
      const timers = markTimers();
      const p = probe();
      const manager = host([
        plugin(p, 'base'),
        plugin(p, 'middle', { deps: { base: '*' }, hooks: { stop: body } }),
        plugin(p, 'top', { deps: { middle: '*' } }),
      ]);
      await manager.start();
      const snapshot = await stopAndCheckTimers(manager, timers);
      const middle = snapshot.plugins.find((x) => x.name === 'middle');
      expect(middle?.state.startsWith('failed')).toBe(true);
      expect(middle?.error).toMatchObject({ code, hook: 'stop' });
      expect(snapshot.plugins.find((x) => x.name === 'top')?.state).toBe('stopped');
      expect(snapshot.plugins.find((x) => x.name === 'base')?.state).toBe('stopped');
      before(p.log, 'top.stop:done', 'middle.stop');
      before(p.log, 'middle.stop', 'base.stop');
      expect(count(p.log, 'base.stop')).toBe(1);
      expect(p.log).toContain('base.stop:done');
      if (code === 'HOOK_TIMEOUT') expect(contexts(p, 'middle', 'stop')[0]?.signal.aborted).toBe(true);
    });
  }

  it("the root's stop fails: its dependents stopped first, HOOK_FAILED reported, stop() resolves", async () => {
    const timers = markTimers();
    const p = probe();
    const manager = host([
      plugin(p, 'base', { hooks: { stop: () => Promise.reject(new Error('cannot close')) } }),
      plugin(p, 'user', { deps: { base: '*' } }),
    ]);
    await manager.start();
    const snapshot = await stopAndCheckTimers(manager, timers);
    expect(snapshot.plugins.find((x) => x.name === 'user')?.state).toBe('stopped');
    expect(snapshot.plugins.find((x) => x.name === 'base')).toMatchObject({
      state: 'failed.halted',
      error: { code: 'HOOK_FAILED', hook: 'stop' },
    });
    before(p.log, 'user.stop:done', 'base.stop');
  });

  it('a stopPlugin whose stop hook fails rejects with HOOK_FAILED and dependents stay stopped', async () => {
    const p = probe();
    const manager = host([
      plugin(p, 'base', { hooks: { stop: () => Promise.reject(new Error('no')) } }),
      plugin(p, 'user', { deps: { base: '*' } }),
    ]);
    await manager.start();
    const error = await manager.stopPlugin('base').then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PluginFactoryError);
    expect((error as PluginFactoryError).code).toBe('HOOK_FAILED');
    expect((error as PluginFactoryError).hook).toBe('stop');
    expect(pluginOf(manager, 'base')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'stop' } });
    expect(pluginOf(manager, 'user').state).toBe('stopped');
    // A failed stop is not retried (stop runs at most once per start); reset is the way back.
    expect(manager.can('base', 'retry')).toBe(false);
    const refused = await manager.retryPlugin('base').then(
      () => null,
      (e: unknown) => e,
    );
    expect((refused as PluginFactoryError).code).toBe('INVALID_TRANSITION');
    expect(count(p.log, 'base.stop')).toBe(1);
    expect(manager.can('base', 'reset')).toBe(true);
  });

  it.each([
    ['throws', () => new Error('dispose failed')],
    ['throws an Error whose message getter throws it', selfThrowing],
  ])('a dispose that %s does not block unload', async (_title, thrown) => {
    const p = probe();
    const manager = host([
      plugin(p, 'base'),
      plugin(p, 'leaf', {
        deps: { base: '*' },
        hooks: {
          dispose: () => {
            throw thrown();
          },
        },
      }),
    ]);
    await manager.start();
    await manager.unloadPlugin('leaf');
    expect(manager.getSnapshot().plugins.map((x) => x.name)).toEqual(['base']);
    expect(p.log).toContain('leaf.dispose');
    expect(pluginOf(manager, 'base').state).toBe('running');
  });
});

// ── factories ──────────────────────────────────────────────────────────────

describe('factories that fail', () => {
  const factories: Array<[string, () => unknown]> = [
    [
      'throws synchronously',
      () => {
        throw new Error('factory bug');
      },
    ],
    ['rejects', () => Promise.reject(new Error('async factory bug'))],
    ['rejects with a non-Error', () => Promise.reject('nope')],
    [
      'throws an Error whose message getter throws it',
      () => {
        throw selfThrowing();
      },
    ],
    ['rejects with a cyclic object without a prototype', () => Promise.reject(undescribable())],
    ['never settles', never],
  ];
  for (const [title, factory] of factories) {
    it(`a factory that ${title} → invalid with MODULE_LOAD_FAILED; dependents blocked; no hook runs`, async () => {
      const timers = markTimers();
      const p = probe();
      const manager = host([
        { manifest: { name: 'broken', version: '1.0.0' }, module: factory },
        plugin(p, 'user', { deps: { broken: '*' } }),
        ...healthy(p),
      ]);
      await manager.start();
      const broken = pluginOf(manager, 'broken');
      expect(broken.state).toBe('invalid');
      expect(broken.error?.code).toBe('MODULE_LOAD_FAILED');
      expect(pluginOf(manager, 'user')).toMatchObject({ state: 'failed.blocked', error: { code: 'DEPENDENCY_FAILED' } });
      expect(p.log.filter((e) => e.startsWith('user.'))).toEqual([]);
      expect(pluginOf(manager, 'healthy-user').state).toBe('running');
      await stopAndCheckTimers(manager, timers);
    });
  }
});

describe('factories still running when the host stops', () => {
  it('stop() during validation gives a hanging factory up at once: MODULE_LOAD_FAILED, no timer left', async () => {
    const timers = markTimers();
    const manager = host([{ manifest: { name: 'slow', version: '1.0.0' }, module: never }], { hookTimeoutMs: 60_000 });
    await sleep(10);
    expect(pluginOf(manager, 'slow').state).toBe('validating');
    // stopAndCheckTimers bounds the stop far below the factory's 60 s limit.
    const snapshot = await stopAndCheckTimers(manager, timers);
    expect(snapshot.plugins[0]).toMatchObject({ state: 'invalid', error: { code: 'MODULE_LOAD_FAILED' } });
  });

  it('a reload whose factory hangs is given up when the host stops: it rejects at once, no timer left', async () => {
    const timers = markTimers();
    const p = probe();
    const manager = host([plugin(p, 'a')], { hookTimeoutMs: 60_000 });
    await manager.start();
    let outcome: unknown = 'pending';
    const reload = manager.reloadPlugin('a', { manifest: { name: 'a', version: '2.0.0' }, module: never }).then(
      (snapshot) => (outcome = snapshot),
      (error: unknown) => (outcome = error),
    );
    await sleep(10);
    await stopAndCheckTimers(manager, timers);
    await settleWithin(reload, 1000);
    expect(outcome).toMatchObject({ code: 'INVALID_TRANSITION' }); // the host stopped, as when it stops after the load
  });

  it("a factory's time limit runs on the host's clock", async () => {
    const clock = new SimulatedClock();
    const manager = host([{ manifest: { name: 'slow', version: '1.0.0' }, module: never }], { hookTimeoutMs: 5000, clock });
    await sleep(10);
    expect(pluginOf(manager, 'slow').state).toBe('validating');
    clock.increment(5000);
    await sleep(0);
    expect(pluginOf(manager, 'slow')).toMatchObject({ state: 'invalid', error: { code: 'MODULE_LOAD_FAILED' } });
  });
});

describe('hooks objects that throw when read', () => {
  it.each([
    [
      'a getter',
      () => ({
        get init(): never {
          throw new Error('init getter');
        },
        start() {},
        stop() {},
      }),
    ],
    [
      'a Proxy',
      () =>
        new Proxy(
          {},
          {
            get() {
              throw selfThrowing();
            },
          },
        ),
    ],
  ])('%s that throws when validation reads a hook → invalid with CONTRACT_INVALID naming the plugin', async (_title, make) => {
    const p = probe();
    const manager = host([{ manifest: { name: 'sly', version: '1.0.0' }, module: make() }, ...healthy(p)]);
    await manager.start();
    const sly = pluginOf(manager, 'sly');
    expect(sly.state).toBe('invalid');
    expect(sly.errors.length).toBeGreaterThan(0);
    expect(sly.errors.every((error) => error.code === 'CONTRACT_INVALID' && error.message.includes("'sly'"))).toBe(true);
    expect(pluginOf(manager, 'healthy-user').state).toBe('running');
    await manager.stop();
  });
});

// ── hooks of one plugin never overlap ──────────────────────────────────────

describe('hooks of one plugin never overlap', () => {
  it('a retry waits for the timed-out init to settle before calling init again', async () => {
    const timers = markTimers();
    const p = probe();
    let calls = 0;
    const manager = host(
      [
        plugin(p, 'slow', {
          hooks: {
            // First call outlives its timeout (30 ms) but settles within one more timeout.
            init: () => (++calls === 1 ? sleep(TIMEOUT + 15) : undefined),
          },
        }),
        plugin(p, 'user', { deps: { slow: '*' } }),
      ],
      { retry: { retries: 1, backoffMs: 1 } },
    );
    await manager.start();
    expect(calls).toBe(2);
    expect(p.maxInFlight.get('slow')).toBe(1);
    // The second init began only after the first one had finished.
    expect(p.log.filter((e) => e.startsWith('slow.init'))).toEqual(['slow.init', 'slow.init:done', 'slow.init', 'slow.init:done']);
    const inits = contexts(p, 'slow', 'init');
    expect(inits[0]!.signal.aborted).toBe(true);
    expect(inits.map((c) => c.attempt)).toEqual([1, 2]);
    expect(pluginOf(manager, 'slow')).toMatchObject({ state: 'running', error: null });
    expect(pluginOf(manager, 'user').state).toBe('running');
    await stopAndCheckTimers(manager, timers);
    expect(mostInFlight(p)).toBe(1);
  });

  it('a retry never runs alongside an init that keeps hanging', async () => {
    const timers = markTimers();
    const p = probe();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const manager = host([plugin(p, 'stuck', { hooks: { init: () => (++calls === 1 ? gate : undefined) } })], {
      retry: { retries: 2, backoffMs: 1 },
    });
    await manager.start();
    expect(p.maxInFlight.get('stuck')).toBe(1);
    const stuck = pluginOf(manager, 'stuck');
    expect(stuck.state).toBe('failed.halted');
    expect(stuck.error?.code).toBe('HOOK_TIMEOUT');
    // The retries were never called, and the last timeout says why (a cause; a plain timeout has none).
    expect(calls).toBe(1);
    expect(stuck.attempts).toBe(3);
    expect(typeof stuck.error?.cause).toBe('string');
    release();
    await sleep(5);
    expect(p.maxInFlight.get('stuck')).toBe(1);
    await stopAndCheckTimers(manager, timers);
  });

  it('a stop that hangs for good keeps a reloaded version from running any hook; the timeout names the stop it waits for', async () => {
    const p = probe();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const manager = host([plugin(p, 'stuck', { hooks: { stop: () => gate } })], { retry: { retries: 0 } });
    await manager.start();
    let newInits = 0;
    const next: PluginDefinition = { manifest: { name: 'stuck', version: '2.0.0' }, module: { init: () => void newInits++, start() {}, stop() {} } };
    await expect(manager.reloadPlugin('stuck', next)).rejects.toMatchObject({ code: 'HOOK_TIMEOUT' });
    const stuck = pluginOf(manager, 'stuck');
    expect(stuck).toMatchObject({ version: '2.0.0', state: 'failed.halted', error: { code: 'HOOK_TIMEOUT', hook: 'init' } });
    expect(newInits).toBe(0);
    expect(stuck.error?.cause).toContain('stop');
    release();
    await sleep(5);
    // Once the old call has settled, the new version runs.
    await expect(manager.retryPlugin('stuck')).resolves.toMatchObject({ state: 'running', version: '2.0.0' });
    expect(newInits).toBe(1);
  });

  it('a start cancelled by stopPlugin is waited for before the next start runs', async () => {
    const timers = markTimers();
    const p = probe();
    let starts = 0;
    const manager = host(
      [
        plugin(p, 'slow', {
          hooks: { start: () => (++starts === 2 ? sleep(TIMEOUT - 10) : undefined) },
        }),
        plugin(p, 'user', { deps: { slow: '*' } }),
      ],
      { hookTimeoutMs: 60 },
    );
    await manager.start();
    await manager.stopPlugin('slow');
    // Second start: slow; cancel it mid-way, then start again.
    const first = manager.startPlugin('slow').catch((e: unknown) => e);
    await sleep(5);
    expect(pluginOf(manager, 'slow').state).toBe('starting.hook');
    await manager.stopPlugin('slow').catch((e: unknown) => e);
    await first;
    expect(pluginOf(manager, 'slow').state).toBe('stopped');
    expect(contexts(p, 'slow', 'start')[1]!.signal.aborted).toBe(true);
    const again = await manager.startPlugin('slow');
    expect(again.state).toBe('running');
    expect(starts).toBe(3);
    // The third start began only after the cancelled second one had settled.
    expect(p.log.filter((e) => e.startsWith('slow.start'))).toEqual([
      'slow.start',
      'slow.start:done',
      'slow.start',
      'slow.start:done',
      'slow.start',
      'slow.start:done',
    ]);
    expect(p.maxInFlight.get('slow')).toBe(1);
    await stopAndCheckTimers(manager, timers);
  });

  it('a stop after a timed-out start does not overlap it', async () => {
    const timers = markTimers();
    const p = probe();
    let starts = 0;
    const manager = host(
      [
        plugin(p, 'slow', { hooks: { start: () => (++starts === 1 ? sleep(TIMEOUT + 15) : undefined) } }),
        plugin(p, 'user', { deps: { slow: '*' } }),
      ],
      { retry: { retries: 1, backoffMs: 1 } },
    );
    await manager.start();
    expect(pluginOf(manager, 'slow').state).toBe('running');
    await stopAndCheckTimers(manager, timers);
    expect(p.maxInFlight.get('slow')).toBe(1);
    expect(p.log.filter((e) => e.startsWith('slow.'))).toEqual([
      'slow.init',
      'slow.init:done',
      'slow.start',
      'slow.start:done',
      'slow.start',
      'slow.start:done',
      'slow.stop',
      'slow.stop:done',
    ]);
  });
});

// ── timers ────────────────────────────────────────────────────────────────

describe('no timer is left behind', () => {
  it('after a busy life (retries, timeouts, runtime commands) stop() leaves no timer', async () => {
    const timers = markTimers();
    const p = probe();
    let flaky = 0;
    const manager = host(
      [
        plugin(p, 'base'),
        plugin(p, 'flaky', { deps: { base: '*' }, hooks: { start: () => (++flaky < 3 ? Promise.reject(new Error('x')) : undefined) } }),
        plugin(p, 'hang', { deps: { base: '*' }, hooks: { init: never } }),
        plugin(p, 'top', { deps: { flaky: '*' } }),
      ],
      { retry: { retries: 2, backoffMs: 2 } },
    );
    await manager.start();
    expect(pluginOf(manager, 'flaky').state).toBe('running');
    expect(pluginOf(manager, 'hang').error?.code).toBe('HOOK_TIMEOUT');
    await manager.restartPlugin('base');
    await manager.stopPlugin('top');
    await manager.startPlugin('top');
    await stopAndCheckTimers(manager, timers);
  });
});
