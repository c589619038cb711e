/**
 * Services: typed dependency injection between plugins. A provider registers an implementation
 * under a typed ref (`ctx.services.provide(ref, impl)`); a consumer that declared the provider
 * among its dependencies gets it back, typed, with `ctx.services.get(ref)`.
 *
 * What a consumer receives for an object or function service is a handle (a proxy) tied to two
 * lifetimes: the provider's scope and the consumer's own. Once the provider's scope is disposed
 * (it left `running`), every use of the handle throws `SERVICE_NOT_FOUND`; once the consumer's
 * scope is disposed, `SCOPE_DISPOSED`. A consumer that keeps running while its provider restarts
 * calls `get` again for the new implementation. The check is shallow: objects a service method
 * returns are not wrapped. Methods run with the implementation itself as `this`, so classes with
 * private fields and built-ins such as `Map` work through the handle. Primitive services (a
 * string, a number) are returned as they are and cannot be revoked.
 */
import { PluginFactoryError } from '../errors.ts';
import { argumentError, assertPluginName, disposedError, isDottedName, isPluginName, quote, readArgument } from './_utils.ts';
import { methodProxy } from './method-proxy.ts';

declare const SERVICE_TYPE: unique symbol;

/**
 * A typed service id. Two refs with the same id name the same service, so a provider and its
 * consumers (separate packages) may each call `defineService` or share one module that does.
 */
export interface ServiceRef<T> {
  readonly id: string;
  /** Carries `T` for the type checker; never set at run time. */
  readonly [SERVICE_TYPE]?: (value: T) => T;
}

/** The implementation type a ref stands for. */
export type ServiceType<Ref> = Ref extends ServiceRef<infer T> ? T : never;

/**
 * Defines a typed service ref.
 * @param id dotted lower-case name, e.g. `db.pool`
 * @throws `ARGUMENT_INVALID` for any other id
 * @example
 * ```ts
 * export const PoolService = defineService<{ query(sql: string): Promise<unknown[]> }>('db.pool');
 * ctx.services.provide(PoolService, pool);          // in db's start hook
 * const pool = ctx.services.get(PoolService);       // in api, which depends on db: typed, no cast
 * ```
 */
export function defineService<T>(id: string): ServiceRef<T> {
  if (!isDottedName(id)) throw argumentError(`defineService: ${quote(id)} is not a service id; use dotted lower-case names such as 'db.pool'`);
  return Object.freeze({ id });
}

/** A plugin as the registry sees it. */
export interface ServiceScopeOwner {
  name: string;
  /** Required and optional dependencies: the plugins whose services it may get. */
  dependencies?: readonly string[] | undefined;
  /** Whether this scope may provide (the runtime allows it only from `starting` to leaving `running`). @default true */
  canProvide?: boolean | undefined;
}

/** One plugin's view of the registry: `ctx.services`. */
export interface ServiceScope {
  readonly name: string;
  /**
   * Registers `impl` under `ref` until this scope is disposed.
   * @throws `SERVICE_CONFLICT` when another plugin (or this one) already provides the id,
   * `ARGUMENT_INVALID` for a bad ref or a null/undefined impl, `PERMISSION_DENIED` when this scope
   * may not provide, `SCOPE_DISPOSED` after `dispose()`.
   */
  provide<T>(ref: ServiceRef<T>, impl: T): void;
  /**
   * The service, as a handle revoked when its provider or this scope goes away.
   * @throws `SERVICE_NOT_FOUND` when no running plugin provides it, `PERMISSION_DENIED` when its
   * provider is not among this plugin's dependencies, `SCOPE_DISPOSED` after `dispose()`.
   */
  get<T>(ref: ServiceRef<T>): T;
  /** Like `get`, but `undefined` when nobody provides it (for optional dependencies). */
  find<T>(ref: ServiceRef<T>): T | undefined;
  /** Withdraws every service this scope provided and revokes every handle it obtained. */
  dispose(): void;
  readonly disposed: boolean;
}

/** The service registry: one per manager, a scope per plugin state. */
export interface ServiceRegistry {
  scope(owner: ServiceScopeOwner): ServiceScope;
  /** The plugin providing `ref` now, if any. */
  providerOf<T>(ref: ServiceRef<T> | string): string | undefined;
  /** Every service provided now, in the order provided. */
  list(): Array<{ id: string; provider: string }>;
}

interface Provision {
  id: string;
  provider: string;
  impl: unknown;
  alive: boolean;
}

interface ScopeState {
  name: string;
  alive: boolean;
}

function idOf(ref: unknown, plugin: string): string {
  const id = typeof ref === 'object' && ref !== null ? readArgument(ref, 'id', `plugin '${plugin}': the service ref`, { plugin }) : undefined;
  if (!isDottedName(id)) throw argumentError(`plugin '${plugin}': expected a service ref made by defineService, got ${quote(ref)}`, { plugin });
  return id;
}

/**
 * Creates a service registry. The runtime makes one per manager and a scope per plugin state.
 */
export function createServiceRegistry(): ServiceRegistry {
  const provisions = new Map<string, Provision>();

  const notFound = (plugin: string, id: string, gone?: Provision) =>
    new PluginFactoryError(
      'SERVICE_NOT_FOUND',
      gone
        ? `plugin '${plugin}': service '${id}' is gone: its provider '${gone.provider}' left running; call ctx.services.get again once it runs`
        : `plugin '${plugin}': no running plugin provides service '${id}'; check the id, and that its provider provides it in start and is a dependency (so it runs first)`,
      gone ? { plugin, plugins: [gone.provider] } : { plugin },
    );

  return {
    scope(owner) {
      assertPluginName(owner?.name, 'services.scope');
      const name = owner.name;
      const dependencies = owner.dependencies ?? [];
      if (!Array.isArray(dependencies) || !dependencies.every(isPluginName)) {
        throw argumentError(`plugin '${name}': services.scope needs dependencies as a list of plugin names`, { plugin: name });
      }
      const allowed = new Set<string>([name, ...dependencies]);
      const canProvide = owner.canProvide ?? true;
      const state: ScopeState = { name, alive: true };
      const provided = new Set<Provision>();
      const handles = new Map<Provision, unknown>();

      const lookup = (ref: unknown, required: boolean): unknown => {
        if (!state.alive) throw disposedError(name, 'ctx.services was used');
        const id = idOf(ref, name);
        const provision = provisions.get(id);
        if (!provision) {
          if (required) throw notFound(name, id);
          return undefined;
        }
        if (!allowed.has(provision.provider)) {
          throw new PluginFactoryError(
            'PERMISSION_DENIED',
            `plugin '${name}': service '${id}' is provided by '${provision.provider}', which is not among its dependencies; add '${provision.provider}' to dependencies or optionalDependencies in its manifest`,
            { plugin: name, path: 'dependencies', plugins: [provision.provider] },
          );
        }
        const impl = provision.impl;
        if ((typeof impl !== 'object' && typeof impl !== 'function') || impl === null) return impl;
        if (!handles.has(provision)) {
          const check = () => {
            if (!state.alive) throw disposedError(name, `service '${id}' was used`);
            if (!provision.alive) throw notFound(name, id, provision);
          };
          // A proxy forwarding to the implementation while `check` passes; a method read from it
          // checks again on every call, so one kept after the handle ended is refused too.
          handles.set(provision, methodProxy(impl, { guard: check, self: 'caller' }));
        }
        return handles.get(provision);
      };

      return {
        name,
        get disposed() {
          return !state.alive;
        },
        provide(ref, impl) {
          if (!state.alive) throw disposedError(name, 'ctx.services.provide was called');
          const id = idOf(ref, name);
          if (!canProvide) {
            throw new PluginFactoryError('PERMISSION_DENIED', `plugin '${name}': service '${id}' can only be provided from the start hook or while running; move the provide call to start`, { plugin: name });
          }
          if (impl === undefined || impl === null) throw argumentError(`plugin '${name}': service '${id}' needs an implementation, got ${quote(impl)}`, { plugin: name });
          const existing = provisions.get(id);
          if (existing) {
            throw new PluginFactoryError('SERVICE_CONFLICT', `plugin '${name}': service '${id}' is already provided by '${existing.provider}'; pick another id or let one plugin provide it`, {
              plugin: name,
              plugins: [existing.provider, name],
            });
          }
          const provision: Provision = { id, provider: name, impl, alive: true };
          provisions.set(id, provision);
          provided.add(provision);
        },
        get: (ref) => lookup(ref, true) as never,
        find: (ref) => lookup(ref, false) as never,
        dispose() {
          state.alive = false;
          for (const provision of provided) {
            provision.alive = false;
            if (provisions.get(provision.id) === provision) provisions.delete(provision.id);
          }
          provided.clear();
          handles.clear();
        },
      };
    },
    providerOf(ref) {
      const id = typeof ref === 'string' ? ref : ref?.id;
      return id === undefined ? undefined : provisions.get(id)?.provider;
    },
    list: () => [...provisions.values()].map(({ id, provider }) => ({ id, provider })),
  };
}
