/// <reference lib="dom" />
/**
 * Small DOM helpers for the dashboard page: element creation, SVG elements, and the formats the
 * table and the timeline share.
 */
import { REORDERING, escapedChar } from '../../printable.ts';

/** Text as the page shows it: the characters that reorder text written as `\u202e` and the like, as the command line does. */
export function displayText(text: string): string {
  return text.replace(REORDERING, escapedChar);
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children.map((child) => (typeof child === 'string' ? displayText(child) : child)));
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`dashboard page: no element #${id}`);
  return node as T;
}

/** Sets a node's text only when it changed (a write costs a style recalculation). */
export function setText(node: Node, text: string): void {
  const visible = displayText(text);
  if (node.textContent !== visible) node.textContent = visible;
}

/** A plugin's dependencies as the page lists them, the optional ones marked: `db, metrics (optional)`. */
export function dependencyList(plugin: { dependencies: readonly string[]; optionalDependencies: readonly string[] }): string {
  return plugin.dependencies.map((dep) => (plugin.optionalDependencies.includes(dep) ? `${dep} (optional)` : dep)).join(', ');
}

/** The CSS class of a state: `st-` plus its top-level name (`failed.retrying` → `st-failed`). */
export function stateClass(state: string): string {
  return `st-${state.split('.')[0]}`;
}

/** `12:03:04.567` in local time. */
export function clockTime(at: number): string {
  const date = new Date(at);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** `init 3.1 · start 12 ms` from a snapshot's timings. */
export function formatTimings(timings: Record<string, number>): string {
  const parts = Object.entries(timings).map(([key, ms]) => `${key.replace(/Ms$/, '')} ${Math.round(ms * 10) / 10}`);
  return parts.length ? `${parts.join(' · ')} ms` : '';
}

/** Runs `work` once in the next animation frame, however often it is asked for before then. */
export function frameScheduler(work: () => void): () => void {
  let requested = false;
  return () => {
    if (requested) return;
    requested = true;
    requestAnimationFrame(() => {
      requested = false;
      work();
    });
  };
}

/**
 * Like `frameScheduler`, but at most once per `minMs`: for panels that need not follow every
 * frame (the timeline and the graph), so that a storm of changes leaves the frames to the table.
 */
export function throttledScheduler(work: () => void, minMs: number): () => void {
  let pending = false;
  let last = 0;
  return () => {
    if (pending) return;
    pending = true;
    const wait = Math.max(0, last + minMs - performance.now());
    setTimeout(() => {
      requestAnimationFrame(() => {
        pending = false;
        last = performance.now();
        work();
      });
    }, wait);
  };
}
