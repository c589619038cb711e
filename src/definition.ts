/**
 * What a plugin is made of: its hooks (the module's default export), the context each hook
 * receives, and the in-memory definition an embedder hands to `createPluginManager`.
 */
import type { HookName, PluginFactoryError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { ManifestInput } from './manifest.ts';
import type { EventScope } from './platform/events.ts';
import type { HostHookScope } from './platform/host-hooks.ts';
import type { ServiceScope } from './platform/services.ts';
import type { PluginStore } from './platform/store.ts';

/** What every hook receives. */
export interface PluginContext<Config extends object = Record<string, unknown>> {
  /** The plugin's name. */
  readonly name: string;
  readonly version: string;
  /** Validated config, defaults applied. */
  readonly config: Readonly<Config>;
  /** Aborted when the hook times out or is cancelled: stop working when it fires. */
  readonly signal: AbortSignal;
  /** A child logger carrying the plugin's name and state; secret config values are redacted. */
  readonly logger: Logger;
  /** The hook being run. */
  readonly hook: HookName;
  /** 1 on the first call of this hook for the current command, 2 on the first retry … */
  readonly attempt: number;
  /** Publish and subscribe to the events the manifest declares (`events.publishes` / `subscribes`). */
  readonly events: EventScope;
  /** Provide typed services (in `start`); get those of declared dependencies. */
  readonly services: ServiceScope;
  /** Implement the host's extension points (in `start`: they last while the plugin runs). */
  readonly hooks: HostHookScope;
  /** A key/value store of JSON values that survives restarts of the host. */
  readonly store: PluginStore;
}

export type Hook<Config extends object> = (ctx: PluginContext<Config>) => unknown;

/** The hooks object a plugin module default-exports. init, start and stop are required. */
export interface PluginHooks<Config extends object = Record<string, unknown>> {
  init(ctx: PluginContext<Config>): unknown;
  start(ctx: PluginContext<Config>): unknown;
  stop(ctx: PluginContext<Config>): unknown;
  /** Releases what init acquired; runs when the plugin is unloaded or reloaded. */
  dispose?(ctx: PluginContext<Config>): unknown;
  health?(ctx: PluginContext<Config>): unknown;
}

/** A default export may also be a factory returning the hooks (sync or async). */
export type PluginFactory<Config extends object = Record<string, unknown>> = () =>
  | PluginHooks<Config>
  | Promise<PluginHooks<Config>>;

export type PluginModule<Config extends object = Record<string, unknown>> =
  | PluginHooks<Config>
  | PluginFactory<Config>;

/**
 * The typed way to write a plugin's hooks (or its factory). It returns its argument unchanged: a
 * plain object with the same functions works just as well and needs no import from the engine.
 *
 * @example
 * ```ts
 * export default definePlugin<{ url: string }>({
 *   async init(ctx) { pool = await connect(ctx.config.url, { signal: ctx.signal }); },
 *   async start() {},
 *   async stop() { await pool.end(); },
 * });
 * ```
 */
export function definePlugin<Config extends object = Record<string, unknown>>(
  plugin: PluginHooks<Config>,
): PluginHooks<Config>;
export function definePlugin<Config extends object = Record<string, unknown>>(
  plugin: PluginFactory<Config>,
): PluginFactory<Config>;
export function definePlugin(plugin: unknown): unknown {
  return plugin;
}

/** A plugin handed to the engine in memory: its manifest, its module, its config values. */
export interface PluginDefinition {
  manifest: ManifestInput;
  /** The hooks object or a factory returning it; checked against the contract before use. */
  module: unknown;
  /** Config values, checked against `manifest.config`. */
  config?: Record<string, unknown> | undefined;
  /** Where the plugin came from (e.g. `plugins/db/plugin.json`), named in error hints. */
  source?: string | undefined;
  /** Where its config values came from (e.g. `host.yaml`), named in config error hints; `source` when not given. */
  configSource?: string | undefined;
  /** Shown when the manifest has no usable name (e.g. the plugin folder's name). */
  name?: string | undefined;
  /**
   * Problems found while loading it from disk (no manifest, entry outside the folder, import
   * failed …): a definition with problems is registered as `invalid` with them as reasons.
   */
  problems?: PluginFactoryError[] | undefined;
}
