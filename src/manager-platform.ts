/**
 * The host's side of the platform services on a `PluginManager`: extension points, the event
 * bus's host scope, listeners around lifecycle hooks, aggregated health and metrics.
 */
import type { EventScope } from './platform/events.ts';
import { lifecycleEventType } from './platform/event-patterns.ts';
import { isPluginName } from './platform/_utils.ts';
import { worstStatus } from './platform/health-result.ts';
import type { HealthStatus } from './platform/health-result.ts';
import type { HostHookRef, HostHooks } from './platform/host-hooks.ts';
import type { LifecycleHooks } from './platform/lifecycle-hooks.ts';
import { toPrometheus } from './platform/prometheus.ts';
import type { HealthRecord } from '../machines/plugin-lifecycle.ts';
import { setOwn } from './json-data.ts';
import type { PluginPlatform } from './plugin-platform.ts';
import type { ManagerSnapshot } from './snapshot.ts';
import type { ErrorCode } from './errors.ts';

/**
 * `manager.health()`: the worst status of the running plugins, and each one's check that set its
 * current status. A plugin out of service (failed, blocked by a failed dependency, or invalid)
 * makes the host at least `degraded`: the host serves on without it, but it is not whole.
 */
export interface HostHealth {
  status: HealthStatus;
  /** Every running plugin: the check that set its current status (null before one, or without a `health` hook). */
  plugins: Record<string, HealthRecord | null>;
  /** Every plugin out of service: its state (`failed.halted`, `failed.blocked`, `invalid` …) and its error's code. */
  down: Record<string, { state: string; code: ErrorCode | null }>;
}

/** A plugin the host cannot use until it is fixed, retried or reset (a stop by hand is not one). */
const isOutOfService = (state: string) => state === 'invalid' || state === 'failed' || state.startsWith('failed.');

export interface ManagerPlatform {
  /**
   * Declares an extension point plugins implement with `ctx.hooks.implement(name, fn)`.
   * @example
   * ```ts
   * const routes = manager.defineHook<{ prefix: string }, Route>('http.routes', { mode: 'collect' });
   * const table = await manager.callHook(routes, { prefix: '/api' }); // Route[], in dependency order
   * ```
   */
  defineHook: HostHooks['define'];
  /** Calls every implementation: `collect` → results, `first` → the first defined result, `series` → the piped value. */
  callHook: HostHooks['call'];
  /**
   * The host's unrestricted scope of the event bus. `plugin.<name>.<state>` lifecycle events come
   * from a scope of the engine's own: `events.dispose()` ends the host's subscriptions only.
   */
  readonly events: EventScope;
  /** Runs `fn` before a lifecycle hook of every plugin (`'*'`: every hook); a throw vetoes the hook. Returns its remover. */
  onBeforeHook: LifecycleHooks['onBefore'];
  /** Runs `fn` after a lifecycle hook settled. Returns its remover. */
  onAfterHook: LifecycleHooks['onAfter'];
  /** Host health: the running plugins' worst status (no check counts as healthy); a plugin out of service makes it at least `degraded`. */
  health(): HostHealth;
  /** Per-plugin metrics in Prometheus text format (serve with `PROMETHEUS_CONTENT_TYPE`). */
  metrics(): string;
}

export function managerPlatform(platform: PluginPlatform, getSnapshot: () => ManagerSnapshot): ManagerPlatform {
  return {
    defineHook: platform.hooks.define.bind(platform.hooks) as HostHooks['define'],
    callHook: platform.hooks.call.bind(platform.hooks) as HostHooks['call'],
    // A scope of its own: the host disposing it must not silence the engine's lifecycle events.
    events: platform.bus.hostScope(),
    onBeforeHook: (hook, fn) => platform.lifecycle.onBefore(hook, fn),
    onAfterHook: (hook, fn) => platform.lifecycle.onAfter(hook, fn),
    health() {
      let status: HealthStatus = 'healthy';
      const plugins: HostHealth['plugins'] = {};
      const down: HostHealth['down'] = {};
      for (const plugin of getSnapshot().plugins) {
        if (plugin.state === 'running') {
          setOwn(plugins, plugin.name, plugin.health);
          if (plugin.health) status = worstStatus(status, plugin.health.status);
        } else if (isOutOfService(plugin.state)) {
          // An invalid plugin keeps the name its manifest gave, `__proto__` included.
          setOwn(down, plugin.name, { state: plugin.state, code: plugin.error?.code ?? null });
          status = worstStatus(status, 'degraded');
        }
      }
      return { status, plugins, down };
    },
    metrics: () => toPrometheus(platform.metrics.snapshot()),
  };
}

/**
 * Feeds a plugin's lifecycle change to metrics and, for a new top-level state, to the event bus.
 * An invalid plugin may carry a name no plugin could have (its manifest was wrong): it has no
 * metrics and no lifecycle events.
 */
export function publishChange(platform: PluginPlatform, name: string, state: string, previous: string, errorCode?: ErrorCode): void {
  if (!isPluginName(name)) return;
  const metrics = platform.metrics.plugin(name);
  metrics.state(state);
  // Out of service (invalid, failed, blocked, crashed): its code is the plugin's last error.
  if (errorCode !== undefined) metrics.error(errorCode);
  const top = state.split('.')[0]!;
  // Nobody listening (the common case while 10,000 plugins boot): nothing to build.
  if (top === previous.split('.')[0] || platform.bus.subscriptionCount() === 0) return;
  platform.hostEvents.publish(lifecycleEventType(name, state), { name, state, previous });
}

export type { HostHookRef };
