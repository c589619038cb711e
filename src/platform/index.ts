/**
 * The platform services a running plugin uses through `ctx`: events, services, host hooks,
 * health, metrics, storage and logging. Each is a standalone module with a per-plugin scope the
 * runtime creates when a plugin enters a state and disposes when it leaves.
 */
export { createEventBus } from './events.ts';
export { isEventPattern, lifecycleEventType, matchesEventPattern, parseEventPattern } from './event-patterns.ts';
export type { BusEvent, EventBus, EventBusOptions, EventCounts, EventHandler, EventScope, EventScopeOwner } from './events.ts';
export { createServiceRegistry, defineService } from './services.ts';
export type { ServiceRef, ServiceRegistry, ServiceScope, ServiceScopeOwner, ServiceType } from './services.ts';
export { HOST_HOOK_MODES, createHostHooks } from './host-hooks.ts';
export type { HostHookFn, HostHookMode, HostHookRef, HostHookResult, HostHookScope, HostHooks, ImplementOptions } from './host-hooks.ts';
export { LIFECYCLE_HOOKS, createLifecycleHooks } from './lifecycle-hooks.ts';
export type { AfterInfo, AfterListener, AroundInfo, BeforeListener, LifecycleHookName, LifecycleHooks, LifecycleHooksOptions } from './lifecycle-hooks.ts';
export { createHealthPoller } from './health.ts';
export type { HealthPoller, HealthPollerOptions } from './health.ts';
export { HEALTH_STATUSES, normalizeHealth, sameHealth, worstStatus } from './health-result.ts';
export type { ComponentHealth, HealthReport, HealthResult, HealthStatus } from './health-result.ts';
export type { Timers } from './_utils.ts';
export { createMetrics } from './metrics.ts';
export type { HookTiming, Metrics, MetricsOptions, MetricsSnapshot, PluginMetrics, PluginMetricsRecorder } from './metrics.ts';
export { PROMETHEUS_CONTENT_TYPE, escapeLabelValue, toPrometheus } from './prometheus.ts';
export type { MetricsSnapshotLike } from './prometheus.ts';
export { createMemoryStore, toJsonValue } from './store.ts';
export type { JsonValue, PluginStore, Store } from './store.ts';
export { createFileStore } from './file-store.ts';
export type { FileStoreOptions, StoreFileSystem } from './file-store.ts';
export { REDACTED, createPinoLogger, pluginLogger, redactText, redactValue } from './logging.ts';
export type { PinoLogger, PinoLoggerOptions, PluginLoggerOptions } from './logging.ts';
export { HOST_WIDE_MIN_LENGTH, SecretSet, isHostWide, redactorOf, unionOf } from './secrets.ts';
export type { Redactor } from './secrets.ts';
