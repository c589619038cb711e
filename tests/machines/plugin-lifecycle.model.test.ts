/**
 * Model-based tests of the lifecycle chart: paths generated with xstate/graph from the
 * event-only model drive the real chart with its slots filled by the real runtime (the plugin's
 * hooks are promises the test settles, time on a SimulatedClock); after every step the real
 * state, attempt count and error code must match the model, and the hooks called (and the
 * attempt each was told) must be the ones the step entered. A timer step first moves the clock to
 * one millisecond short of its delay, where nothing may have happened yet. At the end of a path,
 * every command the model refuses there must leave the real actor as it was. The transition
 * paths run twice: with hooks that give up when their signal aborts, and with hooks that ignore
 * it and answer late, an answer the actor must not hear. A last test proves the paths took every
 * transition of the real chart.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, getInitialSnapshot, getNextSnapshot } from 'xstate';
import type { AnyStateNode, InspectionEvent } from 'xstate';
import { DEFAULT_RETRY, SHAPE_ANCHORS, pluginLifecycle, stateToPath } from '../../machines/plugin-lifecycle.ts';
import type { LifecycleEvent } from '../../machines/plugin-lifecycle.ts';
import { silentLogger } from '../../src/index.ts';
import type { PluginContext } from '../../src/index.ts';
import { prepareDefinition } from '../../src/prepare.ts';
import { PluginRuntimes, provideLifecycle } from '../../src/runtime.ts';
import { MODEL_RETRIES, lifecycleModel } from '../../src/testing/lifecycle-model.ts';
import type { ModelEvent } from '../../src/testing/lifecycle-model.ts';
import { reachableStates, simplePaths, transitionPaths } from '../../src/testing/paths.ts';
import type { ModelPath } from '../../src/testing/paths.ts';

const HOOK_TIMEOUT_MS = 1000;
const MAX_BACKOFF_MS = 400;
/**
 * Hooks that give up when their signal aborts, or ignore it and settle when the test says, after
 * the state that called them was left. Each has its own back-off: one under the cap, one over it.
 */
type Behaviour = 'cooperative' | 'stubborn';
const RETRY: Record<Behaviour, { retries: number; backoffMs: number; factor: number; maxBackoffMs: number }> = {
  cooperative: { retries: MODEL_RETRIES, backoffMs: 100, factor: 2, maxBackoffMs: MAX_BACKOFF_MS },
  stubborn: { retries: MODEL_RETRIES, backoffMs: 500, factor: 2, maxBackoffMs: MAX_BACKOFF_MS },
};
/** The model's state in which each hook runs. */
const HOOK_OF_STATE: Record<string, 'init' | 'start' | 'stop' | 'dispose'> = {
  initializing: 'init',
  'starting.hook': 'start',
  stopping: 'stop',
  disposing: 'dispose',
};

interface Deferred {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** The real chart and runtime; the plugin's hooks and its validation are settled by the test. */
function createHarness(behaviour: Behaviour = 'cooperative') {
  const clock = new SimulatedClock();
  const pending = new Map<string, Deferred>();
  const signals: Record<string, AbortSignal[]> = {};
  /** The attempt each call of a hook was told (`ctx.attempt`), in order. */
  const calls: Record<string, number[]> = { init: [], start: [], stop: [], dispose: [] };
  const taken = new Set<unknown>();
  const retry = RETRY[behaviour];
  // Each hook waits for the test; a cooperative one gives up when its signal aborts.
  const controlled = (slot: string) => (ctx: PluginContext) =>
    new Promise<void>((resolve, reject) => {
      (signals[slot] ??= []).push(ctx.signal);
      calls[slot]!.push(ctx.attempt);
      if (behaviour === 'cooperative') ctx.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      pending.set(slot, { resolve, reject });
    });
  const runtimes = new PluginRuntimes(silentLogger, clock);
  const plugin = prepareDefinition(
    {
      manifest: { name: 'subject', version: '1.0.0' },
      module: { init: controlled('init'), start: controlled('start'), stop: controlled('stop'), dispose: controlled('dispose') },
    },
    0,
    { hookTimeoutMs: HOOK_TIMEOUT_MS, retry },
  );
  runtimes.register(plugin);
  const machine = provideLifecycle(runtimes).provide({
    actions: {
      // Validation answers when the test says so (VALID / INVALID), through the real slot.
      runValidate: ({ self, context }) => {
        const real = () => runtimes.validate(self, context.key);
        pending.set('validate', {
          resolve: real,
          reject: () => self.send({ type: 'validate.failed', error: { errors: [{ code: 'CONTRACT_INVALID', message: 'x' }] } }),
        });
      },
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      name: 'subject',
      key: plugin.key,
      hookTimeoutMs: HOOK_TIMEOUT_MS,
      retry,
    },
    inspect: (event: InspectionEvent) => {
      if (event.type === '@xstate.microstep') {
        for (const transition of (event as unknown as { _transitions: unknown[] })._transitions) taken.add(transition);
      }
    },
  });
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();

  const settle = (slot: string, how: 'resolve' | 'reject') => {
    const deferred = pending.get(slot);
    if (!deferred) throw new Error(`no ${slot} running`);
    pending.delete(slot);
    if (how === 'resolve') deferred.resolve();
    else deferred.reject(new Error(`${slot} failed`));
  };
  /** The call of a hook its state left (timed out, cancelled), not settled yet (stubborn hooks). */
  let abandoned: { slot: string; deferred: Deferred } | null = null;
  const abandon = (slot: string) => {
    const deferred = pending.get(slot);
    pending.delete(slot);
    if (deferred) abandoned = { slot, deferred };
  };
  /** The abandoned call answers, after all (a success and a failure alternate, across paths). */
  const answerLate = (): string | null => {
    const call = abandoned;
    if (!call) return null;
    abandoned = null;
    if (lateAnswers++ % 2 === 0) call.deferred.resolve();
    else call.deferred.reject(new Error(`${call.slot} failed late`));
    return call.slot;
  };
  const outstanding = () => abandoned !== null;
  const send = (event: LifecycleEvent) => actor.send(event);

  const drive = (event: ModelEvent) => {
    switch (event.type) {
      case 'VALID': return settle('validate', 'resolve');
      case 'INVALID': return settle('validate', 'reject');
      case 'INIT': return send({ type: 'plugin.init' });
      case 'INIT_OK': return settle('init', 'resolve');
      case 'INIT_FAIL': return settle('init', 'reject');
      case 'START': return send({ type: 'plugin.start', waitingFor: [] });
      case 'START_WAITING': return send({ type: 'plugin.start', waitingFor: ['dep'] });
      case 'DEP_READY': return send({ type: 'plugin.dependency.ready', dependency: 'dep' });
      case 'START_OK': return settle('start', 'resolve');
      case 'START_FAIL': return settle('start', 'reject');
      case 'STOP': return send({ type: 'plugin.stop' });
      case 'STOP_OK': return settle('stop', 'resolve');
      case 'STOP_FAIL': return settle('stop', 'reject');
      case 'DISPOSE': return send({ type: 'plugin.dispose' });
      case 'DISPOSE_OK': return settle('dispose', 'resolve');
      case 'DISPOSE_FAIL': return settle('dispose', 'reject');
      case 'RETRY': return send({ type: 'plugin.retry' });
      case 'RESET': return send({ type: 'plugin.reset' });
      case 'DEP_FAILED': return send({ type: 'plugin.dependency.failed', dependency: 'dep' });
      case 'DEPS_RESTORED': return send({ type: 'plugin.dependencies.restored' });
      case 'INIT_TIMEOUT':
      case 'START_TIMEOUT':
      case 'STOP_TIMEOUT':
      case 'DISPOSE_TIMEOUT':
      case 'BACKOFF_ELAPSED':
        throw new Error('a timer step moves the clock (delayOf)');
      case 'HEALTHY':
      case 'DEGRADED':
      case 'UNHEALTHY': {
        // What the runtime's health poller sends (the poller itself is tested on its own).
        const status = event.type.toLowerCase() as 'healthy' | 'degraded' | 'unhealthy';
        return send({ type: `health.${status}`, report: { status, checkedAt: 0, durationMs: 1 } });
      }
    }
  };
  /** How long the timer a timer step stands for runs (the model's context before the step). */
  const delayOf = (event: ModelEvent, before: { attempts: number }): number | null => {
    // The documented policy, worked out here rather than by the chart's own backoffDelay.
    if (event.type === 'BACKOFF_ELAPSED') return Math.min(retry.maxBackoffMs, retry.backoffMs * retry.factor ** (before.attempts - 1));
    return event.type.endsWith('_TIMEOUT') ? HOOK_TIMEOUT_MS : null;
  };
  return { actor, drive, delayOf, abandon, answerLate, outstanding, clock, calls, signals, taken, errors, machine, behaviour };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Late answers of abandoned hooks alternate between a success and a failure, across paths. */
let lateAnswers = 0;

/** Everything the real chart could do: every transition of every state node. */
function allTransitions(machine: { root: AnyStateNode }): unknown[] {
  const out: unknown[] = [];
  const visit = (node: AnyStateNode) => {
    for (const list of node.transitions.values()) out.push(...list);
    out.push(...(node.always ?? []));
    for (const child of Object.values(node.states)) visit(child as AnyStateNode);
  };
  visit(machine.root);
  return out;
}

const takenAll = new Set<unknown>();
let definitions: unknown[] = [];
const describeTransition = (t: unknown) => {
  const d = t as { source: AnyStateNode; eventType: string; target?: AnyStateNode[] };
  return `${d.source.id} --${d.eventType}--> ${(d.target ?? []).map((n) => n.id).join(',') || '(self)'}`;
};

/** The model's commands: what a manager (or the health poller) may send in any state. */
const COMMANDS = [
  'INIT', 'START', 'START_WAITING', 'DEP_READY', 'STOP', 'DISPOSE', 'RETRY', 'RESET', 'DEP_FAILED', 'DEPS_RESTORED',
  'HEALTHY', 'DEGRADED', 'UNHEALTHY',
] as const;

async function walk(path: ModelPath, behaviour: Behaviour = 'cooperative') {
  const harness = createHarness(behaviour);
  definitions = allTransitions(harness.machine);
  await flush();
  const realState = () => stateToPath(harness.actor.getSnapshot().value);
  const callCounts = () => Object.fromEntries(Object.entries(harness.calls).map(([hook, attempts]) => [hook, attempts.length]));
  /** What a step that should change nothing may not change. */
  const observed = () => {
    const { context } = harness.actor.getSnapshot();
    return { state: realState(), attempts: context.attempts, code: context.error?.code ?? null, calls: callCounts() };
  };
  expect(realState()).toBe('validating');
  let previous = 'validating';
  // Replay the model along the path (a path's recorded states may come from merged vertices).
  let modelSnapshot = getInitialSnapshot(lifecycleModel);
  for (const step of path.steps) {
    if ((step.event.type as string) === 'xstate.init') continue;
    const before = modelSnapshot.context;
    modelSnapshot = getNextSnapshot(lifecycleModel, modelSnapshot, step.event);
    const where = `after ${step.event.type}`;
    const called = callCounts();
    const delay = harness.delayOf(step.event, before);
    if (delay === null) harness.drive(step.event);
    else {
      // One millisecond short of the timer, nothing has happened yet.
      harness.clock.increment(delay - 1);
      await flush();
      expect(realState(), `${where}: 1 ms before the timer`).toBe(previous);
      expect(callCounts(), `${where}: 1 ms before the timer, hooks called`).toEqual(called);
      harness.clock.increment(1);
    }
    await flush();
    const real = harness.actor.getSnapshot();
    const model = modelSnapshot.context;
    const modelState = stateToPath(modelSnapshot.value);
    expect(stateToPath(real.value), where).toBe(modelState);
    expect(real.context.attempts, `${where}: attempts`).toBe(model.attempts);
    if (modelState !== 'disposing' && modelState !== 'disposed') {
      expect(real.context.error?.code ?? null, `${where}: error code`).toBe(model.code);
    }
    // The hook of the state the step entered was called once (a hook state is only ever
    // entered, never stayed in, by a step), told the attempt the model counts; no other was.
    // While an abandoned call of the plugin has not settled, the next waits for it: hooks of one
    // plugin never overlap, and the late answer must not count for the new call.
    const hook = HOOK_OF_STATE[modelState];
    if (hook && harness.outstanding()) {
      expect(callCounts(), `${where}: no hook called while an abandoned one runs`).toEqual(called);
      const now = observed();
      const late = harness.answerLate();
      await flush();
      expect(observed(), `${where}: a late answer of ${late}, then the new call`).toEqual({ ...now, calls: { ...called, [hook]: called[hook]! + 1 } });
    }
    expect(callCounts(), `${where}: hooks called`).toEqual(hook ? { ...called, [hook]: called[hook]! + 1 } : called);
    if (hook && hook !== 'dispose') expect(harness.calls[hook]!.at(-1), `${where}: ctx.attempt`).toBe(model.attempts);
    // A hook abandoned by its timeout or by cancellation has its signal aborted.
    const abandoned =
      { INIT_TIMEOUT: 'init', START_TIMEOUT: 'start', STOP_TIMEOUT: 'stop', DISPOSE_TIMEOUT: 'dispose' }[
        step.event.type as string
      ] ?? (step.event.type === 'STOP' ? { initializing: 'init', 'starting.hook': 'start' }[previous] : undefined);
    if (abandoned) {
      const last = harness.signals[abandoned]?.at(-1);
      expect(last?.aborted, `${where}: ${abandoned} signal aborted`).toBe(true);
      // A stubborn one answers later: when the next hook would run, or at the end of the path.
      if (behaviour === 'stubborn') harness.abandon(abandoned);
    }
    previous = modelState;
  }
  if (harness.outstanding()) {
    const now = observed();
    const late = harness.answerLate();
    await flush();
    expect(observed(), `${previous}: a late answer of ${late}`).toEqual(now);
  }
  // Every command the model refuses where the path ends leaves the real actor as it was.
  if (harness.actor.getSnapshot().status === 'active') {
    for (const type of COMMANDS) {
      if (modelSnapshot.can({ type })) continue;
      const now = observed();
      harness.drive({ type });
      await flush();
      expect(observed(), `${previous}: ${type} refused`).toEqual(now);
    }
  }
  expect(harness.errors).toEqual([]);
  for (const transition of harness.taken) takenAll.add(transition);
  harness.actor.stop();
}

const byTransition = transitionPaths();
const simple = simplePaths();

describe('lifecycle chart, driven by the model', () => {
  it('the model reaches every state of the real chart', () => {
    const modelStates = reachableStates();
    const realLeaves = new Set<string>();
    const visit = (node: AnyStateNode, prefix: string) => {
      const children = Object.entries(node.states);
      if (children.length === 0) realLeaves.add(prefix);
      for (const [key, child] of children) visit(child as AnyStateNode, prefix ? `${prefix}.${key}` : key);
    };
    visit(pluginLifecycle.root, '');
    realLeaves.delete('failed.deciding'); // transient: always left in the same step
    expect([...realLeaves].filter((s) => !modelStates.has(s))).toEqual([]);
  });

  describe(`every transition (${byTransition.length} paths)`, () => {
    it.each(byTransition.map((path) => [path.steps.map((s) => s.event.type).join(' → '), path] as const))(
      '%s',
      async (_name, path) => {
        await walk(path);
      },
    );
  });

  describe(`every transition, with hooks that ignore their signal and answer late (${byTransition.length} paths)`, () => {
    it.each(byTransition.map((path) => [path.steps.map((s) => s.event.type).join(' → '), path] as const))(
      '%s',
      async (_name, path) => {
        await walk(path, 'stubborn');
      },
    );
  });

  describe(`simple paths (${simple.length} paths)`, () => {
    it.each(simple.map((path) => [path.steps.map((s) => s.event.type).join(' → '), path] as const))(
      '%s',
      async (_name, path) => {
        await walk(path);
      },
    );
  });
});

describe('coverage of the real chart', () => {
  // Runs after the paths above (tests in a file run in order).
  it('every transition of the real lifecycle chart was taken by at least one path', () => {
    const taken = new Set([...takenAll].map(describeTransition));
    expect(definitions.length).toBeGreaterThan(40);
    expect(definitions.map(describeTransition).filter((d) => !taken.has(d))).toEqual([]);
  });
});

describe('hidden-class anchors', () => {
  it('have the key order of a context as assign copies it, and of timings with every hook', () => {
    const actor = createActor(pluginLifecycle, { input: { name: 'p', hookTimeoutMs: 1000, retry: DEFAULT_RETRY } }).start();
    for (const type of ['plugin.init', 'plugin.start', 'plugin.stop'] as const) actor.send({ type });
    const { value, context } = actor.getSnapshot();
    expect(value).toBe('stopped');
    const [contextAnchor, timingsAnchor] = SHAPE_ANCHORS;
    expect(Object.keys(contextAnchor!)).toEqual(Object.keys(context));
    expect(Object.keys(context.timings)).toEqual(['initMs', 'startMs', 'stopMs']);
    // What a boot and shutdown build ({initMs}, then startMs, stopMs, disposeMs added) are
    // prefixes of the anchor's keys: one live object keeps every link on the way.
    expect(Object.keys(timingsAnchor!)).toEqual(['initMs', 'startMs', 'stopMs', 'disposeMs']);
    // And the value of every state inside a compound state, as XState builds it.
    const nested: string[] = [];
    const visit = (node: AnyStateNode) => {
      const children = Object.values(node.states) as AnyStateNode[];
      if (children.length === 0 && node.path.length > 1) nested.push(node.path.join('.'));
      children.forEach(visit);
    };
    visit(pluginLifecycle.root);
    expect(nested).toContain('starting.hook');
    expect(SHAPE_ANCHORS.slice(2).map(stateToPath)).toEqual(nested);
  });
});
