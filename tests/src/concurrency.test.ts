/**
 * Commands that overlap: each case once left a promise pending for ever, started a plugin during
 * shutdown, or let a dependent run on a dependency being taken down.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createPluginManager, defineService, silentLogger } from '../../src/index.ts';
import type { PluginContext, PluginDefinition, PluginManager } from '../../src/index.ts';
import type { InspectionEvent } from 'xstate';
import { sleep, until } from '../helpers/time.ts';

const managers: PluginManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop().catch(() => undefined)));
});

function plugin(log: string[], name: string, options: { deps?: Record<string, string>; optional?: Record<string, string>; stopMs?: number; startMs?: number; startGate?: () => Promise<void> | undefined; stopGate?: () => Promise<void> | undefined; disposeGate?: () => Promise<void> | undefined; failStart?: () => boolean; version?: string } = {}): PluginDefinition {
  const tag = `${name}${options.version ? `@${options.version}` : ''}`;
  return {
    manifest: { name, version: options.version ?? '1.0.0', dependencies: options.deps ?? {}, optionalDependencies: options.optional ?? {} },
    module: {
      init: () => void log.push(`${tag}.init`),
      start: async () => {
        log.push(`${tag}.start`);
        if (options.startMs) await sleep(options.startMs);
        await options.startGate?.();
        if (options.failStart?.()) throw new Error('start failed');
      },
      stop: async () => {
        log.push(`${tag}.stop`);
        if (options.stopMs) await sleep(options.stopMs);
        await options.stopGate?.();
      },
      dispose: async () => {
        log.push(`${tag}.dispose`);
        await options.disposeGate?.();
      },
    },
  };
}

function host(plugins: PluginDefinition[]) {
  const manager = createPluginManager({ plugins, logger: silentLogger, hookTimeoutMs: 1000 });
  managers.push(manager);
  return manager;
}

/** Settles within `ms`, or fails the test: a hang is the bug these cases guard against. */
async function settles<T>(promise: Promise<T>, ms = 1500): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('did not settle')), ms);
  });
  try {
    return { ok: true, value: await Promise.race([promise, hang]) };
  } catch (error) {
    if ((error as Error).message === 'did not settle') throw error;
    return { ok: false, code: (error as { code?: string }).code ?? 'uncoded' };
  } finally {
    clearTimeout(timer);
  }
}

/** A hook held until the test opens it: `wait` is what the hook awaits (nothing until `close()`). */
function gate() {
  let held: Promise<void> | undefined;
  let release: () => void = () => undefined;
  return {
    wait: () => held,
    close: () => void (held = new Promise((resolve) => (release = resolve))),
    open: () => release(),
  };
}

const stateOf = (m: PluginManager, name: string) => m.getSnapshot().plugins.find((p) => p.name === name)?.state;
const versions = (m: PluginManager) => m.getSnapshot().plugins.map((p) => `${p.name}:${p.state}@${p.version}`);

describe('overlapping commands', () => {
  it.each(['restart', 'reload'] as const)(
    'a dependent being started when its requirement\'s %s begins rests down meanwhile, and its start ends running',
    async (how) => {
      const log: string[] = [];
      const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' }, startMs: 20 })]);
      await manager.start();
      await manager.stopPlugin('b');
      const start = settles(manager.startPlugin('b'));
      await vi.waitFor(() => expect(stateOf(manager, 'b')).toBe('starting.hook'));
      const other = settles(how === 'restart' ? manager.restartPlugin('a') : manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0' })));
      expect(await start).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(await other).toMatchObject({ ok: true, value: { state: 'running' } });
      expect([stateOf(manager, 'a'), stateOf(manager, 'b')]).toEqual(['running', 'running']);
    },
  );

  it.each(['restart', 'reload'] as const)(
    'a restart of a plugin, then a %s of its requirement\'s requirement in the same tick: the restart waits for it and ends running',
    async (how) => {
      const log: string[] = [];
      const manager = host([plugin(log, 'a', { stopMs: 4 }), plugin(log, 'b', { deps: { a: '*' }, stopMs: 4 }), plugin(log, 'c', { deps: { b: '*' }, stopMs: 4 })]);
      await manager.start();
      const restart = settles(manager.restartPlugin('c'));
      const other = settles(how === 'restart' ? manager.restartPlugin('a') : manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0' })));
      expect(await restart).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(await other).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(['a', 'b', 'c'].map((name) => stateOf(manager, name))).toEqual(['running', 'running', 'running']);
    },
  );

  it.each(['restart', 'reload', 'unload'] as const)(
    'starting a dependent held through an optional dependency by a %s further down waits for it, and ends running',
    async (how) => {
      const log: string[] = [];
      // c needs b, which can use a: a's command holds b down, and c (stopped by hand) with it.
      const manager = host([plugin(log, 'a', { stopMs: 20 }), plugin(log, 'b', { optional: { a: '*' } }), plugin(log, 'c', { deps: { b: '*' } })]);
      await manager.start();
      await manager.stopPlugin('c');
      const first: Promise<unknown> =
        how === 'restart' ? manager.restartPlugin('a') : how === 'reload' ? manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0' })) : manager.unloadPlugin('a');
      const done = settles(first);
      const start = settles(manager.startPlugin('c'));
      expect(await start).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(await done).toMatchObject({ ok: true });
      expect(stateOf(manager, 'c')).toBe('running');
      // c started after the command on a ended, not while a was on its way down.
      expect(log.lastIndexOf('c.start')).toBeGreaterThan(log.indexOf(how === 'unload' ? 'a.dispose' : 'a.stop'));
    },
  );

  it('stop() settles while a retry waits for its stopped requirement; the retry rejects', async () => {
    let failing = true;
    const manager = host([plugin([], 'a', { startMs: 40 }), plugin([], 'b', { deps: { a: '*' }, failStart: () => failing })]);
    await manager.start();
    expect(stateOf(manager, 'b')).toBe('failed.halted');
    await manager.stopPlugin('a');
    failing = false;
    const retry = settles(manager.retryPlugin('b'));
    await sleep(10);
    expect((await settles(manager.stop())).ok).toBe(true);
    expect(await retry).toMatchObject({ ok: false });
    expect(manager.getSnapshot().plugins.filter((p) => p.state === 'running')).toEqual([]);
  });

  it('shutting down during a reload does not start the new version', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a', { stopMs: 30 }), plugin(log, 'b', { deps: { a: '*' } })]);
    await manager.start();
    const reload = settles(manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0' })));
    await sleep(10);
    await settles(manager.stop());
    await reload;
    expect(log).not.toContain('a@2.0.0.start');
    expect(manager.getSnapshot().plugins.filter((p) => p.state === 'running')).toEqual([]);
  });

  it.each(['restart', 'reload'] as const)('startPlugin(dependent) during a %s of its dependency: both settle, both run', async (kind) => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a', { stopMs: 50 }), plugin(log, 'b', { deps: { a: '*' } })]);
    await manager.start();
    const first = settles(kind === 'restart' ? manager.restartPlugin('a') : manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0' })));
    await sleep(20);
    const second = settles(manager.startPlugin('b'));
    expect(await first).toMatchObject({ ok: true });
    expect(await second).toMatchObject({ ok: true });
    expect([stateOf(manager, 'a'), stateOf(manager, 'b')]).toEqual(['running', 'running']);
  });

  it.each(['stop', 'unload', 'restart'] as const)('%s of a plugin settles when an optional dependent is started meanwhile', async (kind) => {
    const manager = host([
      plugin([], 'a'),
      plugin([], 'b', { optional: { a: '*' } }),
      plugin([], 'c', { deps: { a: '*' }, stopMs: 50 }),
    ]);
    await manager.start();
    const command: Promise<unknown> =
      kind === 'stop' ? manager.stopPlugin('a') : kind === 'unload' ? manager.unloadPlugin('a') : manager.restartPlugin('a');
    const first = settles(command);
    await sleep(10);
    const second = settles(manager.startPlugin('b'));
    expect(await first).toMatchObject({ ok: true });
    expect(await second).toMatchObject({ ok: true });
    expect(stateOf(manager, 'b')).toBe('running');
  });

  it('a reload rejects when the host stops while its module loads', async () => {
    const manager = host([plugin([], 'a')]);
    await manager.start();
    const slow: PluginDefinition = { manifest: { name: 'a', version: '1.0.1' }, module: async () => (await sleep(40), plugin([], 'a').module) };
    const reload = settles(manager.reloadPlugin('a', slow));
    await settles(manager.stop());
    expect(await reload).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
  });

  it('a reload rejects when its plugin is unloaded while its module loads', async () => {
    const manager = host([plugin([], 'a'), plugin([], 'b', { deps: { a: '*' } })]);
    await manager.start();
    const slow: PluginDefinition = { manifest: { name: 'a', version: '1.0.1' }, module: async () => (await sleep(30), plugin([], 'a').module) };
    const reload = settles(manager.reloadPlugin('a', slow));
    expect(await settles(manager.unloadPlugin('a'))).toMatchObject({ ok: true });
    expect(await reload).toEqual({ ok: false, code: 'PLUGIN_NOT_FOUND' });
    expect(stateOf(manager, 'b')).toBe('failed.blocked');
  });

  it('a stop accepted while a reload loads its module wins: the new version is installed, not started', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' } })]);
    await manager.start();
    const slow = (version: string, ms: number): PluginDefinition => ({
      manifest: { name: 'a', version },
      module: async () => (await sleep(ms), plugin(log, 'a', { version }).module),
    });
    const reload = settles(manager.reloadPlugin('a', slow('1.0.1', 30)));
    expect(await settles(manager.stopPlugin('a'))).toMatchObject({ ok: true, value: { state: 'stopped' } });
    expect(await reload).toMatchObject({ ok: true, value: { state: 'created', version: '1.0.1' } });
    expect(stateOf(manager, 'b')).toBe('stopped');
    expect(log.filter((entry) => entry.startsWith('a@1.0.1'))).toEqual([]);
    // Started by hand, the new version boots and brings back what the stop took down.
    expect(await settles(manager.startPlugin('a'))).toMatchObject({ ok: true, value: { state: 'running', version: '1.0.1' } });
    expect(stateOf(manager, 'b')).toBe('running');

    // A start accepted after that stop, still during the load, is the later command: it boots.
    const again = settles(manager.reloadPlugin('a', slow('1.0.2', 300)));
    await settles(manager.stopPlugin('a'));
    await settles(manager.startPlugin('a'));
    expect(await again).toMatchObject({ ok: true, value: { state: 'running', version: '1.0.2' } });
    expect(stateOf(manager, 'b')).toBe('running');
  });

  it('a stop accepted while a reload loads its module wins even when the stop is still running as the module ends loading', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a', { stopMs: 80 })]);
    await manager.start();
    const slow: PluginDefinition = { manifest: { name: 'a', version: '1.0.1' }, module: async () => (await sleep(20), plugin(log, 'a', { version: '1.0.1' }).module) };
    const reload = settles(manager.reloadPlugin('a', slow));
    const stop = settles(manager.stopPlugin('a'));
    expect(await reload).toMatchObject({ ok: true, value: { state: 'created', version: '1.0.1' } });
    expect(await stop).toMatchObject({ ok: true });
    expect(log.filter((entry) => entry.startsWith('a@1.0.1'))).toEqual([]);
  });

  it('a reload whose plugin is still going down with a stopped requirement when its module loads is installed, and comes back with the requirement', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' }, stopMs: 80 })]);
    await manager.start();
    const slow: PluginDefinition = {
      manifest: { name: 'b', version: '1.0.1', dependencies: { a: '*' } },
      module: async () => (await sleep(20), plugin(log, 'b', { version: '1.0.1', deps: { a: '*' } }).module),
    };
    const reload = settles(manager.reloadPlugin('b', slow));
    expect(await settles(manager.stopPlugin('a'))).toMatchObject({ ok: true });
    expect(await reload).toMatchObject({ ok: true, value: { state: 'created', version: '1.0.1' } });
    expect(stateOf(manager, 'a')).toBe('stopped');
    expect(await settles(manager.startPlugin('a'))).toMatchObject({ ok: true });
    expect(manager.getSnapshot().plugins.find((p) => p.name === 'b')).toMatchObject({ state: 'running', version: '1.0.1' });
  });

  it('a reload asked for as the previous one brings its plugin back is one at a time: each version that started is stopped, once', async () => {
    const log: string[] = [];
    const version = (tag: string, ms = 0): PluginDefinition => ({
      manifest: { name: 'svc', version: '1.0.0' },
      module: async () => {
        if (ms > 0) await sleep(ms);
        return { init: () => void log.push(`${tag}.init`), start: () => void log.push(`${tag}.start`), stop: () => void log.push(`${tag}.stop`), dispose() {} };
      },
    });
    const manager = host([version('v1')]);
    await manager.start();
    let asking = true;
    let second: Promise<unknown> = Promise.resolve();
    manager.subscribe((change) => {
      if (asking && change.type === 'plugin.changed' && change.name === 'svc' && change.state === 'running') {
        asking = false;
        queueMicrotask(() => void (second = settles(manager.reloadPlugin('svc', version('vB', 50)))));
      }
    });
    await manager.reloadPlugin('svc', version('vA'));
    await sleep(0);
    const third = settles(manager.reloadPlugin('svc', version('vC', 80)));
    await Promise.all([second, third]);
    await manager.stop();
    for (const tag of ['v1', 'vA', 'vB', 'vC']) {
      const starts = log.filter((entry) => entry === `${tag}.start`).length;
      expect([tag, log.filter((entry) => entry === `${tag}.stop`).length]).toEqual([tag, starts]);
    }
    expect(log.at(-1)).toMatch(/\.stop$/);
  });

  it('a second reload of the same plugin while one is in progress is refused', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a')]);
    await manager.start();
    const slow = (version: string): PluginDefinition => ({
      manifest: { name: 'a', version },
      module: async () => (await sleep(20), plugin(log, 'a', { version }).module),
    });
    const first = settles(manager.reloadPlugin('a', slow('1.0.1')));
    expect(manager.can('a', 'reload')).toBe(false);
    expect(await settles(manager.reloadPlugin('a', slow('1.0.2')))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(await first).toMatchObject({ ok: true });
    await manager.stop();
    expect(log.filter((l) => l.endsWith('.stop'))).toEqual(['a.stop', 'a@1.0.1.stop']);
  });

  it.each([
    ['a, then b', ['a', 'b']],
    ['b, then a', ['b', 'a']],
  ])('restarting a plugin and its requirement at once (%s): each resolves once it and every dependent are back', async (_, order) => {
    const log: string[] = [];
    const slow = { startMs: 20, stopMs: 20 };
    const manager = host([plugin(log, 'a', slow), plugin(log, 'b', { ...slow, deps: { a: '*' } }), plugin(log, 'c', { ...slow, deps: { b: '*' } })]);
    await manager.start();
    const all = () => ['a', 'b', 'c'].map((name) => stateOf(manager, name)).join(' ');
    const outcomes = await Promise.all(
      order.map((name) => manager.restartPlugin(name).then((snapshot) => `${name}: ${snapshot.state}, all: ${all()}`, (error: { code?: string }) => `${name}: ${error.code}`)),
    );
    expect(outcomes).toEqual(order.map((name) => `${name}: running, all: running running running`));
  });

  it.each([
    ['restarted', (m: PluginManager) => m.restartPlugin('o')],
    ['started', (m: PluginManager) => m.stopPlugin('o').then(() => sleep(5)).then(() => m.startPlugin('o'))],
  ])('a plugin %s while its optional dependency is reloaded starts after the new version runs', async (_, command) => {
    const log: string[] = [];
    const manager = host([plugin(log, 'b', { stopMs: 30, startMs: 10 }), plugin(log, 'o', { optional: { b: '*' }, stopMs: 30 })]);
    await manager.start();
    log.length = 0;
    const reload = manager.reloadPlugin('b', plugin(log, 'b', { version: '1.0.1', startMs: 10 }));
    expect((await command(manager)).state).toBe('running');
    expect((await reload).state).toBe('running');
    expect(log.filter((entry) => entry.endsWith('.start'))).toEqual(['b@1.0.1.start', 'o.start']);
  });

  it('two reloads that each add half of a cycle: the second is refused with DEPENDENCY_CYCLE and both plugins keep running', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' } }), plugin(log, 'c')]);
    await manager.start();
    const [toA, toC] = await Promise.all([
      settles(manager.reloadPlugin('a', plugin(log, 'a', { version: '1.0.1', deps: { c: '*' } }))),
      settles(manager.reloadPlugin('c', plugin(log, 'c', { version: '1.0.1', deps: { a: '*' } }))),
    ]);
    expect([toA, toC]).toEqual([{ ok: true, value: expect.objectContaining({ state: 'running' }) }, { ok: false, code: 'DEPENDENCY_CYCLE' }]);
    expect(['a', 'b', 'c'].map((name) => stateOf(manager, name))).toEqual(['running', 'running', 'running']);
    expect(log).not.toContain('c.stop'); // the running version of c was never touched
  });

  it('a dependent already invalid for its range does not refuse a reload of its dependency, which changes nothing for it', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '^2.0.0' } })]);
    await manager.start();
    expect(stateOf(manager, 'b')).toBe('invalid');
    expect(await settles(manager.reloadPlugin('a', plugin(log, 'a', { version: '1.0.1' })))).toMatchObject({ ok: true, value: { state: 'running', version: '1.0.1' } });
    expect(stateOf(manager, 'b')).toBe('invalid');
    // Invalid for something found past its manifest (a required config value missing) too.
    const configured = host([
      plugin(log, 'e'),
      { ...plugin(log, 'f', { deps: { e: '^1.0.0' } }), manifest: { name: 'f', version: '1.0.0', dependencies: { e: '^1.0.0' }, config: { url: { type: 'string', required: true } } } },
    ]);
    await configured.start();
    expect(stateOf(configured, 'f')).toBe('invalid');
    expect(await settles(configured.reloadPlugin('e', plugin(log, 'e', { version: '2.0.0' })))).toMatchObject({ ok: true, value: { version: '2.0.0' } });
    // A valid dependent's range still holds a reload back.
    const other = host([plugin(log, 'c'), plugin(log, 'd', { deps: { c: '^1.0.0' } })]);
    await other.start();
    expect(await settles(other.reloadPlugin('c', plugin(log, 'c', { version: '2.0.0' })))).toEqual({ ok: false, code: 'DEPENDENCY_VERSION_MISMATCH' });
  });

  it('a reload that breaks the range a concurrently reloaded dependent now needs is refused', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' } })]);
    await manager.start();
    const slow: PluginDefinition = {
      manifest: { name: 'a', version: '2.0.0' },
      module: async () => (await sleep(20), plugin(log, 'a', { version: '2.0.0' }).module),
    };
    const toA = settles(manager.reloadPlugin('a', slow));
    expect(await settles(manager.reloadPlugin('b', plugin(log, 'b', { version: '1.0.1', deps: { a: '^1.0.0' } })))).toMatchObject({ ok: true });
    expect(await toA).toEqual({ ok: false, code: 'DEPENDENCY_VERSION_MISMATCH' });
    expect(manager.getSnapshot().plugins.map((p) => `${p.name}@${p.version}:${p.state}`)).toEqual(['a@1.0.0:running', 'b@1.0.1:running']);
  });

  it.each(['stopPlugin', 'unloadPlugin', 'stop'] as const)(
    'a dependent started in the same tick as %s of its requirement starts with the requirement running; then it goes down first',
    async (command) => {
      const Pool = defineService<{ query(): string }>('a.pool');
      const seen: string[] = [];
      const manager = host([
        { manifest: { name: 'a', version: '1.0.0' }, module: { init() {}, start: (ctx: PluginContext) => ctx.services.provide(Pool, { query: () => 'ok' }), stop() {} } },
        {
          manifest: { name: 'b', version: '1.0.0', dependencies: { a: '^1.0.0' } },
          module: {
            init() {},
            start(ctx: PluginContext) {
              const state = stateOf(manager, 'a');
              let pool: string;
              try {
                pool = ctx.services.get(Pool).query();
              } catch (error) {
                pool = (error as { code?: string }).code ?? 'uncoded';
              }
              seen.push(`b.start: a ${state}, pool ${pool}`);
            },
            stop: () => void seen.push(`b.stop: a ${stateOf(manager, 'a')}`),
          },
        },
      ]);
      await manager.start();
      await manager.stopPlugin('b');
      seen.length = 0;
      const starting = settles(manager.startPlugin('b'));
      const down = settles<unknown>(command === 'stop' ? manager.stop() : manager[command]('a'));
      await starting;
      await down;
      // The start ran against a running requirement (its service there), or did not run at all.
      expect(seen.filter((line) => line.startsWith('b.start')).every((line) => line === 'b.start: a running, pool ok')).toBe(true);
      expect(seen.filter((line) => line.startsWith('b.stop')).every((line) => line === 'b.stop: a running')).toBe(true);
    },
  );

  it('a dependent started in the same tick right after a stop of its requirement waits for the requirement to come back: its start never runs while that stops', async () => {
    const seen: string[] = [];
    const manager = host([
      {
        manifest: { name: 'a', version: '1.0.0' },
        module: {
          init() {},
          start: () => void seen.push('a.start'),
          stop: async () => {
            seen.push('a.stop');
            await sleep(20);
            seen.push('a.stopped');
          },
        },
      },
      {
        manifest: { name: 'b', version: '1.0.0', dependencies: { a: '^1.0.0' } },
        module: { init() {}, start: () => void seen.push(`b.start: a ${stateOf(manager, 'a')}`), stop() {} },
      },
    ]);
    await manager.start();
    await manager.stopPlugin('b');
    seen.length = 0;
    const stopping = settles(manager.stopPlugin('a'));
    const starting = settles(manager.startPlugin('b'));
    // The later start wins: a comes back for b, and the stop ends with a running.
    expect(await starting).toEqual({ ok: true, value: expect.objectContaining({ state: 'running' }) });
    expect(await stopping).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(seen).toEqual(['a.stop', 'a.stopped', 'a.start', 'b.start: a running']);
  });

  it.each(['isolate', 'abort'] as const)(
    'a plugin waiting to retry, stopped in the tick its dependent is started (%s): no new failure, it tries again for the dependent, and the later command wins',
    async (failurePolicy) => {
      let failures = 0;
      const definition = (name: string, deps: string[], start: () => void = () => undefined): PluginDefinition => ({
        manifest: { name, version: '1.0.0', dependencies: Object.fromEntries(deps.map((d) => [d, '*'])) },
        module: { init() {}, start, stop() {} },
      });
      const manager = createPluginManager({
        plugins: [definition('a', []), definition('b', ['a'], () => { if (failures-- > 0) throw new Error('not yet'); }), definition('c', ['b'])],
        logger: silentLogger,
        failurePolicy,
        retry: { retries: 3, backoffMs: 100 },
      });
      managers.push(manager);
      await manager.start();
      await manager.stopPlugin('b'); // c goes down with it
      failures = 1;
      const first = settles(manager.startPlugin('b'));
      await until(() => stateOf(manager, 'b') === 'failed.retrying');
      const [stop, start] = await Promise.all([settles(manager.stopPlugin('b')), settles(manager.startPlugin('c'))]);
      expect([stop, start]).toEqual([{ ok: false, code: 'INVALID_TRANSITION' }, { ok: true, value: expect.objectContaining({ state: 'running' }) }]);
      expect(await first).toMatchObject({ ok: true });
      expect([manager.getSnapshot().state, ...['a', 'b', 'c'].map((name) => stateOf(manager, name))]).toEqual(['running', 'running', 'running', 'running']);
    },
  );

  /**
   * Runs `command` once, in the microtask after plugin actor `id` is sent `event`, seen through
   * the inspector: after the actor took the step, before the manager hears of it (the reports of
   * a tick travel together, in a later microtask).
   */
  function onStep(at: { id: string; event: string }, command: () => void) {
    let done = false;
    return (event: InspectionEvent) => {
      if (done || (event.actorRef as { id?: string }).id !== at.id) return;
      if (event.type !== '@xstate.event' || event.event.type !== at.event) return;
      done = true;
      queueMicrotask(command);
    };
  }

  it('a reset sent before the manager heard that a stop failed waits for the plugin: it ends running, and the stop, overtaken, rejects', async () => {
    let reset: Promise<Awaited<ReturnType<typeof settles>>> | undefined;
    let manager: PluginManager | undefined;
    manager = createPluginManager({
      logger: silentLogger,
      plugins: [{ manifest: { name: 'a', version: '1.0.0' }, module: { init() {}, start() {}, stop() { throw new Error('stop failed'); } } }],
      // Sent as the stop hook's failure reaches a: a then rests failed.halted, which allows a reset.
      inspect: onStep({ id: 'a', event: 'hook.failed' }, () => (reset = settles(manager!.resetPlugin('a')))),
    });
    managers.push(manager);
    await manager.start();
    const stop = await settles(manager.stopPlugin('a'));
    await until(() => reset !== undefined);
    // Before, both settled on the stop's failed.halted, already left: "ended in state initializing".
    expect(await reset).toEqual({ ok: true, value: expect.objectContaining({ state: 'running' }) });
    // The later command wins, as for any two commands in one tick.
    expect(stop).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(stateOf(manager, 'a')).toBe('running');
  });

  /**
   * a (its stop failed: failed.halted) reloaded, b (requires a) started as the reload disposes
   * the old a, which still reads failed.halted.
   */
  async function startWhileFailedRequirementReloads(keepStopped: boolean) {
    let start: Promise<Awaited<ReturnType<typeof settles>>> | undefined;
    let manager: PluginManager | undefined;
    let failStop = false;
    const a = (version: string): PluginDefinition => ({
      manifest: { name: 'a', version },
      module: { init() {}, start() {}, stop() { if (failStop) throw new Error('stop failed'); } },
    });
    manager = createPluginManager({
      logger: silentLogger,
      plugins: [a('1.0.0'), plugin([], 'b', { deps: { a: '*' } })],
      inspect: onStep({ id: 'a', event: 'plugin.dispose' }, () => (start = settles(manager!.startPlugin('b')))),
    });
    managers.push(manager);
    await manager.start();
    failStop = true;
    expect(await settles(manager.stopPlugin('a'))).toEqual({ ok: false, code: 'HOOK_FAILED' });
    expect([stateOf(manager, 'a'), stateOf(manager, 'b')]).toEqual(['failed.halted', 'stopped']);
    failStop = false;
    const reload = await settles(manager.reloadPlugin('a', a('1.0.1'), { keepStopped }));
    await until(() => start !== undefined);
    return { manager, reload, start: await start! };
  }

  it('a dependent started while its failed requirement is being reloaded waits for the reload, and ends running', async () => {
    const { manager, reload, start } = await startWhileFailedRequirementReloads(false);
    // Before, the start settled on b blocked by the old a, and read b already back to stopped.
    expect(start).toEqual({ ok: true, value: expect.objectContaining({ state: 'running' }) });
    expect(reload).toEqual({ ok: true, value: expect.objectContaining({ state: 'running', version: '1.0.1' }) });
    expect([stateOf(manager, 'a'), stateOf(manager, 'b')]).toEqual(['running', 'running']);
  });

  it('a dependent started while its failed requirement is reloaded with keepStopped rests with the new version, not blocked, and comes back with it', async () => {
    const { manager, reload, start } = await startWhileFailedRequirementReloads(true);
    expect(reload).toEqual({ ok: true, value: expect.objectContaining({ state: 'created', version: '1.0.1' }) });
    // As with a requirement stopped by hand: b rests with it. Before, b stayed failed.blocked on
    // the old version, for good, though nothing was dead any more.
    expect(start).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect([stateOf(manager, 'a'), stateOf(manager, 'b')]).toEqual(['created', 'stopped']);
    expect(await settles(manager.startPlugin('a'))).toEqual({ ok: true, value: expect.objectContaining({ state: 'running' }) });
    expect(stateOf(manager, 'b')).toBe('running');
  });

  it("a dependent started while its failed requirement is unloaded ends blocked, and the requirement's own stopped requirement is not started for it", async () => {
    let start: Promise<Awaited<ReturnType<typeof settles>>> | undefined;
    let manager: PluginManager | undefined;
    let failStop = false;
    const log: string[] = [];
    manager = createPluginManager({
      logger: silentLogger,
      plugins: [
        plugin(log, 'c'),
        { manifest: { name: 'a', version: '1.0.0', dependencies: { c: '*' } }, module: { init() {}, start() {}, stop() { if (failStop) throw new Error('stop failed'); } } },
        plugin(log, 'b', { deps: { a: '*' } }),
      ],
      inspect: onStep({ id: 'a', event: 'plugin.dispose' }, () => (start = settles(manager!.startPlugin('b')))),
    });
    managers.push(manager);
    await manager.start();
    await manager.stopPlugin('b');
    failStop = true;
    expect(await settles(manager.stopPlugin('a'))).toEqual({ ok: false, code: 'HOOK_FAILED' });
    await manager.stopPlugin('c');
    log.length = 0;
    expect(await settles(manager.unloadPlugin('a'))).toMatchObject({ ok: true });
    await until(() => start !== undefined);
    expect(await start).toEqual({ ok: false, code: 'MISSING_DEPENDENCY' });
    expect([stateOf(manager, 'a'), stateOf(manager, 'b'), stateOf(manager, 'c')]).toEqual([undefined, 'failed.blocked', 'stopped']);
    expect(log).toEqual([]); // c's start never ran
  });

  it('a start brings back, within the command, a plugin held down by one that its own stop held down', async () => {
    const log: string[] = [];
    // b uses a optionally; c needs b, and its start takes a while.
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { optional: { a: '*' } }), plugin(log, 'c', { deps: { b: '*' }, startMs: 20 })]);
    await manager.start();
    // c's restart comes back while b is down with a: c rests held by b, b held by a.
    const [restart, stop] = await Promise.all([settles(manager.restartPlugin('c')), settles(manager.stopPlugin('a'))]);
    expect([restart, stop]).toEqual([{ ok: false, code: 'INVALID_TRANSITION' }, { ok: true, value: expect.objectContaining({ state: 'stopped' }) }]);
    expect(['a', 'b', 'c'].map((name) => stateOf(manager, name))).toEqual(['stopped', 'stopped', 'stopped']);
    expect(await settles(manager.startPlugin('a'))).toEqual({ ok: true, value: expect.objectContaining({ state: 'running' }) });
    // Before, the start ended with c still starting.
    expect(['a', 'b', 'c'].map((name) => stateOf(manager, name))).toEqual(['running', 'running', 'running']);
  });

  it('a start waits for a plugin it brings back that another requirement, being restarted, keeps down meanwhile', async () => {
    const log: string[] = [];
    let slow = false;
    const d: PluginDefinition = {
      manifest: { name: 'd', version: '1.0.0' },
      module: { init() {}, start() {}, stop: () => (slow ? sleep(60) : undefined) },
    };
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' } }), d, plugin(log, 'x', { deps: { b: '*', d: '*' } })]);
    await manager.start();
    await manager.stopPlugin('a'); // b and x go down with it
    slow = true;
    const restart = settles(manager.restartPlugin('d'));
    await until(() => stateOf(manager, 'd') === 'stopping');
    // x comes back with a, but rests until d's restart is over: the start waits for that.
    expect(await settles(manager.startPlugin('a'))).toEqual({ ok: true, value: expect.objectContaining({ state: 'running' }) });
    expect(['a', 'b', 'd', 'x'].map((name) => stateOf(manager, name))).toEqual(['running', 'running', 'running', 'running']);
    expect(await restart).toEqual({ ok: true, value: expect.objectContaining({ state: 'running' }) });
  });

  it('resetPlugin rejects when the plugin fails again', async () => {
    const manager = host([plugin([], 'a', { failStart: () => true })]);
    await manager.start();
    expect(await settles(manager.resetPlugin('a'))).toEqual({ ok: false, code: 'HOOK_FAILED' });
  });
});

describe('a stop in the same tick as a start (every interleaving of a few microtasks)', () => {
  const turns = (k: number) => Array.from({ length: k }).reduce<Promise<unknown>>((chain) => chain.then(() => null), Promise.resolve());
  /** A host of one plugin whose start opens something its stop closes; `open()` counts what is open. */
  const opener = () => {
    let open = 0;
    const manager = createPluginManager({
      logger: silentLogger,
      plugins: [{ manifest: { name: 'a', version: '1.0.0' }, module: { init() {}, start: () => void open++, stop: () => void open-- } }],
    });
    managers.push(manager);
    return { manager, open: () => open };
  };

  it('a start that already returned is never thrown away: whatever it opened, its stop closes', async () => {
    for (let k = 0; k <= 12; k++) {
      const { manager, open } = opener();
      await manager.start();
      await manager.stopPlugin('a');
      const start = settles(manager.startPlugin('a'));
      await turns(k);
      const stop = settles(manager.stopPlugin('a'));
      await Promise.all([start, stop]);
      await manager.stop();
      expect([k, open()]).toEqual([k, 0]);
    }
  });

  it('a boot stopped a few microtasks in leaves nothing open', async () => {
    for (let k = 0; k <= 12; k++) {
      const { manager, open } = opener();
      const boot = settles(manager.start());
      await turns(k);
      await manager.stop();
      await boot;
      expect([k, open()]).toEqual([k, 0]);
    }
  });

  it.each([
    ['returns', () => undefined],
    ['resolves', async () => undefined],
    ['resolves a microtask later', async () => void (await null)],
  ])("a stop that overtakes its own start's report still waits for the plugin's active dependents (a start that %s)", async (_, aStart) => {
    for (let k = 0; k <= 8; k++) {
      const log: string[] = [];
      const manager: PluginManager = createPluginManager({
        logger: silentLogger,
        plugins: [
          { manifest: { name: 'a', version: '1.0.0' }, module: { init() {}, start: aStart, stop: () => void log.push(`a.stop, b ${stateOf(manager, 'b')}`) } },
          {
            manifest: { name: 'b', version: '1.0.0', optionalDependencies: { a: '*' } },
            module: { init() {}, start() {}, stop: async () => void (await sleep(5)) },
          },
        ],
      });
      managers.push(manager);
      await manager.start();
      await manager.stopPlugin('a');
      await manager.startPlugin('b'); // b runs without a
      const start = settles(manager.startPlugin('a'));
      await turns(k);
      const stop = settles(manager.stopPlugin('a'));
      await Promise.all([start, stop]);
      await manager.stop();
      // a's stop ran each time only once b had stopped (or was not running).
      expect([k, log.filter((line) => / b (running|stopping)$/.test(line))]).toEqual([k, []]);
    }
  });

  it('a plugin reset after its stop failed comes back before its optional dependents start again', async () => {
    const log: string[] = [];
    let stops = 0;
    const manager: PluginManager = createPluginManager({
      logger: silentLogger,
      plugins: [
        {
          manifest: { name: 'a', version: '1.0.0' },
          module: {
            init() {},
            start: async () => void (await sleep(5)),
            stop: () => {
              if (++stops === 1) throw new Error('a: stop fails once');
            },
          },
        },
        { manifest: { name: 'b', version: '1.0.0', optionalDependencies: { a: '*' } }, module: { init() {}, start: () => void log.push(`b.start, a ${stateOf(manager, 'a')}`), stop() {} } },
      ],
    });
    managers.push(manager);
    await manager.start();
    log.length = 0;
    expect(await settles(manager.stopPlugin('a'))).toMatchObject({ ok: false, code: 'HOOK_FAILED' });
    await manager.resetPlugin('a');
    expect(log).toEqual(['b.start, a running']);
    await manager.stop();
  });
});

describe('optional dependencies wanted up while their dependent already waits to start', () => {
  /** A plugin whose start takes a few ms and records the state of its optional dependencies then. */
  const recorded = (log: string[], state: (name: string) => string | undefined) =>
    (name: string, requires: string[], optional: string[] = [], version = '1.0.0'): PluginDefinition => ({
      manifest: {
        name,
        version,
        dependencies: Object.fromEntries(requires.map((dep) => [dep, '*'])),
        optionalDependencies: Object.fromEntries(optional.map((dep) => [dep, '*'])),
      },
      module: {
        init() {},
        start: async () => {
          log.push(`${name}.start${optional.map((dep) => `, ${dep} ${state(dep)}`).join('')}`);
          await sleep(5);
        },
        stop() {},
      },
    });

  it('a reload of their common requirement starts the optional dependency first', async () => {
    const log: string[] = [];
    let manager!: PluginManager;
    const plugin = recorded(log, (name) => stateOf(manager, name));
    // c is listed before b: it is reconciled first when a comes back.
    manager = createPluginManager({ logger: silentLogger, plugins: [plugin('a', []), plugin('c', ['a'], ['b']), plugin('b', ['a'])] });
    managers.push(manager);
    await manager.start();
    await manager.reloadPlugin('a', plugin('a', [], [], '1.1.0'));
    expect(log.filter((line) => line.startsWith('c.start'))).toEqual(['c.start, b running', 'c.start, b running']);
    expect(['a', 'b', 'c'].map((name) => stateOf(manager, name))).toEqual(['running', 'running', 'running']);
  });

  it('one whose retry waits for its requirement to come back is waited for, not taken as failed for good', async () => {
    const log: string[] = [];
    let manager!: PluginManager;
    const plugin = recorded(log, (name) => stateOf(manager, name));
    let failing = false;
    const b = (version: string): PluginDefinition => {
      const definition = plugin('b', ['a'], [], version);
      const start = (definition.module as { start: () => Promise<void> }).start;
      return {
        ...definition,
        module: {
          ...(definition.module as object),
          start: async () => {
            await start();
            if (failing) {
              failing = false;
              throw new Error('fails once');
            }
          },
        },
      } as PluginDefinition;
    };
    manager = createPluginManager({ logger: silentLogger, plugins: [plugin('a', []), b('1.0.0'), plugin('c', [], ['b', 'a'])] });
    managers.push(manager);
    await manager.start();
    failing = true;
    // Reloaded, b fails to start (it rests failed.halted) and comes after c among a's dependents.
    expect(await settles(manager.reloadPlugin('b', b('1.1.0')))).toMatchObject({ ok: false, code: 'HOOK_FAILED' });
    log.length = 0;
    const reload = settles(manager.reloadPlugin('a', plugin('a', [], [], '1.1.0')));
    await sleep(1);
    const retry = settles(manager.retryPlugin('b')); // waits for a, which is going down
    expect([await reload, await retry]).toMatchObject([{ ok: true }, { ok: true }]);
    await until(() => stateOf(manager, 'c') === 'running');
    expect(log.filter((line) => line.startsWith('c.start'))).toEqual(['c.start, b running, a running']);
  });

  it('a blocked plugin told its new block reason is not taken as coming back: the plugins blocked on it stay blocked', async () => {
    const plugin = (name: string, requires: string[], init: () => void = () => undefined): PluginDefinition => ({
      manifest: { name, version: '1.0.0', dependencies: Object.fromEntries(requires.map((dep) => [dep, '*'])) },
      module: { init, start() {}, stop() {} },
    });
    const manager = createPluginManager({
      logger: silentLogger,
      plugins: [plugin('x', [], () => { throw new Error('x cannot init'); }), plugin('b', ['x']), plugin('r', ['b']), plugin('s', ['r'])],
    });
    managers.push(manager);
    await manager.start();
    const changes: string[] = [];
    manager.subscribe((change) => {
      if (change.type === 'plugin.changed' && change.name !== 'x') changes.push(`${change.name}: ${change.previous} -> ${change.state}`);
    });
    await manager.unloadPlugin('x'); // b's reason becomes MISSING_DEPENDENCY; r and s have nothing new
    await sleep(10);
    expect(changes).toEqual([]);
    expect(['b', 'r', 's'].map((name) => stateOf(manager, name))).toEqual(['failed.blocked', 'failed.blocked', 'failed.blocked']);
  });

  it('one wanted up after its dependent was sent its start is waited for too', async () => {
    const log: string[] = [];
    let manager!: PluginManager;
    const plugin = recorded(log, (name) => stateOf(manager, name));
    manager = createPluginManager({ logger: silentLogger, plugins: [plugin('x', []), plugin('b', ['x']), plugin('y', []), plugin('c', ['y'], ['b'])] });
    managers.push(manager);
    await manager.start();
    await manager.stopPlugin('y'); // c goes down with it
    await manager.stopPlugin('x'); // b goes down with it
    log.length = 0;
    const first = manager.startPlugin('y'); // c waits for y, and not for b, which rests stopped
    await sleep(1);
    await Promise.all([first, manager.startPlugin('x')]); // b wanted up while c waits
    expect(log.filter((line) => line.startsWith('c.start'))).toEqual(['c.start, b running']);
    expect(['x', 'b', 'y', 'c'].map((name) => stateOf(manager, name))).toEqual(['running', 'running', 'running', 'running']);
  });
});

describe('commands while a restart, reload or unload is in progress', () => {
  const names = (m: PluginManager) => m.getSnapshot().plugins.map((p) => `${p.name}:${p.state}`);
  /** a ← b ← {c, d}; d stops slowly; c is stopped by hand: a command on a waits for d. */
  const fanOut = async (log: string[]) => {
    const manager = host([
      plugin(log, 'a'),
      plugin(log, 'b', { deps: { a: '*' } }),
      plugin(log, 'c', { deps: { b: '*' } }),
      plugin(log, 'd', { deps: { b: '*' }, stopMs: 100 }),
    ]);
    await manager.start();
    await manager.stopPlugin('c');
    return manager;
  };

  it('an unload in flight refuses restart, reload and stop; it ends with the plugin gone for good', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' }, stopMs: 80 })]);
    await manager.start();
    const unload = settles(manager.unloadPlugin('a'));
    await sleep(20); // b is stopping, a still runs
    expect(stateOf(manager, 'a')).toBe('running');
    expect(['restart', 'reload', 'stop', 'start', 'unload'].map((c) => manager.can('a', c as 'restart'))).toEqual([false, false, false, false, false]);
    expect(await settles(manager.restartPlugin('a'))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(await settles(manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0' })))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(await settles(manager.stopPlugin('a'))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(await settles(manager.unloadPlugin('a'))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(await unload).toMatchObject({ ok: true });
    expect(names(manager)).toEqual(['b:failed.blocked']);
    expect(log.filter((l) => l.startsWith('a'))).toEqual(['a.init', 'a.start', 'a.stop', 'a.dispose']);
    // a is really gone: a dependent reloaded onto it finds no such plugin.
    expect(await settles(manager.reloadPlugin('b', plugin(log, 'b', { deps: { a: '*' }, version: '2.0.0' })))).toEqual({ ok: false, code: 'MISSING_DEPENDENCY' });
  });

  it('a health-triggered restart does not undo an unload in flight', async () => {
    const log: string[] = [];
    let sick = false;
    const a: PluginDefinition = {
      manifest: { name: 'a', version: '1.0.0', health: { intervalMs: 5, timeoutMs: 50, unhealthyThreshold: 1, restart: true } },
      module: { init: () => undefined, start: () => void log.push('a.start'), stop: () => void log.push('a.stop'), health: () => !sick },
    };
    const manager = host([a, plugin(log, 'b', { deps: { a: '*' }, stopMs: 100 })]);
    await manager.start();
    sick = true;
    expect(await settles(manager.unloadPlugin('a'))).toMatchObject({ ok: true });
    await sleep(30);
    expect(names(manager)).toEqual(['b:failed.blocked']);
    expect(log.filter((l) => l.startsWith('a'))).toEqual(['a.start', 'a.stop']);
  });

  it('a reload in flight refuses unload and stop; both work once it ended', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' }, stopMs: 80 })]);
    await manager.start();
    const reload = settles(manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0' })));
    await sleep(20);
    expect(await settles(manager.unloadPlugin('a'))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(await settles(manager.stopPlugin('a'))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(await reload).toMatchObject({ ok: true, value: { state: 'running', version: '2.0.0' } });
    expect(names(manager)).toEqual(['a:running', 'b:running']);
    expect(await settles(manager.unloadPlugin('a'))).toMatchObject({ ok: true });
    expect(names(manager)).toEqual(['b:failed.blocked']);
  });

  it('a restart in flight refuses stop instead of undoing it halfway', async () => {
    const log: string[] = [];
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { deps: { a: '*' }, stopMs: 80 })]);
    await manager.start();
    const restart = settles(manager.restartPlugin('a'));
    await sleep(20);
    expect(manager.can('a', 'stop')).toBe(false);
    expect(await settles(manager.stopPlugin('a'))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(await restart).toMatchObject({ ok: true, value: { state: 'running' } });
    expect(names(manager)).toEqual(['a:running', 'b:running']);
  });

  for (const command of ['restart', 'reload'] as const) {
    it(`a ${command} in its second half (the plugin, then its dependents, coming back) still refuses stop, restart and unload`, async () => {
      const log: string[] = [];
      const manager = host([plugin(log, 'a', { startMs: 60 }), plugin(log, 'b', { deps: { a: '*' }, startMs: 60 })]);
      await manager.start();
      const first = settles(command === 'restart' ? manager.restartPlugin('a') : manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0', startMs: 60 })));
      // a is starting again (second half), then b is: neither half takes another command on a.
      await until(() => manager.getSnapshot().plugins.find((p) => p.name === 'a')?.state === 'starting.hook');
      expect(['stop', 'restart', 'unload'].map((c) => manager.can('a', c as 'stop'))).toEqual([false, false, false]);
      expect(await settles(manager.stopPlugin('a'))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
      await until(() => manager.getSnapshot().plugins.find((p) => p.name === 'b')?.state === 'starting.hook');
      expect(manager.can('a', 'stop')).toBe(false);
      expect(await settles(manager.unloadPlugin('a'))).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
      expect(await first).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(names(manager)).toEqual(['a:running', 'b:running']);
      // Once it settled, the plugin takes commands again.
      expect(manager.can('a', 'stop')).toBe(true);
    });

    it(`starting a dependent of a plugin held down by a ${command} waits for it; neither command hangs`, async () => {
      const log: string[] = [];
      const manager = await fanOut(log);
      const first = settles(command === 'restart' ? manager.restartPlugin('a') : manager.reloadPlugin('a', plugin(log, 'a', { version: '2.0.0' })));
      await sleep(30); // d is stopping; b and a wait for it
      expect(manager.can('c', 'start')).toBe(true);
      const start = settles(manager.startPlugin('c'));
      expect(await first).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(await start).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(names(manager)).toEqual(['a:running', 'b:running', 'c:running', 'd:running']);
    });
  }

  it('a plugin taken down by its optional dependency and wanted up again meanwhile lets that dependency stop', async () => {
    const log: string[] = [];
    const manager = host([
      plugin(log, 'a'),
      plugin(log, 'b', { optional: { a: '*' } }),
      plugin(log, 'c', { deps: { b: '*' }, stopMs: 60 }),
      plugin(log, 'd', { deps: { b: '*' } }),
    ]);
    await manager.start();
    const stop = settles(manager.stopPlugin('a'));
    await sleep(20); // d stopped, c still stopping: b and a still run
    const start = settles(manager.startPlugin('d'));
    expect(await stop).toMatchObject({ ok: true, value: { state: 'stopped' } });
    expect(await start).toMatchObject({ ok: true, value: { state: 'running' } });
    // b, wanted up for d, runs without a; c, which needs only b, comes back with it.
    expect(names(manager)).toEqual(['a:stopped', 'b:running', 'c:running', 'd:running']);
  });

  it('a plugin restarted without its optional dependency waits for its own dependents to stop', async () => {
    const log: string[] = [];
    const c = plugin(log, 'c', { deps: { b: '*' }, stopMs: 60 });
    const stopC = (c.module as { stop: () => Promise<void> }).stop;
    (c.module as { stop: () => Promise<void> }).stop = async () => {
      await stopC();
      log.push('c.stopped');
    };
    const manager = host([plugin(log, 'a'), plugin(log, 'b', { optional: { a: '*' } }), c, plugin(log, 'd', { deps: { c: '*' } })]);
    await manager.start();
    const stop = settles(manager.stopPlugin('a'));
    await sleep(20); // d stopped, c stopping: b and a still run
    const start = settles(manager.startPlugin('d')); // wants c and b up; a stays wanted down
    expect(await stop).toMatchObject({ ok: true, value: { state: 'stopped' } });
    expect(await start).toMatchObject({ ok: true, value: { state: 'running' } });
    // b goes down (a cannot stop under it) only once c has, and comes back without a.
    const order = log.filter((e) => /^(a|b)\.stop$|^c\.stopped$/.test(e));
    expect(order).toEqual(['c.stopped', 'b.stop', 'a.stop']);
    expect(names(manager)).toEqual(['a:stopped', 'b:running', 'c:running', 'd:running']);
  });

  it('a dependent restarted while its requirement stops, then started from below, ends its restart', async () => {
    const manager = host([plugin([], 'a'), plugin([], 'b', { deps: { a: '*' }, stopMs: 20 }), plugin([], 'c', { deps: { b: '*' }, stopMs: 20 })]);
    await manager.start();
    const stop = settles(manager.stopPlugin('a'));
    await sleep(5); // c stopping
    const restart = settles(manager.restartPlugin('b'));
    await sleep(20); // c stopped, b stopping
    const start = settles(manager.startPlugin('c')); // wants a running again: the stop is undone
    expect(await restart).toMatchObject({ ok: true, value: { state: 'running' } });
    expect(await start).toMatchObject({ ok: true, value: { state: 'running' } });
    expect(await stop).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(names(manager)).toEqual(['a:running', 'b:running', 'c:running']);
  });

  it('a stopped plugin started as the requirement of a dependent brings back every dependent its stop took down', async () => {
    const plugins = () => [
      plugin([], 'a'),
      plugin([], 'b', { deps: { a: '*' } }),
      plugin([], 'c', { deps: { b: '*' } }),
      plugin([], 'x', { deps: { a: '*' } }),
    ];
    for (const startedBy of ['x', 'b']) {
      const manager = host(plugins());
      await manager.start();
      await manager.stopPlugin('a');
      expect(names(manager)).toEqual(['a:stopped', 'b:stopped', 'c:stopped', 'x:stopped']);
      expect(await settles(manager.startPlugin(startedBy))).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(names(manager)).toEqual(['a:running', 'b:running', 'c:running', 'x:running']);
    }
  });

  /**
   * b needs a; b's second start fails, and b waits 200 ms before trying again. Boots, then
   * restarts b and returns once b waits between two tries (with its restart still pending).
   */
  const retryingB = async () => {
    const calls = { starts: 0 };
    const b: PluginDefinition = {
      manifest: { name: 'b', version: '1.0.0', dependencies: { a: '*' }, retry: { retries: 2, backoffMs: 200 } },
      module: {
        init: () => undefined,
        start: () => {
          if (++calls.starts === 2) throw new Error('start failed');
        },
        stop: () => undefined,
      },
    };
    const manager = host([plugin([], 'a'), b]);
    await manager.start();
    const restartB = settles(manager.restartPlugin('b'));
    await vi.waitFor(() => expect(stateOf(manager, 'b')).toBe('failed.retrying'));
    return { manager, calls, restartB };
  };

  it('a dependent held down between two tries by a restart of its requirement tries again when it is back, within its own restart', async () => {
    const { manager, calls, restartB } = await retryingB();
    expect(await settles(manager.restartPlugin('a'))).toMatchObject({ ok: true, value: { state: 'running' } });
    expect(names(manager)).toEqual(['a:running', 'b:running']);
    expect(calls.starts).toBe(3);
    // Its own restart waited for the requirement to come back, and ends with the new try.
    expect(await restartB).toMatchObject({ ok: true, value: { state: 'running' } });
  });

  it('a dependent held down between two tries by a stop of its requirement rests, and tries again when it starts', async () => {
    const { manager, calls, restartB } = await retryingB();
    expect(await settles(manager.stopPlugin('a'))).toMatchObject({ ok: true, value: { state: 'stopped' } });
    expect(names(manager)).toEqual(['a:stopped', 'b:failed.halted']);
    expect(await restartB).toEqual({ ok: false, code: 'HOOK_FAILED' });
    expect(await settles(manager.startPlugin('a'))).toMatchObject({ ok: true, value: { state: 'running' } });
    expect(names(manager)).toEqual(['a:running', 'b:running']);
    expect(calls.starts).toBe(3);
  });

  it('a dependent held down between two tries and then reset boots afresh, and the reset settles', async () => {
    const { manager, calls, restartB } = await retryingB();
    expect(await settles(manager.stopPlugin('a'))).toMatchObject({ ok: true, value: { state: 'stopped' } });
    expect(await restartB).toEqual({ ok: false, code: 'HOOK_FAILED' });
    expect(await settles(manager.resetPlugin('b'))).toMatchObject({ ok: true, value: { state: 'running' } });
    expect(names(manager)).toEqual(['a:running', 'b:running']);
    expect(calls.starts).toBe(3);
    // Nothing is left pending: the host shuts down.
    expect(await settles(manager.stop())).toMatchObject({ ok: true, value: { state: 'stopped' } });
  });

  it('a retry while a required dependency is dead blocks on it, and the plugin comes back once that dependency runs', async () => {
    let stopFails = false;
    let bStarts = 0;
    const a: PluginDefinition = {
      manifest: { name: 'a', version: '1.0.0' },
      module: {
        init: () => undefined,
        start: () => undefined,
        stop: () => {
          if (stopFails) throw new Error('stop failed');
        },
      },
    };
    const manager = host([a, plugin([], 'b', { deps: { a: '*' }, failStart: () => ++bStarts === 1 })]);
    await manager.start();
    expect(names(manager)).toEqual(['a:running', 'b:failed.halted']);
    stopFails = true;
    expect(await settles(manager.stopPlugin('a'))).toEqual({ ok: false, code: 'HOOK_FAILED' });
    expect(await settles(manager.retryPlugin('b'))).toEqual({ ok: false, code: 'DEPENDENCY_FAILED' });
    expect(names(manager)).toEqual(['a:failed.halted', 'b:failed.blocked']);
    expect(bStarts).toBe(1); // no hook ran on a dead requirement
    stopFails = false;
    expect(await settles(manager.resetPlugin('a'))).toMatchObject({ ok: true, value: { state: 'running' } });
    expect(names(manager)).toEqual(['a:running', 'b:running']);
    expect(bStarts).toBe(2);
  });

  it('a plugin started without its stopped optional dependency brings back its own dependents', async () => {
    const manager = host([
      plugin([], 'a'),
      plugin([], 'b', { optional: { a: '*' } }),
      plugin([], 'c', { deps: { b: '*' } }),
      plugin([], 'd', { deps: { b: '*', a: '*' } }),
    ]);
    await manager.start();
    await manager.stopPlugin('a');
    expect(names(manager)).toEqual(['a:stopped', 'b:stopped', 'c:stopped', 'd:stopped']);
    expect(await settles(manager.startPlugin('b'))).toMatchObject({ ok: true, value: { state: 'running' } });
    // c needs only b; d also needs a, which stays stopped, so d rests with it.
    expect(names(manager)).toEqual(['a:stopped', 'b:running', 'c:running', 'd:stopped']);
    expect(await settles(manager.startPlugin('a'))).toMatchObject({ ok: true, value: { state: 'running' } });
    expect(names(manager)).toEqual(['a:running', 'b:running', 'c:running', 'd:running']);
  });

  it('a plugin reloaded without its stopped optional dependency brings back its own dependents, within the reload', async () => {
    const manager = host([plugin([], 'a'), plugin([], 'b', { optional: { a: '*' } }), plugin([], 'c', { deps: { b: '*' } })]);
    await manager.start();
    await manager.stopPlugin('a');
    expect(await settles(manager.reloadPlugin('b', plugin([], 'b', { optional: { a: '*' }, version: '1.0.1' })))).toMatchObject({
      ok: true,
      value: { state: 'running', version: '1.0.1' },
    });
    expect(names(manager)).toEqual(['a:stopped', 'b:running', 'c:running']);
  });

  it('a plugin held down through a dependency that is then unloaded comes back, since nothing holds it any more, within the unload', async () => {
    const manager = host([plugin([], 'a'), plugin([], 'b', { deps: { a: '*' } }), plugin([], 'c', { optional: { b: '*' }, startMs: 20 })]);
    await manager.start();
    await manager.stopPlugin('a');
    expect(names(manager)).toEqual(['a:stopped', 'b:stopped', 'c:stopped']);
    expect(await settles(manager.unloadPlugin('b'))).toEqual({ ok: true, value: undefined });
    expect(names(manager)).toEqual(['a:stopped', 'c:running']);
  });

  it('a reload whose new version needs a plugin being unloaded is refused before it touches the running version', async () => {
    const needsB = (version: string) => plugin([], 'd', { deps: { b: '*' }, version });
    // b still stopping.
    const bStop = gate();
    const first = host([plugin([], 'b', { stopGate: bStop.wait }), plugin([], 'd')]);
    await first.start();
    bStop.close();
    const unloadFirst = settles(first.unloadPlugin('b'));
    await until(() => stateOf(first, 'b') === 'stopping');
    await expect(first.reloadPlugin('d', needsB('2.0.0'))).rejects.toMatchObject({ code: 'MISSING_DEPENDENCY', plugin: 'd', plugins: ['b'], path: 'dependencies.b' });
    bStop.open();
    expect(await unloadFirst).toEqual({ ok: true, value: undefined });
    expect(versions(first)).toEqual(['d:running@1.0.0']);
    // b removed already, its unload waiting for c, which it brings back.
    const cStart = gate();
    const second = host([plugin([], 'a'), plugin([], 'b', { deps: { a: '*' } }), plugin([], 'c', { optional: { b: '*' }, startGate: cStart.wait }), plugin([], 'd')]);
    await second.start();
    await second.stopPlugin('a');
    cStart.close();
    const unloadSecond = settles(second.unloadPlugin('b'));
    await until(() => stateOf(second, 'b') === undefined);
    expect(stateOf(second, 'c')).toBe('starting.hook');
    expect(await settles(second.reloadPlugin('d', needsB('2.0.0')))).toEqual({ ok: false, code: 'MISSING_DEPENDENCY' });
    cStart.open();
    expect(await unloadSecond).toEqual({ ok: true, value: undefined });
    expect(versions(second)).toEqual(['a:stopped@1.0.0', 'c:running@1.0.0', 'd:running@1.0.0']);
  });

  it('a plugin being unloaded no longer holds a reload to its version range', async () => {
    const bStop = gate();
    const manager = host([plugin([], 'd'), plugin([], 'b', { deps: { d: '^1.0.0' }, stopGate: bStop.wait })]);
    await manager.start();
    await expect(manager.reloadPlugin('d', plugin([], 'd', { version: '2.0.0' }))).rejects.toMatchObject({ code: 'DEPENDENCY_VERSION_MISMATCH' });
    bStop.close();
    const unload = settles(manager.unloadPlugin('b'));
    await until(() => stateOf(manager, 'b') === 'stopping');
    const reload = settles(manager.reloadPlugin('d', plugin([], 'd', { version: '2.0.0' })));
    bStop.open();
    expect(await unload).toEqual({ ok: true, value: undefined });
    expect(await reload).toMatchObject({ ok: true });
    expect(versions(manager)).toEqual(['d:running@2.0.0']);
  });

  it('an unload accepted while a reload needing the plugin is under way wins: the new version is left blocked on it', async () => {
    const dStop = gate();
    const manager = host([plugin([], 'b'), plugin([], 'd', { stopGate: dStop.wait })]);
    await manager.start();
    dStop.close();
    const reload = settles(manager.reloadPlugin('d', plugin([], 'd', { deps: { b: '*' }, version: '2.0.0' })));
    await until(() => stateOf(manager, 'd') === 'stopping');
    expect(manager.can('b', 'unload')).toBe(true);
    const unload = settles(manager.unloadPlugin('b'));
    dStop.open();
    expect(await unload).toEqual({ ok: true, value: undefined });
    expect(await reload).toEqual({ ok: false, code: 'MISSING_DEPENDENCY' });
    expect(manager.getSnapshot().plugins.map((p) => [p.name, p.state, p.version, p.error?.code])).toEqual([
      ['d', 'failed.blocked', '2.0.0', 'MISSING_DEPENDENCY'],
    ]);
  });

  it('an unload accepted while a reload needing the plugin loads its module: the reload is refused once loaded, the old version untouched', async () => {
    const loading = gate();
    const manager = host([plugin([], 'b'), plugin([], 'd')]);
    await manager.start();
    loading.close();
    const next = plugin([], 'd', { deps: { b: '*' }, version: '2.0.0' });
    const reload = settles(manager.reloadPlugin('d', { manifest: next.manifest, module: async () => (await loading.wait(), next.module) }));
    expect(await settles(manager.unloadPlugin('b'))).toEqual({ ok: true, value: undefined });
    loading.open();
    expect(await reload).toEqual({ ok: false, code: 'MISSING_DEPENDENCY' });
    expect(versions(manager)).toEqual(['d:running@1.0.0']);
  });

  it('an unload accepted while a reload needing the plugin installs a version kept stopped: it rests created, and a start of it is refused', async () => {
    const dDispose = gate();
    const manager = host([plugin([], 'b'), plugin([], 'd', { disposeGate: dDispose.wait })]);
    await manager.start();
    await manager.stopPlugin('d');
    dDispose.close();
    const reload = settles(manager.reloadPlugin('d', plugin([], 'd', { deps: { b: '*' }, version: '2.0.0' }), { keepStopped: true }));
    await until(() => stateOf(manager, 'd') === 'disposing');
    const unload = settles(manager.unloadPlugin('b'));
    dDispose.open();
    expect(await unload).toEqual({ ok: true, value: undefined });
    expect(await reload).toMatchObject({ ok: true });
    expect(versions(manager)).toEqual(['d:created@2.0.0']);
    expect(await settles(manager.startPlugin('d'))).toEqual({ ok: false, code: 'MISSING_DEPENDENCY' });
  });

  it('an unload cut short by stop() while what it brings back starts has forgotten the plugin all the same', async () => {
    const cStart = gate();
    const manager = host([plugin([], 'a'), plugin([], 'b', { deps: { a: '*' } }), plugin([], 'c', { optional: { b: '*' }, startGate: cStart.wait })]);
    await manager.start();
    await manager.stopPlugin('a');
    expect(manager.metrics()).toContain('plugin="b"');
    cStart.close();
    const unload = settles(manager.unloadPlugin('b'));
    await until(() => stateOf(manager, 'b') === undefined);
    // Forgotten as it left the snapshot, not at the end of the unload or of the host.
    expect(manager.metrics()).not.toContain('plugin="b"');
    const stopped = manager.stop();
    cStart.open();
    await stopped;
    expect(await unload).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(manager.metrics()).not.toContain('plugin="b"');
    expect(manager.metrics()).toContain('plugin="c"');
  });

  it('an unload that stop() overtakes while the plugin still stops ends with the plugin gone and forgotten', async () => {
    const bStop = gate();
    const manager = host([plugin([], 'a'), plugin([], 'b', { stopGate: bStop.wait })]);
    await manager.start();
    bStop.close();
    const unload = settles(manager.unloadPlugin('b'));
    await until(() => stateOf(manager, 'b') === 'stopping');
    const stopped = manager.stop();
    bStop.open();
    await stopped;
    expect(await unload).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
    expect(manager.getSnapshot().plugins.map((p) => `${p.name}:${p.state}`)).toEqual(['a:stopped']);
    expect(manager.metrics()).not.toContain('plugin="b"');
  });

  it('starting a dependent of a plugin being unloaded lets the unload finish; the start rejects on the missing requirement', async () => {
    const log: string[] = [];
    const manager = await fanOut(log);
    const unload = settles(manager.unloadPlugin('a'));
    await sleep(30);
    const start = settles(manager.startPlugin('c'));
    expect(await unload).toMatchObject({ ok: true });
    expect(await start).toEqual({ ok: false, code: 'DEPENDENCY_FAILED' });
    expect(manager.getSnapshot().plugins.map((p) => [p.name, p.state, p.error?.code])).toEqual([
      ['b', 'failed.blocked', 'MISSING_DEPENDENCY'],
      ['c', 'failed.blocked', 'DEPENDENCY_FAILED'],
      ['d', 'failed.blocked', 'DEPENDENCY_FAILED'],
    ]);
  });
});

describe("the 'abort' policy and the manager's own lifecycle", () => {
  const abortHost = (plugins: PluginDefinition[]) => {
    const manager = createPluginManager({ plugins, logger: silentLogger, hookTimeoutMs: 1000, failurePolicy: 'abort' });
    managers.push(manager);
    return manager;
  };

  it('a stop failure the host went on from does not take it down when a dependent is started later', async () => {
    const b: PluginDefinition = {
      manifest: { name: 'b', version: '1.0.0' },
      module: { init: () => undefined, start: () => undefined, stop: () => { throw new Error('stop failed'); } },
    };
    const manager = abortHost([b, plugin([], 'c', { deps: { b: '*' } }), plugin([], 'x')]);
    await manager.start();
    expect(await settles(manager.stopPlugin('b'))).toEqual({ ok: false, code: 'HOOK_FAILED' });
    expect(manager.getSnapshot().state).toBe('running');
    expect(await settles(manager.startPlugin('c'))).toEqual({ ok: false, code: 'DEPENDENCY_FAILED' });
    expect(manager.getSnapshot().state).toBe('running');
    expect([stateOf(manager, 'c'), stateOf(manager, 'x')]).toEqual(['failed.blocked', 'running']);
  });

  it('a restart whose stop fails rejects with that failure and leaves the host running', async () => {
    let failStop = false;
    const b: PluginDefinition = {
      manifest: { name: 'b', version: '1.0.0', dependencies: { a: '*' } },
      module: {
        init: () => undefined,
        start: () => undefined,
        stop: () => {
          if (failStop) throw new Error('stop failed');
        },
      },
    };
    const manager = abortHost([plugin([], 'a'), b, plugin([], 'c', { deps: { b: '*' } })]);
    await manager.start();
    failStop = true;
    expect(await settles(manager.restartPlugin('b'))).toEqual({ ok: false, code: 'HOOK_FAILED' });
    expect(manager.getSnapshot().state).toBe('running');
    expect([stateOf(manager, 'a'), stateOf(manager, 'b'), stateOf(manager, 'c')]).toEqual(['running', 'failed.halted', 'failed.blocked']);
  });

  it('a stop that fails after a dependent wanted its plugin up again does not take the host down', async () => {
    // t <- b <- c, and z needs t. c's stop is slow and fails; z is started while it runs.
    for (const chain of [['b'], ['b', 'c']]) {
      const failing = chain.at(-1)!;
      const slowFailingStop: PluginDefinition = {
        manifest: { name: failing, version: '1.0.0', dependencies: { [chain.length === 1 ? 't' : 'b']: '*' } },
        module: {
          init: () => undefined,
          start: () => undefined,
          stop: async () => {
            await sleep(50);
            throw new Error('stop failed');
          },
        },
      };
      const manager = abortHost([
        plugin([], 't'),
        ...(chain.length === 2 ? [plugin([], 'b', { deps: { t: '*' } })] : []),
        slowFailingStop,
        plugin([], 'z', { deps: { t: '*' } }),
      ]);
      await manager.start();
      await manager.stopPlugin('z');
      const stop = settles(manager.stopPlugin('t'));
      await sleep(15); // the failing stop runs
      expect(await settles(manager.startPlugin('z'))).toMatchObject({ ok: true, value: { state: 'running' } });
      expect(await stop).toEqual({ ok: false, code: 'INVALID_TRANSITION' }); // undone by the start
      await sleep(60); // the failing stop has failed
      expect(manager.getSnapshot().state).toBe('running');
      expect(stateOf(manager, failing)).toBe('failed.halted');
      expect([stateOf(manager, 't'), stateOf(manager, 'z')]).toEqual(['running', 'running']);
    }
  });

  it('a command during which a dependent fails for good rejects with that failure as the host goes down', async () => {
    let starts = 0;
    const manager = abortHost([
      plugin([], 'a'),
      plugin([], 'b', { deps: { a: '*' }, failStart: () => ++starts > 1 }),
    ]);
    await manager.start();
    const restart = manager.restartPlugin('a').then(
      () => ({ code: 'resolved', plugin: undefined }),
      (error: { code?: string; plugin?: string }) => ({ code: error.code, plugin: error.plugin }),
    );
    expect(await restart).toEqual({ code: 'HOOK_FAILED', plugin: 'b' });
    await manager.stop();
    expect(manager.getSnapshot().state).toBe('stopped');
  });

  it('commands in flight when the abort policy takes the host down reject with the cause once nothing runs any more', async () => {
    let failA = false;
    const log: string[] = [];
    const manager = abortHost([
      plugin(log, 'a', { startMs: 20, failStart: () => failA }),
      plugin(log, 'b', { deps: { a: '*' } }),
      plugin(log, 'x', { stopMs: 60 }),
    ]);
    await manager.start();
    failA = true;
    const when = (promise: Promise<unknown>) =>
      promise.then(
        () => ({ code: 'resolved', host: manager.getSnapshot().state, x: stateOf(manager, 'x') }),
        (error: { code?: string }) => ({ code: error.code, host: manager.getSnapshot().state, x: stateOf(manager, 'x') }),
      );
    const restart = when(manager.restartPlugin('a'));
    await sleep(5);
    const stop = when(manager.stopPlugin('x')); // its stop hook outlasts the failure of a
    const outcome = { code: 'HOOK_FAILED', host: 'stopped', x: 'stopped' };
    expect(await Promise.all([restart, stop])).toEqual([outcome, outcome]);
  });

  it('start() after stop() rejects, and so does a start() that stop() cut short', async () => {
    const manager = host([plugin([], 'a')]);
    await manager.start();
    await manager.stop();
    expect(await settles(manager.start())).toEqual({ ok: false, code: 'INVALID_TRANSITION' });

    const slow = host([plugin([], 'a', { startMs: 50 })]);
    const booting = settles(slow.start());
    await sleep(10);
    await slow.stop();
    expect(await booting).toEqual({ ok: false, code: 'INVALID_TRANSITION' });
  });
});

describe('hostile options and values', () => {
  it.each([
    ['logger without methods', { logger: {} }],
    ['inspect that is a number', { inspect: 42 }],
    ['clock without timers', { clock: {} }],
    ['hookTimeoutMs past what a timer holds', { hookTimeoutMs: 2 ** 31 }],
    ['maxBackoffMs past what a timer holds', { retry: { maxBackoffMs: 2 ** 31 } }],
  ])('%s → OPTIONS_INVALID', (_name, options) => {
    expect(() => createPluginManager(options as never)).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
  });

  it('a manifest hookTimeoutMs past what a timer holds is MANIFEST_INVALID', async () => {
    const manager = host([{ manifest: { name: 'a', version: '1.0.0', hookTimeoutMs: 2 ** 31 }, module: plugin([], 'a').module }]);
    await manager.start();
    expect(manager.getSnapshot().plugins[0]).toMatchObject({ state: 'invalid', error: { code: 'MANIFEST_INVALID' } });
  });

  it('a throwing logger and a throwing inspector do not break the host', async () => {
    const uncaught: unknown[] = [];
    const onError = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onError);
    try {
      const boom = () => {
        throw new Error('observer failed');
      };
      const logger = { debug: boom, info: boom, warn: boom, error: boom, child: () => logger };
      const manager = createPluginManager({ plugins: [plugin([], 'a')], logger, inspect: boom });
      managers.push(manager);
      expect((await settles(manager.start())).ok).toBe(true);
      expect(stateOf(manager, 'a')).toBe('running');
      expect((await settles(manager.stop())).ok).toBe(true);
      await sleep(5);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
    }
  });

  it("a plugin named 'constructor' reloads without a false version mismatch", async () => {
    const manager = host([plugin([], 'constructor'), plugin([], 'b', { deps: {} })]);
    await manager.start();
    expect(await settles(manager.reloadPlugin('constructor', plugin([], 'constructor', { version: '1.0.1' })))).toMatchObject({ ok: true });
  });

  it('a secret with quotes, backslashes or newlines is scrubbed from hook errors', async () => {
    const secret = 'pa"ss\\wo\nrd';
    const manager = host([
      {
        manifest: { name: 'db', version: '1.0.0', config: { url: { type: 'string', secret: true } } },
        module: {
          init: (ctx: { config: Record<string, unknown> }) => {
            throw { reason: 'cannot connect', url: ctx.config['url'] };
          },
          start() {},
          stop() {},
        },
        config: { url: secret },
      },
    ]);
    await manager.start();
    const text = JSON.stringify(manager.getSnapshot());
    expect(manager.getSnapshot().plugins[0]?.error?.code).toBe('HOOK_FAILED');
    expect(text).not.toContain(JSON.stringify(secret).slice(1, -1));
    expect(text).not.toContain('ss\\\\wo');
  });
});

describe('plugin logging', () => {
  it("a plugin's own log lines never carry a secret config value", async () => {
    const lines: string[] = [];
    const { createConsoleLogger } = await import('../../src/index.ts');
    const logger = createConsoleLogger({ level: 'debug', write: (line) => lines.push(line) });
    const secret = 's3cr3t-token';
    const manager = createPluginManager({
      logger,
      plugins: [
        {
          manifest: { name: 'db', version: '1.0.0', config: { token: { type: 'string', secret: true } } },
          module: {
            init: (ctx: { config: Record<string, unknown>; logger: import('../../src/index.ts').Logger }) => {
              ctx.logger.info(`connecting with ${String(ctx.config['token'])}`);
              ctx.logger.warn({ token: ctx.config['token'], nested: { again: ctx.config['token'] } }, 'fields too');
              ctx.logger.child({ token: ctx.config['token'] }).error('child loggers too');
            },
            start() {},
            stop() {},
          },
          config: { token: secret },
        },
      ],
    });
    managers.push(manager);
    await manager.start();
    expect(lines.some((line) => line.includes('connecting with [redacted]'))).toBe(true);
    expect(lines.join('\n')).not.toContain(secret);
  });
});
