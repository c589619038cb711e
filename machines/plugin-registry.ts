/**
 * The manager's bookkeeping: one record per plugin actor, the dependency edges, and what each
 * plugin is wanted to be doing. Pure data, no XState and no I/O; the manager chart calls it from
 * its actions and turns what it returns into `sendTo` / `stopChild` / `emit` actions.
 *
 * Why a mutable structure inside the chart's context: XState copies immutable structures on
 * every change, and with N plugins each reporting a few state changes that is O(N²). Every
 * report here is O(1) or O(degree of the plugin), using counters kept per record; a command walks
 * the plugins above or below the one it names once each.
 *
 * Reconciliation: each plugin has a `want` (running, stopped, gone). After any change, the
 * affected records are reconciled: the registry decides which lifecycle event, if any, moves the
 * plugin towards its want without breaking dependency order:
 * - a plugin inits/starts only when its required dependencies run (optional ones, when present,
 *   have settled);
 * - a plugin stops only when no dependent is active;
 * - a plugin whose required dependency is dead (invalid, failed, missing) is blocked with
 *   DEPENDENCY_FAILED / MISSING_DEPENDENCY, and restored when the dependency runs again.
 */
import { toErrorInfo } from './error-info.ts';
import type { ErrorInfo } from './error-info.ts';
import type { LifecycleEvent, LifecycleInput } from './plugin-lifecycle.ts';

export type Want = 'running' | 'stopped' | 'gone';
export type FailurePolicy = 'isolate' | 'abort';

/** What the manager needs to know of one plugin to spawn and order it. */
export interface PluginEntry {
  name: string;
  /** Required dependencies (names). */
  requires: string[];
  /** Optional dependencies that are registered. */
  optional: string[];
  input: LifecycleInput;
}

/** Anything that can receive lifecycle events (an XState actor ref). */
export interface PluginRef {
  readonly id: string;
  send(event: LifecycleEvent): void;
}

export interface PluginRecord<R extends PluginRef = PluginRef> {
  readonly name: string;
  entry: PluginEntry;
  ref: R | null;
  /** Actor id of the current generation (`db`, then `db@2` after a reload). */
  actorId: string;
  generation: number;
  /** Last reported state, as a dotted path. */
  state: string;
  want: Want;
  /** The plugin whose stop took this one down with it, so that its start brings it back. */
  heldBy: string | null;
  restartPending: boolean;
  /** retryPlugin was asked: send plugin.retry once the requirements run. */
  retryPending: boolean;
  replacement: PluginEntry | null;
  /**
   * The restart, reload or unload of this plugin in progress, until that command settles (its
   * dependents back too): the plugin takes no other command meanwhile, second half included.
   */
  transition: { op: number; kind: 'restart' | 'reload' | 'unload' } | null;
  /** A command was sent and its resulting snapshot has not arrived yet. */
  awaiting: boolean;
  /** That command is `plugin.stop`: though its state still reads running, it is on its way down. */
  stopSent: boolean;
  /** That command brings a failed plugin back (a retry, a reset, its dependencies restored). */
  reviveSent: boolean;
  dependents: Array<{ name: string; required: boolean }>;
  // Cached flags and the counters derived from them (see refresh()).
  running: boolean;
  dead: boolean;
  optionalOk: boolean;
  active: boolean;
  wanted: boolean;
  settled: boolean;
  requiredRunning: number;
  /** Required dependencies that are not wanted running (stopped by hand, being restarted …). */
  requiredHeld: number;
  requiredDead: number;
  optionalReady: number;
  activeDependents: number;
  ops: Set<number> | null;
  /** Set when the plugin's actor itself failed (an engine fault, not a hook failure). */
  crash: ErrorInfo | null;
}

/** Something for the chart to do, in order. */
export type Effect<R extends PluginRef = PluginRef> =
  /**
   * `cancel`: a plugin.stop meant to cancel an init or a start under way, decided on the state
   * last reported. Reports travel once per tick, so the actor may have entered `running` since:
   * the stop is then not sent (it would stop the plugin before its active dependents), and the
   * report of `running` brings a real one, in dependency order.
   */
  | { kind: 'send'; ref: R; event: LifecycleEvent; cancel?: true }
  | { kind: 'spawn'; record: PluginRecord<R> }
  | { kind: 'release'; ref: R }
  | { kind: 'changed'; name: string; state: string; previous: string }
  | { kind: 'settled'; op: number };

const QUIESCENT = new Set(['created', 'initialized', 'stopped']);
/** States in which a plugin uses its dependencies (waiting to start holds none yet). */
const ACTIVE = new Set([
  'initializing',
  'starting.hook',
  'running',
  'stopping',
  'failed.retrying',
]);
const DEAD = new Set(['invalid', 'failed.halted', 'failed.blocked', 'disposing', 'disposed', 'crashed', 'removed']);
/** The events that bring a failed plugin back towards running. */
const REVIVING_EVENTS: ReadonlySet<string> = new Set(['plugin.retry', 'plugin.reset', 'plugin.dependencies.restored']);
/** Final for the actor: nothing more can be sent to it. */
const GONE = new Set(['invalid', 'disposed', 'crashed']);


export class PluginRegistry<R extends PluginRef = PluginRef> {
  readonly records = new Map<string, PluginRecord<R>>();
  private readonly byActorId = new Map<string, PluginRecord<R>>();
  /** Records not at rest for their want; the manager is settled when this is 0. */
  unsettled = 0;
  /** Set under the `abort` policy when a plugin fails for good. */
  abortCause: { name: string; error: ErrorInfo | null } | null = null;
  private readonly effects: Effect<R>[] = [];
  /** Commands under way: their plugins, how many of them are not at rest, and (`forming`) whether the count is being made. */
  private readonly ops = new Map<number, { pending: number; members: PluginRecord<R>[]; forming: boolean }>();
  private readonly queue: PluginRecord<R>[] = [];
  private readonly queued = new Set<PluginRecord<R>>();

  constructor(
    entries: readonly PluginEntry[],
    readonly policy: FailurePolicy = 'isolate',
  ) {
    for (const entry of entries) this.add(entry);
    for (const record of this.records.values()) this.link(record);
    for (const record of this.records.values()) this.refresh(record);
  }

  // ── reading ────────────────────────────────────────────────────────────

  get(name: string): PluginRecord<R> | undefined {
    return this.records.get(name);
  }

  byActor(actorId: string): PluginRecord<R> | undefined {
    return this.byActorId.get(actorId);
  }

  /**
   * Whether a restart, reload or unload of this plugin is under way: until it ends, the plugin
   * takes no other command (a later one would undo it halfway).
   */
  inTransition(record: PluginRecord<R>): boolean {
    return record.want === 'gone' || record.restartPending || record.replacement !== null;
  }

  /**
   * Which restart, reload or unload of this plugin is under way, from the command until it
   * settled: until then the plugin takes no other command, the command's second half (the
   * plugin, and its dependents, coming back) included.
   */
  transitionOf(record: PluginRecord<R>): 'restart' | 'reload' | 'unload' | null {
    if (record.want === 'gone') return 'unload';
    if (record.replacement !== null) return 'reload';
    if (record.restartPending) return 'restart';
    return record.transition?.kind ?? null;
  }

  /** Takes the effects accumulated since the last call. */
  drain(): Effect<R>[] {
    this.flushQueue();
    return this.effects.splice(0, this.effects.length);
  }

  /** Names of a plugin's transitive dependents (not including itself), dependents-first order not implied. */
  dependentsOf(name: string): string[] {
    return this.below([name]);
  }

  /** The transitive dependents of several plugins in one walk (the plugins themselves left out). */
  private below(names: readonly string[]): string[] {
    const seen = new Set<string>(names);
    const out: string[] = [];
    const stack = [...names];
    while (stack.length > 0) {
      const record = this.records.get(stack.pop()!);
      for (const edge of record?.dependents ?? []) {
        if (seen.has(edge.name)) continue;
        seen.add(edge.name);
        out.push(edge.name);
        stack.push(edge.name);
      }
    }
    return out;
  }

  // ── events from the chart ──────────────────────────────────────────────

  /** Spawn effects for every record (the chart creates the actors). */
  spawnAll(): void {
    for (const record of this.records.values()) this.effects.push({ kind: 'spawn', record });
  }

  attach(record: PluginRecord<R>, ref: R): void {
    record.ref = ref;
  }

  /** The whole host is wanted running (boot) or stopped (shutdown). */
  wantAll(want: 'running' | 'stopped'): void {
    for (const record of this.records.values()) {
      if (record.want === 'gone') continue;
      record.want = want;
      record.heldBy = null;
      record.restartPending = false;
      this.refresh(record);
      this.enqueue(record);
      // At boot, a plugin already out of service (invalid) counts as failing under `abort`.
      if (want === 'running' && record.dead && record.state !== 'failed.blocked') this.failedWanted(record);
    }
  }

  /**
   * A plugin actor reported a new snapshot. `answers`: it was made after the last event sent to
   * the actor. One made before (the reports of a tick arrive together, after the commands of that
   * tick) changes the state, but the event is still awaited: a command must not settle on the
   * state its plugin was leaving (a failed stop, then a reset sent before that report arrived).
   */
  report(actorId: string, state: string, answers = true): void {
    const record = this.byActorId.get(actorId);
    if (!record) return;
    const stopSent = answers && record.stopSent;
    if (answers) {
      record.awaiting = false;
      record.stopSent = false;
      record.reviveSent = false;
    }
    const previous = record.state;
    if (previous !== state) {
      record.state = state;
      this.effects.push({ kind: 'changed', name: record.name, state, previous });
    }
    // A pending retry is over once the plugin runs (started by another way, or reset).
    if (state === 'running') record.retryPending = false;
    // Halted by a stop while it waited to retry: no new failure. Wanted up again meanwhile (a
    // dependent started in the same tick), it tries again, once its requirements run.
    const retryStopped = stopSent && previous === 'failed.retrying';
    if (retryStopped && record.want === 'running') record.retryPending = true;
    // A plugin whose stop failed is out of service because of that stop, never "failed while
    // wanted running", even if a command wants it up again meanwhile (a restart's second half,
    // a dependent started): the host goes on from a failed stop under `abort` too.
    const fromStop = previous === 'stopping' || retryStopped;
    this.advanceIntent(record);
    this.refresh(record, fromStop);
    this.enqueue(record);
  }

  /** A plugin actor failed outside its hooks (an engine fault): it is out of service for good. */
  crash(actorId: string, error: unknown): void {
    const record = this.byActorId.get(actorId);
    if (!record) return;
    record.crash = toErrorInfo(error, 'INTERNAL_ERROR');
    this.report(actorId, 'crashed');
  }

  /** Stops every plugin actor (the host is shutting down for good). */
  releaseAll(): void {
    for (const record of this.records.values()) {
      if (record.ref) this.effects.push({ kind: 'release', ref: record.ref });
    }
  }

  // ── runtime commands ───────────────────────────────────────────────────

  stop(name: string, op: number): void {
    const record = this.records.get(name);
    if (!record) return this.settleNow(op);
    const touched = [record, ...this.holdDependents(name)];
    record.want = record.want === 'gone' ? 'gone' : 'stopped';
    record.heldBy = null;
    // A stop wins over a restart or reload in flight: the plugin stays down (a reload installs
    // its new version without starting it).
    record.restartPending = false;
    this.track(op, touched);
  }

  start(name: string, op: number): void {
    const record = this.records.get(name);
    if (!record || record.want === 'gone') return this.settleNow(op);
    record.want = 'running';
    record.heldBy = null;
    const touched = [record, ...this.wantUpWithRequirements(name)];
    this.track(op, touched);
  }

  restart(name: string, op: number): void {
    const record = this.records.get(name);
    if (!record || record.want === 'gone') return this.settleNow(op);
    const touched = [record, ...this.holdDependents(name)];
    record.want = 'stopped';
    record.heldBy = null; // its own restart brings it back, not the plugin that held it
    record.restartPending = true;
    record.transition = { op, kind: 'restart' };
    this.track(op, touched);
  }

  /** Swaps in `entry` once the plugin is down; `start`: the new version boots (else it rests). */
  reload(entry: PluginEntry, op: number, start = true): void {
    const record = this.records.get(entry.name);
    if (!record || record.want === 'gone') return this.settleNow(op);
    const touched = [record, ...this.holdDependents(entry.name)];
    record.want = 'stopped';
    record.heldBy = null;
    record.replacement = entry;
    record.restartPending = start;
    record.transition = { op, kind: 'reload' };
    this.track(op, touched);
  }

  unload(name: string, op: number): void {
    const record = this.records.get(name);
    if (!record || record.want === 'gone') return this.settleNow(op);
    const touched = [record, ...this.holdDependents(name)];
    record.want = 'gone';
    record.transition = { op, kind: 'unload' };
    this.track(op, touched);
  }

  /**
   * Runs a failed plugin's failed hook again. Its requirements are wanted running first (as for
   * start), and plugin.retry is sent only once they run, so the hook never runs without them.
   */
  retry(name: string, op: number): void {
    const record = this.records.get(name);
    if (!record?.ref || record.want === 'gone') return this.settleNow(op);
    record.want = 'running';
    record.retryPending = true;
    this.track(op, [record, ...this.wantUpWithRequirements(name), ...this.blockedOn(name)]);
  }

  /** Clears a failed plugin back to `created`; it then boots like any wanted plugin. */
  reset(name: string, op: number): void {
    const record = this.records.get(name);
    if (!record?.ref || record.want === 'gone') return this.settleNow(op);
    record.want = 'running';
    record.retryPending = false; // a reset boots it afresh
    this.send(record, { type: 'plugin.reset' });
    this.track(op, [record, ...this.wantUpWithRequirements(name), ...this.blockedOn(name)]);
  }

  /** A command with nothing to wait for (its plugin is gone) settles at once. */
  private settleNow(op: number): void {
    this.effects.push({ kind: 'settled', op });
  }

  /** Dependents blocked on this plugin: they come back with it, and a command waits for them. */
  private blockedOn(name: string): PluginRecord<R>[] {
    return this.dependentsOf(name)
      .map((dependent) => this.records.get(dependent)!)
      .filter((dependent) => dependent.want === 'running' && dependent.state === 'failed.blocked');
  }

  // ── internals ──────────────────────────────────────────────────────────

  private add(entry: PluginEntry): PluginRecord<R> {
    const record: PluginRecord<R> = {
      name: entry.name,
      entry,
      ref: null,
      actorId: entry.name,
      generation: 1,
      state: 'validating',
      want: 'stopped',
      heldBy: null,
      restartPending: false,
      retryPending: false,
      replacement: null,
      transition: null,
      awaiting: false,
      stopSent: false,
      reviveSent: false,
      dependents: [],
      running: false,
      dead: false,
      optionalOk: false,
      active: false,
      wanted: false,
      settled: false,
      requiredRunning: 0,
      requiredHeld: 0,
      requiredDead: 0,
      optionalReady: 0,
      activeDependents: 0,
      ops: null,
      crash: null,
    };
    this.records.set(entry.name, record);
    this.byActorId.set(record.actorId, record);
    this.unsettled++; // a record starts unsettled; refresh() counts it down once it rests
    return record;
  }

  /** Adds this record's edges and folds its dependencies' current flags into its counters. */
  private link(record: PluginRecord<R>): void {
    record.requiredRunning = 0;
    record.requiredDead = 0;
    record.requiredHeld = 0;
    record.optionalReady = 0;
    for (const dep of record.entry.requires) {
      const target = this.records.get(dep);
      if (!target) {
        record.requiredDead++;
        continue;
      }
      target.dependents.push({ name: record.name, required: true });
      if (target.running) record.requiredRunning++;
      if (target.dead) record.requiredDead++;
      if (!target.wanted) record.requiredHeld++;
      if (record.active) target.activeDependents++;
    }
    for (const dep of record.entry.optional) {
      const target = this.records.get(dep);
      if (!target) {
        record.optionalReady++;
        continue;
      }
      target.dependents.push({ name: record.name, required: false });
      if (target.optionalOk) record.optionalReady++;
      if (record.active) target.activeDependents++;
    }
  }

  private unlink(record: PluginRecord<R>): void {
    for (const dep of [...record.entry.requires, ...record.entry.optional]) {
      const target = this.records.get(dep);
      if (!target) continue;
      target.dependents = target.dependents.filter((edge) => edge.name !== record.name);
      if (record.active) target.activeDependents--;
    }
  }

  private settledFor(record: PluginRecord<R>): boolean {
    if (record.awaiting) return false;
    const state = record.state;
    if (record.want === 'gone') return state === 'removed';
    if (record.replacement || record.restartPending || (record.retryPending && record.want === 'running')) return false;
    if (GONE.has(state) || state === 'removed') return true;
    if (state === 'failed.halted' || state === 'failed.blocked') return true;
    if (record.want === 'running') return state === 'running';
    return QUIESCENT.has(state);
  }

  /**
   * Recomputes a record's flags; where one changed, updates its neighbours' counters and queues
   * them for reconciliation. Also keeps the settled count and the pending commands.
   */
  private refresh(record: PluginRecord<R>, fromStop = false): void {
    const state = record.state;
    // A stop sent this step is as good as begun: a dependent started now waits for it to come
    // back, rather than run its start while this one's stop hook runs.
    const running = state === 'running' && !record.stopSent;
    // One sent a retry or a reset that wants it running, or whose retry waits for a requirement to
    // come back, is on its way back, whatever its last report said: its dependents neither block
    // on it nor count it as settled meanwhile.
    // (A plugin.dependency.failed sent to update why it is blocked brings nothing back.)
    const reviving = (record.reviveSent || record.retryPending) && record.want === 'running' && (state === 'failed.halted' || state === 'failed.blocked');
    // One being reloaded passes through disposing (its old version) on its way to the new one:
    // its dependents wait for that version rather than block on the old one.
    const dead = DEAD.has(state) && !reviving && record.replacement === null;
    const enteredDead = dead && !record.dead;
    // For an optional dependent a dependency is fine once it is settled one way or the other:
    // running and wanted so, dead, or down and wanted down (not while on its way down). One being
    // reloaded is wanted back up however it rests meanwhile (stopped, then disposed).
    const optionalOk =
      !record.restartPending &&
      ((running && record.want === 'running') || dead || (record.want !== 'running' && !record.awaiting && QUIESCENT.has(state)));
    // One with an event in flight counts whatever it is wanted to do: a start sent this step
    // runs its hook before its report says so, so its dependencies must not stop under it.
    const active = ACTIVE.has(state) || record.awaiting;
    const wanted = record.want === 'running';
    if (
      running !== record.running ||
      dead !== record.dead ||
      optionalOk !== record.optionalOk ||
      wanted !== record.wanted
    ) {
      for (const edge of record.dependents) {
        const dependent = this.records.get(edge.name);
        if (!dependent) continue;
        if (edge.required) {
          dependent.requiredRunning += Number(running) - Number(record.running);
          dependent.requiredDead += Number(dead) - Number(record.dead);
          dependent.requiredHeld += Number(record.wanted) - Number(wanted);
        } else {
          dependent.optionalReady += Number(optionalOk) - Number(record.optionalOk);
        }
        this.enqueue(dependent);
      }
      record.running = running;
      record.dead = dead;
      record.optionalOk = optionalOk;
      if (wanted && !record.wanted) {
        // Wanted up again: so are the dependents that went down with it, and the commands it is
        // part of wait for them.
        let back: PluginRecord<R>[] | null = null; // made only when needed: every plugin passes here at boot
        for (const edge of record.dependents) {
          const dependent = this.records.get(edge.name);
          if (dependent?.heldBy !== record.name || dependent.want !== 'stopped' || this.inTransition(dependent)) continue;
          dependent.want = 'running';
          dependent.heldBy = null;
          this.enqueue(dependent);
          (back ??= []).push(dependent);
        }
        if (back) this.joinOps(record, back);
      }
      record.wanted = wanted;
    }
    if (active !== record.active) {
      const delta = active ? 1 : -1;
      for (const dep of [...record.entry.requires, ...record.entry.optional]) {
        const target = this.records.get(dep);
        if (!target) continue;
        target.activeDependents += delta;
        if (target.activeDependents === 0) this.enqueue(target);
      }
      record.active = active;
    }
    const settled = this.settledFor(record);
    if (settled !== record.settled) {
      this.unsettled += settled ? -1 : 1;
      record.settled = settled;
      // A member of a command that settles counts down; one that moves again (the second half
      // of a restart) counts back up, so a command ends only when all its plugins rest at once.
      if (record.ops) for (const op of [...record.ops]) this.countOp(op, settled ? -1 : 1);
    }
    // Only a failure as it happens counts, never an old one seen again (a dependent started later).
    if (enteredDead && !fromStop && record.want === 'running' && !record.replacement && state !== 'failed.blocked') {
      this.failedWanted(record);
    }
  }

  /** A plugin wanted running is out of service for good: under `abort`, the host goes down. */
  private failedWanted(record: PluginRecord<R>): void {
    if (this.policy === 'abort') this.abortWith(record.name);
  }

  private abortWith(name: string): void {
    if (this.abortCause) return;
    const record = this.records.get(name);
    // A crashed actor's error is the engine's record of it: the actor holds none.
    const error = record?.crash ?? (record?.ref ? readError(record.ref) : null);
    this.abortCause = { name, error };
  }

  /** Moves restart / reload / unload forward once the plugin is at rest. */
  private advanceIntent(record: PluginRecord<R>): void {
    const state = record.state;
    const atRest = QUIESCENT.has(state) || DEAD.has(state);
    if (!atRest || record.awaiting) return;
    if (record.want === 'gone') {
      if (GONE.has(state)) this.remove(record);
      return;
    }
    if (record.replacement) {
      if (GONE.has(state)) this.replace(record);
      return;
    }
    if (record.restartPending) {
      // Down: the restart's second half. (Wanted up again meanwhile, it is down all the same.)
      record.restartPending = false;
      record.want = 'running';
      this.joinOps(record, this.releaseHeld([record.name]));
    }
  }

  /** Swaps in a new generation of the plugin from its replacement entry. */
  private replace(record: PluginRecord<R>): void {
    const entry = record.replacement!;
    // Wanted back up unless the host began shutting down meanwhile (wantAll cleared the restart).
    const backUp = record.restartPending;
    if (record.ref) this.effects.push({ kind: 'release', ref: record.ref });
    this.unlink(record);
    this.byActorId.delete(record.actorId);
    record.replacement = null;
    record.restartPending = false;
    record.entry = entry;
    record.generation++;
    record.actorId = `${record.name}@${record.generation}`;
    record.ref = null;
    record.want = backUp ? 'running' : 'stopped';
    record.awaiting = false;
    record.stopSent = false;
    record.reviveSent = false;
    const previous = record.state;
    record.state = 'validating';
    this.effects.push({ kind: 'changed', name: record.name, state: 'validating', previous });
    this.byActorId.set(record.actorId, record);
    // The old actor was at rest, so it held no dependency: counters restart from its new edges.
    record.active = false;
    this.link(record);
    this.refresh(record);
    this.effects.push({ kind: 'spawn', record });
    if (backUp) this.joinOps(record, this.releaseHeld([record.name]));
  }

  private remove(record: PluginRecord<R>): void {
    // The commands it is part of (its unload) wait for what its removal brings back: they stay
    // open until the whole removal is done, the plugins cut off below included.
    this.holdingOps(record, () => this.removeNow(record));
  }

  private removeNow(record: PluginRecord<R>): void {
    if (record.ref) this.effects.push({ kind: 'release', ref: record.ref });
    const previous = record.state;
    record.state = 'removed';
    // Dependents taken down with it come back as far as they can (blocked on a missing required
    // dependency, or running without an optional one). Released before this record settles, so a
    // command waiting for both does not end in between.
    this.releaseHeld([record.name], record.name);
    this.refresh(record); // dependents now see a dead (missing) requirement
    this.effects.push({ kind: 'changed', name: record.name, state: 'removed', previous });
    // A missing requirement counts as dead, never as held (as link() counts it).
    for (const edge of record.dependents) {
      const dependent = this.records.get(edge.name);
      if (dependent && edge.required && !record.wanted) dependent.requiredHeld--;
    }
    // Every dependent is reconciled again, held down or not: a requirement is now missing.
    for (const edge of record.dependents) {
      const dependent = this.records.get(edge.name);
      if (dependent) this.enqueue(dependent);
    }
    const downstream = this.dependentsOf(record.name);
    this.unlink(record);
    this.records.delete(record.name);
    this.byActorId.delete(record.actorId);
    if (!record.settled) this.unsettled--;
    this.releaseCutOff(downstream);
  }

  /**
   * Plugins held down by a stop further up whose only path to that plugin went through a plugin
   * just removed: nothing would ever bring them back, and nothing holds them any more.
   */
  private releaseCutOff(names: readonly string[]): void {
    const reachable = new Map<string, Set<string>>();
    for (const name of names) {
      const record = this.records.get(name);
      const holder = record?.heldBy;
      if (!record || holder == null || record.want !== 'stopped' || this.inTransition(record)) continue;
      let below = reachable.get(holder);
      if (!below) reachable.set(holder, (below = new Set(this.dependentsOf(holder))));
      if (!below.has(name)) this.wantBackUp(record);
    }
  }

  /**
   * Marks every running-wanted transitive dependent as held down by `name`. All of them are the
   * command's: one already going down for another command (its own restart) is back, or at rest,
   * before this one ends.
   */
  private holdDependents(name: string): PluginRecord<R>[] {
    const touched: PluginRecord<R>[] = [];
    const holder = this.records.get(name);
    for (const dependentName of this.dependentsOf(name)) {
      const dependent = this.records.get(dependentName)!;
      touched.push(dependent);
      if (dependent.want !== 'running') continue;
      dependent.want = 'stopped';
      dependent.heldBy = name;
      // A command still under way on it (its start) now ends only once the holder settled too,
      // as when reconciliation holds it: a restart or reload brings it back within that command,
      // rather than the command ending while it rests down for a moment.
      if (holder && dependent.ops) this.joinOps(dependent, this.holdersFrom(holder));
    }
    return touched;
  }

  /** `record`, the plugin holding it down, the one holding that one, and so on up. */
  private holdersFrom(record: PluginRecord<R>): PluginRecord<R>[] {
    const chain = [record];
    for (let next = record.heldBy; next !== null; ) {
      const holder = this.records.get(next);
      if (!holder || chain.includes(holder)) break;
      chain.push(holder);
      next = holder.heldBy;
    }
    return chain;
  }

  /**
   * Wants running again the transitive dependents of `names` that a stop took down (those held by
   * `heldBy` only, when given). Whoever held it, one held through an optional edge comes back with
   * them, and one with another requirement still down goes back to resting with that one when it
   * is reconciled. One being restarted or reloaded itself comes back when that ends.
   */
  private releaseHeld(names: readonly string[], heldBy?: string): PluginRecord<R>[] {
    // Every plugin held down below, as found before any comes back: one wanted up again makes
    // the ones it held wanted up too (see refresh), and those come back within the command too.
    const held: PluginRecord<R>[] = [];
    for (const dependentName of this.below(names)) {
      const dependent = this.records.get(dependentName)!;
      if (dependent.heldBy === null || dependent.want !== 'stopped' || this.inTransition(dependent)) continue;
      held.push(dependent);
    }
    for (const dependent of held) {
      if (dependent.want !== 'stopped' || (heldBy !== undefined && dependent.heldBy !== heldBy)) continue;
      this.wantBackUp(dependent);
    }
    return held.filter((dependent) => dependent.want === 'running');
  }

  /** A plugin held down is no longer held: wanted running, and reconciled. */
  private wantBackUp(record: PluginRecord<R>): void {
    record.want = 'running';
    record.heldBy = null;
    this.refresh(record);
    this.enqueue(record);
  }

  /**
   * A plugin wanted up by a command needs its required dependencies: want them running too, and
   * bring back what stops took down below it and below each of them.
   */
  private wantUpWithRequirements(name: string): PluginRecord<R>[] {
    const touched: PluginRecord<R>[] = [];
    /** The plugin and the requirements wanted up again here (they were stopped). */
    const up: string[] = [name];
    const stack = [name];
    const seen = new Set(stack);
    while (stack.length > 0) {
      const record = this.records.get(stack.pop()!);
      for (const dep of record?.entry.requires ?? []) {
        if (seen.has(dep)) continue;
        seen.add(dep);
        const target = this.records.get(dep);
        if (!target) continue;
        const holder = target.heldBy === null ? undefined : this.records.get(target.heldBy);
        const comesBack = this.inTransition(target) || (holder !== undefined && this.inTransition(holder));
        // A dead requirement stays as it is: the plugin blocks on it (DEPENDENCY_FAILED), as it
        // would at boot, and the failure policy is not triggered again by an old failure. Unless
        // it is on its way somewhere (reloaded, unloaded, or held by a plugin being restarted or
        // reloaded): then the command waits for that, as below.
        if (target.dead && !comesBack) continue;
        if (comesBack) {
          // It comes back by itself when the restart or reload ends (or blocks when its
          // requirement is unloaded); wanting it up now would keep that restart from ever ending.
          // The command waits for that: the holder is its member too (it may hold this one
          // through an optional edge, which the walk over requirements does not reach).
          touched.push(target);
          if (holder !== undefined) touched.push(...this.holdersFrom(holder));
        } else if (target.want === 'stopped') {
          target.want = 'running';
          target.heldBy = null;
          touched.push(target);
          up.push(dep);
        }
        // The requirements of one being unloaded are nobody's concern here: the plugin ends
        // blocked on it (MISSING_DEPENDENCY), and starting them would be for nothing.
        if (target.want !== 'gone') stack.push(dep);
      }
    }
    // Every dependent their stops took down comes back with them, within this command (one walk
    // for all of them).
    touched.push(...this.releaseHeld(up));
    return touched;
  }

  private track(op: number, touched: Array<PluginRecord<R> | undefined>): void {
    const members = [...new Set(touched.filter((r): r is PluginRecord<R> => r !== undefined))];
    // The command exists before its plugins are reconciled, so that one reconciliation holds
    // down now brings the plugins holding it into the command (joinOps), as it does later on.
    const entry = { pending: 0, members, forming: true };
    this.ops.set(op, entry);
    for (const record of members) (record.ops ??= new Set()).add(op);
    for (const record of members) {
      this.refresh(record);
      this.enqueue(record);
    }
    this.flushQueue();
    this.formed(op);
  }

  /** Runs `change` with every command of `record` kept from ending until it is done. */
  private holdingOps(record: PluginRecord<R>, change: () => void): void {
    const ops = [...(record.ops ?? [])].filter((op) => this.ops.get(op)?.forming === false);
    for (const op of ops) this.ops.get(op)!.forming = true;
    change();
    for (const op of ops) this.formed(op);
  }

  /** A command done forming counts what it waits for afresh, and ends if that is nothing. */
  private formed(op: number): void {
    const entry = this.ops.get(op);
    if (!entry) return;
    entry.forming = false;
    entry.pending = entry.members.filter((member) => !member.settled).length;
    if (entry.pending === 0) this.countOp(op, 0);
  }

  /** `records` join every command `record` is part of: it ends only once they rest too. */
  private joinOps(record: PluginRecord<R>, records: readonly PluginRecord<R>[]): void {
    for (const op of record.ops ?? []) {
      const entry = this.ops.get(op);
      if (!entry) continue;
      for (const member of records) {
        if (member.ops?.has(op)) continue;
        (member.ops ??= new Set()).add(op);
        entry.members.push(member);
        if (!member.settled) entry.pending++;
      }
    }
  }

  private countOp(op: number, delta: number): void {
    const entry = this.ops.get(op);
    if (!entry || entry.forming) return;
    entry.pending += delta;
    if (entry.pending > 0) return;
    this.ops.delete(op);
    for (const member of entry.members) {
      member.ops?.delete(op);
      if (member.ops?.size === 0) member.ops = null;
      if (member.transition?.op === op) member.transition = null;
    }
    this.effects.push({ kind: 'settled', op });
  }

  private enqueue(record: PluginRecord<R>): void {
    if (this.queued.has(record)) return;
    this.queued.add(record);
    this.queue.push(record);
  }

  private flushQueue(): void {
    for (let i = 0; i < this.queue.length; i++) {
      const record = this.queue[i]!;
      this.queued.delete(record);
      if (this.records.get(record.name) !== record) continue;
      this.refresh(record);
      this.reconcile(record);
    }
    this.queue.length = 0;
  }

  private send(record: PluginRecord<R>, event: LifecycleEvent, cancel = false): void {
    if (!record.ref) return;
    record.awaiting = true;
    record.stopSent = event.type === 'plugin.stop';
    record.reviveSent = REVIVING_EVENTS.has(event.type);
    this.effects.push(cancel ? { kind: 'send', ref: record.ref, event, cancel } : { kind: 'send', ref: record.ref, event });
    this.refresh(record);
  }

  /** Decides the next lifecycle event for one plugin, if any. */
  private reconcile(record: PluginRecord<R>): void {
    if (record.awaiting || !record.ref) return;
    // A retry ends when its plugin is wanted down, unless it is only held down by a requirement:
    // then it tries again once it comes back.
    if (record.want !== 'running' && record.heldBy === null) record.retryPending = false;
    this.advanceIntent(record);
    if (this.records.get(record.name) !== record || !record.ref) return;
    const state = record.state;
    // Under the abort policy a failure means the whole host goes down: nothing new starts or
    // gets blocked; the chart is about to want everything stopped.
    if (record.want === 'running' && this.abortCause) return;
    if (record.want === 'running') {
      if (record.requiredDead > 0) {
        this.blockOnDeadDependency(record);
        return;
      }
      if (record.requiredHeld > 0) {
        // A required dependency is wanted down: go down with it and come back when it starts.
        // (Staying up would keep it from ever stopping: it waits for its active dependents.)
        record.want = 'stopped';
        record.heldBy = record.entry.requires.find((dep) => this.records.get(dep)?.wanted === false) ?? null;
        // A command of this plugin (its restart, a start) now ends only once that requirement
        // settled too: when it comes back, so does this plugin, within the command.
        // Up the chain: that requirement may itself rest held by a plugin being restarted.
        const holder = record.heldBy === null ? undefined : this.records.get(record.heldBy);
        if (holder) this.joinOps(record, this.holdersFrom(holder));
        this.refresh(record);
        this.enqueue(record);
        return;
      }
      const ready =
        record.requiredRunning === record.entry.requires.length &&
        record.optionalReady === record.entry.optional.length;
      switch (state) {
        case 'created':
          if (ready) this.send(record, { type: 'plugin.init' });
          return;
        case 'initialized':
        case 'stopped':
          this.send(record, { type: 'plugin.start', waitingFor: this.notReady(record) });
          return;
        case 'starting.waitingForDependencies': {
          const notReady = this.notReady(record);
          const waiting = this.waitingFor(record);
          const dependency = waiting.find((name) => !notReady.includes(name));
          if (dependency === undefined) return;
          // The plugin's list was made when its start was sent. An optional dependency wanted up
          // since (being started or reloaded) is not on it: the last word waits for that one too,
          // or the start hook would run before it settled.
          if (waiting.length === 1 && notReady.length > 0) return;
          this.send(record, { type: 'plugin.dependency.ready', dependency });
          return;
        }
        case 'failed.blocked':
          this.send(record, { type: 'plugin.dependencies.restored' });
          return;
        case 'running':
          // An optional dependency on its way down waits for its active dependents (this plugin
          // was wanted up again while it went down): restart without it.
          if (this.optionalLeaving(record)) this.restartWithoutOptional(record);
          return;
        case 'failed.halted':
          if (record.retryPending && ready) {
            record.retryPending = false;
            this.send(record, { type: 'plugin.retry' });
          }
          return;
        default:
          return;
      }
    }
    switch (state) {
      case 'running':
        if (record.activeDependents === 0) this.send(record, { type: 'plugin.stop' });
        return;
      case 'failed.retrying':
        // Held down between two tries (it rests in failed.halted): it tries again, with a fresh
        // budget, when its requirement comes back.
        if (record.heldBy !== null) record.retryPending = true;
        this.send(record, { type: 'plugin.stop' });
        return;
      case 'initializing':
      case 'starting.waitingForDependencies':
      case 'starting.hook':
        this.send(record, { type: 'plugin.stop' }, true);
        return;
      default: {
        const disposable = QUIESCENT.has(state) || state === 'failed.halted' || state === 'failed.blocked';
        if (disposable && (record.want === 'gone' || record.replacement)) {
          this.send(record, { type: 'plugin.dispose' });
        } else if (state === 'failed.blocked' && record.requiredDead > 0) {
          // Held down while blocked: its reason still follows an unloaded dependency.
          this.refreshBlockReason(record);
        } else if (state === 'failed.blocked') {
          // Wanted down while blocked (held by a requirement, or the host stopping), and no
          // requirement is dead any more (one came back as a new version that rests stopped):
          // nothing blocks it; it rests, and comes back with them when they start.
          this.send(record, { type: 'plugin.dependencies.restored' });
        }
      }
    }
  }

  private blockOnDeadDependency(record: PluginRecord<R>): void {
    const state = record.state;
    const retrying = record.retryPending;
    if (retrying) {
      // A retry cannot run on a dead requirement: it ends here, and the plugin blocks on it (as a
      // start would) to come back once the requirement runs again.
      record.retryPending = false;
      this.refresh(record);
    }
    const blockable =
      QUIESCENT.has(state) ||
      state === 'starting.waitingForDependencies' ||
      state === 'failed.retrying' ||
      (retrying && state === 'failed.halted');
    if (blockable) {
      const dependency = record.entry.requires.find((dep) => {
        const target = this.records.get(dep);
        return !target || target.dead;
      })!;
      const code = this.records.has(dependency) ? 'DEPENDENCY_FAILED' : 'MISSING_DEPENDENCY';
      this.send(record, { type: 'plugin.dependency.failed', dependency, code });
    } else if (state === 'failed.blocked') {
      this.refreshBlockReason(record);
    } else if (state === 'initializing' || state === 'starting.hook') {
      this.send(record, { type: 'plugin.stop' }, true);
    } else if (state === 'running' && record.activeDependents === 0) {
      this.send(record, { type: 'plugin.stop' });
    }
  }

  /**
   * Blocked, its reason follows what blocks it now: a requirement it names that failed and has
   * since been unloaded is missing (MISSING_DEPENDENCY), and one that runs again while another is
   * still dead gives way to that other one.
   */
  private refreshBlockReason(record: PluginRecord<R>): void {
    const error = record.ref ? readError(record.ref) : null;
    const named = error?.plugins?.[0];
    const dead = (dependency: string) => this.records.get(dependency)?.dead ?? true;
    const codeOf = (dependency: string) => (this.records.has(dependency) ? 'DEPENDENCY_FAILED' : 'MISSING_DEPENDENCY');
    if (named !== undefined && record.entry.requires.includes(named) && dead(named) && error?.code === codeOf(named)) return;
    const dependency = record.entry.requires.find(dead);
    if (dependency === undefined) return;
    this.send(record, { type: 'plugin.dependency.failed', dependency, code: codeOf(dependency) });
  }

  /**
   * A restart, as `restart()` makes one: its own dependents go down first and come back with it,
   * and it starts again once the optional dependency is down.
   */
  private restartWithoutOptional(record: PluginRecord<R>): void {
    for (const dependent of this.holdDependents(record.name)) {
      this.refresh(dependent);
      this.enqueue(dependent);
    }
    record.want = 'stopped';
    record.heldBy = null;
    record.restartPending = true;
    this.refresh(record);
    this.enqueue(record);
  }

  /** Whether an optional dependency is running but wanted down (it waits for its dependents). */
  private optionalLeaving(record: PluginRecord<R>): boolean {
    for (const dep of record.entry.optional) {
      const target = this.records.get(dep);
      if (target?.running && !target.wanted) return true;
    }
    return false;
  }

  private notReady(record: PluginRecord<R>): string[] {
    const out: string[] = [];
    for (const dep of record.entry.requires) if (!this.records.get(dep)?.running) out.push(dep);
    for (const dep of record.entry.optional) {
      const target = this.records.get(dep);
      if (target && !target.optionalOk) out.push(dep);
    }
    return out;
  }

  private waitingFor(record: PluginRecord<R>): string[] {
    const snapshot = (record.ref as unknown as { getSnapshot?: () => { context?: { waitingFor?: string[] } } })
      .getSnapshot?.();
    return snapshot?.context?.waitingFor ?? [];
  }
}

function readError(ref: PluginRef): ErrorInfo | null {
  const snapshot = (ref as unknown as { getSnapshot?: () => { context?: { error?: ErrorInfo | null } } })
    .getSnapshot?.();
  return snapshot?.context?.error ?? null;
}
