/**
 * Model-based tests of the manager chart: paths through the manager model (both failure
 * policies) drive a real host built with createPluginManager; after every step the host's state,
 * each plugin's state and the order of hook calls must agree with the model. A last test checks
 * that the paths took every transition of the real manager chart; those are few (every runtime
 * command enters one, `command.*`), so the model has an event for each command of its own.
 */
import { describe, expect, it } from 'vitest';
import { createActor, getInitialSnapshot, getNextSnapshot } from 'xstate';
import type { AnyStateNode, InspectionEvent } from 'xstate';
import { getAdjacencyMap, getShortestPaths, getSimplePaths } from 'xstate/graph';
import { createPluginManager, pluginLifecycle, pluginManager, silentLogger } from '../../src/index.ts';
import type { PluginDefinition, PluginManager } from '../../src/index.ts';
import { stateToPath } from '../../machines/plugin-lifecycle.ts';
import { MANAGER_MODEL_EVENTS, PLUGIN_NAMES, managerModel } from './manager-model.ts';
import type { ManagerModelEvent, Policy } from './manager-model.ts';

const DEPENDS: Record<string, { requires: string[]; optional: string[] }> = {
  config: { requires: [], optional: [] },
  db: { requires: ['config'], optional: [] },
  api: { requires: ['db'], optional: ['metrics'] },
  metrics: { requires: ['config'], optional: [] },
};

type ModelSnapshot = ReturnType<typeof managerModel.transition>;
const serialize = (snapshot: ModelSnapshot) =>
  JSON.stringify([stateToPath(snapshot.value), snapshot.context.dbFails, snapshot.context.plugins]);

function createHost(policy: Policy, taken: Set<string>) {
  const calls: string[] = [];
  const control = { dbFailing: false };
  const module = (name: string, generation = 1) => ({
    init: async () => void calls.push(`${name}.init`),
    start: async () => {
      calls.push(`${name}.start`);
      if (name === 'db' && control.dbFailing) throw new Error('db is down');
    },
    stop: async () => void calls.push(`${name}.stop`),
    dispose: async () => void calls.push(`${name}.dispose#${generation}`),
  });
  const definition = (name: string, generation = 1): PluginDefinition => ({
    manifest: {
      name,
      version: '1.0.0',
      dependencies: Object.fromEntries(DEPENDS[name]!.requires.map((d) => [d, '^1.0.0'])),
      optionalDependencies: Object.fromEntries(DEPENDS[name]!.optional.map((d) => [d, '^1.0.0'])),
    },
    module: module(name, generation),
  });
  const manager = createPluginManager({
    plugins: ['config', 'db', 'api', 'metrics'].map((name) => definition(name)),
    failurePolicy: policy,
    logger: silentLogger,
    hookTimeoutMs: 1000,
    inspect: (event: InspectionEvent) => recordTransitions(event, taken),
  });
  return { manager, calls, control, definition };
}

function recordTransitions(event: InspectionEvent, taken: Set<string>) {
  if (event.type !== '@xstate.microstep') return;
  for (const transition of (event as unknown as { _transitions: unknown[] })._transitions) {
    const text = describeTransition(transition);
    if (text.startsWith('manager')) taken.add(text);
  }
}

function describeTransition(t: unknown): string {
  const d = t as { source: AnyStateNode; eventType: string; target?: AnyStateNode[]; guard?: unknown };
  const guard = typeof d.guard === 'string' ? ` [${d.guard}]` : '';
  return `${d.source.id} --${d.eventType}${guard}--> ${(d.target ?? []).map((n) => n.id).join(',') || '(self)'}`;
}

/** For every dependency edge touched in `calls`: stops dependents-first, starts dependencies-first. */
function expectDependencyOrder(calls: string[]) {
  const at = (entry: string) => calls.lastIndexOf(entry);
  for (const [name, { requires, optional }] of Object.entries(DEPENDS)) {
    for (const dep of [...requires, ...optional]) {
      if (at(`${name}.stop`) >= 0 && at(`${dep}.stop`) >= 0) {
        expect(at(`${name}.stop`), `${name} stops before ${dep}`).toBeLessThan(at(`${dep}.stop`));
      }
      if (at(`${name}.start`) >= 0 && at(`${dep}.start`) >= 0 && !calls.includes(`${dep}.stop`)) {
        expect(at(`${dep}.start`), `${dep} starts before ${name}`).toBeLessThan(at(`${name}.start`));
      }
    }
  }
}

function stateOf(manager: PluginManager, name: string): string {
  return manager.getSnapshot().plugins.find((p) => p.name === name)?.state ?? 'removed';
}

async function walk(policy: Policy, events: ManagerModelEvent[], taken: Set<string>) {
  const host = createHost(policy, taken);
  const { manager, calls, control } = host;
  let model = getInitialSnapshot(managerModel, { policy });
  let pending: Promise<unknown> | null = null;
  let generation = 1;
  for (const event of events) {
    const previous = stateToPath(model.value);
    model = getNextSnapshot(managerModel, model, event);
    const before = calls.length;
    switch (event.type) {
      case 'BOOT':
      case 'BOOT_DB_FAILS':
        control.dbFailing = event.type === 'BOOT_DB_FAILS';
        pending = manager.start().then(
          () => null,
          (error: { code?: string }) => error.code ?? 'uncoded',
        );
        expect(manager.getSnapshot().state).toBe('booting');
        break;
      case 'STOP':
        pending = manager.stop().then(() => null);
        expect(manager.getSnapshot().state).toBe('stopping');
        break;
      case 'SETTLE': {
        const outcome = await pending;
        // start() rejects with the failing hook's code when the abort policy shut the host down.
        const aborted = previous === 'booting' && stateToPath(model.value) === 'stopped';
        expect(outcome).toBe(aborted ? 'HOOK_FAILED' : null);
        break;
      }
      case 'RESTART_CONFIG':
        await manager.restartPlugin('config');
        break;
      case 'RESTART_DB_FAILS': {
        control.dbFailing = true;
        const error = await manager.restartPlugin('db').then(() => null, (e: { code?: string }) => e.code);
        expect(error).toBe('HOOK_FAILED');
        if (policy === 'abort') await manager.stop();
        break;
      }
      case 'STOP_DB':
        await manager.stopPlugin('db');
        break;
      case 'START_DB':
        await manager.startPlugin('db');
        break;
      case 'RETRY_DB':
        control.dbFailing = false;
        await manager.retryPlugin('db');
        break;
      case 'RESET_DB':
        control.dbFailing = false;
        await manager.resetPlugin('db');
        break;
      case 'RELOAD_DB_KEEP_STOPPED':
        generation++;
        await manager.reloadPlugin('db', host.definition('db', generation), { keepStopped: true });
        expect(calls.slice(before)).toContain(`db.dispose#${generation - 1}`);
        expect(calls.slice(before).filter((call) => call.endsWith('.start'))).toEqual([]);
        break;
      case 'RELOAD_DB':
        generation++;
        await manager.reloadPlugin('db', host.definition('db', generation));
        expect(calls.slice(before)).toContain(`db.dispose#${generation - 1}`);
        break;
      case 'UNLOAD_API':
        await manager.unloadPlugin('api');
        break;
    }
    expectDependencyOrder(calls.slice(before));
    const modelState = stateToPath(model.value);
    const transient = modelState === 'booting' || modelState === 'stopping';
    expect(manager.getSnapshot().state, `after ${event.type}`).toBe(modelState);
    if (!transient) {
      for (const name of PLUGIN_NAMES) {
        const expected = model.context.plugins[name];
        const real = stateOf(manager, name);
        if (expected === 'at-rest') expect(['created', 'initialized', 'stopped'], `${name} after ${event.type}`).toContain(real);
        else expect(real, `${name} after ${event.type}`).toBe(expected);
      }
    }
  }
  if (manager.getSnapshot().state !== 'stopped') {
    await manager.stop();
    expectDependencyOrder(calls);
  }
  expect(manager.getSnapshot().plugins.filter((p) => p.state === 'running')).toEqual([]);
}

function pathsFor(policy: Policy) {
  const options = { events: MANAGER_MODEL_EVENTS, serializeState: serialize, input: { policy } };
  const shortest = getShortestPaths(managerModel, options);
  const byKey = new Map(shortest.map((p) => [serialize(p.state), p]));
  const transitions: ManagerModelEvent[][] = [];
  for (const [key, { state, transitions: edges }] of Object.entries(getAdjacencyMap(managerModel, options))) {
    const head = byKey.get(key);
    if (!head) continue;
    for (const { event } of Object.values(edges) as Array<{ event: ManagerModelEvent }>) {
      if (!state.can(event)) continue;
      transitions.push([...head.steps.map((s) => s.event), event]);
    }
  }
  const simple = getSimplePaths(managerModel, { ...options, serializeState: (s) => stateToPath(s.value) }).map((p) =>
    p.steps.map((s) => s.event),
  );
  const strip = (events: ManagerModelEvent[]) => events.filter((e) => (e.type as string) !== 'xstate.init');
  // Simple paths are found on the state graph alone: keep those the model (with its context) allows.
  const allowed = (events: ManagerModelEvent[]) => {
    let snapshot = getInitialSnapshot(managerModel, { policy });
    for (const event of events) {
      if (!snapshot.can(event)) return false;
      snapshot = getNextSnapshot(managerModel, snapshot, event);
    }
    return true;
  };
  return { transitions: transitions.map(strip), simple: simple.map(strip).filter(allowed) };
}

const taken = new Set<string>();

describe.each(['isolate', 'abort'] as const)('manager chart, failure policy %s, driven by the model', (policy) => {
  const { transitions, simple } = pathsFor(policy);
  const name = (events: ManagerModelEvent[]) => events.map((e) => e.type).join(' → ') || '(start)';
  describe(`every model transition (${transitions.length} paths)`, () => {
    it.each(transitions.map((events) => [name(events), events] as const))('%s', async (_n, events) => {
      await walk(policy, events, taken);
    });
  });
  describe(`simple paths (${simple.length} paths)`, () => {
    it.each(simple.map((events) => [name(events), events] as const))('%s', async (_n, events) => {
      await walk(policy, events, taken);
    });
  });
});

describe('manager chart: child faults', () => {
  /** A manager whose plugin actors fail in a chart action as they begin to start (an engine fault). */
  const crashingManager = (plugins: Array<[name: string, requires: string[]]>, failurePolicy: 'isolate' | 'abort') => {
    const broken = pluginLifecycle.provide({
      actions: {
        beginStart: () => {
          throw new Error('chart action failed');
        },
      },
    });
    const machine = pluginManager.provide({ actors: { plugin: broken } });
    const input = ([name, requires]: [string, string[]]) => ({
      name,
      requires,
      optional: [],
      input: { name, hookTimeoutMs: 1000, retry: { retries: 0, backoffMs: 0, factor: 1, maxBackoffMs: 0 } },
    });
    return createActor(machine, { input: { plugins: plugins.map(input), failurePolicy }, inspect: (event) => recordTransitions(event, taken) });
  };

  it('a plugin actor that fails outside its hooks is recorded as crashed and the host goes on', async () => {
    const actor = crashingManager([['a', []], ['b', ['a']]], 'isolate');
    const errors: unknown[] = [];
    actor.subscribe({ error: (error) => errors.push(error) });
    actor.start();
    actor.send({ type: 'manager.start' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const registry = actor.getSnapshot().context.registry;
    expect(registry.get('a')?.state).toBe('crashed');
    expect(registry.get('a')?.crash?.code).toBe('INTERNAL_ERROR');
    expect(registry.get('b')?.state).toBe('failed.blocked');
    expect(stateToPath(actor.getSnapshot().value)).toBe('running');
    actor.send({ type: 'manager.stop' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(actor.getSnapshot().status).toBe('done');
    expect(errors).toEqual([]);
  });

  it('under failure policy abort, a plugin actor that crashes takes the host down with its own INTERNAL_ERROR', async () => {
    const actor = crashingManager([['a', []]], 'abort');
    actor.start();
    actor.send({ type: 'manager.start' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const registry = actor.getSnapshot().context.registry;
    expect(registry.get('a')?.state).toBe('crashed');
    expect(registry.abortCause).toMatchObject({ name: 'a', error: { code: 'INTERNAL_ERROR' } });
    expect(actor.getSnapshot().status).toBe('done');
  });
});

describe('coverage of the real manager chart', () => {
  it('every transition of the real manager chart was taken', () => {
    const all: string[] = [];
    const visit = (node: AnyStateNode) => {
      for (const list of node.transitions.values()) all.push(...list.map(describeTransition));
      all.push(...(node.always ?? []).map(describeTransition));
      for (const child of Object.values(node.states)) visit(child as AnyStateNode);
    };
    visit(pluginManager.root);
    expect(all.length).toBeGreaterThanOrEqual(10);
    expect(all.filter((t) => !taken.has(t))).toEqual([]);
  });
});
