/**
 * The timeline's source when no inspection hub was given: the manager's own change
 * notifications (`manager.subscribe`), as records of the same shape. They show each state a
 * plugin or the host settles in, not the events in between nor transient states.
 */
import type { InspectionRecord } from '../inspection/record.ts';
import { RingBuffer } from '../inspection/ring-buffer.ts';
import type { PluginManager } from '../manager.ts';

export interface RecordSource {
  subscribe(listener: (record: InspectionRecord) => void): { unsubscribe(): void };
  recent(): InspectionRecord[];
}

const CAPACITY = 1000;

/** Records of `manager`'s changes, kept in a ring buffer; `close()` stops listening. */
export function changeRecords(manager: PluginManager): RecordSource & { close(): void } {
  const buffer = new RingBuffer<InspectionRecord>(CAPACITY);
  const listeners = new Set<(record: InspectionRecord) => void>();
  let seq = 0;
  const subscription = manager.subscribe((change) => {
    const plugin = change.type === 'manager.changed' ? null : change.name;
    const record: InspectionRecord = {
      seq: ++seq,
      at: Date.now(),
      kind: 'snapshot',
      actor: plugin ?? 'manager',
      plugin,
      event: null,
      // A health change is one between the substates of `running`, as the chart has them.
      state: change.type === 'plugin.health' ? `running.${change.health}` : change.state,
      source: null,
    };
    buffer.push(record);
    for (const listener of listeners) listener(record);
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      return { unsubscribe: () => void listeners.delete(listener) };
    },
    recent: () => buffer.toArray(),
    close: () => subscription.unsubscribe(),
  };
}
