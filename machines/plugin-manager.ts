/**
 * The manager chart: one lifecycle actor per plugin, booted in dependency order, shut down in
 * exact reverse order, with the failure policy and runtime commands for single plugins.
 *
 * How children are held: each plugin actor is created with this actor as its `parent` (so it
 * shares the actor system, its errors and snapshots come back here as `xstate.error.actor.*`
 * and `xstate.snapshot.*` events, and inspectors show it as a child), but it is kept in the
 * registry rather than in `snapshot.children`: XState copies that map on every spawn and stop,
 * which makes N plugins cost O(N²). The registry stops every actor it no longer needs.
 *
 * The chart decides *when* (idle → booting → running → stopping → stopped, abort on failure);
 * the registry decides *which plugin moves next*; the lifecycle chart decides *how* a plugin moves.
 */
import { createActor, enqueueActions, setup } from 'xstate';
import type { ActorOptions, AnyActorRef, SnapshotFrom } from 'xstate';
import type { ErrorInfo } from './error-info.ts';
import { pluginLifecycle, stateToPath } from './plugin-lifecycle.ts';
import type { LifecycleInput, PluginLifecycleLogic } from './plugin-lifecycle.ts';
import { PluginRegistry } from './plugin-registry.ts';
import type { FailurePolicy, PluginEntry } from './plugin-registry.ts';

export interface ManagerInput {
  plugins: PluginEntry[];
  failurePolicy?: FailurePolicy;
}

export interface ManagerContext {
  registry: PluginRegistry<AnyActorRef>;
  failurePolicy: FailurePolicy;
}

type CommandName = 'stop' | 'start' | 'restart' | 'unload' | 'retry' | 'reset';

export type ManagerEvent =
  | { type: 'manager.start' }
  | { type: 'manager.stop' }
  | { type: `command.${CommandName}`; name: string; op: number }
  | { type: 'command.reload'; entry: PluginEntry; op: number }
  | { type: `xstate.snapshot.${string}`; snapshot: { value: unknown } }
  | { type: `xstate.done.actor.${string}` }
  | { type: `xstate.error.actor.${string}`; error: unknown };

/** Events the manager emits for its observers (`actor.on(type, handler)`). */
export type ManagerEmitted =
  | { type: 'plugin.changed'; name: string; state: string; previous: string }
  | { type: 'command.settled'; op: number }
  | { type: 'plugin.crashed'; name: string; error: ErrorInfo };

function suffix(type: string, prefix: string): string {
  return type.slice(prefix.length);
}

/** The lifecycle logic this manager spawns: the `plugin` actor slot, as provided. */
function lifecycleOf(self: AnyActorRef): PluginLifecycleLogic {
  const logic = (self as unknown as { logic: { implementations: { actors: Record<string, unknown> } } }).logic;
  return (logic.implementations.actors['plugin'] as PluginLifecycleLogic | undefined) ?? pluginLifecycle;
}

export const pluginManager = setup({
  types: {
    context: {} as ManagerContext,
    input: {} as ManagerInput,
    events: {} as ManagerEvent,
    emitted: {} as ManagerEmitted,
  },
  actors: {
    plugin: pluginLifecycle,
  },
  guards: {
    settled: ({ context }) => context.registry.unsettled === 0,
    aborted: ({ context }) => context.registry.abortCause !== null,
  },
  actions: {
    /** Turns what the registry decided into XState actions: sends, spawns, stops and emitted events. */
    applyEffects: enqueueActions(({ context, enqueue, self }) => {
    for (const effect of context.registry.drain()) {
      switch (effect.kind) {
        case 'send':
          enqueue.sendTo(effect.ref, effect.event);
          break;
        case 'spawn': {
          // Created here, while actions are being resolved, and started when they execute:
          // XState's own spawn does the same (creating a machine actor inside an executing
          // custom action trips XState's "custom actions should not call assign()" check).
          // `syncSnapshot` (read by createActor, missing from its public options type) relays
          // each snapshot to the parent as `xstate.snapshot.<id>`, exactly as spawn does.
          const record = effect.record;
          const options = { parent: self, id: record.actorId, input: record.entry.input, syncSnapshot: true };
          const ref = createActor(lifecycleOf(self), options as ActorOptions<PluginLifecycleLogic> & { input: LifecycleInput });
          context.registry.attach(record, ref);
          enqueue(() => ref.start());
          break;
        }
        case 'release':
          enqueue.stopChild(effect.ref);
          break;
        case 'changed':
          enqueue.emit({ type: 'plugin.changed', name: effect.name, state: effect.state, previous: effect.previous });
          break;
        case 'settled':
          enqueue.emit({ type: 'command.settled', op: effect.op });
          break;
      }
    }
  }),
    spawnPlugins: ({ context }) => context.registry.spawnAll(),
    wantAllRunning: ({ context }) => context.registry.wantAll('running'),
    wantAllStopped: ({ context }) => context.registry.wantAll('stopped'),
    recordSnapshot: ({ context, event }) => {
      if (!('snapshot' in event)) return;
      context.registry.report(suffix(event.type, 'xstate.snapshot.'), stateToPath(event.snapshot.value));
    },
    recordDone: ({ context, event }) => {
      const actorId = suffix(event.type, 'xstate.done.actor.');
      const ref = context.registry.byActor(actorId)?.ref;
      if (ref) context.registry.report(actorId, stateToPath((ref.getSnapshot() as { value: unknown }).value));
    },
    recordCrash: ({ context, event }) => {
      const actorId = suffix(event.type, 'xstate.error.actor.');
      context.registry.crash(actorId, 'error' in event ? event.error : undefined);
    },
    runCommand: ({ context, event }) => {
      const registry = context.registry;
      switch (event.type) {
        case 'command.stop':
          return registry.stop(event.name, event.op);
        case 'command.start':
          return registry.start(event.name, event.op);
        case 'command.restart':
          return registry.restart(event.name, event.op);
        case 'command.unload':
          return registry.unload(event.name, event.op);
        case 'command.reload':
          return registry.reload(event.entry, event.op);
        case 'command.retry':
          return registry.forward(event.name, { type: 'plugin.retry' }, event.op);
        case 'command.reset':
          return registry.forward(event.name, { type: 'plugin.reset' }, event.op);
        default:
          return undefined;
      }
    },
    releaseAll: ({ context }) => context.registry.releaseAll(),
  },
}).createMachine({
  id: 'manager',
  context: ({ input }) => ({
    registry: new PluginRegistry<AnyActorRef>(input.plugins, input.failurePolicy ?? 'isolate'),
    failurePolicy: input.failurePolicy ?? 'isolate',
  }),
  initial: 'idle',
  on: {
    'xstate.snapshot.*': { actions: ['recordSnapshot', 'applyEffects'] },
    'xstate.done.actor.*': { actions: ['recordDone', 'applyEffects'] },
    'xstate.error.actor.*': { actions: ['recordCrash', 'applyEffects'] },
  },
  states: {
    idle: {
      description: 'Plugins are spawned and validate; nothing runs until manager.start.',
      entry: ['spawnPlugins', 'applyEffects'],
      on: {
        'manager.start': { target: 'booting' },
        'manager.stop': { target: 'stopping' },
      },
    },
    booting: {
      description: 'Every plugin is wanted running; each inits and starts once its dependencies run.',
      entry: ['wantAllRunning', 'applyEffects'],
      always: [
        { guard: 'aborted', target: 'stopping' },
        { guard: 'settled', target: 'running' },
      ],
      on: {
        'manager.stop': { target: 'stopping' },
      },
    },
    running: {
      description: 'Booted; single plugins can be stopped, started, restarted, reloaded, unloaded.',
      always: { guard: 'aborted', target: 'stopping' },
      on: {
        'manager.stop': { target: 'stopping' },
        'command.*': { actions: ['runCommand', 'applyEffects'] },
      },
    },
    stopping: {
      description: 'Every plugin is wanted stopped; each stops once all its dependents have.',
      entry: ['wantAllStopped', 'applyEffects'],
      always: { guard: 'settled', target: 'stopped' },
    },
    stopped: {
      description: 'Shut down; every plugin actor has been stopped.',
      type: 'final',
      entry: ['releaseAll', 'applyEffects'],
    },
  },
});

export type PluginManagerLogic = typeof pluginManager;
export type PluginManagerSnapshot = SnapshotFrom<typeof pluginManager>;
