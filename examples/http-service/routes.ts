/**
 * The `http.routes` extension point: what a plugin contributes, and the host's route table.
 *
 * Plugins implement `http.routes` in `start` and return `{ plugin, routes }`. The host collects
 * every contribution when a plugin enters `running` and keeps one entry per plugin. An entry is
 * *serving* only while its plugin runs and after its routes were collected again since it last
 * entered `running`; a request matching an entry that is not serving is held until it serves
 * again (bounded by `holdMs`), then dispatched to the fresh handler. The gate follows
 * `manager.subscribe`, which is told of a state change synchronously with the transition that
 * ends the plugin's `start` registrations, so no request reaches a handler whose service handles
 * were revoked.
 */
import { isPluginFactoryError } from '../../src/index.ts';
import type { HostHookRef, Logger, PluginManager } from '../../src/index.ts';

/** HTTP methods the example routes use. */
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What a route handler receives: the request, already read and parsed by the host. */
export interface RouteRequest {
  method: Method;
  /** The path without the query string, e.g. `/api/users/7`. */
  path: string;
  /** `:name` segments of the route's path. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body (POST/PUT), else `undefined`. */
  body: unknown;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** What a route handler returns: a JSON body (or text) and a status (200 by default). */
export interface RouteResponse {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: Method;
  /** `/api/users/:id`: literal segments and `:name` parameters. */
  path: string;
  handler(request: RouteRequest): RouteResponse | Promise<RouteResponse>;
}

/** One plugin's contribution to `http.routes`. */
export interface PluginRoutes {
  plugin: string;
  routes: Route[];
}

/** The argument of `http.routes`: where the host mounts plugin routes. */
export interface RoutesArg {
  prefix: string;
}

export const ROUTES_HOOK = 'http.routes';
export type RoutesHook = HostHookRef<'collect', RoutesArg, PluginRoutes>;

interface CompiledRoute {
  route: Route;
  segments: string[];
}

interface Entry {
  routes: CompiledRoute[];
  serving: boolean;
}

export type Match =
  | { kind: 'route'; plugin: string; route: Route; params: Record<string, string>; serving: boolean }
  | { kind: 'method-not-allowed'; allow: Method[] }
  | { kind: 'not-found' };

/** Counters the load test reads. */
export interface RouteTableStats {
  /** Requests that waited for their plugin to serve again. */
  held: number;
  /** Requests answered 503 because their plugin did not serve again within `holdMs`. */
  unavailable: number;
  /** Route collections completed. */
  refreshes: number;
}

export interface RouteTableOptions {
  manager: PluginManager;
  hook: RoutesHook;
  prefix: string;
  logger: Logger;
  /** How long a request waits for a restarting plugin before it is answered 503. */
  holdMs: number;
}

const split = (path: string) => path.split('/').filter((segment) => segment !== '');

function compile(route: Route): CompiledRoute {
  return { route, segments: split(route.path) };
}

/** A path parameter, decoded; a malformed percent-escape is the client's error (400). */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadPath(`the path segment '${segment}' is not valid percent-encoding`);
  }
}

/** Thrown while matching a path the client got wrong. */
export class BadPath extends Error {}

function matchSegments(pattern: string[], path: string[]): Record<string, string> | null {
  if (pattern.length !== path.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    const got = path[i]!;
    if (want.startsWith(':')) params[want.slice(1)] = decodePathSegment(got);
    else if (want !== got) return null;
  }
  return params;
}

const topState = (state: string) => state.split('.')[0]!;

/** States a plugin leaves only when told to (`retryPlugin`, a reload): nobody waits for it there. */
const DOWN: ReadonlySet<string> = new Set(['failed.halted', 'invalid']);

export class RouteTable {
  /** Per plugin, in the order of the last collection (dependency order). */
  private entries = new Map<string, Entry>();
  /** Top-level state of each plugin, kept current by `manager.subscribe`. */
  private readonly states = new Map<string, string>();
  /** Plugins in a state of DOWN: their requests are answered at once. */
  private readonly down = new Set<string>();
  /** Plugins in `failed.blocked`: down too while a required dependency is. */
  private readonly blocked = new Set<string>();
  /** Bumped each time a plugin enters `running`: a collection started before is stale for it. */
  private readonly generations = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private refreshing: Promise<void> = Promise.resolve();
  private closed = false;
  private unsubscribe: (() => void) | null = null;
  readonly stats: RouteTableStats = { held: 0, unavailable: 0, refreshes: 0 };

  constructor(private readonly options: RouteTableOptions) {}

  /** Starts following the manager; call before `manager.start()`. */
  attach(): void {
    for (const plugin of this.options.manager.getSnapshot().plugins) this.states.set(plugin.name, topState(plugin.state));
    const subscription = this.options.manager.subscribe((change) => {
      if (change.type !== 'plugin.changed') return;
      // Failed for good (its retries spent), or blocked by a plugin that has: whoever waits for
      // it is answered now, not after holdMs.
      if (DOWN.has(change.state)) this.down.add(change.name);
      else this.down.delete(change.name);
      if (change.state === 'failed.blocked') this.blocked.add(change.name);
      else this.blocked.delete(change.name);
      if (DOWN.has(change.state) || change.state === 'failed.blocked') {
        for (const plugin of [...this.waiters.keys()]) if (this.goneFor(plugin)) this.wake(plugin);
      }
      this.onState(change.name, topState(change.state));
    });
    this.unsubscribe = () => subscription.unsubscribe();
  }

  private onState(name: string, state: string): void {
    const previous = this.states.get(name);
    this.states.set(name, state);
    if (state === previous) return;
    const entry = this.entries.get(name);
    if (state === 'running') {
      this.generations.set(name, (this.generations.get(name) ?? 0) + 1);
      void this.refresh();
    } else if (state === 'removed') {
      // Unloaded for good: its routes go (404), and whoever waited for it is told at once. (A
      // reload passes through `disposed` too, but its new version follows: its requests are held.)
      this.entries.delete(name);
      this.wake(name);
    } else if (entry) {
      // Closed synchronously with the transition that revoked its handles and implementations.
      entry.serving = false;
    }
  }

  /** Collects `http.routes` again (one collection at a time) and opens the gate of every plugin it refreshed. */
  refresh(): Promise<void> {
    this.refreshing = this.refreshing.then(() => this.collect());
    return this.refreshing;
  }

  private async collect(): Promise<void> {
    if (this.closed) return;
    const generations = new Map(this.generations);
    let contributions: PluginRoutes[];
    try {
      contributions = await this.options.manager.callHook(this.options.hook, { prefix: this.options.prefix });
    } catch (error) {
      if (this.closed) return;
      // Entries of plugins that could not contribute stay closed; held requests get 503 after holdMs.
      const code = isPluginFactoryError(error) ? error.code : 'UNKNOWN';
      this.options.logger.error({ code, error: error instanceof Error ? error.message : String(error) }, 'collecting http.routes failed');
      return;
    }
    // Closed while the hook ran: nothing serves again.
    if (this.closed) return;
    const next = new Map<string, Entry>();
    const refreshed: string[] = [];
    for (const { plugin, routes } of contributions) {
      const fresh = this.states.get(plugin) === 'running' && this.generations.get(plugin) === generations.get(plugin);
      if (fresh) {
        next.set(plugin, { routes: routes.map(compile), serving: true });
        refreshed.push(plugin);
      }
    }
    for (const [plugin, entry] of this.entries) {
      if (next.has(plugin)) continue;
      const state = this.states.get(plugin);
      // Unloaded, or running since before this collection and no longer contributing: its routes go.
      if (state === 'removed' || (state === 'running' && this.generations.get(plugin) === generations.get(plugin))) continue;
      // Not running (or it came back during this collection, and the next one refreshes it): it
      // keeps its last entry, closed, so its requests are held rather than answered 404.
      next.set(plugin, { routes: entry.routes, serving: false });
    }
    this.entries = next;
    this.stats.refreshes += 1;
    for (const plugin of refreshed) this.wake(plugin);
  }

  private wake(plugin: string): void {
    const waiting = this.waiters.get(plugin);
    if (!waiting) return;
    this.waiters.delete(plugin);
    for (const resolve of waiting) resolve();
  }

  match(method: string, path: string): Match {
    const segments = split(path);
    const allow = new Set<Method>();
    for (const [plugin, entry] of this.entries) {
      for (const { route, segments: pattern } of entry.routes) {
        const params = matchSegments(pattern, segments);
        if (!params) continue;
        if (route.method === method) return { kind: 'route', plugin, route, params, serving: entry.serving };
        allow.add(route.method);
      }
    }
    return allow.size > 0 ? { kind: 'method-not-allowed', allow: [...allow] } : { kind: 'not-found' };
  }

  /**
   * Whether `plugin` is out of service until someone acts: failed for good, or blocked by a
   * required dependency that is (through any chain of them) or that was unloaded.
   */
  private goneFor(plugin: string, seen = new Set<string>()): boolean {
    if (this.down.has(plugin)) return true;
    if (!this.blocked.has(plugin) || seen.has(plugin)) return false;
    seen.add(plugin);
    const plugins = this.options.manager.getSnapshot().plugins;
    const found = plugins.find((candidate) => candidate.name === plugin);
    const optional = new Set(found?.optionalDependencies ?? []);
    // A required dependency that is no longer in the host (unloaded) will not come back by itself.
    const gone = (dependency: string) => !plugins.some((candidate) => candidate.name === dependency) || this.goneFor(dependency, seen);
    return (found?.dependencies ?? []).some((dependency) => !optional.has(dependency) && gone(dependency));
  }

  /** Whether `plugin`'s entry serves now. */
  serving(plugin: string): boolean {
    return this.entries.get(plugin)?.serving === true;
  }

  /**
   * Waits until `plugin` serves again; false after `holdMs`, when `signal` aborts, when the plugin
   * is unloaded or has failed for good (`failed.halted`, or blocked by a plugin that has: at once),
   * or when the table closes.
   */
  async hold(plugin: string, signal: AbortSignal): Promise<boolean> {
    if (this.serving(plugin)) return true;
    this.stats.held += 1;
    if (this.closed || signal.aborted || !this.entries.has(plugin) || this.goneFor(plugin)) {
      this.stats.unavailable += 1;
      return false;
    }
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    let wake = () => {};
    const woken = await new Promise<boolean>((resolve) => {
      wake = () => resolve(true);
      onAbort = () => resolve(false);
      timer = setTimeout(() => resolve(false), this.options.holdMs);
      signal.addEventListener('abort', onAbort, { once: true });
      let waiting = this.waiters.get(plugin);
      if (!waiting) this.waiters.set(plugin, (waiting = new Set()));
      waiting.add(wake);
    });
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    this.waiters.get(plugin)?.delete(wake);
    const ok = woken && this.serving(plugin);
    if (!ok) this.stats.unavailable += 1;
    return ok;
  }

  /** Plugins with routes, and whether each serves now (for `/` and `/health`). */
  describe(): Record<string, { serving: boolean; routes: string[] }> {
    const out: Record<string, { serving: boolean; routes: string[] }> = {};
    for (const [plugin, entry] of this.entries) {
      out[plugin] = { serving: entry.serving, routes: entry.routes.map(({ route }) => `${route.method} ${route.path}`) };
    }
    return out;
  }

  /**
   * Stops following the manager and releases every held request: no entry serves any more, so
   * they (and any request matched from now on) are answered 503 rather than run against plugins
   * about to stop.
   */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) entry.serving = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const plugin of [...this.waiters.keys()]) this.wake(plugin);
  }

  /** Resolves once the collections scheduled so far are done. */
  settled(): Promise<void> {
    return this.refreshing;
  }
}

/** Whether a handler's failure means "the plugin was leaving running under it". */
export function isRevoked(error: unknown): boolean {
  return isPluginFactoryError(error) && (error.code === 'SCOPE_DISPOSED' || error.code === 'SERVICE_NOT_FOUND');
}
