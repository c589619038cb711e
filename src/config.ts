/**
 * Config values checked against a manifest's field specs: types, required, default, min/max,
 * enum, unknown keys refused. Messages never quote a value, so secrets cannot leak through them.
 */
import { PluginFactoryError } from './errors.ts';
import { copyJson, setOwn } from './json-data.ts';
import { cutText } from './printable.ts';
import type { ConfigFieldSpec } from './manifest.ts';

export type ConfigSpecs = Record<string, ConfigFieldSpec>;

/**
 * Keys that would reach Object.prototype if assigned naively; they stay inert data here, and a
 * manifest may not name a config field so (it could never be given or read).
 */
export const POISONED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Config fields of a raw manifest named `__proto__`, `constructor` or `prototype` (the manifest
 * is invalid). Read from what was written: the schema's record skips an own `__proto__` unseen.
 */
export function reservedConfigFields(manifest: unknown): string[] {
  const config = typeof manifest === 'object' && manifest !== null ? (manifest as { config?: unknown }).config : undefined;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return [];
  return Object.keys(config).filter((key) => POISONED_KEYS.has(key));
}

/** What `copyJson` found wrong with a config value: its path inside the value, and what. */
class NotPlainData extends Error {}

export interface ConfigResult {
  value: Record<string, unknown>;
  errors: PluginFactoryError[];
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isInteger(value)) return 'integer';
  return typeof value;
}

export function matchesType(value: unknown, type: ConfigFieldSpec['type']): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      // Past 2^53 a number read from JSON or YAML is already rounded (…993 reads as …992).
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object': {
      // A plain object: a Map, a Date or a class instance is not one.
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
      const proto: unknown = Object.getPrototypeOf(value);
      return proto === Object.prototype || proto === null;
    }
  }
}

/** Size that min/max bound: the number itself, or the length of a string or array. */
function measure(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  return null;
}

/**
 * Validates `values` against `specs` and applies defaults. The result is a fresh plain object of
 * frozen copies (JSON data only: a `Map` or class instance is refused, and neither the caller's
 * later changes nor the plugin's reach the other); nothing from `values` is assigned through a
 * prototype setter. A config whose reading throws (a getter, a Proxy trap) is CONFIG_INVALID.
 */
export function validateConfig(
  plugin: string,
  specs: ConfigSpecs | undefined,
  values: unknown,
  source = `the config of '${plugin}'`,
  manifestSource = source,
): ConfigResult {
  const errors: PluginFactoryError[] = [];
  const value: Record<string, unknown> = {};
  // A default that does not fit its own field is fixed in the manifest, whoever gives the config.
  const fail = (key: string, problem: string, inDefault = false, fix = inDefault ? `fix its default in ${manifestSource}` : `fix it in ${source}`) =>
    errors.push(new PluginFactoryError('CONFIG_INVALID', `plugin '${plugin}': config.${key} ${problem}; ${fix}`, { plugin, path: `config.${key}` }));
  // No config given at all (a folder run, a definition without one): the value is the host's to give.
  const noneGiven = (values === undefined || values === null) && source === manifestSource;

  const given: Record<string, unknown> =
    values === undefined || values === null ? {} : (values as Record<string, unknown>);
  const fields = specs ?? {};
  let keys: string[];
  try {
    // Plain data only, as every value in it: a Map or a Date has no own fields to read.
    if (!matchesType(given, 'object')) {
      errors.push(
        new PluginFactoryError('CONFIG_INVALID', `plugin '${plugin}': config must be a plain object; fix it in ${source}`, {
          plugin,
          path: 'config',
        }),
      );
      return { value, errors };
    }
    keys = Object.keys(given);
  } catch {
    // A Proxy trap threw while the config was read.
    errors.push(new PluginFactoryError('CONFIG_INVALID', `plugin '${plugin}': config cannot be read; give plain data in ${source}`, { plugin, path: 'config' }));
    return { value, errors };
  }
  for (const key of keys) {
    if (!Object.hasOwn(fields, key) || POISONED_KEYS.has(key)) {
      fail(key, 'is not a declared config field (declare it under "config" in the manifest or remove it)');
    }
  }
  for (const key of Object.keys(fields)) {
    if (POISONED_KEYS.has(key)) continue;
    const spec = fields[key]!;
    const root = `config.${key}`;
    let field: unknown;
    let defaulted = false;
    try {
      // Copied (and frozen): what the plugin gets is its own, and JSON data only.
      const own = Object.hasOwn(given, key) ? given[key] : undefined;
      defaulted = own === undefined;
      const raw = defaulted ? spec.default : own;
      field = raw === undefined ? undefined : copyJson(raw, (path, what) => new NotPlainData(path === root ? what : `${path.slice(root.length)}: ${what}`), { root, freeze: true });
    } catch (error) {
      // The copy's own words, or a getter of the config that threw (its message is not quoted).
      const why = error instanceof NotPlainData ? error.message : 'reading it threw (a getter or a Proxy trap)';
      fail(key, `${defaulted ? 'has a default that is not plain data' : 'is not plain data'} (${why})`, defaulted);
      continue;
    }
    if (field === undefined) {
      if (spec.required) fail(key, 'is required', false, noneGiven ? `give it a value (a host file's config: for '${plugin}', or config in its definition) or a default in ${manifestSource}` : undefined);
      continue;
    }
    if (!matchesType(field, spec.type)) {
      const unsafe = spec.type === 'integer' && Number.isInteger(field);
      fail(key, unsafe ? `must be an integer from -${Number.MAX_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER} (a larger one is rounded when read: give it as a string)` : `must be ${/^[aeiou]/.test(spec.type) ? 'an' : 'a'} ${spec.type}, got ${typeOf(field)}`, defaulted);
      continue;
    }
    const size = measure(field);
    if (size !== null && spec.min !== undefined && size < spec.min) fail(key, `must be at least ${spec.min}`, defaulted);
    if (size !== null && spec.max !== undefined && size > spec.max) fail(key, `must be at most ${spec.max}`, defaulted);
    if (spec.enum && !spec.enum.some((allowed) => Object.is(allowed, field))) {
      fail(key, spec.secret ? 'is not one of the allowed values' : `must be one of ${listAllowed(spec.enum)}`, defaulted);
    }
    setOwn(value, key, field);
  }
  return { value, errors };
}

/** How much of a field's allowed values a message lists. */
const ALLOWED_LIST_CHARS = 200;

/** The allowed values as JSON, cut after ALLOWED_LIST_CHARS: a manifest may list thousands. */
function listAllowed(values: readonly unknown[]): string {
  let text = '';
  for (const [index, value] of values.entries()) {
    const next = `${index === 0 ? '' : ','}${JSON.stringify(value) ?? String(value)}`;
    if (text.length + next.length > ALLOWED_LIST_CHARS) {
      return `[${text === '' ? `${cutText(next, ALLOWED_LIST_CHARS)}…` : `${text},…`} (${values.length} values)]`;
    }
    text += next;
  }
  return `[${text}]`;
}

/**
 * Secret values of a config, to scrub from any text before it leaves the engine. An object or
 * array secret contributes its JSON text and every string (3+ characters) and number (4+ digits)
 * inside it, so an error quoting one member (a password in a credentials object) is caught too.
 */
export function secretValues(specs: ConfigSpecs | undefined, values: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const collect = (value: unknown, depth: number) => {
    if (typeof value === 'string') {
      if (value.length >= (depth === 0 ? 1 : 3)) for (const form of escaped(value)) out.add(form);
    } else if (typeof value === 'number' || typeof value === 'bigint') {
      const text = String(value);
      if (depth === 0 || text.length >= 4) out.add(text);
    } else if (value !== null && typeof value === 'object' && depth < 8) {
      const json = safeJson(value);
      if (json) for (const form of escaped(json)) out.add(form);
      for (const member of Object.values(value)) collect(member, depth + 1);
    }
  };
  for (const key of Object.keys(values)) {
    if (specs?.[key]?.secret) collect(values[key], 0);
  }
  // Longest first, so a secret containing another is replaced whole.
  return [...out].sort((a, b) => b.length - a.length);
}

/**
 * Secret values of a config before it is validated: the specs' defaults, and what is given over
 * them. Reads `given` (a getter of it may throw).
 */
export function givenSecretValues(specs: ConfigSpecs, given: unknown): string[] {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs as Record<string, { default?: unknown }>)) {
    if (spec && typeof spec === 'object' && spec.default !== undefined) values[key] = spec.default;
  }
  if (given && typeof given === 'object') Object.assign(values, given);
  return secretValues(specs, values);
}

/**
 * A text as it is, as it reads inside JSON text (quotes, backslashes and newlines escaped), and
 * inside JSON text quoted in JSON text again (an error object holding a JSON body, described as
 * JSON): the forms differ only when the text has a character JSON escapes.
 */
function escaped(text: string): string[] {
  const once = JSON.stringify(text).slice(1, -1);
  return once === text ? [text] : [text, once, JSON.stringify(once).slice(1, -1)];
}

function safeJson(value: unknown): string | null {
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}
