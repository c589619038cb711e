/**
 * What XState itself costs, with no engine around it: N actors of the lifecycle chart driven
 * straight through boot and shutdown (its slots answer at once), and N actors of the smallest
 * chart that makes the same number of steps (8 flat states, 7 events). The engine cannot be
 * faster than the first; no chart run by XState's interpreter can be faster than the second.
 */
import { createActor, setup } from 'xstate';
import type { AnyActorRef } from 'xstate';
import { DEFAULT_RETRY, lifecyclePath, pluginLifecycle } from '../machines/plugin-lifecycle.ts';

/** The lifecycle chart with every hook answered in a microtask, as a no-op async hook would be. */
const lifecycle = pluginLifecycle.provide({
  actions: {
    runValidate: ({ self }) => queueMicrotask(() => self.send({ type: 'validate.done' })),
    runHook: ({ self }) => queueMicrotask(() => self.send({ type: 'hook.done', ms: 0 })),
  },
});

/** 8 flat states, one event each way: created → … → stopped, as a plugin's boot and shutdown. */
const minimal = setup({ types: { events: {} as { type: 'next' } } }).createMachine({
  initial: 's0',
  states: Object.fromEntries(
    Array.from({ length: 8 }, (_, i) => [`s${i}`, i < 7 ? { on: { next: `s${i + 1}` } } : {}]),
  ),
});

/** Resolves once every actor is in state `value` (`running` whatever its health substate). */
function allReach(actors: AnyActorRef[], value: string): Promise<void> {
  let left = actors.length;
  return new Promise((resolve) => {
    for (const actor of actors) {
      const subscription = actor.subscribe((snapshot: { value: unknown }) => {
        if (lifecyclePath(snapshot.value) !== value) return;
        subscription.unsubscribe();
        if (--left === 0) resolve();
      });
    }
  });
}

/**
 * A full collection before a timed run (when node runs with --expose-gc): each contender starts
 * on a clean heap instead of paying to collect the previous one's garbage.
 */
export function quiesce(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Boot and shutdown of n lifecycle actors, driven directly (ms). */
export async function lifecycleChartOnly(n: number): Promise<number> {
  quiesce();
  const started = performance.now();
  const actors: AnyActorRef[] = [];
  for (let i = 0; i < n; i++) {
    actors.push(createActor(lifecycle, { input: { name: `p${i}`, hookTimeoutMs: 5000, retry: DEFAULT_RETRY } }));
  }
  const phase = async (value: string, type?: 'plugin.init' | 'plugin.start' | 'plugin.stop') => {
    const reached = allReach(actors, value);
    for (const actor of actors) {
      if (type) actor.send({ type });
      else actor.start();
    }
    await reached;
  };
  await phase('created');
  await phase('initialized', 'plugin.init');
  await phase('running', 'plugin.start');
  await phase('stopped', 'plugin.stop');
  for (const actor of actors) actor.stop();
  return performance.now() - started;
}

/** n actors of the minimal chart, each taking its 7 steps one microtask apart (ms). */
export async function minimalChart(n: number): Promise<number> {
  quiesce();
  const started = performance.now();
  const actors = Array.from({ length: n }, () => createActor(minimal).start());
  for (let step = 0; step < 7; step++) {
    await Promise.resolve();
    for (const actor of actors) actor.send({ type: 'next' });
  }
  for (const actor of actors) actor.stop();
  return performance.now() - started;
}
