/// <reference lib="dom" />
/**
 * The lifecycle chart on the page: the server's drawing of the chart definition (`/api/chart`),
 * with the selected plugin's current state highlighted (its ancestors too) and the transitions
 * that leave it emphasised and labelled.
 */

export class ChartView {
  private states = new Map<string, Element>();
  private transitions: Element[] = [];
  private current: string | null = null;

  constructor(private readonly container: HTMLElement) {}

  /** Shows the server-drawn SVG (markup built and escaped by the server from the chart definition). */
  mount(markup: string): void {
    this.container.innerHTML = markup;
    this.states = new Map([...this.container.querySelectorAll('[data-state]')].map((node) => [node.getAttribute('data-state')!, node]));
    this.transitions = [...this.container.querySelectorAll('.transition')];
    const state = this.current;
    this.current = null;
    this.highlight(state);
  }

  /** Highlights `state` (a dotted path) and the transitions out of it or its ancestors. */
  highlight(state: string | null): void {
    if (state === this.current) return;
    this.current = state;
    const parts = state ? state.split('.') : [];
    const active = new Set(parts.map((_, i) => parts.slice(0, i + 1).join('.')));
    for (const [path, node] of this.states) {
      node.classList.toggle('active', active.has(path));
      node.classList.toggle('current', path === state);
    }
    for (const node of this.transitions) node.classList.toggle('out', active.has(node.getAttribute('data-source') ?? ''));
    this.container.dataset['state'] = state ?? '';
  }
}
