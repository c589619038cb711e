/**
 * Plain JSON data, copied: what a store keeps and what a plugin's config holds. A copy is the
 * caller's no longer, so neither a later change by the caller nor one by the plugin reaches the
 * other; a config's is frozen too.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface JsonCopyOptions {
  /** How the value is named in a path (`value`, `config.hosts` …). */
  root: string;
  /** Freeze every object and array of the copy. */
  freeze?: boolean;
}

const MAX_DEPTH = 100;

/** An array index as a property key. */
const INDEX = /^(?:0|[1-9]\d*)$/;

/**
 * Sets `target[key]` as an own data property, whatever the key: a plain assignment of `__proto__`
 * would change the object's prototype instead of adding a field.
 */
export function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Whether a value JSON.parse gave nests objects or arrays deeper than copyJson takes (no copy
 * made: what JSON.parse gives is JSON data in every other way). Iterative: any depth is safe.
 */
export function nestedTooDeep(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const items: object[] = [value];
  const depths: number[] = [0];
  while (items.length > 0) {
    const item = items.pop()!;
    const depth = depths.pop()!;
    if (depth > MAX_DEPTH) return true;
    // Only objects and arrays are pushed: a long list of numbers costs one pass, no allocation.
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) {
        items.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/**
 * A deep copy of `value` holding only null, booleans, finite numbers, strings, arrays and plain
 * objects; anything else throws what `fail(path, what)` makes for the first offending part (its
 * path, and what is wrong with it, never the value: it may be secret). A getter or Proxy trap
 * that throws while the value is read fails at the root.
 */
export function copyJson(value: unknown, fail: (path: string, what: string) => Error, options: JsonCopyOptions): JsonValue {
  const ancestors = new Set<object>();
  const failures = new WeakSet<Error>();
  const refuse = (path: string, what: string) => {
    const error = fail(path, what);
    failures.add(error);
    return error;
  };
  const done = <T extends object>(item: T): T => (options.freeze ? Object.freeze(item) : item);
  const copy = (item: unknown, path: string, depth: number): JsonValue => {
    if (item === null || typeof item === 'boolean' || typeof item === 'string') return item;
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) throw refuse(path, `${item} is not a finite number`);
      return item === 0 ? 0 : item; // -0 is 0 once written as JSON: the same in memory and on disk
    }
    if (typeof item !== 'object') throw refuse(path, `${typeof item} is not JSON`);
    if (depth > MAX_DEPTH) throw refuse(path, `nesting is deeper than ${MAX_DEPTH}`);
    if (ancestors.has(item)) throw refuse(path, 'it contains itself (a cycle)');
    ancestors.add(item);
    try {
      if (Array.isArray(item)) {
        // What JSON would drop without a word: a subclass's kind, properties beside the items.
        if (Object.getPrototypeOf(item) !== Array.prototype) throw refuse(path, `${(item as object).constructor?.name ?? 'this array'} is not a plain array`);
        if (Object.keys(item).some((key) => !INDEX.test(key)) || Object.getOwnPropertySymbols(item).length > 0) {
          throw refuse(path, 'an array with properties beside its items is not JSON');
        }
        const out: JsonValue[] = [];
        for (let i = 0; i < item.length; i++) {
          if (!(i in item)) throw refuse(`${path}[${i}]`, 'an array hole is not JSON');
          out.push(copy(item[i], `${path}[${i}]`, depth + 1));
        }
        return done(out);
      }
      const proto: unknown = Object.getPrototypeOf(item);
      if (proto !== Object.prototype && proto !== null) throw refuse(path, `${(item as object).constructor?.name ?? 'this object'} is not a plain object`);
      if (Object.getOwnPropertySymbols(item).length > 0) throw refuse(path, 'symbol keys are not JSON');
      const out: Record<string, JsonValue> = {};
      for (const name of Object.keys(item)) setOwn(out, name, copy((item as Record<string, unknown>)[name], `${path}.${name}`, depth + 1));
      return done(out);
    } finally {
      ancestors.delete(item);
    }
  };
  try {
    return copy(value, options.root, 0);
  } catch (error) {
    if (error instanceof Error && failures.has(error)) throw error;
    throw refuse(options.root, 'reading it threw (a getter or a Proxy trap)');
  }
}
