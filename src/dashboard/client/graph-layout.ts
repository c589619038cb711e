/**
 * Lays out the dependency graph for the page (no DOM here, so it is tested in Node): each plugin
 * in the column after its deepest dependency (plugins with none in column 0), ordered in its
 * column by the mean row of its dependencies, edges from a plugin to what it depends on (marked
 * when the dependency is optional). A
 * dependency that is not registered gets a `missing` box; a cycle (between invalid plugins) is
 * cut where it closes. Linear in plugins plus edges.
 */

export interface GraphInput {
  name: string;
  dependencies: readonly string[];
  /** Which of `dependencies` are optional (their edges are drawn dashed). */
  optionalDependencies?: readonly string[];
}

export interface GraphNode {
  name: string;
  x: number;
  y: number;
  column: number;
  missing: boolean;
}

export interface GraphEdge {
  from: string;
  to: string;
  optional: boolean;
  d: string;
}

export interface GraphLayout {
  width: number;
  height: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export const NODE_W = 132;
export const NODE_H = 20;
const GAP_X = 56;
const GAP_Y = 6;
const MARGIN = 8;

export function layoutGraph(plugins: readonly GraphInput[]): GraphLayout {
  const deps = new Map<string, readonly string[]>();
  for (const plugin of plugins) deps.set(plugin.name, plugin.dependencies);
  const missing = new Set<string>();
  for (const plugin of plugins) for (const dep of plugin.dependencies) if (!deps.has(dep)) missing.add(dep);
  for (const name of missing) deps.set(name, []);

  // Column = 1 + deepest dependency; iterative, so a long chain cannot overflow the stack.
  const column = new Map<string, number>();
  const visiting = new Set<string>();
  for (const root of deps.keys()) {
    if (column.has(root)) continue;
    const stack: Array<{ name: string; next: number }> = [{ name: root, next: 0 }];
    visiting.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const list = deps.get(top.name)!;
      if (top.next < list.length) {
        const dep = list[top.next++]!;
        if (!column.has(dep) && !visiting.has(dep)) {
          visiting.add(dep);
          stack.push({ name: dep, next: 0 });
        }
        continue;
      }
      let col = 0;
      for (const dep of list) {
        const c = column.get(dep);
        if (c !== undefined) col = Math.max(col, c + 1); // a dependency still being visited closes a cycle: ignored
      }
      column.set(top.name, col);
      visiting.delete(top.name);
      stack.pop();
    }
  }

  const columns: string[][] = [];
  for (const [name, col] of column) (columns[col] ??= []).push(name);
  const row = new Map<string, number>();
  columns.forEach((names, c) => {
    if (c > 0) {
      const mean = new Map<string, number>();
      for (const name of names) {
        const rows = deps.get(name)!.map((dep) => row.get(dep)).filter((r) => r !== undefined);
        mean.set(name, rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : 0);
      }
      names.sort((a, b) => mean.get(a)! - mean.get(b)! || (a < b ? -1 : 1));
    } else {
      names.sort();
    }
    names.forEach((name, i) => row.set(name, i));
  });

  const tallest = Math.max(1, ...columns.map((names) => names.length));
  const height = 2 * MARGIN + tallest * (NODE_H + GAP_Y) - GAP_Y;
  const nodes: GraphNode[] = [];
  const at = new Map<string, GraphNode>();
  columns.forEach((names, c) => {
    const offset = ((tallest - names.length) * (NODE_H + GAP_Y)) / 2;
    names.forEach((name, i) => {
      const node = { name, column: c, x: MARGIN + c * (NODE_W + GAP_X), y: MARGIN + offset + i * (NODE_H + GAP_Y), missing: missing.has(name) };
      nodes.push(node);
      at.set(name, node);
    });
  });

  const edges: GraphEdge[] = [];
  for (const plugin of plugins) {
    const from = at.get(plugin.name)!;
    for (const dep of new Set(plugin.dependencies)) {
      const to = at.get(dep)!;
      const [x1, y1] = [from.x, from.y + NODE_H / 2];
      const [x2, y2] = [to.x + NODE_W, to.y + NODE_H / 2];
      const bend = Math.max(24, Math.abs(x1 - x2) / 2);
      const optional = plugin.optionalDependencies?.includes(dep) ?? false;
      edges.push({ from: plugin.name, to: dep, optional, d: `M${x1},${y1} C${x1 - bend},${y1} ${x2 + bend},${y2} ${x2},${y2}` });
    }
  }
  const width = 2 * MARGIN + Math.max(1, columns.length) * (NODE_W + GAP_X) - GAP_X;
  return { width, height, nodes, edges };
}
