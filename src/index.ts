/**
 * Plugin Factory: loads, validates and runs plugins under a strict contract, every plugin's
 * lifecycle an XState v5 actor spawned from one shared chart. This is the only entry users import.
 */
export { createPluginManager, PLUGIN_COMMANDS } from './manager.ts';
export type {
  Clock,
  ManagerChange,
  PluginCommand,
  PluginManager,
  PluginManagerOptions,
  ReloadOptions,
  Subscription,
} from './manager.ts';
export type { ManagerSnapshot, PluginSnapshot } from './snapshot.ts';
export type { OptionalFields } from './manager-options.ts';
export type { HealthDefaults } from './runtime.ts';
export type { HostHealth, ManagerPlatform } from './manager-platform.ts';
export { defineService } from './platform/services.ts';
export type { ServiceRef, ServiceScope, ServiceType } from './platform/services.ts';
export type { BusEvent, EventHandler, EventScope } from './platform/events.ts';
export type { HostHookFn, HostHookMode, HostHookRef, HostHookResult, HostHookScope, HostHooks, ImplementOptions } from './platform/host-hooks.ts';
export type { AfterInfo, AfterListener, AroundInfo, AroundOptions, BeforeListener, LifecycleHookName, LifecycleHooks } from './platform/lifecycle-hooks.ts';
export type { ComponentHealth, HealthResult, HealthStatus } from './platform/health-result.ts';
export type { JsonValue, PluginStore } from './platform/store.ts';
export { PROMETHEUS_CONTENT_TYPE } from './platform/prometheus.ts';
export { createPinoLogger } from './platform/logging.ts';
export type { PinoLogger, PinoLoggerOptions } from './platform/logging.ts';
export type { HealthRecord, HookTimings } from '../machines/plugin-lifecycle.ts';
export { definePlugin } from './definition.ts';
export type { PluginContext, PluginDefinition, PluginFactory, PluginHooks, PluginModule } from './definition.ts';
export { ERROR_CODES, PluginFactoryError, isPluginFactoryError } from './errors.ts';
export type { ErrorCode, ErrorInfo, HookName, PluginFactoryErrorOptions } from './errors.ts';
export { Manifest, ConfigFieldSpec, PLUGIN_NAME_PATTERN } from './manifest.ts';
export type { ManifestInput } from './manifest.ts';
export { createConsoleLogger, silentLogger } from './logger.ts';
export type { LogFields, LogFn, Logger, LogLevel } from './logger.ts';
export { ENGINE_VERSION } from './prepare.ts';
export { loadHost, loadPluginFolder } from './loading/index.ts';
export type { HostSettings, LoadOptions, LoadedHost } from './loading/index.ts';
export type { FolderOptions } from './loading/plugin-folder.ts';
export { HostFile } from './loading/host-file.ts';
export { pluginLifecycle, LIFECYCLE_STATES, DEFAULT_RETRY, backoffDelay } from '../machines/plugin-lifecycle.ts';
export type {
  LifecycleEvent,
  LifecycleState,
  RetryPolicy,
  PluginLifecycleLogic,
  PluginLifecycleSnapshot,
} from '../machines/plugin-lifecycle.ts';
export { pluginManager } from '../machines/plugin-manager.ts';
export type { PluginManagerLogic, PluginManagerSnapshot } from '../machines/plugin-manager.ts';
export type { FailurePolicy } from '../machines/plugin-registry.ts';
export { serveDashboard } from './dashboard/serve.ts';
export type { Dashboard, DashboardOptions } from './dashboard/serve.ts';
export { reloadFromHost } from './dashboard/host-reload.ts';
export type { ReloadSource } from './dashboard/host-reload.ts';
export { DASHBOARD_COMMANDS } from './dashboard/wire.ts';
export type { DashboardChart, DashboardCommand, DashboardError, DashboardHealth, DashboardPlugin, DashboardSnapshot, LiveMessage } from './dashboard/wire.ts';
export { createInspectionHub } from './inspection/hub.ts';
export type { InspectionHub, InspectionHubOptions, InspectionSubscription } from './inspection/hub.ts';
export type { InspectionRecord } from './inspection/record.ts';
export { secretsOf } from './inspection/redact.ts';
export { connectStatelyInspector } from './inspection/stately.ts';
export type { StatelyInspector, StatelyInspectorOptions } from './inspection/stately.ts';
