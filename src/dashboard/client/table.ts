/// <reference lib="dom" />
/**
 * The plugin table: one row per plugin, built once and then patched cell by cell, so an update
 * of 1,000 rows costs only the cells that changed. Row buttons are enabled only where the chart
 * allows the command (`can`) and a control token is known.
 */
import type { DashboardCommand, DashboardPlugin } from '../wire.ts';
import { dependencyList, displayText, el, formatTimings, setText, stateClass } from './dom.ts';

/** The commands that get a button in each row (retry and reset are in the detail panel). */
export const ROW_COMMANDS: readonly DashboardCommand[] = ['start', 'stop', 'restart', 'reload'];

export interface TableHandlers {
  select(name: string): void;
  command(name: string, command: DashboardCommand): void;
}

interface Row {
  tr: HTMLTableRowElement;
  state: HTMLElement;
  version: HTMLElement;
  attempts: HTMLElement;
  error: HTMLElement;
  timings: HTMLElement;
  health: HTMLElement;
  dependencies: HTMLElement;
  buttons: Map<DashboardCommand, HTMLButtonElement>;
  plugin: DashboardPlugin;
}

export class PluginTable {
  private readonly rows = new Map<string, Row>();
  private readonly busy = new Set<string>();
  private query = '';
  private controls = false;
  private selected: string | null = null;

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly handlers: TableHandlers,
  ) {
    body.addEventListener('click', (event) => {
      const target = event.target as HTMLElement;
      const tr = target.closest('tr');
      const name = tr?.dataset['name'];
      if (!name) return;
      const button = target.closest('button');
      if (button?.dataset['command']) handlers.command(name, button.dataset['command'] as DashboardCommand);
      else handlers.select(name);
    });
  }

  get size(): number {
    return this.rows.size;
  }

  /** Adds or patches the row of `plugin`. */
  update(plugin: DashboardPlugin): void {
    const row = this.rows.get(plugin.name) ?? this.create(plugin);
    row.plugin = plugin;
    row.tr.className = `${stateClass(plugin.state)}${plugin.name === this.selected ? ' selected' : ''}`;
    row.tr.dataset['state'] = plugin.state;
    setText(row.state, plugin.state);
    setText(row.version, plugin.version ?? '–');
    setText(row.attempts, String(plugin.attempts));
    setText(row.error, plugin.error ? `${plugin.error.code}: ${plugin.error.message}` : '');
    row.error.title = displayText(plugin.error?.message ?? '');
    setText(row.timings, formatTimings(plugin.timings));
    row.timings.title = row.timings.textContent ?? '';
    setText(row.health, plugin.health ? plugin.health.status : '');
    row.health.className = `health ${plugin.health?.status ?? ''}`.trimEnd();
    row.health.title = displayText(plugin.health?.message ?? '');
    setText(row.dependencies, dependencyList(plugin));
    row.dependencies.title = row.dependencies.textContent ?? '';
    this.refreshButtons(row);
    if (this.query !== '') this.applyFilter(row);
  }

  remove(name: string): void {
    this.rows.get(name)?.tr.remove();
    this.rows.delete(name);
  }

  /** Drops every row not in `names` (after a full update). */
  keepOnly(names: ReadonlySet<string>): void {
    for (const name of [...this.rows.keys()]) if (!names.has(name)) this.remove(name);
  }

  setControls(enabled: boolean): void {
    this.controls = enabled;
    for (const row of this.rows.values()) this.refreshButtons(row);
  }

  setBusy(name: string, busy: boolean): void {
    if (busy) this.busy.add(name);
    else this.busy.delete(name);
    const row = this.rows.get(name);
    if (row) this.refreshButtons(row);
  }

  select(name: string | null): void {
    if (this.selected) this.rows.get(this.selected)?.tr.classList.remove('selected');
    this.selected = name;
    if (name) this.rows.get(name)?.tr.classList.add('selected');
  }

  filter(query: string): void {
    this.query = query.trim().toLowerCase();
    for (const row of this.rows.values()) this.applyFilter(row);
  }

  /** How many rows the filter shows now (rows change state under it), or null without a filter. */
  shown(): number | null {
    if (this.query === '') return null;
    let shown = 0;
    for (const row of this.rows.values()) if (!row.tr.hidden) shown++;
    return shown;
  }

  private applyFilter(row: Row): void {
    const p = row.plugin;
    row.tr.hidden = !(this.query === '' || p.name.toLowerCase().includes(this.query) || p.state.includes(this.query) || (p.error?.code.toLowerCase().includes(this.query) ?? false));
  }

  private refreshButtons(row: Row): void {
    const busy = this.busy.has(row.plugin.name);
    for (const [command, button] of row.buttons) {
      const enabled = this.controls && !busy && row.plugin.can[command];
      if (button.disabled === enabled) button.disabled = !enabled;
    }
  }

  private create(plugin: DashboardPlugin): Row {
    const cell = (className: string) => el('td', { class: className });
    const buttons = new Map<DashboardCommand, HTMLButtonElement>();
    const actions = el('td', { class: 'actions' });
    for (const command of ROW_COMMANDS) {
      const button = el('button', { type: 'button', 'data-command': command, title: displayText(`${command} ${plugin.name}`) }, command);
      button.disabled = true;
      buttons.set(command, button);
      actions.append(button);
    }
    const row: Row = {
      tr: el('tr', { 'data-name': plugin.name }),
      state: el('span', { class: 'state' }),
      version: cell('version'),
      attempts: cell('attempts'),
      error: cell('error'),
      timings: cell('timings'),
      health: cell('health'),
      dependencies: cell('dependencies'),
      buttons,
      plugin,
    };
    row.tr.append(
      // A button, so a plugin can be selected from the keyboard too; its title shows a cut name in full.
      el('td', { class: 'name' }, el('button', { type: 'button', class: 'select', title: displayText(plugin.name) }, plugin.name)),
      row.version,
      el('td', { class: 'state-cell' }, row.state),
      row.attempts,
      row.error,
      row.timings,
      row.health,
      row.dependencies,
      actions,
    );
    this.body.append(row.tr);
    this.rows.set(plugin.name, row);
    this.applyFilter(row);
    return row;
  }
}
