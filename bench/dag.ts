/**
 * The bench's plugin graphs: seeded, so every run (and `bench:alloc`) benchmarks the same ones.
 */

/**
 * A seeded random source in [0, 1) (mulberry32: 32-bit integer steps, so no precision is lost
 * and the sequence does not repeat within the draws of a 10,000-plugin graph).
 */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A random DAG in topological order: plugin i depends on up to two of the plugins before it. */
export function randomDag(n: number, seed = 42): string[][] {
  const random = seeded(seed);
  return Array.from({ length: n }, (_, i) => {
    const deps = new Set<string>();
    for (let k = 0; k < 2 && i > 0; k++) deps.add(`p${Math.floor(random() * i)}`);
    return [...deps];
  });
}
