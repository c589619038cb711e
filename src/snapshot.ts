/**
 * The plain-JSON snapshot of a host: `{ state, plugins: [{ name, version, state, attempts,
 * dependencies, optionalDependencies, error, errors, timings, health }] }`. It round-trips through JSON.stringify and never holds a
 * config value, so no secret can reach it.
 */
import type { ErrorInfo } from '../machines/error-info.ts';
import type { HealthRecord, HookTimings, PluginLifecycleSnapshot } from '../machines/plugin-lifecycle.ts';
import { lifecyclePath } from '../machines/plugin-lifecycle.ts';
import type { PluginRecord, PluginRef } from '../machines/plugin-registry.ts';
import type { PluginRuntimes } from './runtime.ts';

export interface PluginSnapshot {
  name: string;
  version: string | null;
  /** Lifecycle state as a dotted path: `running`, `failed.retrying`, `starting.waitingForDependencies` … */
  state: string;
  /** Calls of the current hook (1 on a first-try success). */
  attempts: number;
  /** Required dependencies, then the optional ones that are registered. */
  dependencies: string[];
  /** Which of `dependencies` are optional: the plugin is not taken down when one of them fails or goes. */
  optionalDependencies: string[];
  error: ErrorInfo | null;
  /** Every validation reason, for an `invalid` plugin (empty otherwise). */
  errors: ErrorInfo[];
  timings: HookTimings;
  /**
   * The last health check while `running` (`{ status, components?, message?, error?, checkedAt,
   * durationMs }`); null before the first check, outside `running`, and for plugins without a
   * `health` hook.
   */
  health: HealthRecord | null;
}

export interface ManagerSnapshot {
  /** `idle`, `booting`, `running`, `stopping` or `stopped`; `crashed` once the manager actor itself failed (see docs/lifecycle.md). */
  state: string;
  plugins: PluginSnapshot[];
}

/** A copy the caller may change without changing the plugin's own (what later snapshots show). */
const copyError = (error: ErrorInfo): ErrorInfo => (error.plugins ? { ...error, plugins: [...error.plugins] } : { ...error });

export function pluginSnapshot(
  record: PluginRecord<PluginRef>,
  runtimes: PluginRuntimes,
  isRegistered: (name: string) => boolean = () => true,
): PluginSnapshot {
  const actor = record.ref as unknown as { getSnapshot(): PluginLifecycleSnapshot } | null;
  const snapshot = actor?.getSnapshot();
  const context = snapshot?.context;
  const key = record.entry.input.key ?? record.name;
  const state = record.crash ? 'failed' : snapshot ? lifecyclePath(snapshot.value) : record.state;
  const error = record.crash ?? context?.error ?? null;
  const optional = record.entry.optional.filter(isRegistered);
  return {
    name: record.name,
    version: runtimes.get(key)?.manifest?.version ?? null,
    state,
    attempts: context?.attempts ?? 0,
    dependencies: [...record.entry.requires, ...optional],
    optionalDependencies: [...optional],
    // Copies (or frozen): these are the actor's own records, which later snapshots, the
    // dashboard and `run --json` read too.
    error: error ? copyError(error) : null,
    errors: context?.errors.map(copyError) ?? [],
    timings: { ...(context?.timings ?? {}) },
    health: state === 'running' ? (context?.health ?? null) : null, // frozen where it is recorded
  };
}
