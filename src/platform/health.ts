/**
 * The health poller: calls one plugin's `health` hook every `intervalMs` while started, under
 * `timeoutMs`, and reports changes and unhealthy streaks.
 *
 * Checks never overlap: the next one is scheduled when the previous settled or timed out. A
 * check that timed out but still has not settled when the next one is due is not called again:
 * that round counts as another `HOOK_TIMEOUT`. A throw is `HOOK_FAILED`, a result that is not a
 * health result `HEALTH_INVALID`; all three are `unhealthy`, with the code in `report.error`.
 * At any moment at most one timer is set, and `stop()` clears it and aborts the check's signal.
 */
import { describeThrown } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { MAX_TIMER_MS } from '../manifest.ts';
import { cutText } from '../printable.ts';
import { onSettled } from '../settled.ts';
import { isPluginName, optionsError, quote, realTimers } from './_utils.ts';
import type { Timers } from './_utils.ts';
import { MAX_MESSAGE, normalizeHealth, sameHealth } from './health-result.ts';
import type { HealthReport } from './health-result.ts';

/** Options of `createHealthPoller`: one poller per plugin with a `health` hook. */
export interface HealthPollerOptions {
  plugin: string;
  /** Calls the plugin's `health(ctx)`, with `signal` as `ctx.signal` (aborted on timeout and stop). */
  check: (signal: AbortSignal) => unknown;
  intervalMs: number;
  timeoutMs: number;
  /** How many `unhealthy` checks in a row make `onUnhealthy` fire. */
  unhealthyThreshold: number;
  /** Delay before the first check after `start()`. @default 0 */
  initialDelayMs?: number;
  /**
   * Every report, one per round: `called` is false for a round that did not call the hook because
   * an earlier check still hangs (reported as a timeout).
   */
  onReport?: (report: HealthReport, called: boolean) => void;
  /** Each report whose status or component statuses differ from the previous one (the first one too). */
  onChange?: (report: HealthReport, previous: HealthReport | undefined) => void;
  /** Once per streak, when the `unhealthyThreshold`-th unhealthy check in a row comes in. */
  onUnhealthy?: (report: HealthReport, consecutive: number) => void;
  /** Applied to every message (scrub secret config values). */
  redact?: (text: string) => string;
  /** @default the real timers and Date.now */
  timers?: Timers;
  /**
   * A check of the plugin still in flight from before (an earlier poller's, the plugin having
   * been restarted since): until it settles, checks that fall due are not called and count as
   * timeouts, as when this poller's own check hangs. Checks of a plugin never overlap.
   */
  inFlight?: Promise<unknown> | null;
}

/** Polls one plugin; started on entering `running`, stopped on leaving it. */
export interface HealthPoller {
  /** Starts polling (no-op when started); forgets the previous reports and streak. */
  start(): void;
  /** Stops polling: clears the timer, aborts the running check; late results are dropped. */
  stop(): void;
  readonly running: boolean;
  readonly last: HealthReport | undefined;
  readonly consecutiveUnhealthy: number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function checkNumber(value: unknown, name: string, min: number, integer = false): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_TIMER_MS || (integer && !Number.isInteger(value))) {
    throw optionsError(`createHealthPoller: ${name} must be a${integer ? 'n integer' : ' number'} from ${min} to ${MAX_TIMER_MS}, got ${quote(value)}`);
  }
}

/**
 * @example
 * ```ts
 * const poller = createHealthPoller({
 *   plugin: 'db', check: (signal) => hooks.health?.({ ...ctx, signal }),
 *   intervalMs: 10_000, timeoutMs: 2_000, unhealthyThreshold: 3,
 *   onChange: (report) => actor.send({ type: 'plugin.health', report }),
 *   onUnhealthy: () => manager.restartPlugin('db'),
 * });
 * poller.start(); // entering running … poller.stop(); // leaving it
 * ```
 */
export function createHealthPoller(options: HealthPollerOptions): HealthPoller {
  if (!isPluginName(options?.plugin)) throw optionsError(`createHealthPoller: ${quote(options?.plugin)} is not a plugin name`);
  if (typeof options.check !== 'function') throw optionsError(`createHealthPoller: check must be a function`);
  checkNumber(options.intervalMs, 'intervalMs', 1);
  checkNumber(options.timeoutMs, 'timeoutMs', 1);
  checkNumber(options.unhealthyThreshold, 'unhealthyThreshold', 1, true);
  checkNumber(options.initialDelayMs ?? 0, 'initialDelayMs', 0);
  const { plugin, intervalMs, timeoutMs, unhealthyThreshold } = options;
  const timers = options.timers ?? realTimers;
  const redact = options.redact ?? ((text: string) => text);

  let running = false;
  let generation = 0;
  let timer: unknown;
  let hasTimer = false;
  let controller: AbortController | null = null;
  let inFlight: Promise<unknown> | null = null;
  // The earlier poller's check, waited for only while this poller runs: one that never settles
  // must not keep every poller made after it (a plugin restarted for days) through a callback.
  const earlier = options.inFlight ?? null;
  let earlierSettled = earlier === null;
  let giveUpEarlier: () => void = () => undefined;
  const awaitEarlier = () => {
    if (!earlierSettled) giveUpEarlier = onSettled(earlier!, () => void (earlierSettled = true));
  };
  let last: HealthReport | undefined;
  let consecutive = 0;

  const setTimer = (fn: () => void, ms: number) => {
    hasTimer = true;
    timer = timers.setTimeout(() => {
      hasTimer = false;
      fn();
    }, ms);
  };
  const clearTimer = () => {
    if (hasTimer) timers.clearTimeout(timer);
    hasTimer = false;
  };

  const safely = (fn: () => void) => {
    try {
      fn();
    } catch {
      // The host's callbacks must not stop the poller.
    }
  };

  const record = (report: HealthReport, called = true) => {
    const previous = last;
    last = report;
    consecutive = report.status === 'unhealthy' ? consecutive + 1 : 0;
    if (options.onReport) safely(() => options.onReport!(report, called));
    if (!sameHealth(previous, report) && options.onChange) safely(() => options.onChange!(report, previous));
    if (consecutive === unhealthyThreshold && options.onUnhealthy) safely(() => options.onUnhealthy!(report, consecutive));
  };

  const failure = (code: ErrorCode, message: string, started: number): HealthReport => {
    const text = cutText(redact(`plugin '${plugin}': ${message}`), MAX_MESSAGE);
    return { status: 'unhealthy', message: text, error: { code, message: text, hook: 'health' }, checkedAt: timers.now(), durationMs: timers.now() - started };
  };
  const timedOut = (started: number) =>
    failure('HOOK_TIMEOUT', `health hook did not settle within ${timeoutMs} ms; make it resolve sooner or honour ctx.signal`, started);

  const fromOutcome = (outcome: Outcome, started: number): HealthReport => {
    if (!outcome.ok) return failure('HOOK_FAILED', `health hook failed: ${describeThrown(outcome.error)}`, started);
    let result: ReturnType<typeof normalizeHealth>;
    try {
      result = normalizeHealth(outcome.value, redact);
    } catch (error) {
      // A getter or Proxy trap of the result threw while it was read: the check failed, the poller goes on.
      return failure('HEALTH_INVALID', `health hook returned a result that cannot be read: ${describeThrown(error)}`, started);
    }
    if (result === null) {
      return failure('HEALTH_INVALID', `health hook returned ${quote(outcome.value)}, not a health result ('healthy', 'degraded', 'unhealthy' or { status, components?, message? })`, started);
    }
    return { ...result, checkedAt: timers.now(), durationMs: timers.now() - started };
  };

  const tick = () => {
    const gen = generation;
    const started = timers.now();
    if (inFlight || !earlierSettled) {
      record(timedOut(started), false);
      next(gen);
      return;
    }
    controller = new AbortController();
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(options.check(controller.signal));
    } catch (error) {
      result = Promise.reject(error);
    }
    const call = result.then(
      (value): Outcome => ({ ok: true, value }),
      (error: unknown): Outcome => ({ ok: false, error }),
    );
    inFlight = call;
    let answered = false;
    setTimer(() => {
      answered = true;
      controller?.abort();
      record(timedOut(started));
      next(gen);
    }, timeoutMs);
    void call.then((outcome) => {
      if (inFlight === call) inFlight = null;
      if (answered || gen !== generation) return;
      answered = true;
      clearTimer();
      record(fromOutcome(outcome, started));
      next(gen);
    });
  };
  // record() may have stopped the poller (its callbacks can restart the plugin): no next check then.
  const next = (gen: number) => {
    if (running && gen === generation) setTimer(tick, intervalMs);
  };

  return {
    start() {
      if (running) return;
      running = true;
      last = undefined;
      consecutive = 0;
      awaitEarlier();
      setTimer(tick, options.initialDelayMs ?? 0);
    },
    stop() {
      if (!running) return;
      running = false;
      generation++;
      clearTimer();
      controller?.abort();
      controller = null;
      giveUpEarlier();
    },
    get running() {
      return running;
    },
    get last() {
      return last;
    },
    get consecutiveUnhealthy() {
      return consecutive;
    },
  };
}
