/**
 * `ctx.store`: a per-plugin key/value store of JSON values. Every method is async; values go in
 * and come out as copies, so mutating one afterwards changes nothing stored. Values must be JSON:
 * null, booleans, finite numbers, strings, arrays and plain objects, nested; anything else
 * (`undefined`, functions, `NaN`, `Date`, `Map`, class instances, cycles) is refused with
 * `STORE_VALUE_INVALID` rather than silently changed by `JSON.stringify`.
 *
 * This file holds the shared contract and the in-memory store; file-store.ts keeps it on disk.
 */
import { PluginFactoryError } from '../errors.ts';
import { copyJson } from '../json-data.ts';
import type { JsonValue } from '../json-data.ts';
import { argumentError, assertPluginName, quote } from './_utils.ts';

/** What a store holds. */
export type { JsonValue };

/** One plugin's store: `ctx.store`. */
export interface PluginStore {
  readonly plugin: string;
  /** A copy of the value under `key`, or `undefined`. `T` is not checked: it is what you stored. */
  get<T = JsonValue>(key: string): Promise<T | undefined>;
  /** Stores a copy of `value`. @throws `STORE_VALUE_INVALID`, `ARGUMENT_INVALID` (key) */
  set(key: string, value: unknown): Promise<void>;
  /** Whether there was a value to delete. */
  delete(key: string): Promise<boolean>;
  /** Every key, in the order first set. */
  keys(): Promise<string[]>;
}

/** A store of every plugin: one per manager. */
export interface Store {
  /** The store of one plugin (a valid plugin name, else `ARGUMENT_INVALID`). */
  scope(plugin: string): PluginStore;
  /** Resolves once every write begun so far has finished (or failed). */
  flush(): Promise<void>;
}

export const MAX_KEY_LENGTH = 1024;

/** Throws `ARGUMENT_INVALID` unless `key` is a string of 1 to 1024 characters. */
export function assertStoreKey(plugin: string, key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw argumentError(`plugin '${plugin}': a store key must be a string of 1 to ${MAX_KEY_LENGTH} characters, got ${quote(key)}`, { plugin });
  }
}

/**
 * A JSON-only deep copy of `value`; throws `STORE_VALUE_INVALID` naming where the first
 * offending part is (never quoting a value: it may be secret).
 */
export function toJsonValue(plugin: string, key: string, value: unknown): JsonValue {
  const fail = (path: string, what: string) =>
    new PluginFactoryError(
      'STORE_VALUE_INVALID',
      `plugin '${plugin}': cannot store ${path} under key ${quote(key)}: ${what}; store JSON data (null, booleans, finite numbers, strings, arrays, plain objects)`,
      { plugin, path },
    );
  return copyJson(value, fail, { root: 'value' });
}

/** A copy of a stored value (already JSON). */
export function cloneJson<T>(value: JsonValue | undefined): T | undefined {
  return (value === undefined ? undefined : structuredClone(value)) as T | undefined;
}

/**
 * A store in memory: for tests and for embedders that keep state elsewhere. It lives as long as
 * the object does, so it survives a manager being recreated when the embedder keeps it.
 */
export function createMemoryStore(): Store {
  const plugins = new Map<string, Map<string, JsonValue>>();
  const dataOf = (plugin: string) => {
    let data = plugins.get(plugin);
    if (!data) plugins.set(plugin, (data = new Map()));
    return data;
  };
  return {
    scope(plugin) {
      assertPluginName(plugin, 'store.scope');
      return {
        plugin,
        async get<T>(key: string) {
          assertStoreKey(plugin, key);
          return cloneJson<T>(dataOf(plugin).get(key));
        },
        async set(key, value) {
          assertStoreKey(plugin, key);
          dataOf(plugin).set(key, toJsonValue(plugin, key, value));
        },
        async delete(key) {
          assertStoreKey(plugin, key);
          return dataOf(plugin).delete(key);
        },
        async keys() {
          return [...dataOf(plugin).keys()];
        },
      };
    },
    flush: async () => {},
  };
}
