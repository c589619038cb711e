/**
 * The manager chart: one lifecycle actor per plugin, booted in dependency order, shut down in
 * exact reverse order, with the failure policy and runtime commands for single plugins.
 *
 * How children are held: the manager creates, owns and stops one actor per plugin, but neither
 * in `snapshot.children` nor in its own actor system, because both cost O(N) per operation and so
 * O(N²) for N plugins: XState copies the children map on every spawn and stop, and every actor
 * stop in a system scans all timers scheduled in that system (each running hook has one). So
 * each plugin actor is a root of its own, kept in the registry; what XState would relay from a
 * child comes back here as `child.reports` events (snapshots, done, errors; batched per tick), and the
 * manager's inspection observer and clock are handed to every plugin actor.
 *
 * The chart decides *when* (idle → booting → running → stopping → stopped, abort on failure);
 * the registry decides *which plugin moves next*; the lifecycle chart decides *how* a plugin moves.
 */
import { createActor, enqueueActions, setup } from 'xstate';
import type { ActorOptions, AnyActorRef, InspectionEvent, Observer, SnapshotFrom } from 'xstate';
import type { ErrorInfo } from './error-info.ts';
import { pluginLifecycle, lifecyclePath } from './plugin-lifecycle.ts';
import type { LifecycleEvent, LifecycleInput, PluginLifecycleLogic } from './plugin-lifecycle.ts';
import { PluginRegistry } from './plugin-registry.ts';
import type { FailurePolicy, PluginEntry } from './plugin-registry.ts';

/** A timer source (XState's SimulatedClock fits). */
export type Clock = NonNullable<ActorOptions<PluginLifecycleLogic>['clock']>;

export type Inspector = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

export interface ManagerInput {
  plugins: PluginEntry[];
  failurePolicy?: FailurePolicy;
  /** Handed to every plugin actor (the manager's own comes through createActor's `inspect`). */
  inspect?: Inspector;
  /** Timer source of the plugin actors (tests pass a SimulatedClock). */
  clock?: Clock;
}

export interface ManagerContext {
  registry: PluginRegistry<AnyActorRef>;
  /** Reports not yet delivered: they travel to the manager in one `child.reports` per tick. */
  inbox: ChildReport[];
  inspect: Inspector | undefined;
  clock: Clock | undefined;
}

type CommandName = 'stop' | 'start' | 'restart' | 'unload' | 'retry' | 'reset';

export type ManagerEvent =
  | { type: 'manager.start' }
  | { type: 'manager.stop' }
  | { type: `command.${CommandName}`; name: string; op: number }
  /** `start: false`: install the new version without starting it (a stop came after the reload). */
  | { type: 'command.reload'; entry: PluginEntry; op: number; start?: boolean }
  | { type: 'child.reports'; reports: ChildReport[] };

/** What a plugin actor reports to the manager: what XState would relay from a child. */
export type ChildReport =
  /** `seq`: this snapshot's number among the actor's, to tell it from one made before a send. */
  | { kind: 'snapshot'; id: string; value: unknown; seq: number; from: ChildReporter }
  | { kind: 'done'; id: string }
  | { kind: 'error'; id: string; error: unknown };

/** Events the manager emits for its observers (`actor.on(type, handler)`). */
export type ManagerEmitted =
  | { type: 'plugin.changed'; name: string; state: string; previous: string }
  | { type: 'command.settled'; op: number }
  | { type: 'plugin.crashed'; name: string; error: ErrorInfo };

/** The lifecycle logic this manager spawns: the `plugin` actor slot, as provided. */
function lifecycleOf(self: AnyActorRef): PluginLifecycleLogic {
  const logic = (self as unknown as { logic: { implementations: { actors: Record<string, unknown> } } }).logic;
  return (logic.implementations.actors['plugin'] as PluginLifecycleLogic | undefined) ?? pluginLifecycle;
}

/**
 * Relays one plugin actor's snapshots, completion and error to the manager, batched: one
 * `child.reports` step per tick however many plugins moved (10,000 plugins moving through five
 * states would otherwise be 50,000 manager steps). A class rather than closures: one small object
 * per plugin, where an observer literal costs three closures and their bound copies (about
 * 1.7 KiB per plugin when the source runs through a loader that keeps function names).
 */
class ChildReporter {
  /** Snapshots relayed so far. */
  private made = 0;
  /** How many of them the last event the manager sent found already made. */
  private sentAfter = 0;

  constructor(
    private readonly context: ManagerContext,
    private readonly manager: AnyActorRef,
    private readonly ref: AnyActorRef,
  ) {}

  next(snapshot: { status: string; value: unknown }): void {
    if (snapshot.status === 'active') this.deliver({ kind: 'snapshot', id: this.ref.id, value: snapshot.value, seq: ++this.made, from: this });
  }

  /**
   * Sends an event to the actor. A snapshot it made before, still on its way to the manager (the
   * reports travel once per tick), is not the event's answer: see `answers`.
   */
  send(event: LifecycleEvent): void {
    this.sentAfter = this.made;
    this.ref.send(event);
  }

  /** Whether a snapshot was made after the last event sent (and so reflects it). */
  answers(seq: number): boolean {
    return seq > this.sentAfter;
  }

  error(error: unknown): void {
    this.deliver({ kind: 'error', id: this.ref.id, error });
  }

  complete(): void {
    if (this.ref.getSnapshot().status === 'done') this.deliver({ kind: 'done', id: this.ref.id });
  }

  private deliver(report: ChildReport): void {
    const { context, manager } = this;
    if (context.inbox.push(report) > 1) return;
    queueMicrotask(() => {
      const reports = context.inbox.splice(0);
      if (manager.getSnapshot().status === 'active') manager.send({ type: 'child.reports', reports });
    });
  }
}

/** Each plugin actor's reporter, through which the manager also sends to it. */
const reporters = new WeakMap<AnyActorRef, ChildReporter>();

/** The part of enqueueActions' `enqueue` that applyEffects uses. */
interface EffectSink {
  (action: () => void): void;
  emit(event: ManagerEmitted): void;
}

/**
 * Turns what the registry decided into XState actions, in order: sends, spawns, stops and
 * emitted events. Runs while actions resolve, so the effects join the same macrostep.
 */
function applyEffects(context: ManagerContext, enqueue: EffectSink, self: AnyActorRef): void {
  for (const effect of context.registry.drain()) {
    switch (effect.kind) {
      case 'send': {
        // A plain send, in order with the other effects. XState's sendTo would add its own
        // resolution and a deferred relay per event: about 15% of a 10,000-plugin boot.
        const { ref, event, cancel } = effect;
        const reporter = reporters.get(ref);
        enqueue(() => {
          // A cancel that comes too late: the start it meant is done, and the plugin runs.
          if (cancel && ref.getSnapshot().matches('running')) return;
          if (reporter) reporter.send(event);
          else ref.send(event);
        });
        break;
      }
      case 'spawn': {
        // Created here, while actions are being resolved, and started when they execute, as
        // XState's own spawn does (creating a machine actor inside an executing custom action
        // trips XState's "custom actions should not call assign()" check).
        const record = effect.record;
        const id = record.actorId;
        const options: ActorOptions<PluginLifecycleLogic> & { input: LifecycleInput } = { id, input: record.entry.input };
        if (context.inspect) options.inspect = context.inspect;
        if (context.clock) options.clock = context.clock;
        const ref = createActor(lifecycleOf(self), options);
        const reporter = new ChildReporter(context, self, ref);
        reporters.set(ref, reporter);
        ref.subscribe(reporter);
        context.registry.attach(record, ref);
        enqueue(() => ref.start());
        break;
      }
      case 'release': {
        const ref = effect.ref;
        enqueue(() => ref.stop());
        break;
      }
      case 'changed':
        enqueue.emit({ type: 'plugin.changed', name: effect.name, state: effect.state, previous: effect.previous });
        break;
      case 'settled':
        enqueue.emit({ type: 'command.settled', op: effect.op });
        break;
    }
  }
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
    // Each action changes the registry, then turns what it decided into XState actions (see
    // applyEffects): registry changes and their effects always travel together.
    spawnPlugins: enqueueActions(({ context, enqueue, self }) => {
      context.registry.spawnAll();
      applyEffects(context, enqueue as unknown as EffectSink, self);
    }),
    wantAllRunning: enqueueActions(({ context, enqueue, self }) => {
      context.registry.wantAll('running');
      applyEffects(context, enqueue as unknown as EffectSink, self);
    }),
    wantAllStopped: enqueueActions(({ context, enqueue, self }) => {
      context.registry.wantAll('stopped');
      applyEffects(context, enqueue as unknown as EffectSink, self);
    }),
    recordReports: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'child.reports') return;
      const registry = context.registry;
      for (const report of event.reports) {
        if (report.kind === 'snapshot') registry.report(report.id, lifecyclePath(report.value), report.from.answers(report.seq));
        else if (report.kind === 'error') registry.crash(report.id, report.error);
        else {
          const ref = registry.byActor(report.id)?.ref;
          if (ref) registry.report(report.id, lifecyclePath((ref.getSnapshot() as { value: unknown }).value));
        }
      }
      applyEffects(context, enqueue as unknown as EffectSink, self);
    }),
    runCommand: enqueueActions(({ context, event, enqueue, self }) => {
      const registry = context.registry;
      switch (event.type) {
        case 'command.stop':
          registry.stop(event.name, event.op);
          break;
        case 'command.start':
          registry.start(event.name, event.op);
          break;
        case 'command.restart':
          registry.restart(event.name, event.op);
          break;
        case 'command.unload':
          registry.unload(event.name, event.op);
          break;
        case 'command.reload':
          registry.reload(event.entry, event.op, event.start ?? true);
          break;
        case 'command.retry':
          registry.retry(event.name, event.op);
          break;
        case 'command.reset':
          registry.reset(event.name, event.op);
          break;
      }
      applyEffects(context, enqueue as unknown as EffectSink, self);
    }),
    releaseAll: enqueueActions(({ context, enqueue, self }) => {
      context.registry.releaseAll();
      applyEffects(context, enqueue as unknown as EffectSink, self);
    }),
  },
}).createMachine({
  id: 'manager',
  context: ({ input }) => ({
    registry: new PluginRegistry<AnyActorRef>(input.plugins, input.failurePolicy ?? 'isolate'),
    inspect: input.inspect,
    clock: input.clock,
    inbox: [],
  }),
  initial: 'idle',
  on: {
    'child.reports': { actions: 'recordReports' },
  },
  states: {
    idle: {
      description: 'Plugins are spawned and validate; nothing runs until manager.start.',
      entry: 'spawnPlugins',
      on: {
        'manager.start': { target: 'booting' },
        'manager.stop': { target: 'stopping' },
      },
    },
    booting: {
      description: 'Every plugin is wanted running; each inits and starts once its dependencies run.',
      entry: 'wantAllRunning',
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
        'command.*': { actions: 'runCommand' },
      },
    },
    stopping: {
      description: 'Every plugin is wanted stopped; each stops once all its dependents have.',
      entry: 'wantAllStopped',
      always: { guard: 'settled', target: 'stopped' },
    },
    stopped: {
      description: 'Shut down; every plugin actor has been stopped.',
      type: 'final',
      entry: 'releaseAll',
    },
  },
});

export type PluginManagerLogic = typeof pluginManager;
export type PluginManagerSnapshot = SnapshotFrom<typeof pluginManager>;
