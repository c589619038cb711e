/**
 * The event bus. Plugins publish and subscribe by dotted lower-case names, and only what their
 * manifest declares under `events.publishes` / `events.subscribes`.
 *
 * Patterns: a `*` segment matches exactly one segment (`plugin.*.running` matches
 * `plugin.db.running`); a trailing `**` segment matches one or more segments (`db.**` matches
 * `db.ready` and `db.pool.drained`, not `db`); `**` alone matches every event. A declared entry
 * may itself be a pattern: `publishes: ["db.*"]` allows publishing `db.ready`, and
 * `subscribes: ["plugin.**"]` allows subscribing to `plugin.*.running` (a subscription is allowed
 * when every name it can match is matched by one declared pattern).
 *
 * Delivery is asynchronous: `publish` queues the event and returns; handlers run in a later
 * microtask, in publish order and then subscription order, so a publisher never runs foreign
 * code inline. Events published by handlers go to the next batch; after MICROTASK_BATCHES
 * batches without a turn of the event loop the next one waits for it (setImmediate), so handlers
 * that keep republishing to each other, at once or after an await, cannot starve timers and I/O.
 * A handler that throws or rejects is reported as `EVENT_HANDLER_FAILED` and
 * changes nothing for the publisher or the other handlers. Async handlers are not awaited.
 * Payloads are passed by reference: handlers must treat them as read-only.
 */
import { PluginFactoryError, describeThrown } from '../errors.ts';
import { createConsoleLogger } from '../logger.ts';
import type { Logger } from '../logger.ts';
import { argumentError, assertPluginName, disposedError, quote } from './_utils.ts';
import { HOST_NAMESPACE } from '../manifest.ts';
import { covers, matches, parseEventPattern } from './event-patterns.ts';

/** Batches delivered back to back on microtasks before one yields to the event loop. */
export const MICROTASK_BATCHES = 1000;

/**
 * The event loop's own setImmediate, taken when this module loads: a test that fakes timers
 * (`vi.useFakeTimers()`) would otherwise hold every batch past the limit, and every burst's end.
 */
const loopTurn = globalThis.setImmediate;

/** The source of the events the host itself publishes (a plugin's state changes); no plugin may take the name. */
export const HOST_SOURCE = 'host';

/** What a handler receives. */
export interface BusEvent<Payload = unknown> {
  readonly type: string;
  readonly payload: Payload;
  /** The publishing plugin's name, or the host scope's name. */
  readonly source: string;
}

/** Called for each matching event; may be async (not awaited; a rejection is reported). */
export type EventHandler<Payload = unknown> = (event: BusEvent<Payload>) => unknown;

/** A plugin as the bus sees it: its name and its manifest's `events` declarations. */
export interface EventScopeOwner {
  name: string;
  publishes?: readonly string[] | undefined;
  subscribes?: readonly string[] | undefined;
}

/** One plugin's (or the host's) view of the bus: `ctx.events`. */
export interface EventScope {
  readonly name: string;
  /**
   * Queues `type` for every matching subscription; returns at once.
   * @throws `PERMISSION_DENIED` when `type` is not declared (or, from a plugin, is one of the
   * host's own `plugin.…` events), `ARGUMENT_INVALID` when it is not a dotted name,
   * `SCOPE_DISPOSED` after `dispose()`.
   */
  publish<Payload>(type: string, payload?: Payload): void;
  /**
   * Calls `handler` for every event matching `pattern` until the returned function is called or
   * the scope is disposed.
   * @throws `PERMISSION_DENIED`, `ARGUMENT_INVALID`, `SCOPE_DISPOSED` as for `publish`.
   */
  subscribe<Payload = unknown>(pattern: string, handler: EventHandler<Payload>): () => void;
  /** Ends every subscription of this scope; events already queued for them are dropped. */
  dispose(): void;
  readonly disposed: boolean;
}

/** Totals of one plugin, for metrics. */
export interface EventCounts {
  published: number;
  /** Handler calls made for this plugin's subscriptions. */
  received: number;
}

/** Options of `createEventBus`. */
export interface EventBusOptions {
  /** Called for each failed handler (default: `logger.error`). */
  onHandlerError?: (error: PluginFactoryError, event: BusEvent) => void;
  /** Where failed handlers are logged when there is no `onHandlerError`. @default stderr */
  logger?: Logger;
  /** A plugin's own logger, for what the bus says about that plugin's handlers (default: `logger`). */
  loggerOf?: (plugin: string) => Logger | null;
  /** Scrubs what the bus says about a plugin's handlers (what a handler threw may quote a secret). */
  redact?: (text: string, plugin: string) => string;
}

/** One bus per manager; plugins reach it through their scope (`ctx.events`). */
export interface EventBus {
  /** A plugin's scope: only declared names may be published or subscribed to. */
  scope(owner: EventScopeOwner): EventScope;
  /** An unrestricted scope for the host (lifecycle events). Not counted in `counts`. @default name 'host' */
  hostScope(name?: string): EventScope;
  /** Totals per plugin name, across all its scopes so far. */
  counts(plugin: string): EventCounts;
  /** Live subscriptions, of one plugin or of everyone. */
  subscriptionCount(plugin?: string): number;
  /**
   * Resolves once every queued event was delivered and every async handler call settled, but for
   * those let go of when their subscription ended.
   */
  settled(): Promise<void>;
  /**
   * The handler call whose synchronous part is running now (one that calls `manager.stop()`) is
   * not waited for by `settled()`: it would wait for the very stop that waits for it.
   */
  letGoOfCaller(): void;
}

/** One segment position of the patterns in a PatternIndex. */
interface PatternNode {
  /** By the next segment's name. */
  named: Map<string, PatternNode>;
  /** The next segment is `*`. */
  any: PatternNode | null;
  /** Patterns that end here. */
  ending: Set<Subscription>;
  /** Patterns that end here with a trailing `**` (one or more segments more). */
  rest: Set<Subscription>;
}

const patternNode = (): PatternNode => ({ named: new Map(), any: null, ending: new Set(), rest: new Set() });

/**
 * The subscriptions by pattern, a tree of segments: a name's matches are found by walking its
 * segments (its own and `*` at each), whatever else is subscribed; then put in subscription order.
 */
class PatternIndex {
  private readonly root = patternNode();

  add(sub: Subscription): void {
    const last = sub.pattern.length - 1;
    const trailing = sub.pattern[last] === '**';
    let node = this.root;
    for (const segment of trailing ? sub.pattern.slice(0, last) : sub.pattern) {
      if (segment === '*') node = node.any ??= patternNode();
      else {
        let next = node.named.get(segment);
        if (!next) node.named.set(segment, (next = patternNode()));
        node = next;
      }
    }
    (trailing ? node.rest : node.ending).add(sub);
  }

  remove(sub: Subscription): void {
    const last = sub.pattern.length - 1;
    const trailing = sub.pattern[last] === '**';
    // The path down, to prune what the removal leaves empty.
    const path: Array<{ node: PatternNode; segment: string }> = [];
    let node: PatternNode | null | undefined = this.root;
    for (const segment of trailing ? sub.pattern.slice(0, last) : sub.pattern) {
      path.push({ node, segment });
      node = segment === '*' ? node.any : node.named.get(segment);
      if (!node) return;
    }
    (trailing ? node.rest : node.ending).delete(sub);
    for (let i = path.length - 1; i >= 0; i--) {
      const child: PatternNode = i === path.length - 1 ? node : (path[i + 1]!.node);
      if (child.ending.size > 0 || child.rest.size > 0 || child.named.size > 0 || child.any) return;
      const { node: parent, segment } = path[i]!;
      if (segment === '*') parent.any = null;
      else parent.named.delete(segment);
    }
  }

  /** The subscriptions whose pattern matches `name` (its segments), in subscription order. */
  matching(name: readonly string[]): Subscription[] {
    const out: Subscription[] = [];
    const walk = (node: PatternNode, at: number) => {
      if (at < name.length) for (const sub of node.rest) out.push(sub);
      if (at === name.length) {
        for (const sub of node.ending) out.push(sub);
        return;
      }
      const named = node.named.get(name[at]!);
      if (named) walk(named, at + 1);
      if (node.any) walk(node.any, at + 1);
    };
    walk(this.root, 0);
    return out.length > 1 ? out.sort((a, b) => a.seq - b.seq) : out;
  }
}

interface Subscription {
  owner: string;
  pattern: string[];
  text: string;
  handler: EventHandler;
  active: boolean;
  /** Counted in `counts` (plugin scopes; the host's are not). */
  counted: boolean;
  /** Subscription order: delivery follows it. */
  seq: number;
  /** What its async handler calls have not settled yet; let go of when it ends. */
  inFlight: Set<Promise<unknown>> | null;
}

/** One call of a handler; `letGo`: it called `manager.stop()`, so `settled()` does not wait for it. */
interface HandlerCall {
  letGo: boolean;
}

/**
 * Creates an event bus. The runtime makes one per manager, a scope per plugin state, and a host
 * scope for lifecycle events.
 *
 * @example
 * ```ts
 * const bus = createEventBus({ onHandlerError: (error) => log.warn(error.toJSON()) });
 * const db = bus.scope({ name: 'db', publishes: ['db.ready'] });
 * const api = bus.scope({ name: 'api', subscribes: ['db.*'] });
 * api.subscribe('db.ready', ({ payload }) => connect(payload));
 * db.publish('db.ready', { url });
 * ```
 */
export function createEventBus(options: EventBusOptions = {}): EventBus {
  const subscriptions = new Set<Subscription>();
  // Indexed by their patterns, segment by segment, so a publish looks only at the subscriptions
  // that match it: 10,000 plugins each subscribing to `plugin.<name>.*` must not make every
  // lifecycle event O(N).
  const index = new PatternIndex();
  let nextSeq = 0;
  const add = (sub: Subscription) => {
    subscriptions.add(sub);
    index.add(sub);
  };
  const remove = (sub: Subscription) => {
    subscriptions.delete(sub);
    index.remove(sub);
  };
  const queue: Array<[Subscription, BusEvent]> = [];
  const inFlight = new Set<Promise<unknown>>();
  const totals = new Map<string, EventCounts>();
  let scheduled = false;
  /**
   * Batches delivered since the event loop last had a turn. Whether a batch was published by the
   * one before is not what counts: a handler that awaits before it publishes starts a new batch
   * after its own microtask, and chained that way the batches would never yield.
   */
  let burst = 0;
  /** Set when a burst starts; runs at the loop's next turn, which ends the burst. */
  let turnMarker: NodeJS.Immediate | null = null;
  /** settled() callers waiting for the next batch (it may come on a macrotask). */
  let drainWaiters: Array<() => void> = [];
  const logger = options.logger ?? createConsoleLogger();

  const countsOf = (name: string): EventCounts => {
    let counts = totals.get(name);
    if (!counts) totals.set(name, (counts = { published: 0, received: 0 }));
    return counts;
  };

  /**
   * What the bus says about `owner`'s handlers: through the plugin's own logger when it has one
   * (which binds the plugin and its state), else the bus's, naming the plugin; scrubbed either way.
   */
  const sayAbout = (owner: string, level: 'warn' | 'error', fields: Record<string, unknown>, message: string) => {
    const text = options.redact ? options.redact(message, owner) : message;
    const own = options.loggerOf?.(owner) ?? null;
    if (own) own[level](fields, text);
    else logger[level]({ plugin: owner, ...fields }, text);
  };

  /** Who a subscription's messages are about: a plugin, or the host (its scope counts nothing). */
  const whose = (sub: Subscription) => (sub.counted ? `plugin '${sub.owner}':` : `the host (scope '${sub.owner}'):`);

  const report = (sub: Subscription, event: BusEvent, thrown: unknown) => {
    const error = new PluginFactoryError(
      'EVENT_HANDLER_FAILED',
      `${whose(sub)} a handler of '${event.type}' (subscribed as '${sub.text}') failed: ${describeThrown(thrown)}; the event went on to the other handlers, fix the handler`,
      { plugin: sub.owner, cause: thrown },
    );
    try {
      if (options.onHandlerError) options.onHandlerError(error, event);
      else sayAbout(sub.owner, 'error', { code: error.code, event: event.type }, error.message);
    } catch {
      // A failing reporter must not break delivery either.
    }
  };

  /** The handler call whose synchronous part runs now, if any. */
  let calling: HandlerCall | null = null;

  const deliver = (sub: Subscription, event: BusEvent) => {
    if (!sub.active) return;
    if (sub.counted) countsOf(sub.owner).received++;
    let settled: Promise<unknown>;
    const call: HandlerCall = { letGo: false };
    const outer = calling;
    calling = call;
    try {
      // Called without a `this`: the subscription record is the bus's, not the handler's to change.
      const result: unknown = Reflect.apply(sub.handler, undefined, [event]);
      // What it returned is read here too: a Proxy whose trap throws fails this handler only.
      if (typeof result !== 'object' || result === null || !('then' in result)) return;
      settled = Promise.resolve(result).then(undefined, (thrown: unknown) => report(sub, event, thrown));
    } catch (thrown) {
      report(sub, event, thrown);
      return;
    } finally {
      calling = outer;
    }
    // It called manager.stop(): it awaits the stop that would wait for it (a rejection is still reported).
    if (call.letGo) return;
    inFlight.add(settled);
    // One whose subscription ended meanwhile (a handler that unsubscribes itself) is waited for
    // as before, until it settles.
    if (sub.active) (sub.inFlight ??= new Set()).add(settled);
    void settled.finally(() => {
      inFlight.delete(settled);
      sub.inFlight?.delete(settled);
    });
  };
  /** Settles when a subscription with calls in flight ends: a settled() waiting looks again. One for all waiters. */
  let ended: { promise: Promise<void>; resolve: () => void } | null = null;
  const nextEnd = (): Promise<void> => {
    if (!ended) {
      let resolve: () => void = () => undefined;
      const promise = new Promise<void>((done) => (resolve = done));
      ended = { promise, resolve };
    }
    return ended.promise;
  };

  /**
   * A subscription ends: no more deliveries, and its calls still running are neither held (one
   * that never settles would be kept for ever) nor waited for by `settled()`; said once.
   */
  const end = (sub: Subscription) => {
    sub.active = false;
    remove(sub);
    const running = sub.inFlight?.size ?? 0;
    for (const call of sub.inFlight ?? []) inFlight.delete(call);
    sub.inFlight = null;
    if (running === 0) return;
    // A settled() already waiting on them looks again.
    ended?.resolve();
    ended = null;
    try {
      const message = `${whose(sub)} ${running} call${running === 1 ? '' : 's'} of its handler of '${sub.text}' had not settled when the subscription ended; not waited for`;
      sayAbout(sub.owner, 'warn', { calls: running }, message);
    } catch {
      // A failing logger must not break an unsubscribe.
    }
  };

  const drain = () => {
    scheduled = false;
    // One batch per microtask; events published by handlers go to the next batch.
    for (const [sub, event] of queue.splice(0)) deliver(sub, event);
    const waiters = drainWaiters;
    drainWaiters = [];
    for (const wake of waiters) wake();
  };
  const schedule = () => {
    scheduled = true;
    turnMarker ??= loopTurn(() => {
      turnMarker = null;
      burst = 0;
    });
    // Past the limit the batch waits for the loop's turn (after the marker, which ends the burst).
    if (++burst <= MICROTASK_BATCHES) queueMicrotask(drain);
    else loopTurn(drain);
  };

  /** `counted`: a plugin's scope, counted in `counts` and kept from the host's own events. */
  const makeScope = (name: string, allowPublish: (t: string[]) => boolean, allowSubscribe: (p: string[]) => boolean, counted: boolean): EventScope => {
    const own = new Set<Subscription>();
    let disposed = false;
    const deny = (what: string, field: string) =>
      new PluginFactoryError(
        'PERMISSION_DENIED',
        `plugin '${name}': ${what} is not declared; add it to events.${field} in the plugin's manifest`,
        { plugin: name, path: `events.${field}` },
      );
    return {
      name,
      get disposed() {
        return disposed;
      },
      publish(type, payload) {
        if (disposed) throw disposedError(name, `events.publish(${quote(type)})`, !counted);
        const segments = parseEventPattern(type);
        if (segments === null || segments.includes('*') || segments.includes('**')) {
          throw argumentError(`plugin '${name}': cannot publish ${quote(type)}: an event name is dotted lower-case segments without wildcards (e.g. 'db.ready')`, { plugin: name });
        }
        if (counted && segments[0] === HOST_NAMESPACE) {
          throw new PluginFactoryError(
            'PERMISSION_DENIED',
            `plugin '${name}': cannot publish '${type}': '${HOST_NAMESPACE}.…' events are the host's own (a plugin's state changes)`,
            { plugin: name },
          );
        }
        if (!allowPublish(segments)) throw deny(`publishing '${type}'`, 'publishes');
        if (counted) countsOf(name).published++;
        const event: BusEvent = Object.freeze({ type, payload, source: name });
        for (const sub of index.matching(segments)) queue.push([sub, event]);
        if (!scheduled && queue.length > 0) schedule();
      },
      subscribe(pattern, handler) {
        if (disposed) throw disposedError(name, `events.subscribe(${quote(pattern)})`, !counted);
        const segments = parseEventPattern(pattern);
        if (segments === null) {
          throw argumentError(`plugin '${name}': cannot subscribe to ${quote(pattern)}: use dotted lower-case segments, '*' for one segment, a trailing '**' for any depth`, { plugin: name });
        }
        if (typeof handler !== 'function') throw argumentError(`plugin '${name}': the handler for '${pattern}' must be a function`, { plugin: name });
        if (!allowSubscribe(segments)) throw deny(`subscribing to '${pattern}'`, 'subscribes');
        const sub: Subscription = { owner: name, pattern: segments, text: pattern, handler: handler as EventHandler, active: true, counted, seq: nextSeq++, inFlight: null };
        add(sub);
        own.add(sub);
        return () => {
          end(sub);
          own.delete(sub);
        };
      },
      dispose() {
        disposed = true;
        for (const sub of own) end(sub);
        own.clear();
      },
    };
  };

  const declared = (owner: EventScopeOwner, field: 'publishes' | 'subscribes'): string[][] => {
    const list = owner[field] ?? [];
    if (!Array.isArray(list)) throw argumentError(`plugin '${owner.name}': events.${field} must be an array of event names`, { plugin: owner.name });
    return list.map((entry) => {
      const segments = parseEventPattern(entry);
      if (segments === null) {
        throw argumentError(`plugin '${owner.name}': events.${field} has ${quote(entry)}, which is not an event name or pattern; fix it in the manifest`, { plugin: owner.name, path: `events.${field}` });
      }
      return segments;
    });
  };

  return {
    scope(owner) {
      assertPluginName(owner?.name, 'events.scope');
      const publishes = declared(owner, 'publishes');
      const subscribes = declared(owner, 'subscribes');
      return makeScope(
        owner.name,
        (type) => publishes.some((p) => matches(p, type)),
        (pattern) => subscribes.some((d) => covers(d, pattern)),
        true,
      );
    },
    hostScope(name = HOST_SOURCE) {
      return makeScope(name, () => true, () => true, false);
    },
    counts(plugin) {
      const counts = totals.get(plugin);
      return counts ? { ...counts } : { published: 0, received: 0 };
    },
    subscriptionCount(plugin) {
      if (plugin === undefined) return subscriptions.size;
      let n = 0;
      for (const sub of subscriptions) if (plugin === undefined || sub.owner === plugin) n++;
      return n;
    },
    letGoOfCaller() {
      if (calling) calling.letGo = true;
    },
    async settled() {
      while (scheduled || queue.length > 0 || inFlight.size > 0) {
        if (scheduled) await new Promise<void>((resolve) => drainWaiters.push(resolve));
        else if (inFlight.size > 0) await Promise.race([Promise.allSettled([...inFlight]), nextEnd()]);
        else await new Promise<void>((resolve) => queueMicrotask(resolve));
      }
    },
  };
}
