/**
 * The rows the page sees: built from `manager.getSnapshot()` field by field (a whitelist, every
 * string redacted), so nothing the snapshot may gain later reaches the page unchecked, plus the
 * commands `manager.can()` allows and when each plugin entered its state.
 */
import type { PluginManager } from '../manager.ts';
import type { ManagerSnapshot, PluginSnapshot } from '../snapshot.ts';
import type { ErrorCode } from '../errors.ts';
import type { Redact } from '../inspection/redact.ts';
import { DASHBOARD_COMMANDS } from './wire.ts';
import type { DashboardCommand, DashboardError, DashboardHealth, DashboardPlugin, DashboardSnapshot } from './wire.ts';

export interface ViewOptions {
  redact: Redact;
  reload: boolean;
  inspection: boolean;
}

function errorOf(error: unknown, redact: Redact): DashboardError | null {
  if (error === null || typeof error !== 'object') return null;
  const { code, message, hook } = error as { code?: unknown; message?: unknown; hook?: unknown };
  // The snapshot's errors carry the engine's codes.
  const out: DashboardError = { code: String(code ?? 'INTERNAL_ERROR') as ErrorCode, message: redact(String(message ?? '')) };
  if (typeof hook === 'string') out.hook = hook;
  return out;
}

/** A snapshot's `health`, when it has one: a status word and maybe a message. */
function healthOf(plugin: PluginSnapshot, redact: Redact): DashboardHealth | null {
  const health: unknown = (plugin as unknown as { health?: unknown }).health;
  if (health === undefined || health === null) return null;
  if (typeof health === 'string' || typeof health === 'boolean') return { status: redact(String(health)) };
  if (typeof health !== 'object') return null;
  const { status, message, error } = health as { status?: unknown; message?: unknown; error?: { code?: unknown; message?: unknown } };
  const out: DashboardHealth = { status: redact(String(status ?? 'unknown')) };
  // A check that failed says why in `error` (HOOK_TIMEOUT …); a result may carry a message.
  const why = typeof message === 'string' ? message : error && typeof error.code === 'string' ? `${error.code}: ${String(error.message ?? '')}` : null;
  if (why !== null) out.message = redact(why);
  return out;
}

function timingsOf(timings: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (timings === null || typeof timings !== 'object') return out;
  for (const [key, value] of Object.entries(timings)) if (typeof value === 'number' && Number.isFinite(value)) out[key] = value;
  return out;
}

/** What the chart allows for `name` right now. */
export function allowed(manager: PluginManager, name: string, reload: boolean): Record<DashboardCommand, boolean> {
  const can = {} as Record<DashboardCommand, boolean>;
  for (const command of DASHBOARD_COMMANDS) can[command] = (command !== 'reload' || reload) && manager.can(name, command);
  return can;
}

export function pluginRow(
  plugin: PluginSnapshot,
  can: Record<DashboardCommand, boolean>,
  since: number,
  redact: Redact,
): DashboardPlugin {
  return {
    name: plugin.name,
    version: plugin.version === null ? null : redact(String(plugin.version)),
    state: plugin.state,
    attempts: typeof plugin.attempts === 'number' ? plugin.attempts : 0,
    dependencies: [...plugin.dependencies],
    optionalDependencies: [...plugin.optionalDependencies],
    error: errorOf(plugin.error, redact),
    errors: (plugin.errors ?? []).map((error) => errorOf(error, redact)).filter((error) => error !== null),
    timings: timingsOf(plugin.timings),
    health: healthOf(plugin, redact),
    can,
    since,
  };
}

/** When each plugin entered its state, as the dashboard saw it. */
export class StateClock {
  private readonly since = new Map<string, number>();
  constructor(private readonly started = Date.now()) {}

  /** Each entry later than the one before for the plugin, even within a millisecond or when the wall clock steps back: the page tells newer rows by it. */
  changed(name: string, at = Date.now()): void {
    const before = this.since.get(name);
    this.since.set(name, before !== undefined && at <= before ? before + 1 : at);
  }

  removed(name: string): void {
    this.since.delete(name);
  }

  of(name: string): number {
    return this.since.get(name) ?? this.started;
  }
}

export function dashboardSnapshot(
  manager: PluginManager,
  snapshot: ManagerSnapshot,
  clock: StateClock,
  options: ViewOptions,
): DashboardSnapshot {
  return {
    state: snapshot.state,
    plugins: snapshot.plugins.map((plugin) =>
      pluginRow(plugin, allowed(manager, plugin.name, options.reload), clock.of(plugin.name), options.redact),
    ),
    reload: options.reload,
    inspection: options.inspection,
  };
}
