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
 * The implementations of one hook and the before/after graph between them, kept up to date as
 * implementations come and go. a runs before b when b's plugin is in a's `before`, a's plugin is
 * in b's `after`, or a and b belong to one plugin and a was registered first. Only the edges that
 * order is made of are kept: a plugin's implementations are chained in registration order, so
 * `before: ['b']` needs an edge to b's first implementation only, and `after: ['a']` one from a's
 * last. Adding an implementation looks for a cycle only where it can reach, so a host whose
 * plugins each implement a hook with a constraint boots in linear time, not quadratic or worse.
 */
export class ImplementationGraph {
  /** In registration order. */
  private readonly all = new Set<Implementation>();
  /** Each plugin's implementations as a chain in registration order. */
  private readonly firstOf = new Map<string, Implementation>();
  private readonly lastOf = new Map<string, Implementation>();
  private readonly nextOf = new Map<Implementation, Implementation>();
  private readonly previousOf = new Map<Implementation, Implementation>();
  /** Per plugin name, the implementations (of other plugins) whose `after` names it. */
  private readonly namedAfter = new Map<string, Set<Implementation>>();
  /** Per plugin name, the implementations (of other plugins) whose `before` names it. */
  private readonly namedBefore = new Map<string, Set<Implementation>>();

  /** Adds `impl`, unless it closes a cycle: then it is left out and the cycle returned as plugin names (`['a', 'b', 'a']`). */
  add(impl: Implementation): string[] | null {
    this.all.add(impl);
    const last = this.lastOf.get(impl.plugin);
    if (last) {
      this.nextOf.set(last, impl);
      this.previousOf.set(impl, last);
    } else {
      this.firstOf.set(impl.plugin, impl);
    }
    this.lastOf.set(impl.plugin, impl);
    index(this.namedAfter, impl, impl.after);
    index(this.namedBefore, impl, impl.before);
    // The graph had no cycle: a new one goes through the new implementation, so it needs both an
    // edge into it and one out of it (most have one side only: a plugin that nobody names yet).
    const cycle = this.hasPredecessor(impl) && this.hasSuccessor(impl) ? this.cycleThrough(impl) : null;
    if (cycle) this.remove(impl);
    else this.placed(impl);
    return cycle;
  }

  /**
   * Another plugin that `impl` must run before while `impl`'s plugin must also run after it: named
   * in `impl.before` and in the `after` of `impl` or of an implementation its plugin made earlier
   * (which runs first). That is a cycle whatever the named plugin ever implements; null if none.
   */
  contradiction(impl: Implementation): string | null {
    if (impl.before.length === 0) return null;
    const after = new Set(impl.after);
    for (let earlier = this.firstOf.get(impl.plugin); earlier; earlier = this.nextOf.get(earlier)) for (const name of earlier.after) after.add(name);
    return impl.before.find((name) => name !== impl.plugin && after.has(name)) ?? null;
  }

  remove(impl: Implementation): void {
    if (!this.all.has(impl)) return;
    // One with no edge changed nobody's place: the cached order holds without it.
    const cache = this.cache;
    if (cache && this.isFree(impl)) {
      // Taken out at the next order(), with every other change since: one pass for them all.
      if (!cache.adding.delete(impl)) cache.removing.add(impl);
    } else {
      this.cache = null;
    }
    this.all.delete(impl);
    const { plugin } = impl;
    const previous = this.previousOf.get(impl);
    const next = this.nextOf.get(impl);
    this.previousOf.delete(impl);
    this.nextOf.delete(impl);
    if (previous && next) this.nextOf.set(previous, next);
    else if (previous) this.nextOf.delete(previous);
    else if (next) this.firstOf.set(plugin, next);
    else this.firstOf.delete(plugin);
    if (next && previous) this.previousOf.set(next, previous);
    else if (next) this.previousOf.delete(next);
    else if (previous) this.lastOf.set(plugin, previous);
    else this.lastOf.delete(plugin);
    unindex(this.namedAfter, impl, impl.after);
    unindex(this.namedBefore, impl, impl.before);
  }

  private hasPredecessor(impl: Implementation): boolean {
    return this.previousOf.has(impl) || this.namedBefore.has(impl.plugin) || impl.after.some((name) => name !== impl.plugin && this.lastOf.has(name));
  }

  private hasSuccessor(impl: Implementation): boolean {
    return this.nextOf.has(impl) || this.namedAfter.has(impl.plugin) || impl.before.some((name) => name !== impl.plugin && this.firstOf.has(name));
  }

  /**
   * The last order made, for `rank`, kept up to date while only implementations with no edge come
   * and go (a plugin that implements a hook without before/after, restarting): such a one goes
   * before the first it sorts ahead of, as the full computation would put it, or simply out.
   * Those changes wait in `adding` and `removing` until the order is asked for, and are then made
   * in one pass: thousands of plugins implementing a hook as they boot cost linear time, not a
   * pass over the order each.
   */
  private cache: {
    rank: ReadonlyMap<string, number>;
    order: Implementation[];
    effective: Map<Implementation, Key>;
    /** Added since, with their keys: one removed before the next order() leaves nothing behind. */
    adding: Map<Implementation, Key>;
    removing: Set<Implementation>;
  } | null = null;

  /** No edge in or out: its place depends on its own rank and sequence only. */
  private isFree(impl: Implementation): boolean {
    return !this.hasPredecessor(impl) && !this.hasSuccessor(impl);
  }

  /**
   * A topological order of the implementations under their before/after constraints that stays
   * as close to `rank` (boot position; unranked plugins last, by registration) as the
   * constraints allow. Two implementations of one plugin keep their registration order. Made
   * again only when the rank or an implementation with constraints changed.
   */
  order(rank: ReadonlyMap<string, number>): Implementation[] {
    if (this.cache?.rank !== rank) this.cache = this.sort(rank);
    else if (this.cache.adding.size > 0 || this.cache.removing.size > 0) this.merge(this.cache);
    return this.cache.order;
  }

  /**
   * Makes the changes waiting in the cache: the ones removed go, and each one added goes before
   * the first it sorts ahead of, as the full computation would pick it (it is ready from the
   * start, and picked as soon as it sorts ahead of what would have come next). A new array: a
   * call under way keeps walking the order it was given.
   */
  private merge(cache: NonNullable<ImplementationGraph['cache']>): void {
    const adding = [...cache.adding].sort(([, a], [, b]) => (less(a, b) ? -1 : 1));
    for (const [impl, key] of adding) cache.effective.set(impl, key);
    const ahead = (key: Key, other: Implementation) => {
      const theirs = cache.effective.get(other)!;
      return less(key, theirs) || (!less(theirs, key) && less(key, ownKey(cache.rank, other)));
    };
    const order: Implementation[] = [];
    let next = 0;
    for (const other of cache.order) {
      if (cache.removing.has(other)) {
        cache.effective.delete(other);
        continue;
      }
      while (next < adding.length && ahead(adding[next]![1], other)) order.push(adding[next++]![0]);
      order.push(other);
    }
    while (next < adding.length) order.push(adding[next++]![0]);
    cache.order = order;
    cache.adding.clear();
    cache.removing.clear();
  }

  private sort(rank: ReadonlyMap<string, number>): NonNullable<ImplementationGraph['cache']> {
    const indegree = new Map<Implementation, number>();
    for (const impl of this.all) indegree.set(impl, 0);
    for (const impl of this.all) for (const next of this.successors(impl)) indegree.set(next, indegree.get(next)! + 1);

    // An implementation runs as early as the earliest one it must precede: `before: ['b']` pulls it
    // forward to just ahead of b rather than holding b back until its own (later) turn.
    const own = (i: Implementation): Key => ownKey(rank, i);
    const effective = new Map<Implementation, Key>();
    // Depth first, without recursion (a chain of thousands of implementations of one plugin).
    for (const root of this.all) {
      if (effective.has(root)) continue;
      const stack: Array<{ node: Implementation; targets: Iterator<Implementation>; best: Key }> = [
        { node: root, targets: this.successors(root), best: own(root) },
      ];
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const next = top.targets.next();
        if (!next.done) {
          const known = effective.get(next.value);
          if (known) {
            if (less(known, top.best)) top.best = known;
          } else {
            stack.push({ node: next.value, targets: this.successors(next.value), best: own(next.value) });
          }
          continue;
        }
        stack.pop();
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
    const ready = new Heap<Implementation>(earlier);
    for (const impl of this.all) if (indegree.get(impl) === 0) ready.push(impl);
    const order: Implementation[] = [];
    for (let next = ready.pop(); next !== undefined; next = ready.pop()) {
      order.push(next);
      for (const t of this.successors(next)) {
        const left = indegree.get(t)! - 1;
        indegree.set(t, left);
        if (left === 0) ready.push(t);
      }
    }
    return { rank, order, effective, adding: new Map(), removing: new Set() };
  }

  /** Puts a new implementation with no edge into the cached order (see `cache`), or drops the cache. */
  private placed(impl: Implementation): void {
    const cache = this.cache;
    if (!cache) return;
    if (!this.isFree(impl)) {
      this.cache = null;
      return;
    }
    cache.adding.set(impl, ownKey(cache.rank, impl));
  }

  /** What `impl` runs right before (one may come twice, when two constraints say so). */
  private *successors(impl: Implementation): Generator<Implementation> {
    const next = this.nextOf.get(impl);
    if (next) yield next;
    for (const name of impl.before) {
      const first = name === impl.plugin ? undefined : this.firstOf.get(name);
      if (first) yield first;
    }
    if (this.lastOf.get(impl.plugin) === impl) {
      const naming = this.namedAfter.get(impl.plugin);
      if (naming) yield* naming;
    }
  }

  /** A path from `impl` back to itself, as plugin names, or null. Depth first, without recursion. */
  private cycleThrough(impl: Implementation): string[] | null {
    const seen = new Set<Implementation>([impl]);
    const stack: Array<{ node: Implementation; targets: Iterator<Implementation> }> = [{ node: impl, targets: this.successors(impl) }];
    while (stack.length > 0) {
      const next = stack[stack.length - 1]!.targets.next();
      if (next.done) {
        stack.pop();
        continue;
      }
      if (next.value === impl) {
        // Two implementations of one plugin in a row are one step of the cycle: named once.
        const names = [...stack.map((entry) => entry.node.plugin), impl.plugin];
        return names.filter((name, i) => i === 0 || name !== names[i - 1]);
      }
      if (seen.has(next.value)) continue;
      seen.add(next.value);
      stack.push({ node: next.value, targets: this.successors(next.value) });
    }
    return null;
  }
}

/** Files `impl` under each plugin it names (its own name aside). */
function index(byName: Map<string, Set<Implementation>>, impl: Implementation, names: readonly string[]): void {
  for (const name of names) {
    if (name === impl.plugin) continue;
    const naming = byName.get(name);
    if (naming) naming.add(impl);
    else byName.set(name, new Set([impl]));
  }
}

function unindex(byName: Map<string, Set<Implementation>>, impl: Implementation, names: readonly string[]): void {
  for (const name of names) {
    const naming = byName.get(name);
    if (!naming) continue;
    naming.delete(impl);
    if (naming.size === 0) byName.delete(name);
  }
}

type Key = [number, number];
const less = (a: Key, b: Key) => (a[0] !== b[0] ? a[0] < b[0] : a[1] < b[1]);
/** An implementation's own place: its plugin's boot position (unranked ones last), then its registration. */
const ownKey = (rank: ReadonlyMap<string, number>, impl: Implementation): Key => [rank.get(impl.plugin) ?? Number.MAX_SAFE_INTEGER, impl.seq];

/** A binary min-heap under `before`. */
class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  push(item: T): void {
    const items = this.items;
    let at = items.push(item) - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.before(items[at]!, items[parent]!)) break;
      [items[at], items[parent]] = [items[parent]!, items[at]!];
      at = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let first = at;
      if (left < items.length && this.before(items[left]!, items[first]!)) first = left;
      if (right < items.length && this.before(items[right]!, items[first]!)) first = right;
      if (first === at) return top;
      [items[at], items[first]] = [items[first]!, items[at]!];
      at = first;
    }
  }
}
