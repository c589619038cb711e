/**
 * Pure dependency-graph algorithms: cycles (with their full path) and a boot order.
 * Iterative throughout, so a 10,000-deep chain does not overflow the stack.
 */

export interface GraphNode {
  name: string;
  /** Required dependencies. */
  requires: readonly string[];
  /** Optional dependencies: they order boot when present. */
  optional?: readonly string[];
}

function edgesOf(node: GraphNode, known: ReadonlyMap<string, GraphNode>): string[] {
  const out: string[] = [];
  for (const dep of node.requires) if (known.has(dep)) out.push(dep);
  for (const dep of node.optional ?? []) if (known.has(dep)) out.push(dep);
  return out;
}

/**
 * Every cycle, one per strongly connected component, as a closed path `[a, b, c, a]` where each
 * name depends on the next. Members of one component share its cycle.
 */
export function findCycles(nodes: readonly GraphNode[]): string[][] {
  const byName = new Map(nodes.map((n) => [n.name, n] as const));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;

  for (const root of nodes) {
    if (index.has(root.name)) continue;
    // Tarjan's algorithm with an explicit call stack: [name, next edge position].
    const frames: Array<[string, number, string[]]> = [[root.name, 0, edgesOf(root, byName)]];
    index.set(root.name, counter);
    low.set(root.name, counter++);
    stack.push(root.name);
    onStack.add(root.name);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const [name, position, edges] = frame;
      if (position < edges.length) {
        frame[1] = position + 1;
        const next = edges[position]!;
        if (!index.has(next)) {
          index.set(next, counter);
          low.set(next, counter++);
          stack.push(next);
          onStack.add(next);
          frames.push([next, 0, edgesOf(byName.get(next)!, byName)]);
        } else if (onStack.has(next)) {
          low.set(name, Math.min(low.get(name)!, index.get(next)!));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent[0], Math.min(low.get(parent[0])!, low.get(name)!));
      if (low.get(name) === index.get(name)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== name);
        const selfLoop = edgesOf(byName.get(name)!, byName).includes(name);
        if (component.length > 1 || selfLoop) cycles.push(cyclePath(component, byName));
      }
    }
  }
  return cycles;
}

/** A closed walk through one strongly connected component, starting at its smallest name. */
function cyclePath(component: string[], byName: ReadonlyMap<string, GraphNode>): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0]!;
  // Breadth-first search from start back to start inside the component gives the shortest cycle.
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const current = queue[i]!;
    for (const next of edgesOf(byName.get(current)!, byName)) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [start];
        for (let at: string | undefined = current; at !== undefined && at !== start; at = previous.get(at)) {
          path.splice(1, 0, at);
        }
        path.push(start);
        return path;
      }
      if (!previous.has(next)) {
        previous.set(next, current);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

/**
 * A valid boot order (dependencies before dependents) of the nodes that are not on or behind a
 * cycle, ties broken by the order given.
 */
export function bootOrder(nodes: readonly GraphNode[]): string[] {
  const byName = new Map(nodes.map((n) => [n.name, n] as const));
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const node of nodes) {
    const edges = edgesOf(node, byName);
    pending.set(node.name, edges.length);
    for (const dep of edges) {
      const list = dependents.get(dep);
      if (list) list.push(node.name);
      else dependents.set(dep, [node.name]);
    }
  }
  const order: string[] = [];
  for (const node of nodes) if (pending.get(node.name) === 0) order.push(node.name);
  for (let i = 0; i < order.length; i++) {
    for (const dependent of dependents.get(order[i]!) ?? []) {
      const left = pending.get(dependent)! - 1;
      pending.set(dependent, left);
      if (left === 0) order.push(dependent);
    }
  }
  return order;
}
