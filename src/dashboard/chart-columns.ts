/**
 * Where each top-level state of a chart goes: a column and one of two rows. Row 0 is the main
 * line, ranked by longest path from the initial state over the edges a depth-first walk keeps;
 * row 1 holds the states every state can fall into (final states, hubs reached from many states,
 * and states that only lead there), each under the median column of its neighbours so that its
 * edges stay short.
 */

/** States reached from at least this many others (failure, disposal) go below the main line. */
const HUB_DEGREE = 4;

/** Column and row of every top-level state; `order` is a topological order of the kept edges. */
export function assignColumns(
  tops: string[],
  next: Map<string, string[]>,
  kept: Map<string, string[]>,
  order: string[],
  isFinal: (state: string) => boolean,
): Map<string, { col: number; row: 0 | 1 }> {
  const preds = new Map<string, string[]>(tops.map((t) => [t, []]));
  for (const [from, list] of next) for (const to of list) preds.get(to)!.push(from);
  const side = new Set(tops.filter((t) => t !== order[0] && (isFinal(t) || preds.get(t)!.length >= HUB_DEGREE)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of tops) {
      const out = next.get(t)!;
      if (t === order[0] || side.has(t) || out.length === 0 || !out.every((to) => side.has(to))) continue;
      side.add(t);
      grew = true;
    }
  }

  const out = new Map<string, { col: number; row: 0 | 1 }>();
  const rank = new Map<string, number>();
  for (const node of order) {
    if (side.has(node)) continue;
    const r = rank.get(node) ?? 0;
    out.set(node, { col: r, row: 0 });
    for (const to of kept.get(node)!) if (!side.has(to)) rank.set(to, Math.max(rank.get(to) ?? 0, r + 1));
  }
  const taken = new Set<number>();
  for (const node of order) {
    if (!side.has(node)) continue;
    const wanted: number[] = [];
    for (const from of preds.get(node)!) if (out.has(from)) wanted.push(out.get(from)!.col + 1);
    for (const to of next.get(node)!) if (out.has(to)) wanted.push(out.get(to)!.col - 1);
    wanted.sort((a, b) => a - b);
    const median = Math.max(0, wanted[Math.floor((wanted.length - 1) / 2)] ?? 0);
    // The nearest free column: median, +1, −1, +2, −2 …
    let col = median;
    for (let d = 1; col < 0 || taken.has(col); d++) col = median + (d % 2 === 1 ? (d + 1) / 2 : -d / 2);
    taken.add(col);
    out.set(node, { col, row: 1 });
  }
  return out;
}
