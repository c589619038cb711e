/// <reference lib="dom" />
/**
 * The live timeline: inspection records newest first, filterable by plugin (or the manager),
 * microsteps optional. The page keeps the last `CAPACITY` records in a ring buffer and shows at
 * most `SHOWN` of them, so a busy host cannot grow the page without bound.
 */
import type { InspectionRecord } from '../wire.ts';
import { clockTime, el } from './dom.ts';

const CAPACITY = 5000;
const SHOWN = 250;

export class Timeline {
  private readonly records: InspectionRecord[] = [];
  private filter = '';
  private microsteps = false;

  constructor(private readonly list: HTMLOListElement) {}

  /** Filters by plugin name, `manager`, or '' for everything. */
  setFilter(filter: string, microsteps: boolean): void {
    this.filter = filter;
    this.microsteps = microsteps;
    this.redraw();
  }

  /** Replaces everything (a new connection's recent records). */
  reset(records: readonly InspectionRecord[]): void {
    this.records.length = 0;
    this.add(records, false);
    this.redraw();
  }

  /** Appends records (oldest first) and shows those that pass the filter on top. */
  add(records: readonly InspectionRecord[], render = true): void {
    for (const record of records) this.records.push(record);
    if (this.records.length > CAPACITY) this.records.splice(0, this.records.length - CAPACITY);
    if (!render) return;
    const fresh = records.filter((record) => this.matches(record)).slice(-SHOWN);
    if (fresh.length === 0) return;
    const fragment = document.createDocumentFragment();
    for (let i = fresh.length - 1; i >= 0; i--) fragment.append(this.item(fresh[i]!));
    this.list.prepend(fragment);
    while (this.list.childElementCount > SHOWN) this.list.lastElementChild!.remove();
  }

  private matches(record: InspectionRecord): boolean {
    if (record.kind === 'microstep' && !this.microsteps) return false;
    if (this.filter === '') return true;
    if (this.filter === 'manager') return record.plugin === null;
    return record.plugin === this.filter;
  }

  private redraw(): void {
    const shown: InspectionRecord[] = [];
    for (let i = this.records.length - 1; i >= 0 && shown.length < SHOWN; i--) {
      if (this.matches(this.records[i]!)) shown.push(this.records[i]!);
    }
    this.list.replaceChildren(...shown.map((record) => this.item(record)));
  }

  private item(record: InspectionRecord): HTMLLIElement {
    const what =
      record.kind === 'actor'
        ? 'actor created'
        : record.kind === 'event'
          ? `${record.event ?? '?'}${record.source ? ` from ${record.source}` : ''}`
          : `${record.event ?? 'changed'} → ${record.state ?? '?'}`;
    const item = el(
      'li',
      { class: `kind-${record.kind}`, 'data-kind': record.kind, 'data-actor': record.actor },
      el('time', {}, clockTime(record.at)),
      el('span', { class: 'actor' }, record.actor),
      el('span', { class: 'kind' }, record.kind),
      el('span', { class: 'what' }, what),
    );
    if (record.plugin !== null) item.dataset['plugin'] = record.plugin;
    if (record.state !== null) item.dataset['state'] = record.state;
    return item;
  }
}
