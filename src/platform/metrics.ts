/**
 * Per-plugin metrics: uptime, starts and restarts, hook durations and failures, events published
 * and received, last error code and health. The runtime feeds a recorder per plugin; `snapshot()`
 * is plain JSON and `toPrometheus` (prometheus.ts) renders it as Prometheus text.
 */
import type { ErrorCode, HookName } from '../errors.ts';
import { argumentError, assertPluginName, quote, realTimers } from './_utils.ts';
import type { EventCounts } from './events.ts';
import type { HealthStatus } from './health-result.ts';

/** Totals of one hook of one plugin. */
export interface HookTiming {
  /** Settled calls (resolved, failed or timed out): of a lifecycle hook, or of `health` (its checks). */
  count: number;
  failures: number;
  totalMs: number;
  lastMs: number;
  maxMs: number;
}

/** One plugin's metrics. Plain JSON. */
export interface PluginMetrics {
  name: string;
  /** The last state recorded (dotted path for substates). */
  state: string;
  /** In `running` (or one of its substates) now. */
  up: boolean;
  /** Since it last entered `running`; 0 when not running. */
  uptimeMs: number;
  /** Times it entered `running`. */
  starts: number;
  /** Times it entered `running` again after having run before (restart, retry, stop then start). */
  restarts: number;
  hooks: Partial<Record<HookName, HookTiming>>;
  events: EventCounts;
  /** The code of the last error recorded, and when (the recorder's clock, ms). */
  lastError: { code: ErrorCode; at: number } | null;
  health: HealthStatus | null;
}

/** Every plugin's metrics. Plain JSON. */
export interface MetricsSnapshot {
  plugins: PluginMetrics[];
}

/** What the runtime tells about one plugin. */
export interface PluginMetricsRecorder {
  /** Every state the plugin enters. */
  state(state: string): void;
  /** Each hook call, when it settles. */
  hook(hook: HookName, durationMs: number, ok: boolean): void;
  error(code: ErrorCode): void;
  health(status: HealthStatus | null): void;
}

/** Options of `createMetrics`. */
export interface MetricsOptions {
  /** Event totals per plugin, read at snapshot time (pass `(name) => bus.counts(name)`). */
  eventCounts?: (plugin: string) => EventCounts;
  /** @default Date.now */
  now?: () => number;
}

/** The metrics registry: one per manager, a recorder per plugin. */
export interface Metrics {
  /** The recorder of `name`, made on first use; it keeps its totals across restarts and reloads. */
  plugin(name: string): PluginMetricsRecorder;
  /** Forgets a plugin (unloaded for good). */
  remove(name: string): void;
  snapshot(): MetricsSnapshot;
}

interface Entry {
  state: string;
  runningSince: number | null;
  starts: number;
  hooks: Partial<Record<HookName, HookTiming>>;
  lastError: { code: ErrorCode; at: number } | null;
  health: HealthStatus | null;
}

/** A copy of a plugin's hook totals (a spread per hook: `structuredClone` costs ten times as much). */
function copyHooks(hooks: Entry['hooks']): Entry['hooks'] {
  const copy: Entry['hooks'] = {};
  for (const hook in hooks) copy[hook as HookName] = { ...hooks[hook as HookName]! };
  return copy;
}

const isRunning = (state: string) => state === 'running' || state.startsWith('running.');

function duration(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw argumentError(`metrics: a hook duration must be a finite number of ms ≥ 0, got ${quote(ms)}`);
  return ms;
}

/**
 * One plugin's recorder. A class, so that a host of 10,000 plugins keeps one small object per
 * plugin rather than four closures each. It looks its entry up on every call: a recorder kept
 * after `remove` starts the plugin's totals afresh.
 */
class Recorder implements PluginMetricsRecorder {
  constructor(
    private readonly name: string,
    private readonly entryOf: (name: string) => Entry,
    private readonly now: () => number,
  ) {}

  state(state: string): void {
    if (typeof state !== 'string' || state.length === 0) throw argumentError(`metrics: plugin '${this.name}': ${quote(state)} is not a state`);
    const entry = this.entryOf(this.name);
    const wasUp = isRunning(entry.state);
    entry.state = state;
    if (isRunning(state) && !wasUp) {
      entry.starts++;
      entry.runningSince = this.now();
    } else if (!isRunning(state)) {
      entry.runningSince = null;
    }
  }

  hook(hook: HookName, durationMs: number, ok: boolean): void {
    const ms = duration(durationMs);
    const entry = this.entryOf(this.name);
    const timing = (entry.hooks[hook] ??= { count: 0, failures: 0, totalMs: 0, lastMs: 0, maxMs: 0 });
    timing.count++;
    if (!ok) timing.failures++;
    timing.totalMs += ms;
    timing.lastMs = ms;
    timing.maxMs = Math.max(timing.maxMs, ms);
  }

  error(code: ErrorCode): void {
    this.entryOf(this.name).lastError = { code, at: this.now() };
  }

  health(status: HealthStatus | null): void {
    this.entryOf(this.name).health = status;
  }
}

/**
 * @example
 * ```ts
 * const metrics = createMetrics({ eventCounts: (name) => bus.counts(name) });
 * metrics.plugin('db').state('running');
 * metrics.plugin('db').hook('start', 12.5, true);
 * response.end(toPrometheus(metrics.snapshot()));
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const now = options.now ?? realTimers.now;
  const entries = new Map<string, Entry>();
  const recorders = new Map<string, PluginMetricsRecorder>();
  const entryOf = (name: string): Entry => {
    let entry = entries.get(name);
    if (!entry) {
      entry = { state: 'unknown', runningSince: null, starts: 0, hooks: {}, lastError: null, health: null };
      entries.set(name, entry);
    }
    return entry;
  };
  return {
    plugin(name) {
      assertPluginName(name, 'metrics.plugin');
      const existing = recorders.get(name);
      if (existing) return existing;
      const recorder = new Recorder(name, entryOf, now);
      recorders.set(name, recorder);
      entryOf(name);
      return recorder;
    },
    remove(name) {
      entries.delete(name);
      recorders.delete(name);
    },
    snapshot() {
      const at = now();
      return {
        plugins: [...entries].map(([name, entry]) => ({
          name,
          state: entry.state,
          up: entry.runningSince !== null,
          uptimeMs: entry.runningSince === null ? 0 : Math.max(0, at - entry.runningSince),
          starts: entry.starts,
          restarts: Math.max(0, entry.starts - 1),
          hooks: copyHooks(entry.hooks),
          events: options.eventCounts ? { ...options.eventCounts(name) } : { published: 0, received: 0 },
          lastError: entry.lastError ? { ...entry.lastError } : null,
          health: entry.health,
        })),
      };
    },
  };
}
