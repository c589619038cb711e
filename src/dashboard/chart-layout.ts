/**
 * Lays out a statechart from its definition (`chartToJson`), for the dashboard's drawing. The
 * top-level states form a main line, in columns by longest path from the initial state (back
 * edges found by a depth-first walk in document order are left out of the ranking, so the seed
 * path created → initializing → initialized → starting → running → stopping → stopped reads left
 * to right); final states and states that many others fall into (failed, disposing) sit on a
 * second row under their neighbours. Compound states are boxes holding their children;
 * transitions are curves between boxes. Nothing is placed by hand: another chart gets its own
 * picture.
 */
import type { ChartJson } from '../chart.ts';
import { eventLabel } from '../chart.ts';
import { assignColumns } from './chart-columns.ts';

export interface ChartBox {
  path: string;
  /** The last segment of the path, shown in the box. */
  key: string;
  type: string;
  description: string | null;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface ChartCurve {
  source: string;
  target: string;
  /** Readable event labels of every transition between the two states (`done`, `after hookTimeout` …). */
  labels: string[];
  /** SVG path data. */
  d: string;
  labelX: number;
  labelY: number;
}

export interface ChartLayout {
  width: number;
  height: number;
  /** Parents before their children. */
  boxes: ChartBox[];
  curves: ChartCurve[];
  /** Where the initial-state arrow starts, and the box it points to. */
  initial: { x: number; y: number; target: string } | null;
}

const ATOMIC_H = 34;
const HEADER_H = 24;
const PAD = 10;
const CHILD_GAP = 10;
const COLUMN_GAP = 64;
const ROW_GAP = 28;
const MARGIN = 24;
const CHAR_W = 7.2;

const textWidth = (text: string) => Math.ceil(text.length * CHAR_W) + 28;

type Size = { w: number; h: number };

export function layoutChart(chart: ChartJson, initialState: string | null): ChartLayout {
  const states = new Map(chart.states.map((state) => [state.path, state]));
  const childrenOf = (path: string) => chart.states.filter((s) => s.path.startsWith(`${path}.`) && !s.path.slice(path.length + 1).includes('.'));
  const tops = chart.states.filter((state) => !state.path.includes('.')).map((state) => state.path);
  const topOf = (path: string) => path.split('.')[0]!;

  // Top-level graph, edges in document order.
  const next = new Map<string, string[]>(tops.map((t) => [t, []]));
  for (const t of chart.transitions) {
    if (t.target === null || !states.has(t.source) || !states.has(t.target)) continue;
    const [from, to] = [topOf(t.source), topOf(t.target)];
    if (from !== to && !next.get(from)!.includes(to)) next.get(from)!.push(to);
  }

  // Depth-first walk from the initial state: edges to a state on the stack are back edges.
  const order: string[] = [];
  const kept = new Map<string, string[]>(tops.map((t) => [t, []]));
  const seen = new Set<string>();
  const onStack = new Set<string>();
  const walk = (node: string) => {
    seen.add(node);
    onStack.add(node);
    for (const to of next.get(node)!) {
      if (onStack.has(to)) continue;
      kept.get(node)!.push(to);
      if (!seen.has(to)) walk(to);
    }
    onStack.delete(node);
    order.unshift(node);
  };
  const start = initialState !== null && next.has(topOf(initialState)) ? topOf(initialState) : tops[0];
  if (start !== undefined) walk(start);
  for (const t of tops) if (!seen.has(t)) walk(t);

  // Sizes: a compound state stacks its children under a header.
  const sizes = new Map<string, Size>();
  const size = (path: string): Size => {
    const kids = childrenOf(path);
    const key = path.split('.').pop()!;
    if (kids.length === 0) {
      const s = { w: Math.max(112, textWidth(key)), h: ATOMIC_H };
      sizes.set(path, s);
      return s;
    }
    const inner = kids.map((kid) => size(kid.path));
    const w = Math.max(textWidth(key), ...inner.map((s) => s.w)) + 2 * PAD;
    const h = HEADER_H + inner.reduce((sum, s) => sum + s.h, 0) + CHILD_GAP * (inner.length - 1) + PAD;
    const s = { w, h };
    sizes.set(path, s);
    return s;
  };
  for (const t of tops) size(t);

  const column = assignColumns(tops, next, kept, order, (t) => states.get(t)!.type === 'final');
  const columns: Array<[string[], string[]]> = [];
  for (const t of order) {
    const { col, row } = column.get(t)!;
    (columns[col] ??= [[], []])[row].push(t);
  }
  for (let c = 0; c < columns.length; c++) columns[c] ??= [[], []];
  const bandHeight = (row: 0 | 1) =>
    Math.max(0, ...columns.map((band) => band[row].reduce((sum, n) => sum + sizes.get(n)!.h, 0) + ROW_GAP * Math.max(0, band[row].length - 1)));
  const bands = [bandHeight(0), bandHeight(1)] as const;
  const height = MARGIN * 2 + bands[0] + (bands[1] > 0 ? 2 * ROW_GAP + bands[1] : 0);

  const boxes: ChartBox[] = [];
  const place = (path: string, x: number, y: number) => {
    const { w, h } = sizes.get(path)!;
    const state = states.get(path)!;
    boxes.push({ path, key: path.split('.').pop()!, type: state.type, description: state.description, x, y, w, h });
    let childY = y + HEADER_H;
    for (const kid of childrenOf(path)) {
      const s = sizes.get(kid.path)!;
      place(kid.path, x + (w - s.w) / 2, childY);
      childY += s.h + CHILD_GAP;
    }
  };
  let x = MARGIN + 28; // room for the initial-state arrow
  for (const band of columns) {
    const nodes = [...band[0], ...band[1]];
    if (nodes.length === 0) continue;
    const width = Math.max(...nodes.map((n) => sizes.get(n)!.w));
    band.forEach((list, row) => {
      const used = list.reduce((sum, n) => sum + sizes.get(n)!.h, 0) + ROW_GAP * Math.max(0, list.length - 1);
      let y = row === 0 ? MARGIN + (bands[0] - used) / 2 : MARGIN + bands[0] + 2 * ROW_GAP;
      for (const node of list) {
        const s = sizes.get(node)!;
        place(node, x + (width - s.w) / 2, y);
        y += s.h + ROW_GAP;
      }
    });
    x += width + COLUMN_GAP;
  }
  const rank = new Map([...column].map(([t, { col }]) => [t, col]));

  const byPath = new Map(boxes.map((box) => [box.path, box]));
  const initialBox = start === undefined ? undefined : byPath.get(start);
  return {
    width: x - COLUMN_GAP + MARGIN,
    height,
    boxes,
    curves: curves(chart, byPath, rank, topOf),
    initial: initialBox ? { x: initialBox.x - 26, y: initialBox.y + initialBox.h / 2, target: initialBox.path } : null,
  };
}

/** One curve per pair of states, bent to one side so that A→B and B→A stay apart. */
function curves(chart: ChartJson, boxes: Map<string, ChartBox>, rank: Map<string, number>, topOf: (p: string) => string): ChartCurve[] {
  const pairs = new Map<string, { source: string; target: string; labels: string[] }>();
  for (const t of chart.transitions) {
    if (t.target === null || t.target === t.source || !boxes.has(t.source) || !boxes.has(t.target)) continue;
    const key = `${t.source}\u0000${t.target}`;
    const label = eventLabel(t.event) + (t.guard ? ` [${t.guard}]` : '');
    const pair = pairs.get(key) ?? { source: t.source, target: t.target, labels: [] };
    if (!pair.labels.includes(label)) pair.labels.push(label);
    pairs.set(key, pair);
  }
  return [...pairs.values()].map(({ source, target, labels }) => {
    const a = boxes.get(source)!;
    const b = boxes.get(target)!;
    const backwards = rank.get(topOf(target))! < rank.get(topOf(source))!;
    const [ax, ay] = [a.x + a.w / 2, a.y + a.h / 2];
    const [bx, by] = [b.x + b.w / 2, b.y + b.h / 2];
    const length = Math.hypot(bx - ax, by - ay) || 1;
    const bend = Math.min(90, length * (backwards ? 0.3 : 0.12));
    // Control point: the midpoint pushed sideways (to the left of the direction of travel).
    const cx = (ax + bx) / 2 + ((by - ay) / length) * bend;
    const cy = (ay + by) / 2 - ((bx - ax) / length) * bend;
    const [sx, sy] = clip(a, cx, cy);
    const [tx, ty] = clip(b, cx, cy);
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      source,
      target,
      labels,
      d: `M${round(sx)},${round(sy)} Q${round(cx)},${round(cy)} ${round(tx)},${round(ty)}`,
      labelX: round(0.25 * sx + 0.5 * cx + 0.25 * tx),
      labelY: round(0.25 * sy + 0.5 * cy + 0.25 * ty),
    };
  });
}

/** Where the line from a box's centre towards (px, py) leaves the box. */
function clip(box: ChartBox, px: number, py: number): [number, number] {
  const [cx, cy] = [box.x + box.w / 2, box.y + box.h / 2];
  const [dx, dy] = [px - cx, py - cy];
  if (dx === 0 && dy === 0) return [cx, cy];
  const scale = Math.min(dx === 0 ? Infinity : box.w / 2 / Math.abs(dx), dy === 0 ? Infinity : box.h / 2 / Math.abs(dy));
  return [cx + dx * Math.min(1, scale), cy + dy * Math.min(1, scale)];
}
