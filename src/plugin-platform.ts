/**
 * One manager's platform services — event bus, service registry, host hooks, listeners around
 * lifecycle hooks, metrics, store — and the scopes each plugin gets of them through `ctx`.
 *
 * Lifetimes follow the chart:
 * - what `start` registers (subscriptions, services, host-hook implementations) lives in the
 *   plugin's service scope, which ends when the plugin leaves `running` (or when `start` fails or
 *   is cancelled);
 * - what `init`, `stop`, `dispose` or `health` registers lives in a scope of that one call, which
 *   ends when its state is left;
 * - `ctx.store` and `ctx.logger` live as long as the plugin.
 * Scopes are made on first use: a hook that never touches `ctx.events` costs nothing.
 */
import { createEventBus } from './platform/events.ts';
import type { EventBus, EventScope } from './platform/events.ts';
import { createHostHooks } from './platform/host-hooks.ts';
import type { HostHookScope, HostHooks } from './platform/host-hooks.ts';
import { createLifecycleHooks } from './platform/lifecycle-hooks.ts';
import type { LifecycleHooks } from './platform/lifecycle-hooks.ts';
import { createMetrics } from './platform/metrics.ts';
import type { Metrics } from './platform/metrics.ts';
import { createServiceRegistry } from './platform/services.ts';
import type { ServiceRegistry, ServiceScope } from './platform/services.ts';
import { createFileStore } from './platform/file-store.ts';
import { createMemoryStore } from './platform/store.ts';
import type { PluginStore, Store } from './platform/store.ts';
import type { Logger } from './logger.ts';
import { PluginFactoryError } from './errors.ts';
import type { PreparedPlugin } from './prepare.ts';

/** The scopes one hook call (or one service period) hands to `ctx`. */
export class PluginScopes {
  private eventScope: EventScope | null = null;
  private serviceScope: ServiceScope | null = null;
  private hookScope: HostHookScope | null = null;
  private disposed = false;

  constructor(
    private readonly platform: PluginPlatform,
    private readonly plugin: PreparedPlugin,
    private readonly canProvide: boolean,
  ) {}

  /** Once disposed, no scope is made any more: it would register past the plugin's call or service period. */
  private live(): void {
    if (!this.disposed) return;
    throw new PluginFactoryError(
      'SCOPE_DISPOSED',
      `plugin '${this.plugin.name}': the call or service period that gave this ctx has ended; use the ctx of the current hook`,
      { plugin: this.plugin.name },
    );
  }

  get events(): EventScope {
    if (!this.eventScope) this.live();
    const events = this.plugin.manifest?.events;
    return (this.eventScope ??= this.platform.bus.scope({
      name: this.plugin.name,
      publishes: events?.publishes,
      subscribes: events?.subscribes,
    }));
  }

  get services(): ServiceScope {
    if (!this.serviceScope) this.live();
    return (this.serviceScope ??= this.platform.services.scope({
      name: this.plugin.name,
      dependencies: [...this.plugin.requires, ...this.plugin.optional],
      canProvide: this.canProvide,
    }));
  }

  get hooks(): HostHookScope {
    if (!this.hookScope) this.live();
    return (this.hookScope ??= this.platform.hooks.scope(this.plugin.name));
  }

  /** Ends every subscription, service and implementation made through these scopes. */
  dispose(): void {
    this.disposed = true;
    this.eventScope?.dispose();
    this.serviceScope?.dispose();
    this.hookScope?.dispose();
  }
}

export interface PlatformOptions {
  logger: Logger;
  /** Where `ctx.store` keeps its files; in memory when absent. */
  dataDir?: string | undefined;
}

export class PluginPlatform {
  readonly bus: EventBus;
  readonly services: ServiceRegistry = createServiceRegistry();
  readonly hooks: HostHooks = createHostHooks({ redact: (text, plugin) => this.redact(text, plugin) });
  readonly lifecycle: LifecycleHooks;
  readonly metrics: Metrics;
  readonly store: Store;
  /** The host's own, unrestricted scope: lifecycle events are published here. */
  readonly hostEvents: EventScope;
  /**
   * Per plugin generation (`db`, `db@2` …): the scope of its current service period (from
   * `start` to leaving `running`). By generation, not name: ending an old generation after a
   * reload must not end what the new one registered.
   */
  private readonly serving = new Map<string, PluginScopes>();
  private readonly stores = new Map<string, PluginStore>();
  /**
   * Scrubs secret config values from a text reported by `plugin` (or by no plugin in particular);
   * set by the runtime, which knows the configs.
   */
  redact: (text: string, plugin?: string) => string = (text) => text;
  /** The logger of the plugin `name` (its child of the host logger), set by the runtime; null: none registered. */
  loggerOf: (name: string) => Logger | null = () => null;

  private readonly logger: Logger;

  constructor(options: PlatformOptions) {
    const { logger } = options;
    this.logger = logger;
    this.bus = createEventBus({
      logger,
      // A failed handler is logged through its plugin's logger, with the secrets redacted (its
      // error may quote any plugin's).
      loggerOf: (name) => this.loggerOf(name),
      redact: (text, plugin) => this.redact(text, plugin),
    });
    // A failed after-listener is logged scrubbed too: what it threw may quote the hook's outcome.
    this.lifecycle = createLifecycleHooks({
      logger,
      onError: (error) => logger.error({ plugin: error.plugin, code: error.code }, this.redact(error.message, error.plugin)),
    });
    this.metrics = createMetrics({ eventCounts: (name) => this.bus.counts(name) });
    this.store = options.dataDir === undefined ? createMemoryStore() : createFileStore({ dataDir: options.dataDir });
    this.hostEvents = this.bus.hostScope();
  }

  /** The scopes for one call of `hook`: `start` opens the service period, others get their own. */
  scopesFor(plugin: PreparedPlugin, hook: string): PluginScopes {
    if (hook !== 'start') return new PluginScopes(this, plugin, false);
    this.endService(plugin.key);
    const scopes = new PluginScopes(this, plugin, true);
    this.serving.set(plugin.key, scopes);
    return scopes;
  }

  /**
   * The plugin left `running`, or its `start` did not succeed: what it registered ends. With
   * `scopes`, only those end (and the service period too, if they are still its scopes).
   * `key` names the generation (`PreparedPlugin.key`).
   */
  endService(key: string, scopes?: PluginScopes): void {
    const current = this.serving.get(key);
    if (scopes && scopes !== current) {
      scopes.dispose();
      return;
    }
    if (!current) return;
    this.serving.delete(key);
    current.dispose();
  }

  storeOf(name: string): PluginStore {
    let store = this.stores.get(name);
    if (!store) this.stores.set(name, (store = this.store.scope(name)));
    return store;
  }

  /**
   * The event handler or after-listener whose synchronous part calls `manager.stop()` now is not
   * waited for by `settle()`: it awaits the very stop that would wait for it.
   */
  letGoOfCaller(): void {
    this.bus.letGoOfCaller();
    this.lifecycle.letGoOfCaller();
  }

  /**
   * Everything queued is delivered and written: after-listeners still running, async event
   * handlers and store writes are waited for, up to `waitMs` in all. One that never settles (a
   * handler awaiting forever, a write stuck in the file system) must not keep the host from
   * stopping: what is still busy then is logged and left.
   */
  async settle(waitMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), waitMs)));
    const stages: Array<[string, () => Promise<void>]> = [
      ['lifecycle listeners', () => this.lifecycle.settled()],
      ['event handlers', () => this.bus.settled()],
      ['store writes', () => this.store.flush()],
    ];
    for (const [what, settled] of stages) {
      if (!(await Promise.race([settled().then(() => true), expired]))) {
        this.logger.warn({ waitedMs: waitMs }, `stopped without waiting further for ${what} (still busy after ${waitMs} ms)`);
        break;
      }
    }
    clearTimeout(timer);
  }
}
