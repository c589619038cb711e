/**
 * `createInspectionHub()`: one XState inspection observer that fans out to many consumers. Pass
 * `hub.inspect` as `createPluginManager`'s `inspect` option (the manager hands it to every plugin
 * actor), then give the hub to `serveDashboard` for its timeline, and `forward()` the raw events
 * to other observers such as the Stately inspector.
 */
import type { InspectionEvent, Observer } from 'xstate';
import { PluginFactoryError, callGuarded, describeThrown } from '../errors.ts';
import { toRecord } from './record.ts';
import type { InspectionRecord } from './record.ts';
import { RingBuffer } from './ring-buffer.ts';

export interface InspectionHubOptions {
  /** How many records `recent()` keeps (the oldest are dropped). @default 1000 */
  capacity?: number;
}

export interface InspectionSubscription {
  unsubscribe(): void;
}

export interface InspectionHub {
  /** The observer to pass as `createPluginManager({ inspect: hub.inspect })`. */
  readonly inspect: (event: InspectionEvent) => void;
  /** Scrubbed records (actor, event type, state; no context, no payload) as they happen. */
  subscribe(listener: (record: InspectionRecord) => void): InspectionSubscription;
  /** The raw XState inspection events, for another observer (e.g. the Stately inspector). */
  forward(observer: Observer<InspectionEvent> | ((event: InspectionEvent) => void)): InspectionSubscription;
  /** The newest records, oldest first, at most `capacity` of them. */
  recent(): InspectionRecord[];
}

export const DEFAULT_HUB_CAPACITY = 1000;
const MAX_HUB_CAPACITY = 1_000_000;

/**
 * Creates an inspection hub.
 *
 * @example
 * ```ts
 * const hub = createInspectionHub();
 * const manager = createPluginManager({ plugins, inspect: hub.inspect });
 * const dashboard = await serveDashboard(manager, { hub });
 * ```
 */
export function createInspectionHub(options: InspectionHubOptions = {}): InspectionHub {
  const capacity = options.capacity ?? DEFAULT_HUB_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_HUB_CAPACITY) {
    throw new PluginFactoryError(
      'OPTIONS_INVALID',
      `createInspectionHub: capacity must be an integer from 1 to ${MAX_HUB_CAPACITY} (got ${String(capacity)})`,
    );
  }
  const buffer = new RingBuffer<InspectionRecord>(capacity);
  const listeners = new Set<(record: InspectionRecord) => void>();
  const forwards = new Set<(event: InspectionEvent) => void>();
  let seq = 0;
  let warned = false;

  // A consumer that throws loses that event, never the host: XState would rethrow the error.
  const failed = (error: unknown) => {
    if (warned) return;
    warned = true;
    process.emitWarning(`an inspection consumer threw (further errors are ignored): ${describeThrown(error)}`, 'PluginFactoryWarning');
  };
  const deliver = <T>(fn: (value: T) => void, value: T) => callGuarded(fn, value, failed);

  const inspect = (event: InspectionEvent) => {
    for (const forward of forwards) deliver(forward, event);
    const record = toRecord(event, seq + 1, Date.now());
    if (!record) return;
    seq = record.seq;
    buffer.push(record);
    for (const listener of listeners) deliver(listener, record);
  };

  return {
    inspect,
    subscribe(listener) {
      listeners.add(listener);
      return { unsubscribe: () => void listeners.delete(listener) };
    },
    forward(observer) {
      const next = typeof observer === 'function' ? observer : (event: InspectionEvent) => observer.next?.(event);
      forwards.add(next);
      return { unsubscribe: () => void forwards.delete(next) };
    },
    recent: () => buffer.toArray(),
  };
}
