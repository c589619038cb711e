/**
 * Fills the lifecycle chart's slots: validation, and each hook run under its timeout and
 * answered to the plugin's actor with an event (`hook.done`, `hook.failed`, `hook.timeout`).
 * Keeps, per plugin generation, its hooks, config and logger, and makes sure two hooks of one
 * plugin never overlap: a hook abandoned on timeout or cancellation is waited for (at most one
 * hook timeout) before the next one runs.
 */
import type { AnyActorRef } from 'xstate';
import { pluginLifecycle } from '../machines/plugin-lifecycle.ts';
import { lifecyclePath } from '../machines/plugin-lifecycle.ts';
import type { HealthRecord, HookAnswer, HookParams, LifecycleContext } from '../machines/plugin-lifecycle.ts';
import type { Clock } from '../machines/plugin-manager.ts';
import { secretValues } from './config.ts';
import type { PluginContext, PluginHooks } from './definition.ts';
import { PluginFactoryError, describeThrown } from './errors.ts';
import type { Logger } from './logger.ts';
import { createHealthPoller } from './platform/health.ts';
import type { HealthPoller } from './platform/health.ts';
import { pluginLogger, redactText } from './platform/logging.ts';
import { PluginPlatform } from './plugin-platform.ts';
import type { PluginScopes } from './plugin-platform.ts';
import { loadModule } from './prepare.ts';
import type { PreparedPlugin } from './prepare.ts';

/** Health polling of plugins that have a `health` hook, unless their manifest says otherwise. */
export interface HealthDefaults {
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number;
}

export const DEFAULT_HEALTH: HealthDefaults = { intervalMs: 10_000, timeoutMs: 5_000, unhealthyThreshold: 3 };

/** One call of one hook, from entering its state to leaving it. */
interface HookRun {
  hook: HookParams['hook'];
  timer: unknown;
  /** Made on first use of `ctx.signal` (most hooks never read it). */
  controller: AbortController | null;
  /** Its state was left (done, timed out or cancelled): nothing more is answered. */
  over: boolean;
  /** Left before the hook settled: its signal is (or reads as) aborted. */
  abandoned: boolean;
  /** The hook's own result, once it was called. */
  result: Promise<unknown> | null;
  settled: boolean;
  /** Answered `hook.done`. */
  succeeded: boolean;
  /** What `ctx.events` / `ctx.services` / `ctx.hooks` of this call registered with. */
  scopes: PluginScopes | null;
}

interface Running {
  plugin: PreparedPlugin;
  /** The plugin's child logger, built on first use, once its config (and secrets) are known. */
  logger: Logger | null;
  /** The hook running now, if any. */
  run: HookRun | null;
  /** The plugin's actor, once a hook ran (its state goes into every log line). */
  self: AnyActorRef | null;
  /** Polls `health` while the plugin is `running`. */
  poller: HealthPoller | null;
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

  readonly platform: PluginPlatform;
  /** Called when a plugin whose manifest asks for it stayed unhealthy `unhealthyThreshold` checks in a row. */
  onUnhealthy: (name: string) => void = () => undefined;

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock = realClock,
    platform?: PluginPlatform,
    private readonly health: HealthDefaults = DEFAULT_HEALTH,
  ) {
    this.platform = platform ?? new PluginPlatform({ logger });
  }

  register(plugin: PreparedPlugin): void {
    this.byKey.set(plugin.key, { plugin, logger: null, run: null, self: null, poller: null });
  }

  get(key: string): PreparedPlugin | undefined {
    return this.byKey.get(key)?.plugin;
  }

  /** Drops a generation that is no longer used (after a reload or unload). */
  delete(key: string): void {
    const running = this.byKey.get(key);
    if (running) this.abandon(running);
    this.byKey.delete(key);
  }

  /** Abandons every running hook and health check (the host is gone): no timer stays behind. */
  cancelAll(): void {
    for (const running of this.byKey.values()) {
      this.abandon(running);
      running.poller?.stop();
      running.poller = null;
    }
  }

  /** The `enterService` slot: health checks start (for a plugin with a `health` hook). */
  enterService(self: AnyActorRef, context: LifecycleContext): void {
    const running = this.byKey.get(context.key);
    const hooks = running?.plugin.hooks;
    if (!running || !hooks || typeof hooks.health !== 'function') return;
    const plugin = running.plugin;
    const spec = plugin.manifest?.health;
    const unhealthyThreshold = spec?.unhealthyThreshold ?? this.health.unhealthyThreshold;
    const clock = this.clock;
    running.poller?.stop();
    running.poller = createHealthPoller({
      plugin: plugin.name,
      intervalMs: spec?.intervalMs ?? this.health.intervalMs,
      timeoutMs: spec?.timeoutMs ?? this.health.timeoutMs,
      unhealthyThreshold,
      timers: {
        setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
        clearTimeout: (id) => clock.clearTimeout(id),
        now: () => (clock as { now?: () => number }).now?.() ?? Date.now(),
      },
      redact: (text) => redactText(text, secretValues(plugin.manifest?.config, plugin.config)),
      check: (signal) => hooks.health!.call(hooks, this.context(running, 'health', 1, signal, null)),
      onChange: (report) => {
        this.platform.metrics.plugin(plugin.name).health(report.status);
        answer(self, { type: `health.${report.status}`, report: report as HealthRecord });
      },
      onUnhealthy: () => {
        if (spec?.restart) this.onUnhealthy(plugin.name);
      },
    });
    running.poller.start();
  }

  /** The `leaveService` slot: health checks stop; what the plugin registered in `start` ends. */
  leaveService(context: LifecycleContext): void {
    const running = this.byKey.get(context.key);
    if (!running) return;
    running.poller?.stop();
    running.poller = null;
    this.platform.metrics.plugin(running.plugin.name).health(null);
    this.platform.endService(running.plugin.name);
  }

  /** The `runValidate` slot: answers `validate.done`, or `validate.failed` with every reason. */
  validate(self: AnyActorRef, key: string): void {
    const running = this.byKey.get(key);
    if (!running) {
      const error = new PluginFactoryError('PLUGIN_NOT_FOUND', `no plugin registered under '${key}'`);
      answer(self, { type: 'validate.failed', error });
      return;
    }
    loadModule(running.plugin).then(
      () => answer(self, { type: 'validate.done' }),
      (error: unknown) => {
        // An invalid plugin's module reference is dropped; only its reasons stay.
        running.plugin.hooks = null;
        answer(self, { type: 'validate.failed', error });
      },
    );
  }

  /** The `runHook` slot: runs one hook under the plugin's timeout and answers its actor. */
  startHook(self: AnyActorRef, context: LifecycleContext, hook: HookParams['hook']): void {
    const running = this.byKey.get(context.key);
    const hooks = running?.plugin.hooks;
    if (!running || !hooks || typeof hooks[hook] !== 'function') {
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
    };
    if (running.run) this.abandon(running);
    running.run = run;
    running.self = self;
    run.timer = this.clock.setTimeout(() => {
      if (running.run !== run) return;
      this.platform.metrics.plugin(running.plugin.name).error('HOOK_TIMEOUT');
      answer(self, { type: 'hook.timeout' });
    }, context.hookTimeoutMs);
    // Called after the transition that entered the state, never from inside it.
    queueMicrotask(() => void this.call(self, running, run, hooks, context.attempts));
  }

  /** The `cancelHook` slot: the hook state was left. */
  cancelHook(context: LifecycleContext): void {
    const running = this.byKey.get(context.key);
    if (running) this.abandon(running);
  }

  private abandon(running: Running): void {
    const run = running.run;
    if (!run) return;
    running.run = null;
    run.over = true;
    this.clock.clearTimeout(run.timer);
    // What the call registered ends with its state; a successful start's lasts until `running` is left.
    if (run.hook !== 'start') run.scopes?.dispose();
    else if (!run.succeeded && run.scopes) this.platform.endService(running.plugin.name);
    if (run.settled) return;
    run.abandoned = true;
    run.controller?.abort();
    if (run.result) {
      const name = running.plugin.name;
      const settled = run.result.then(noop, noop);
      this.pending.set(name, settled);
      void settled.then(() => {
        if (this.pending.get(name) === settled) this.pending.delete(name);
      });
    }
  }

  private async call(self: AnyActorRef, running: Running, run: HookRun, hooks: PluginHooks, attempt: number): Promise<void> {
    const plugin = running.plugin;
    const previous = this.pending.get(plugin.name);
    if (previous) await settleWithin(previous, plugin.hookTimeoutMs, signalOf(run), this.clock);
    if (run.over) return;
    const ctx = this.context(running, run.hook, attempt, null, run);
    const fn = hooks[run.hook]!;
    const lifecycle = this.platform.lifecycle;
    const metrics = this.platform.metrics.plugin(plugin.name);
    const started = performance.now();
    let result: Promise<unknown>;
    try {
      result =
        lifecycle.listenerCount() > 0
          ? lifecycle.runAround(plugin.name, run.hook, () => fn.call(hooks, ctx))
          : Promise.resolve(fn.call(hooks, ctx));
    } catch (error) {
      result = Promise.reject(error);
    }
    run.result = result;
    result.then(
      () => {
        run.settled = true;
        if (run.over) return;
        const ms = Math.round((performance.now() - started) * 100) / 100;
        run.succeeded = true;
        metrics.hook(run.hook, ms, true);
        answer(self, { type: 'hook.done', ms });
      },
      (error: unknown) => {
        run.settled = true;
        if (run.over) return;
        metrics.hook(run.hook, Math.round((performance.now() - started) * 100) / 100, false);
        metrics.error('HOOK_FAILED');
        let failure: unknown;
        try {
          failure = this.hookError(plugin, run.hook, error);
        } catch (unreadable) {
          // A thrown value that throws again when read (a hostile getter): reported as it is.
          failure = unreadable;
        }
        answer(self, { type: 'hook.failed', error: failure });
      },
    );
  }

  /**
   * A hook's `ctx`. Its signal, logger and platform scopes are made on first use; `run` is null
   * for a health check (its signal is the poller's, its scopes end with the check).
   */
  private context(running: Running, hook: PluginContext['hook'], attempt: number, signal: AbortSignal | null, run: HookRun | null): PluginContext {
    const plugin = running.plugin;
    const platform = this.platform;
    let scopes: PluginScopes | null = null;
    const scopesOf = () => {
      if (scopes) return scopes;
      scopes = platform.scopesFor(plugin, hook);
      if (run) run.scopes = scopes;
      else void Promise.resolve().then(() => scopes?.dispose());
      return scopes;
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

  private loggerOf(running: Running): Logger {
    const plugin = running.plugin;
    return (running.logger ??= pluginLogger(this.logger, {
      name: plugin.name,
      getState: () => (running.self ? lifecyclePath(running.self.getSnapshot().value) : 'validating'),
      secrets: secretValues(plugin.manifest?.config, plugin.config),
    }));
  }

  private hookError(plugin: PreparedPlugin, hook: HookParams['hook'], error: unknown): PluginFactoryError {
    const reason = redactText(describeThrown(error), secretValues(plugin.manifest?.config, plugin.config));
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

/** Waits for `promise`, at most `ms`, or until `signal` aborts; leaves no timer behind. */
function settleWithin(promise: Promise<void>, ms: number, signal: AbortSignal, clock: Clock): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    void promise.then(done);
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
