/// <reference lib="dom" />
/**
 * The panel of the selected plugin: every field of its row in full (error message, all
 * validation reasons, timings, health, what it depends on and what depends on it), and buttons
 * for every command, enabled where the chart allows it.
 */
import { DASHBOARD_COMMANDS } from '../wire.ts';
import type { DashboardCommand, DashboardPlugin } from '../wire.ts';
import { clockTime, dependencyList, el, displayText, formatTimings, stateClass } from './dom.ts';

export class DetailPanel {
  private plugin: DashboardPlugin | null = null;
  private readonly buttons = new Map<DashboardCommand, HTMLButtonElement>();
  private controls = false;
  /** Plugins with a command in flight: the panel may show another one meanwhile. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly fields: HTMLElement,
    private readonly actions: HTMLElement,
    private readonly note: HTMLElement,
    command: (name: string, command: DashboardCommand) => void,
  ) {
    for (const name of DASHBOARD_COMMANDS) {
      const button = el('button', { type: 'button', 'data-command': name }, name);
      button.disabled = true;
      button.addEventListener('click', () => this.plugin && command(this.plugin.name, name));
      this.buttons.set(name, button);
      actions.append(button);
    }
  }

  get name(): string | null {
    return this.plugin?.name ?? null;
  }

  show(plugin: DashboardPlugin | null, dependents: readonly string[]): void {
    if (plugin?.name !== this.plugin?.name) this.message('');
    this.plugin = plugin;
    if (!plugin) {
      this.fields.replaceChildren(el('p', { class: 'hint' }, 'Select a plugin in the table or the graph.'));
      this.refresh();
      return;
    }
    const rows: Array<[string, string | Node]> = [
      ['plugin', `${plugin.name} ${plugin.version ?? ''}`.trim()],
      ['state', el('span', { class: `state ${stateClass(plugin.state)}` }, plugin.state)],
      ['since', clockTime(plugin.since)],
      ['attempts', String(plugin.attempts)],
      ['depends on', dependencyList(plugin) || '–'],
      ['needed by', dependents.join(', ') || '–'],
      ['timings', formatTimings(plugin.timings) || '–'],
    ];
    if (plugin.health) rows.push(['health', `${plugin.health.status}${plugin.health.message ? ` (${plugin.health.message})` : ''}`]);
    if (plugin.error) rows.push(['error', `${plugin.error.code}${plugin.error.hook ? ` in ${plugin.error.hook}` : ''}: ${plugin.error.message}`]);
    for (const error of plugin.errors.slice(plugin.error ? 1 : 0)) rows.push(['also', `${error.code}: ${error.message}`]);
    const list = el('dl');
    for (const [term, value] of rows) list.append(el('dt', {}, term), el('dd', {}, value));
    this.fields.replaceChildren(list);
    this.refresh();
  }

  setControls(enabled: boolean): void {
    this.controls = enabled;
    this.refresh();
  }

  setBusy(name: string, busy: boolean): void {
    if (busy) this.busy.add(name);
    else this.busy.delete(name);
    this.refresh();
  }

  message(text: string, kind: 'ok' | 'error' = 'ok'): void {
    this.note.textContent = displayText(text);
    this.note.className = text ? kind : '';
  }

  private refresh(): void {
    for (const [command, button] of this.buttons) {
      button.disabled = !(this.controls && this.plugin && !this.busy.has(this.plugin.name) && this.plugin.can[command]);
    }
  }
}
