/**
 * What to say about a key a strict schema does not know: the keys it takes at that place, and
 * the one most like it (`hookTimeout` → `hookTimeoutMs`), so that a typo says how to fix it.
 */
import { z } from 'zod';

/** The keys the object schema at `path` inside `schema` takes; empty when there is none there. */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: z.ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (node === undefined) return [];
    node = unwrap(child(node, segment));
  }
  const object = node instanceof z.ZodUnion ? (node.options as readonly z.ZodType[]).map(unwrap).find((option) => option instanceof z.ZodObject) : node;
  return object instanceof z.ZodObject ? Object.keys(object.shape) : [];
}

/** The known key most like `key` (a few edits away, or the same but for case or a suffix), if any. */
export function closestKey(key: string, known: readonly string[]): string | null {
  let best: { name: string; distance: number } | null = null;
  const lower = key.toLowerCase();
  for (const name of known) {
    const other = name.toLowerCase();
    // A known key that begins with the given one, or the reverse, but for a short suffix (`Ms`).
    const prefix = Math.min(key.length, name.length) >= 4 && Math.abs(key.length - name.length) <= 3 && (other.startsWith(lower) || lower.startsWith(other));
    const distance = other === lower ? 0 : prefix ? 1 : editDistance(lower, other);
    if (distance <= Math.max(1, Math.floor(Math.min(key.length, name.length) / 3)) && (best === null || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name ?? null;
}

/** ` (did you mean 'x'?)`, or nothing when no known key is close. */
export function didYouMean(key: string, known: readonly string[]): string {
  const close = closestKey(key, known);
  return close === null ? '' : ` (did you mean '${close}'?)`;
}

/** How many unknown keys a message names: a manifest may hold thousands. */
const NAMED_KEYS = 10;

/**
 * The unknown keys as a message names them, each `shown` and with the known key most like it, the
 * first NAMED_KEYS only (`… and 5 more`).
 */
export function unknownKeyList(keys: readonly string[], known: readonly string[], shown: (key: string) => string): string {
  const named = keys.slice(0, NAMED_KEYS).map((key) => `${shown(key)}${didYouMean(key, known)}`);
  return `${named.join(', ')}${keys.length > NAMED_KEYS ? ` … and ${keys.length - NAMED_KEYS} more` : ''}`;
}

function unwrap(node: z.ZodType | undefined): z.ZodType | undefined {
  let current = node;
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}

function child(node: z.ZodType, segment: PropertyKey): z.ZodType | undefined {
  if (node instanceof z.ZodObject) return typeof segment === 'string' ? (node.shape as Record<string, z.ZodType>)[segment] : undefined;
  if (node instanceof z.ZodArray) return node.element as z.ZodType;
  if (node instanceof z.ZodRecord) return node.valueType as z.ZodType;
  // A union (a host file's entry: a path or an object): the object among its options.
  if (node instanceof z.ZodUnion) {
    for (const option of node.options as readonly z.ZodType[]) {
      const found = child(unwrap(option) ?? option, segment);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit; three rows kept. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  let before = new Array<number>(b.length + 1).fill(0); // row i - 2
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j); // row i - 1
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1);
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, before[j - 2]! + 1);
      row[j] = value;
    }
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}
