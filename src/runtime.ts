/**
 * Fills the lifecycle chart's slots: validation, and each hook run under its timeout and
 * answered to the plugin's actor with an event (`hook.done`, `hook.failed`, `hook.timeout`).
 * Keeps, per plugin generation, its hooks, config and logger, and makes sure two hooks of one
 * plugin never overlap: a hook abandoned on timeout or cancellation is waited for (at most one
 * hook timeout) before the next one runs.
 */
import { setMaxListeners } from 'node:events';
import type { AnyActorRef } from 'xstate';
import { lifecyclePath, pluginLifecycle } from '../machines/plugin-lifecycle.ts';
import type { HealthRecord, HookAnswer, HookParams, LifecycleContext } from '../machines/plugin-lifecycle.ts';
import type { Clock } from '../machines/plugin-manager.ts';
import { givenSecretValues, secretValues } from './config.ts';
import type { PluginContext, PluginHooks } from './definition.ts';
import { PluginFactoryError, describeThrown } from './errors.ts';
import type { Logger } from './logger.ts';
import { createHealthPoller } from './platform/health.ts';
import type { HealthPoller } from './platform/health.ts';
import type { HealthStatus } from './platform/health-result.ts';
import { pluginLogger, scrubError, scrubbedCopy } from './platform/logging.ts';
import { SecretSet, isHostWide, unionOf } from './platform/secrets.ts';
import type { Redactor } from './platform/secrets.ts';
import { PluginPlatform } from './plugin-platform.ts';
import type { PluginScopes } from './plugin-platform.ts';
import { ValidationFailure, loadModule } from './prepare.ts';
import type { LoadLimits, PreparedPlugin } from './prepare.ts';
import { onSettled } from './settled.ts';

/** Health polling of plugins that have a `health` hook, unless their manifest says otherwise. */
export interface HealthDefaults {
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number;
}

export const DEFAULT_HEALTH: Readonly<HealthDefaults> = Object.freeze({ intervalMs: 10_000, timeoutMs: 5_000, unhealthyThreshold: 3 });

/** What a call's `ctx.events` / `ctx.services` / `ctx.hooks` belong to; none are made once it is over. */
interface CallScope {
  over: boolean;
  scopes: PluginScopes | null;
}

/** One call of one hook, from entering its state to leaving it. */
interface HookRun extends CallScope {
  hook: HookParams['hook'];
  timer: unknown;
  /** Made on first use of `ctx.signal` (most hooks never read it). */
  controller: AbortController | null;
  /** (`over`) Its state was left (done, timed out or cancelled): nothing more is answered. */
  /** Left before the hook settled: its signal is (or reads as) aborted. */
  abandoned: boolean;
  /** The hook's own result, once it was called. */
  result: Promise<unknown> | null;
  settled: boolean;
  /** Answered `hook.done`. */
  succeeded: boolean;
  /** Not called yet: waiting for the plugin's previous, abandoned call to settle. */
  waiting: boolean;
  /** The plugin's hook function was called (the host's before-listeners, if any, are done). */
  called: boolean;
  /** The limit (ms) that ran out, once `hook.timeout` was answered. */
  timedOutAfter: number | null;
  /** Tells the lifecycle listeners that the engine gave up on the call; set only when there are some. */
  giveUp: ((reason: unknown) => void) | null;
}

interface Running {
  plugin: PreparedPlugin;
  /** The plugin's child logger, built on first use, once its config (and secrets) are known. */
  logger: Logger | null;
  /** The hook running now, if any. */
  run: HookRun | null;
  /** The plugin's actor, once it validates or a hook runs (its state goes into every log line). */
  self: AnyActorRef | null;
  /** Polls `health` while the plugin is `running`. */
  poller: HealthPoller | null;
  /** Settles when the health check in flight settles (handed to the next hook when the plugin leaves `running`). */
  checking: Promise<void> | null;
  /** The last health check called, until it settles, whatever the plugin did since: none overlaps it. */
  unsettledCheck: Promise<void> | null;
  /** When that check began (the clock's time): a next hook waits for it only what it has left. */
  checkStartedAt: number;
  /** The health check in flight: its scopes end when it settles or the plugin leaves `running`. */
  checkCall: CallScope | null;
  /** The time limit of one health check (how long a next hook waits for one still in flight). */
  healthTimeoutMs: number;
  /** Its secret config values, as last read (see `Runtime.readSecrets`). */
  secrets: readonly string[];
}

const NO_SECRETS: readonly string[] = [];

/**
 * A health record as the chart keeps it: frozen, nested parts included, so that snapshots can hand
 * it out as it is (a copy per plugin per snapshot would cost a large host's every snapshot).
 */
function frozenHealth(report: HealthRecord): HealthRecord {
  if (report.components) {
    for (const component of Object.values(report.components)) Object.freeze(component);
    Object.freeze(report.components);
  }
  if (report.error) Object.freeze(report.error);
  return Object.freeze(report);
}

/** A health check still in flight when its plugin left `running`: the next hook waits for it, bounded. */
interface HealthWait {
  done: Promise<void>;
  /** Aborted when the host is gone: the wait ends and its timer with it. */
  controller: AbortController;
}

const noop = () => undefined;
const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** Sends `event` unless the actor has been stopped meanwhile. */
function answer(self: AnyActorRef, event: HookAnswer): void {
  if (self.getSnapshot().status === 'active') self.send(event);
}

function signalOf(run: HookRun): AbortSignal {
  if (!run.controller) {
    run.controller = new AbortController();
    if (run.abandoned) run.controller.abort();
  }
  return run.controller.signal;
}

export class PluginRuntimes {
  private readonly byKey = new Map<string, Running>();
  /**
   * Per plugin name, across generations (a reload's new module must not start while the old
   * one's abandoned hook still runs): settles when the last abandoned hook settles.
   */
  private readonly pending = new Map<string, Promise<void>>();
  /** Per plugin name, the hook of the last abandoned call still pending (for the timeout's message). */
  private readonly pendingHook = new Map<string, HookParams['hook']>();
  /**
   * Per plugin name: a health check left in flight. Kept apart from `pending` because a check is
   * bounded by its own timeout, and the next hook's timeout starts only once that wait is over.
   */
  private readonly healthWaits = new Map<string, HealthWait>();

  readonly platform: PluginPlatform;
  /** Called when a plugin whose manifest asks for it stayed unhealthy `unhealthyThreshold` checks in a row. */
  onUnhealthy: (name: string) => void = () => undefined;
  /** A plugin's health changed (its status, or a component's): the manager tells its subscribers. */
  onHealth: (name: string, status: HealthStatus, previous: HealthStatus) => void = () => undefined;

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock = realClock,
    platform?: PluginPlatform,
    private readonly health: HealthDefaults = DEFAULT_HEALTH,
  ) {
    this.platform = platform ?? new PluginPlatform({ logger });
    this.platform.redact = (text, plugin) => this.redactorFor(plugin).text(text);
    this.platform.loggerOf = (name) => {
      const running = this.newest.get(name);
      return running ? this.loggerOf(running) : null;
    };
  }

  /** Per plugin name, its newest generation: what it reports outside a hook goes to that one's logger. */
  private readonly newest = new Map<string, Running>();

  /**
   * Every registered plugin's host-wide secrets (`isHostWide`: 4 characters or more): errors,
   * health messages and log lines of any plugin are scrubbed of them, since what one plugin
   * reports may quote another's (an error of a service it called).
   */
  private readonly hostWide = new SecretSet();
  /** Per plugin name, its shorter secrets (a PIN, a port), scrubbed from its own output only. */
  private readonly shortSecrets = new Map<string, { set: SecretSet; redactor: Redactor }>();

  /** What scrubs the output of the plugin `name` (of no plugin in particular: the host-wide set). */
  redactorFor(name?: string): Redactor {
    const own = name === undefined ? undefined : this.shortSecrets.get(name);
    return own ? own.redactor : this.hostWide;
  }

  /** Takes a generation's secret values as they are now (registered, config validated, gone). */
  private readSecrets(running: Running, values: readonly string[]): void {
    const name = running.plugin.name;
    const before = running.secrets;
    this.hostWide.remove(before.filter(isHostWide));
    this.hostWide.add(values.filter(isHostWide));
    const shortBefore = before.filter((secret) => !isHostWide(secret));
    const shortNow = values.filter((secret) => !isHostWide(secret));
    if (shortBefore.length > 0 || shortNow.length > 0) {
      let own = this.shortSecrets.get(name);
      if (!own) {
        const set = new SecretSet();
        own = { set, redactor: unionOf([this.hostWide, set]) };
        this.shortSecrets.set(name, own);
      }
      own.set.remove(shortBefore);
      own.set.add(shortNow);
      if (own.set.empty) this.shortSecrets.delete(name);
    }
    running.secrets = values.length === 0 ? NO_SECRETS : values;
  }

  /** Its secrets as validated (defaults applied), and as given: one left out by a coercion still counts. */
  private secretsOf(plugin: PreparedPlugin): readonly string[] {
    if (!plugin.manifest?.config) return NO_SECRETS; // no config, no secret (most plugins: nothing to allocate)
    return [...new Set([...givenSecrets(plugin), ...secretValues(plugin.manifest.config, plugin.config)])];
  }

  /**
   * Registers a generation. Its secrets are scrubbed from the start, as given, before its module
   * loads and its config is validated (and for good if it never validates): other plugins, and
   * what its own factory throws, may quote them meanwhile.
   */
  register(plugin: PreparedPlugin): void {
    const running: Running = { plugin, logger: null, run: null, self: null, poller: null, checking: null, unsettledCheck: null, checkStartedAt: 0, checkCall: null, healthTimeoutMs: 0, secrets: NO_SECRETS };
    this.byKey.set(plugin.key, running);
    this.newest.set(plugin.name, running);
    this.readSecrets(running, givenSecrets(plugin));
  }

  /**
   * What scrubs the problems of a definition not registered (a reload being checked): its own
   * secrets as given, with the host's and the plugin's short ones.
   */
  redactorWith(name: string, plugin: PreparedPlugin): Redactor {
    const own = new SecretSet(givenSecrets(plugin));
    const short = this.shortSecrets.get(name)?.set;
    return unionOf(short ? [this.hostWide, short, own] : [this.hostWide, own]);
  }

  get(key: string): PreparedPlugin | undefined {
    return this.byKey.get(key)?.plugin;
  }

  /**
   * Drops a generation that is no longer used (after a reload or unload). Its secrets stay
   * scrubbed for the rest of the process: its code may still run (a call abandoned, a timer, a
   * handler) and log them, and another plugin may quote them, and an old password is no less a
   * secret for being replaced.
   */
  delete(key: string): void {
    const running = this.byKey.get(key);
    if (running) this.release(running);
    this.byKey.delete(key);
    if (running && this.newest.get(running.plugin.name) === running) this.newest.delete(running.plugin.name);
  }

  /**
   * Factories still running when the host stops are given up (MODULE_LOAD_FAILED) at once. Every
   * factory call listens to it while it runs, and all plugins validate at once: no listener limit.
   */
  private readonly closing = withoutListenerLimit(new AbortController());
  /** What bounds a factory call of this host (see `loadModule`). */
  get loadLimits(): LoadLimits {
    return { clock: this.clock, signal: this.closing.signal };
  }

  /** The clock's time (a test clock's, or Date.now()). */
  private now(): number {
    return (this.clock as { now?: () => number }).now?.() ?? Date.now();
  }

  /**
   * The host is stopping: a factory still running is given up, so no plugin waits on it; and no
   * health check starts any more, so that the waits of the plugins' stops are for checks begun
   * before, which all end within one check timeout, rather than each for a check of its own.
   */
  closeLoads(): void {
    this.closing.abort();
    for (const running of this.byKey.values()) {
      running.poller?.stop();
      running.poller = null;
    }
  }

  /** Abandons every running hook and health check (the host is gone): no timer stays behind. */
  cancelAll(): void {
    this.closeLoads();
    for (const running of this.byKey.values()) this.release(running);
    for (const wait of this.healthWaits.values()) wait.controller.abort();
    this.healthWaits.clear();
  }

  /** Whatever still runs for this generation ends: hook, health checks, service period. */
  private release(running: Running): void {
    this.abandon(running);
    this.stopHealth(running);
    this.platform.endService(running.plugin.key);
  }

  private stopHealth(running: Running): void {
    running.poller?.stop(); // aborts the signal of a check in flight
    running.poller = null;
    // What a check in flight registered ends now: the plugin is leaving `running`.
    const call = running.checkCall;
    running.checkCall = null;
    if (call) {
      call.over = true;
      call.scopes?.dispose();
    }
    // The plugin's next hook waits for it (so that `stop` does not tear down what a check still
    // uses), but no longer than the check has left of its time limit, nothing once it timed out:
    // one that ignores its aborted signal must not keep `stop` from being called, and at shutdown
    // the waits of a chain of plugins overlap rather than add up. The check is handed over once.
    const checking = running.checking;
    running.checking = null;
    const left = running.checkStartedAt + running.healthTimeoutMs - this.now();
    if (checking && left > 0) {
      const name = running.plugin.name;
      const controller = new AbortController();
      const previous = this.healthWaits.get(name);
      const bounded = settleWithin(checking, left, controller.signal, this.clock);
      const wait: HealthWait = { done: previous ? Promise.all([previous.done, bounded]).then(noop) : bounded, controller };
      if (previous) controller.signal.addEventListener('abort', () => previous.controller.abort(), { once: true });
      this.healthWaits.set(name, wait);
      void wait.done.then(() => {
        if (this.healthWaits.get(name) === wait) this.healthWaits.delete(name);
      });
    }
  }

  /** The plugin's next hook is not called until `settled` (the call of `hook` it abandoned). */
  private awaitBeforeNext(name: string, hook: HookParams['hook'], settled: Promise<void>): void {
    const previous = this.pending.get(name);
    const both = previous ? Promise.all([previous, settled]).then(noop) : settled;
    this.pending.set(name, both);
    this.pendingHook.set(name, hook);
    void both.then(() => {
      if (this.pending.get(name) !== both) return;
      this.pending.delete(name);
      this.pendingHook.delete(name);
    });
  }

  /** The `enterService` slot: health checks start (for a plugin with a `health` hook). */
  enterService(self: AnyActorRef, context: LifecycleContext): void {
    try {
      this.startHealth(self, context);
    } catch (error) {
      this.logger.error({ plugin: context.name, error: this.redactorFor(context.name).text(describeThrown(error)) }, 'health checks could not start; the plugin runs without them');
    }
  }

  private startHealth(self: AnyActorRef, context: LifecycleContext): void {
    const running = this.byKey.get(context.key);
    const hooks = running?.plugin.hooks;
    const health = hooks?.health;
    if (!running || !hooks || typeof health !== 'function') return;
    const plugin = running.plugin;
    const spec = plugin.manifest?.health;
    const unhealthyThreshold = spec?.unhealthyThreshold ?? this.health.unhealthyThreshold;
    const clock = this.clock;
    running.poller?.stop();
    running.healthTimeoutMs = spec?.timeoutMs ?? this.health.timeoutMs;
    running.poller = createHealthPoller({
      plugin: plugin.name,
      intervalMs: spec?.intervalMs ?? this.health.intervalMs,
      timeoutMs: running.healthTimeoutMs,
      unhealthyThreshold,
      timers: {
        setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
        clearTimeout: (id) => clock.clearTimeout(id),
        now: () => this.now(),
      },
      redact: (text) => this.redactorFor(plugin.name).text(text),
      check: (signal) => this.check(running, hooks, health, signal),
      // A check of the previous run still hanging (the plugin restarted meanwhile): none overlaps it.
      inFlight: running.unsettledCheck,
      // Every call of the hook counts in its figures, once: a failure is one that threw, timed out
      // or returned no health result (an unhealthy answer is a check that worked). A round that
      // found the last call still hanging called nothing. The poller's clock may step back.
      onReport: (report, called) => {
        if (called) this.platform.metrics.plugin(plugin.name).hook('health', Math.max(0, report.durationMs), report.error === undefined);
      },
      onChange: (report, previous) => {
        this.platform.metrics.plugin(plugin.name).health(report.status);
        answer(self, { type: `health.${report.status}`, report: frozenHealth(report as HealthRecord) });
        // A plugin enters `running` healthy: that is what the first report changes.
        this.onHealth(plugin.name, report.status, previous?.status ?? 'healthy');
      },
      onUnhealthy: () => {
        if (spec?.restart) this.onUnhealthy(plugin.name);
      },
    });
    running.poller.start();
  }

  /** One health check, with scopes of its own that end when it settles. */
  private check(running: Running, hooks: PluginHooks, health: NonNullable<PluginHooks['health']>, signal: AbortSignal): Promise<unknown> {
    const call: CallScope = { over: false, scopes: null };
    running.checkCall = call;
    const result = Promise.resolve().then(() => health.call(hooks, this.context(running, 'health', 1, signal, call)));
    const settled = result.then(noop, noop);
    running.checking = settled;
    running.unsettledCheck = settled;
    running.checkStartedAt = this.now();
    void settled.then(() => {
      call.over = true;
      call.scopes?.dispose();
      if (running.checking === settled) running.checking = null;
      if (running.unsettledCheck === settled) running.unsettledCheck = null;
      if (running.checkCall === call) running.checkCall = null;
    });
    return result;
  }

  /** The `leaveService` slot: health checks stop; what the plugin registered in `start` ends. */
  leaveService(context: LifecycleContext): void {
    const running = this.byKey.get(context.key);
    if (!running) return;
    try {
      this.stopHealth(running);
      this.platform.metrics.plugin(running.plugin.name).health(null);
    } finally {
      this.platform.endService(running.plugin.key);
    }
  }

  /** The `runValidate` slot: answers `validate.done`, or `validate.failed` with every reason. */
  validate(self: AnyActorRef, key: string): void {
    const running = this.byKey.get(key);
    if (!running) {
      const error = new PluginFactoryError('PLUGIN_NOT_FOUND', `no plugin registered under '${key}'`);
      answer(self, { type: 'validate.failed', error });
      return;
    }
    running.self = self;
    loadModule(running.plugin, this.loadLimits).then(
      () => {
        this.readSecrets(running, this.secretsOf(running.plugin)); // its config, defaults applied, is known now
        answer(self, { type: 'validate.done' });
      },
      (error: unknown) => {
        // An invalid plugin's module reference is dropped; only its reasons stay, scrubbed: a
        // factory, an import or a getter that threw may quote a secret.
        running.plugin.hooks = null;
        answer(self, { type: 'validate.failed', error: scrubProblems(error, this.redactorFor(running.plugin.name)) });
      },
    );
  }

  /** The `runHook` slot: runs one hook under the plugin's timeout and answers its actor. */
  startHook(self: AnyActorRef, context: LifecycleContext, hook: HookParams['hook']): void {
    const running = this.byKey.get(context.key);
    let fn: unknown;
    try {
      fn = running?.plugin.hooks?.[hook];
    } catch (error) {
      // A hooks object whose getter throws: the hook fails, the actor does not.
      self.send({ type: 'hook.failed', error: internalFault(this.redactorFor(context.name), context.name, hook, error) });
      return;
    }
    const hooks = running?.plugin.hooks;
    if (running && hooks && typeof fn !== 'function' && hook !== 'dispose') {
      // Checked at validation, gone since (the module's object was changed): never "done" unrun.
      const error = new Error(`it is ${fn === undefined ? 'no longer there' : `a ${typeof fn} now`}, not a function as when the plugin was validated`);
      self.send({ type: 'hook.failed', error: internalFault(this.redactorFor(context.name), context.name, hook, error) });
      return;
    }
    if (!running || !hooks || typeof fn !== 'function') {
      self.send({ type: 'hook.done', ms: 0 });
      return;
    }
    const run: HookRun = {
      hook,
      timer: null,
      controller: null,
      over: false,
      abandoned: false,
      result: null,
      settled: false,
      succeeded: false,
      scopes: null,
      waiting: false,
      called: false,
      timedOutAfter: null,
      giveUp: null,
    };
    if (running.run) this.abandon(running);
    running.run = run;
    running.self = self;
    const hookFn = fn as (ctx: PluginContext) => unknown;
    // The timeout counts from entering the state, a wait for an abandoned call included: two calls
    // of one plugin never overlap, so a call that hangs for good leaves its retries timing out.
    // A health check left in flight is waited for first, outside the timeout (it has its own).
    const healthWait = this.healthWaits.get(running.plugin.name);
    if (!healthWait) this.startTimer(self, running, run, context.hookTimeoutMs);
    const fail = (error: unknown) => {
      if (!run.over) answer(self, { type: 'hook.failed', error: internalFault(this.redactorFor(context.name), context.name, hook, error) });
    };
    // Called after the transition that entered the state, never from inside it.
    if (!healthWait) {
      queueMicrotask(() => this.call(self, running, run, hooks, hookFn, context).catch(fail));
      return;
    }
    void healthWait.done.then(() => {
      if (run.over) return;
      this.startTimer(self, running, run, context.hookTimeoutMs);
      return this.call(self, running, run, hooks, hookFn, context);
    }).catch(fail);
  }

  /** The `cancelHook` slot: the hook state was left. */
  cancelHook(context: LifecycleContext): void {
    const running = this.byKey.get(context.key);
    if (running) this.abandon(running);
  }

  private startTimer(self: AnyActorRef, running: Running, run: HookRun, ms: number): void {
    run.timer = this.clock.setTimeout(() => {
      if (running.run !== run) return;
      const metrics = this.platform.metrics.plugin(running.plugin.name);
      const previous = run.waiting ? this.pendingHook.get(running.plugin.name) : undefined;
      // A timed-out call counts as a failed call that took the whole limit; a hook that timed
      // out waiting for an abandoned call of the plugin was never called, and is no call.
      if (!run.waiting) metrics.hook(run.hook, ms, false);
      metrics.error('HOOK_TIMEOUT');
      run.timedOutAfter = ms;
      // Neither waiting nor called: the host's before-listeners are still running.
      const inBeforeListeners = !run.waiting && !run.called && run.giveUp !== null;
      answer(self, previous ? { type: 'hook.timeout', waitingForPrevious: previous } : inBeforeListeners ? { type: 'hook.timeout', inBeforeListeners } : { type: 'hook.timeout' });
    }, ms);
  }

  private abandon(running: Running): void {
    const run = running.run;
    if (!run) return;
    running.run = null;
    run.over = true;
    this.clock.clearTimeout(run.timer);
    // What the call registered ends with its state; a successful start's lasts until `running` is left.
    if (run.hook !== 'start') run.scopes?.dispose();
    else if (!run.succeeded && run.scopes) this.platform.endService(running.plugin.key, run.scopes);
    if (run.settled) return;
    run.abandoned = true;
    run.giveUp?.(this.givenUp(running.plugin, run));
    run.controller?.abort();
    if (run.result) this.awaitBeforeNext(running.plugin.name, run.hook, run.result.then(noop, noop));
  }

  private async call(
    self: AnyActorRef,
    running: Running,
    run: HookRun,
    hooks: PluginHooks,
    fn: (ctx: PluginContext) => unknown,
    context: LifecycleContext,
  ): Promise<void> {
    const plugin = running.plugin;
    const previous = this.pending.get(plugin.name);
    if (previous) {
      run.waiting = true;
      await settleWithin(previous, plugin.hookTimeoutMs, signalOf(run), this.clock);
      run.waiting = false;
    }
    if (run.over) return;
    const ctx = this.context(running, run.hook, context.attempts, null, run);
    const lifecycle = this.platform.lifecycle;
    const metrics = this.platform.metrics.plugin(plugin.name);
    const started = performance.now();
    // Answered once, by the first of: the hook's own result (before the host's after-listeners
    // hear of it, so that a command one sends cannot cancel a hook that has finished), or the
    // before-listeners' veto.
    let answered = false;
    const succeeded = () => {
      run.settled = true;
      if (answered) return;
      answered = true;
      if (run.over) return;
      const ms = Math.round((performance.now() - started) * 100) / 100;
      run.succeeded = true;
      metrics.hook(run.hook, ms, true);
      answer(self, { type: 'hook.done', ms });
    };
    const failed = (error: unknown) => {
      run.settled = true;
      if (answered) return;
      answered = true;
      if (run.over) return;
      metrics.hook(run.hook, Math.round((performance.now() - started) * 100) / 100, false);
      metrics.error('HOOK_FAILED');
      answer(self, { type: 'hook.failed', error: this.hookError(plugin, run.hook, error) });
    };
    let result: Promise<unknown>;
    try {
      if (lifecycle.listenerCount() > 0) {
        // The listeners hear of a call the engine gave up on then, not when (if ever) it settles.
        const ended = new Promise<unknown>((resolve) => (run.giveUp = resolve));
        const failure = (error: unknown) => this.hookError(plugin, run.hook, error);
        const callHook = () => {
          if (run.over) return undefined;
          run.called = true;
          // The plugin's own call: what its next call waits for once abandoned (not the
          // listeners, which the plugin cannot make settle), and what is answered first.
          let own: Promise<unknown>;
          try {
            own = Promise.resolve(fn.call(hooks, ctx));
          } catch (error) {
            own = Promise.reject(error);
          }
          run.result = own;
          own.then(succeeded, failed);
          return own;
        };
        result = lifecycle.runAround(plugin.name, run.hook, callHook, { ended, failure, vetoed: failed });
      } else {
        run.called = true;
        const value = fn.call(hooks, ctx);
        if (!isThenable(value)) {
          // Done as it returned: answered now, so that no command sent meanwhile can cancel a
          // hook that has in fact finished (a start whose stop would then never be called).
          run.result = Promise.resolve(value);
          succeeded();
          return;
        }
        result = run.result = Promise.resolve(value);
      }
    } catch (error) {
      // Only the plugin's own call throws here (runAround reports through its promise).
      result = run.result = Promise.reject(error);
    }
    result.then(succeeded, failed);
  }

  /**
   * A hook's `ctx`. Its signal, logger and platform scopes are made on first use; `run` is null
   * for a health check (its signal is the poller's, its scopes end with the check). `start`'s
   * scopes are the plugin's service period and exist from the call on (each scope inside is still
   * made on first use), so a ctx kept from `start` and first used from a callback while the
   * plugin runs registers into that period.
   */
  private context(running: Running, hook: PluginContext['hook'], attempt: number, signal: AbortSignal | null, call: CallScope): PluginContext {
    const plugin = running.plugin;
    const platform = this.platform;
    const run = signal === null ? (call as HookRun) : null;
    if (hook === 'start' && run && !call.scopes && !call.over) call.scopes = platform.scopesFor(plugin, hook);
    const scopesOf = () => {
      if (call.scopes) return call.scopes;
      // A ctx kept past its call (a late callback) makes nothing: it would outlive its state.
      if (call.over) {
        throw new PluginFactoryError('SCOPE_DISPOSED', `plugin '${plugin.name}': the ${hook} call that gave this ctx has ended; use the ctx of the current hook`, { plugin: plugin.name });
      }
      return (call.scopes = platform.scopesFor(plugin, hook));
    };
    const runtimes = this;
    return {
      name: plugin.name,
      version: plugin.manifest?.version ?? '0.0.0',
      config: plugin.config,
      get signal() {
        return run ? signalOf(run) : signal!;
      },
      get logger() {
        return runtimes.loggerOf(running);
      },
      get events() {
        return scopesOf().events;
      },
      get services() {
        return scopesOf().services;
      },
      get hooks() {
        return scopesOf().hooks;
      },
      get store() {
        return platform.storeOf(plugin.name);
      },
      hook,
      attempt,
    };
  }

  /** The plugin's redactor as it is at each line (its short secrets may come with its config). */
  private loggerRedactor(name: string): Redactor {
    const now = () => this.redactorFor(name);
    return {
      text: (input) => now().text(input),
      has: (value) => now().has(value),
      get empty() {
        return now().empty;
      },
    };
  }

  private loggerOf(running: Running): Logger {
    const plugin = running.plugin;
    return (running.logger ??= pluginLogger(this.logger, {
      name: plugin.name,
      getState: () => (running.self ? lifecyclePath(running.self.getSnapshot().value) : 'validating'),
      secrets: this.loggerRedactor(plugin.name),
    }));
  }

  /** Why the engine gave up on a call before it settled: its time ran out, or it was cancelled. */
  private givenUp(plugin: PreparedPlugin, run: HookRun): unknown {
    if (run.timedOutAfter === null) return new DOMException(`plugin '${plugin.name}': the ${run.hook} hook was cancelled (the plugin or the host was stopped)`, 'AbortError');
    // Neither waiting for an earlier call nor called: the host's before-listeners took the time.
    const where = !run.called && !run.waiting ? `the before-listeners (onBeforeHook) of its ${run.hook} hook did not finish` : `${run.hook} hook did not finish`;
    return new PluginFactoryError('HOOK_TIMEOUT', `plugin '${plugin.name}': ${where} within ${run.timedOutAfter} ms`, {
      plugin: plugin.name,
      hook: run.hook,
    });
  }

  private hookError(plugin: PreparedPlugin, hook: HookParams['hook'], error: unknown): PluginFactoryError {
    const reason = this.redactorFor(plugin.name).text(describeThrown(error));
    const hint =
      hook === 'stop'
        ? 'shutdown went on without it; make stop release its resources without throwing'
        : `see the cause; fix the ${hook} hook or raise retry.retries in ${plugin.source}`;
    return new PluginFactoryError('HOOK_FAILED', `plugin '${plugin.name}': ${hook} hook failed: ${reason}; ${hint}`, {
      plugin: plugin.name,
      hook,
      cause: reason,
    });
  }
}

/**
 * The secret values of a plugin's config before it is validated: the manifest's defaults, and
 * what its definition gives (what cannot be read is left out: the plugin is refused for it).
 */
function givenSecrets(plugin: PreparedPlugin): readonly string[] {
  const specs = plugin.manifest?.config;
  if (!specs) return NO_SECRETS;
  let given: unknown;
  try {
    given = plugin.definition.config;
  } catch {
    // A getter that throws: refused as CONTRACT_INVALID when the module loads; its defaults still count.
  }
  try {
    return givenSecretValues(specs, given);
  } catch {
    return NO_SECRETS;
  }
}

/** A validation failure (or any error) with every problem's message and cause scrubbed. */
export function scrubProblems(error: unknown, redactor: Redactor): unknown {
  if (redactor.empty) return error;
  try {
    if (error instanceof ValidationFailure) return new ValidationFailure(error.errors.map((problem) => scrubError(problem, redactor) as PluginFactoryError));
    if (error instanceof PluginFactoryError) return scrubError(error, redactor);
  } catch {
    // A Proxy whose traps throw, even for instanceof: described, scrubbed, below.
  }
  return scrubbedCopy(error, redactor);
}

/** A hook that could not even be called (its hooks object or context threw when read). */
function internalFault(secrets: Redactor, name: string, hook: string, error: unknown): PluginFactoryError {
  const reason = secrets.text(describeThrown(error));
  return new PluginFactoryError('HOOK_FAILED', `plugin '${name}': the ${hook} hook could not be called: ${reason}; check the module's exported object`, {
    plugin: name,
    hook: hook as HookParams['hook'],
    cause: reason,
  });
}

/**
 * Waits for `promise`, at most `ms`, or until `signal` aborts; leaves no timer behind, and nothing
 * attached to a promise that never settles (a hung hook's, waited for again at every retry).
 */
function settleWithin(promise: Promise<void>, ms: number, signal: AbortSignal, clock: Clock): Promise<void> {
  return new Promise<void>((resolve) => {
    let giveUp: () => void = noop;
    const done = () => {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      giveUp();
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    giveUp = onSettled(promise, done);
  });
}

/** The lifecycle chart with its slots filled by `runtimes`. */
export function provideLifecycle(runtimes: PluginRuntimes) {
  return pluginLifecycle.provide({
    actions: {
      runValidate: ({ self, context }) => runtimes.validate(self, context.key),
      runHook: ({ self, context }, params) => runtimes.startHook(self, context, params.hook),
      cancelHook: ({ context }) => runtimes.cancelHook(context),
      enterService: ({ self, context }) => runtimes.enterService(self, context),
      leaveService: ({ context }) => runtimes.leaveService(context),
    },
  });
}

/** An AbortController whose signal may have any number of listeners without Node's leak warning. */
function withoutListenerLimit(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}

/** Whether a hook's return value is a promise (or any thenable) to wait for; reading `then` may throw. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
