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
import { isOptionsObject, quote, unknownOptions } from '../platform/_utils.ts';

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
const HUB_OPTIONS: ReadonlySet<string> = new Set(['capacity']);

export function createInspectionHub(options: InspectionHubOptions = {}): InspectionHub {
  if (!isOptionsObject(options)) {
    throw new PluginFactoryError('OPTIONS_INVALID', `createInspectionHub: options must be an object such as { capacity: 1000 }, not ${quote(options)}`);
  }
  let capacity: number;
  try {
    const unknown = unknownOptions(options, HUB_OPTIONS);
    if (unknown) throw new PluginFactoryError('OPTIONS_INVALID', `createInspectionHub: ${unknown}`);
    capacity = options.capacity ?? DEFAULT_HUB_CAPACITY;
  } catch (error) {
    if (error instanceof PluginFactoryError) throw error;
    throw new PluginFactoryError('OPTIONS_INVALID', 'createInspectionHub: the options cannot be read (a getter or a Proxy trap threw)');
  }
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_HUB_CAPACITY) {
    throw new PluginFactoryError(
      'OPTIONS_INVALID',
      `createInspectionHub: capacity must be an integer from 1 to ${MAX_HUB_CAPACITY} (got ${String(capacity)})`,
    );
  }
  const buffer = new RingBuffer<InspectionRecord>(capacity);
  // Delivered from copies made when they change: one added during a delivery hears from the next
  // event on (a listener that subscribes again as it is told would otherwise loop for ever), and
  // one removed during it is not told any more.
  const listeners = new Set<(record: InspectionRecord) => void>();
  const forwards = new Set<(event: InspectionEvent) => void>();
  let listenerList: Array<(record: InspectionRecord) => void> = [];
  let forwardList: Array<(event: InspectionEvent) => void> = [];
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
    for (const forward of forwardList) if (forwards.has(forward)) deliver(forward, event);
    const record = toRecord(event, seq + 1, Date.now());
    if (!record) return;
    seq = record.seq;
    buffer.push(record);
    for (const listener of listenerList) if (listeners.has(listener)) deliver(listener, record);
  };

  return {
    inspect,
    subscribe(listener) {
      if (typeof listener !== 'function') {
        throw new PluginFactoryError('ARGUMENT_INVALID', `hub.subscribe: the listener must be a function, not ${listener === null ? 'null' : `a ${typeof listener}`}`);
      }
      listeners.add(listener);
      listenerList = [...listeners];
      return {
        unsubscribe: () => {
          if (listeners.delete(listener)) listenerList = [...listeners];
        },
      };
    },
    forward(observer) {
      const object = typeof observer === 'object' && observer !== null ? observer : null;
      if (typeof observer !== 'function' && (object === null || typeof object.next !== 'function')) {
        throw new PluginFactoryError('ARGUMENT_INVALID', 'hub.forward: give a function or an observer with a next() method');
      }
      const next = typeof observer === 'function' ? observer : (event: InspectionEvent) => object!.next!(event);
      forwards.add(next);
      forwardList = [...forwards];
      return {
        unsubscribe: () => {
          if (forwards.delete(next)) forwardList = [...forwards];
        },
      };
    },
    recent: () => buffer.toArray(),
  };
}
