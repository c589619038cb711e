/// <reference lib="dom" />
/**
 * The dependency graph on the page: laid out again only when the set of plugins or their
 * dependencies change; a state change only swaps one node's class. The selected plugin and its
 * edges are highlighted.
 */
import type { DashboardPlugin } from '../wire.ts';
import { setText, stateClass, svg } from './dom.ts';
import { NODE_H, NODE_W, layoutGraph } from './graph-layout.ts';

const MAX_LABEL = 18;

export class GraphView {
  private nodes = new Map<string, SVGGElement>();
  private edges: SVGPathElement[] = [];
  private shape = '';
  private selected: string | null = null;

  constructor(
    private readonly container: HTMLElement,
    private readonly select: (name: string) => void,
  ) {
    const pick = (target: EventTarget | null) => {
      const node = (target as Element).closest('[data-name]');
      const name = node?.getAttribute('data-name');
      if (name && !node!.classList.contains('missing')) select(name);
    };
    container.addEventListener('click', (event) => pick(event.target));
    // Nodes take focus (Tab) and are selected with Enter or Space, as a button is.
    container.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
      pick(event.target);
    });
  }

  /** Redraws when plugins or dependencies changed since the last drawing; else updates every node's state. */
  render(plugins: Iterable<DashboardPlugin>): void {
    const list = [...plugins];
    const shape = list.map((p) => `${p.name}:${p.dependencies.join(',')}?${p.optionalDependencies.join(',')}`).join(';');
    if (shape === this.shape) {
      for (const plugin of list) this.update(plugin);
      return;
    }
    this.shape = shape;
    const layout = layoutGraph(list);
    const root = svg('svg', { class: 'graph', width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}` });
    const edgeLayer = svg('g', { class: 'edges' });
    const nodeLayer = svg('g', { class: 'nodes' });
    this.edges = layout.edges.map((edge) => {
      const path = svg('path', { d: edge.d, 'data-from': edge.from, 'data-to': edge.to, ...(edge.optional ? { class: 'optional' } : {}) });
      edgeLayer.append(path);
      return path;
    });
    this.nodes = new Map();
    for (const node of layout.nodes) {
      const attributes = { 'data-name': node.name, class: node.missing ? 'node missing' : 'node', transform: `translate(${node.x},${node.y})` };
      const g = svg('g', node.missing ? attributes : { ...attributes, tabindex: 0, role: 'button', 'aria-label': `select ${node.name}` });
      const title = svg('title');
      setText(title, node.missing ? `${node.name} (not registered)` : node.name);
      const text = svg('text', { x: 6, y: NODE_H / 2 + 4 });
      setText(text, node.name.length > MAX_LABEL ? `${node.name.slice(0, MAX_LABEL - 1)}…` : node.name);
      g.append(title, svg('rect', { width: NODE_W, height: NODE_H, rx: 4 }), text);
      nodeLayer.append(g);
      this.nodes.set(node.name, g);
    }
    root.append(edgeLayer, nodeLayer);
    this.container.replaceChildren(root);
    for (const plugin of list) this.update(plugin);
    const selected = this.selected;
    this.selected = null;
    this.highlight(selected);
  }

  update(plugin: DashboardPlugin): void {
    const node = this.nodes.get(plugin.name);
    if (!node) return;
    const className = `node ${stateClass(plugin.state)}${plugin.name === this.selected ? ' selected' : ''}`;
    if (node.getAttribute('class') !== className) node.setAttribute('class', className);
    const title = node.querySelector('title');
    if (title) setText(title, `${plugin.name}: ${plugin.state}`);
    const label = `select ${plugin.name} (${plugin.state})`;
    if (node.getAttribute('aria-label') !== label) node.setAttribute('aria-label', label);
  }

  highlight(name: string | null): void {
    if (this.selected) this.nodes.get(this.selected)?.classList.remove('selected');
    this.selected = name;
    const node = name ? this.nodes.get(name) : undefined;
    node?.classList.add('selected');
    for (const edge of this.edges) {
      const on = name !== null && (edge.getAttribute('data-from') === name || edge.getAttribute('data-to') === name);
      edge.classList.toggle('hl', on);
    }
  }
}
