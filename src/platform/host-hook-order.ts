/**
 * The call order of a host hook's implementations: the boot order, refined by before/after.
 * @internal
 */

/** One plugin's implementation of one host hook. */
export interface Implementation {
  plugin: string;
  fn: (arg: unknown) => unknown;
  before: string[];
  after: string[];
  /** Registration sequence: ties and plugins outside the boot order. */
  seq: number;
  /** False once removed; a call already under way skips it. */
  active: boolean;
  /** Calls waiting on it now, told when it is removed (they go on without it). */
  waiting?: Set<() => void>;
}

/**
 * A topological order of `impls` under their before/after constraints that stays as close to
 * `rank` (boot position; unranked plugins last, by registration) as the constraints allow. Two implementations of
 * one plugin keep their registration order. When the constraints have a cycle, `cycle` names it
 * (`['a', 'b', 'a']`) and `order` is empty.
 */
export function orderImplementations(
  impls: readonly Implementation[],
  rank: ReadonlyMap<string, number>,
): { order: Implementation[]; cycle: string[] | null } {
  const edges = new Map<Implementation, Set<Implementation>>(impls.map((i) => [i, new Set()]));
  const edge = (from: Implementation, to: Implementation) => {
    if (from !== to) edges.get(from)!.add(to);
  };
  // Edges from the constraints only, found by plugin name, and a plugin's own implementations
  // chained in registration order (each to the next: the order is the same as with every pair,
  // and a plugin implementing a hook per route costs linear time, not cubic).
  const byPlugin = new Map<string, Implementation[]>();
  for (const impl of impls) {
    const list = byPlugin.get(impl.plugin);
    if (list) list.push(impl);
    else byPlugin.set(impl.plugin, [impl]);
  }
  for (const list of byPlugin.values()) {
    list.sort((x, y) => x.seq - y.seq);
    for (let i = 1; i < list.length; i++) edge(list[i - 1]!, list[i]!);
  }
  for (const a of impls) {
    for (const name of a.before) if (name !== a.plugin) for (const b of byPlugin.get(name) ?? []) edge(a, b);
    for (const name of a.after) if (name !== a.plugin) for (const b of byPlugin.get(name) ?? []) edge(b, a);
  }
  const indegree = new Map<Implementation, number>(impls.map((i) => [i, 0]));
  for (const targets of edges.values()) for (const t of targets) indegree.set(t, indegree.get(t)! + 1);

  // An implementation runs as early as the earliest one it must precede: `before: ['b']` pulls it
  // forward to just ahead of b rather than holding b back until its own (later) turn.
  type Key = [number, number];
  const own = (i: Implementation): Key => [rank.get(i.plugin) ?? Number.MAX_SAFE_INTEGER, i.seq];
  const less = (a: Key, b: Key) => (a[0] !== b[0] ? a[0] < b[0] : a[1] < b[1]);
  const effective = new Map<Implementation, Key>();
  // Depth first, without recursion (a chain of thousands of implementations of one plugin); a
  // node met again while on the stack is a cycle, reported below.
  const onStack = new Set<Implementation>();
  for (const root of impls) {
    if (effective.has(root)) continue;
    const stack: Array<{ node: Implementation; targets: Iterator<Implementation>; best: Key }> = [
      { node: root, targets: edges.get(root)![Symbol.iterator](), best: own(root) },
    ];
    onStack.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const next = top.targets.next();
      if (!next.done) {
        const t = next.value;
        if (onStack.has(t)) continue;
        const known = effective.get(t);
        if (known) {
          if (less(known, top.best)) top.best = known;
          continue;
        }
        stack.push({ node: t, targets: edges.get(t)![Symbol.iterator](), best: own(t) });
        onStack.add(t);
        continue;
      }
      stack.pop();
      onStack.delete(top.node);
      effective.set(top.node, top.best);
      const parent = stack[stack.length - 1];
      if (parent && less(top.best, parent.best)) parent.best = top.best;
    }
  }
  const earlier = (a: Implementation, b: Implementation) => {
    const ea = effective.get(a)!;
    const eb = effective.get(b)!;
    return less(ea, eb) || (!less(eb, ea) && less(own(a), own(b)));
  };
  const ready = impls.filter((i) => indegree.get(i) === 0);
  const order: Implementation[] = [];
  while (ready.length > 0) {
    let best = 0;
    for (let i = 1; i < ready.length; i++) if (earlier(ready[i]!, ready[best]!)) best = i;
    const next = ready.splice(best, 1)[0]!;
    order.push(next);
    for (const t of edges.get(next)!) {
      const left = indegree.get(t)! - 1;
      indegree.set(t, left);
      if (left === 0) ready.push(t);
    }
  }
  if (order.length === impls.length) return { order, cycle: null };
  return { order: [], cycle: findCycle(impls.filter((i) => !order.includes(i)), edges) };
}

/** A cycle among `left`, the implementations Kahn's algorithm could not place, as plugin names. */
function findCycle(left: Implementation[], edges: Map<Implementation, Set<Implementation>>): string[] {
  const remaining = new Set(left);
  // Each of them still has a predecessor among them (its indegree never reached zero): walking
  // backwards from any of them must come round to a node seen before.
  const predecessor = (node: Implementation) => left.find((from) => edges.get(from)!.has(node) && remaining.has(from))!;
  const path: Implementation[] = [];
  let node = left[0]!;
  while (!path.includes(node)) {
    path.push(node);
    node = predecessor(node);
  }
  const cycle = path.slice(path.indexOf(node)).reverse().map((i) => i.plugin);
  return [...cycle, cycle[0]!];
}
