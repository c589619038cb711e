/**
 * Private helpers shared by the platform services: name checks, coded argument errors and the
 * timer functions the time-driven services accept (so tests can drive time by hand).
 * @internal
 */
import { PluginFactoryError, describeThrown } from '../errors.ts';
import type { PluginFactoryErrorOptions } from '../errors.ts';
import { NAME_SEGMENT, PLUGIN_NAME_PATTERN } from '../manifest.ts';
import { unknownKeyList } from '../unknown-keys.ts';
import { printable } from '../printable.ts';

export { NAME_SEGMENT };

/**
 * `object[key]` for an argument object given by plugin or host code: a getter or Proxy trap that
 * throws is the argument's fault, ARGUMENT_INVALID naming `what`, not a raw error.
 */
export function readArgument(object: object, key: PropertyKey, what: string, options: PluginFactoryErrorOptions = {}): unknown {
  try {
    return (object as Record<PropertyKey, unknown>)[key];
  } catch (error) {
    throw argumentError(`${what} cannot be read: ${describeThrown(error)}`, options);
  }
}

/** Dotted lower-case names: `db.ready`, `http.routes`, `plugin.db.running`. */
export function isDottedName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 256 && value.split('.').every((s) => NAME_SEGMENT.test(s));
}

export function isPluginName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 214 && PLUGIN_NAME_PATTERN.test(value);
}

/**
 * Quotes anything for a message without ever throwing (names only: values may be secret). A
 * string is quoted whole or not at all: an excerpt of a secret would slip past redaction, which
 * replaces whole secret values only.
 */
export function quote(value: unknown): string {
  // Escaped: a line break or a terminal escape in what a caller gave must not reach a message as it is.
  if (typeof value === 'string') return value.length > 214 ? `a string of ${value.length} characters` : `'${printable(value)}'`;
  if (value === null || value === undefined) return String(value);
  try {
    if (Array.isArray(value)) return 'an array';
  } catch {
    return 'a revoked proxy'; // Array.isArray throws on one
  }
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function argumentError(message: string, options: PluginFactoryErrorOptions = {}): PluginFactoryError {
  return new PluginFactoryError('ARGUMENT_INVALID', message, options);
}

export function optionsError(message: string): PluginFactoryError {
  return new PluginFactoryError('OPTIONS_INVALID', message);
}

/** Options must be a plain record of settings: not null, not an array (whose keys are indexes). */
export function isOptionsObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  try {
    return !Array.isArray(value);
  } catch {
    return false; // a revoked proxy: Array.isArray throws on one
  }
}

/**
 * What is wrong with an options object that has keys outside `known` (a typo such as `prot` would
 * otherwise leave the default in place without a word), or null. `options` must be an object.
 */
export function unknownOptions(options: object, known: ReadonlySet<string>): string | null {
  const unknown = Object.keys(options).filter((key) => !known.has(key));
  if (unknown.length === 0) return null;
  return `unknown option${unknown.length === 1 ? '' : 's'} ${unknownKeyList(unknown, [...known], quote)}; the options are ${[...known].join(', ')}`;
}

/**
 * `unknownOptions` of an options object a caller gave: one whose keys cannot be listed (a Proxy
 * trap that throws) is ARGUMENT_INVALID naming `what`, as `readArgument` does for a value.
 */
export function unknownArgumentOptions(options: object, known: ReadonlySet<string>, what: string, errorOptions: PluginFactoryErrorOptions = {}): string | null {
  try {
    return unknownOptions(options, known);
  } catch (error) {
    throw argumentError(`${what} cannot be read: ${describeThrown(error)}`, errorOptions);
  }
}

/** Throws `ARGUMENT_INVALID` unless `name` is a plugin name: the services key everything by it. */
export function assertPluginName(name: unknown, where: string): asserts name is string {
  if (!isPluginName(name)) {
    throw argumentError(`${where}: ${quote(name)} is not a plugin name (lower-case letters, digits and dashes, starting with a letter)`);
  }
}

/** SCOPE_DISPOSED: a plugin's scope used after its state ended, or (`host`) the manager's own scope used after stop(). */
export function disposedError(plugin: string, what: string, host = false): PluginFactoryError {
  if (host) return new PluginFactoryError('SCOPE_DISPOSED', `the host: ${what} after the manager stopped; a stopped manager's platform takes no more calls`);
  return new PluginFactoryError(
    'SCOPE_DISPOSED',
    `plugin '${plugin}': ${what} after the state that gave it had ended; use the ctx of the current hook instead of one kept from an earlier hook`,
    { plugin },
  );
}


/**
 * Timer functions (the shape of the manager's `clock` option, plus `now`). Tests pass fakes to
 * drive time by hand.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  /** Milliseconds, for durations and timestamps. */
  now(): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

/** `value` without the fields set to `undefined` (an option left out, read as `{ x: undefined }`). */
export function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
