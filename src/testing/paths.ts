/**
 * Lifecycle paths generated from the model with xstate/graph: the engine's model-based tests and
 * the plugin authors' kit walk the same ones.
 */
import { getAdjacencyMap, getShortestPaths, getSimplePaths } from 'xstate/graph';
import type { StatePath } from 'xstate/graph';
import { stateToPath } from '../../machines/plugin-lifecycle.ts';
import { MODEL_EVENTS, lifecycleModel } from './lifecycle-model.ts';
import type { ModelContext, ModelEvent } from './lifecycle-model.ts';

export type ModelSnapshot = ReturnType<typeof lifecycleModel.transition>;
export type ModelPath = StatePath<ModelSnapshot, ModelEvent>;
export type ModelEventType = ModelEvent['type'];

/** Which paths: one per transition of the model (`transitions`), or every simple path (`simple`). */
export type PathCover = 'transitions' | 'simple';

/** Serialises what matters of a model snapshot: its state and the context the chart depends on. */
export function serializeModel(snapshot: ModelSnapshot): string {
  const { attempts, hook, resumeTo, code } = snapshot.context as ModelContext;
  return JSON.stringify([stateToPath(snapshot.value), attempts, hook, resumeTo, code]);
}

function eventsOf(types: readonly ModelEventType[] | undefined): ModelEvent[] {
  return types === undefined ? [...MODEL_EVENTS] : MODEL_EVENTS.filter((event) => types.includes(event.type));
}

/** Every (state, event) edge of the model, each reached by the shortest path to its source. */
export function transitionPaths(types?: readonly ModelEventType[]): ModelPath[] {
  const traversal = { events: eventsOf(types), serializeState: serializeModel };
  const shortest = new Map(getShortestPaths(lifecycleModel, traversal).map((path) => [serializeModel(path.state), path]));
  const adjacency = getAdjacencyMap(lifecycleModel, traversal);
  const paths: ModelPath[] = [];
  for (const [key, { state, transitions }] of Object.entries(adjacency)) {
    const head = shortest.get(key);
    if (!head) continue;
    for (const { event, state: next } of Object.values(transitions) as Array<{ event: ModelEvent; state: ModelSnapshot }>) {
      if (!state.can(event)) continue; // the model ignores it: not a transition
      paths.push({ state: next, steps: [...head.steps, { event, state: next }], weight: head.weight + 1 });
    }
  }
  return paths;
}

/**
 * Simple paths over the state graph (context folded away: it would make the count explode),
 * without the one of no step to the initial state, which drives nothing.
 */
export function simplePaths(types?: readonly ModelEventType[]): ModelPath[] {
  return getSimplePaths(lifecycleModel, {
    events: eventsOf(types),
    serializeState: (snapshot) => stateToPath(snapshot.value),
  }).filter((path) => pathEvents(path).length > 0);
}

/** The model states reachable with these events. */
export function reachableStates(types?: readonly ModelEventType[]): Set<string> {
  const traversal = { events: eventsOf(types), serializeState: serializeModel };
  return new Set(getShortestPaths(lifecycleModel, traversal).map((path) => stateToPath(path.state.value)));
}

/** The events of a path, without xstate/graph's initial step. */
export function pathEvents(path: ModelPath): ModelEventType[] {
  return path.steps.map((step) => step.event.type).filter((type) => (type as string) !== 'xstate.init');
}
