/**
 * Turning definitions into something the manager can run: manifest and engine checks, the
 * dependency graph (missing, version mismatch, cycles), then — in the chart's `validating`
 * state — the module (factory, contract) and the config. Every problem is a coded error.
 */
import semver from 'semver';
import { findCycles } from '../machines/dependency-graph.ts';
import type { HookName } from '../machines/error-info.ts';
import type { Clock } from '../machines/plugin-manager.ts';
import type { RetryPolicy } from '../machines/plugin-lifecycle.ts';
import type { PluginEntry } from '../machines/plugin-registry.ts';
import { reservedConfigFields, validateConfig } from './config.ts';
import type { PluginDefinition, PluginHooks } from './definition.ts';
import { PluginFactoryError, describeThrown } from './errors.ts';
import { Manifest, PLUGIN_NAME_RULE, satisfiesDependency } from './manifest.ts';
import { printable } from './printable.ts';
import { knownKeysAt, unknownKeyList } from './unknown-keys.ts';
import { definedOnly } from './platform/_utils.ts';
import { HOST_SOURCE } from './platform/events.ts';

/** This engine's version, checked against each manifest's `engine` range. */
export const ENGINE_VERSION = '0.1.0';

export const DEFAULT_HOOK_TIMEOUT_MS = 5000;

export interface HostDefaults {
  hookTimeoutMs: number;
  retry: RetryPolicy;
}

/** One definition on its way in: what is known of it, and what is wrong with it. */
export interface PreparedPlugin {
  name: string;
  /** Runtime key of this generation (`db`, `db@2` …). */
  key: string;
  definition: PluginDefinition;
  manifest: Manifest | null;
  source: string;
  /** Problems found before any actor exists (manifest, engine, graph). */
  errors: PluginFactoryError[];
  requires: string[];
  optional: string[];
  hookTimeoutMs: number;
  retry: RetryPolicy;
  /** Filled by `loadModule`: the hooks and the validated config. */
  hooks: PluginHooks | null;
  config: Record<string, unknown>;
  loading: Promise<void> | null;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((part) => printable(String(part))).join('.');
}

/** Whether `fn` is a class (calling it without `new` throws). */
function isClass(fn: Function): boolean {
  try {
    return /^class[\s{]/.test(Function.prototype.toString.call(fn));
  } catch {
    return false; // a callable Proxy's text cannot be read: taken as a function
  }
}

/**
 * Reads one definition's manifest; never throws. `fallback`: how a plugin whose definition names
 * none is called (its place in the list, or the name a reload keeps).
 */
export function prepareDefinition(definition: unknown, index: number, defaults: HostDefaults, fallback = `#${index + 1}`): PreparedPlugin {
  try {
    return readDefinition(definition, fallback, defaults);
  } catch (error) {
    // A definition that throws when read (a getter, a Proxy trap): invalid, with nothing of it kept.
    const prepared = emptyPrepared(fallback, {} as PluginDefinition, 'its definition', defaults);
    prepared.errors.push(
      new PluginFactoryError('CONTRACT_INVALID', `plugin '${prepared.name}': the definition cannot be read: ${describeThrown(error)}; pass a plain { manifest, module }`, {
        plugin: prepared.name,
      }),
    );
    return prepared;
  }
}

function emptyPrepared(name: string, definition: PluginDefinition, source: string, defaults: HostDefaults): PreparedPlugin {
  return {
    name,
    key: name,
    definition,
    manifest: null,
    source,
    errors: [],
    requires: [],
    optional: [],
    hookTimeoutMs: defaults.hookTimeoutMs,
    retry: defaults.retry,
    hooks: null,
    config: {},
    loading: null,
  };
}

function readDefinition(definition: unknown, fallback: string, defaults: HostDefaults): PreparedPlugin {
  const def = (typeof definition === 'object' && definition !== null ? definition : {}) as Partial<PluginDefinition>;
  const rawManifest = def.manifest as { name?: unknown } | undefined;
  const rawName = rawManifest && typeof rawManifest.name === 'string' && rawManifest.name ? printable(rawManifest.name) : null;
  const hint = typeof def.name === 'string' && def.name ? def.name : null;
  const name = rawName ?? hint ?? fallback;
  const source = typeof def.source === 'string' ? def.source : `the manifest of '${name}'`;
  const prepared = emptyPrepared(name, def as PluginDefinition, source, defaults);
  const problems = Array.isArray(def.problems) ? def.problems.filter((p) => p instanceof PluginFactoryError) : [];
  prepared.errors.push(...problems);
  // Loading problems that left no manifest to read (none, or not parseable) say it all.
  if (def.manifest === undefined && problems.length > 0) return prepared;
  const parsed = Manifest.safeParse(def.manifest);
  const refused = refusedBeyondSchema(def.manifest, parsed.data?.name);
  if (!parsed.success || refused.length > 0) {
    const invalid = (what: string, path: string) =>
      prepared.errors.push(new PluginFactoryError('MANIFEST_INVALID', `plugin '${name}': manifest ${what}; fix it in ${source}`, { plugin: name, path }));
    for (const issue of parsed.error?.issues ?? []) {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      const field = formatPath(issue.path);
      // A bad record key (a dependency name) says what is wrong with it, not just that it is.
      const message = issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
      if (keys.length > 0) {
        const fields = `${unknownKeyList(keys, knownKeysAt(Manifest, issue.path), (k) => `'${printable(k)}'`)}${field ? ` in '${field}'` : ''}`;
        invalid(`has unknown field${keys.length > 1 ? 's' : ''} ${fields} (check the spelling)`, [field, printable(keys[0]!)].filter(Boolean).join('.'));
      } else invalid(`field '${field || '(root)'}' ${message}`, field);
    }
    for (const { path, what } of refused) invalid(`field '${path}' ${what}`, path);
    return prepared;
  }
  const manifest = parsed.data;
  prepared.manifest = manifest;
  prepared.requires = Object.keys(manifest.dependencies ?? {});
  prepared.optional = Object.keys(manifest.optionalDependencies ?? {}).filter((dep) => !prepared.requires.includes(dep));
  prepared.hookTimeoutMs = manifest.hookTimeoutMs ?? defaults.hookTimeoutMs;
  prepared.retry = { ...defaults.retry, ...definedOnly(manifest.retry ?? {}) };
  if (manifest.engine !== undefined && !semver.satisfies(ENGINE_VERSION, manifest.engine)) {
    prepared.errors.push(
      new PluginFactoryError(
        'ENGINE_VERSION_MISMATCH',
        `plugin '${name}': needs engine ${manifest.engine} but this is ${ENGINE_VERSION}; widen "engine" in ${source} or use a matching engine`,
        { plugin: name, path: 'engine' },
      ),
    );
  }
  if (!('module' in def) && problems.length === 0) {
    prepared.errors.push(
      new PluginFactoryError('CONTRACT_INVALID', `plugin '${name}': the definition has no module; pass { manifest, module }`, {
        plugin: name,
      }),
    );
  }
  return prepared;
}

/**
 * Dependency problems of `plugins`: a missing required dependency, a version out of range, a
 * cycle (`a -> b -> c -> a`). `others` are plugins already registered (a reload checks against
 * them): they count as dependencies, and their own ranges on `plugins` must still hold, unless
 * they are invalid (`invalid`: the names of registered plugins found invalid). `leaving`: plugins
 * still registered but being unloaded, left out of `others`; a required one is missing all the
 * same, and the error says why.
 * Errors are added to the plugins in `plugins` only.
 */
export function checkGraph(
  plugins: readonly PreparedPlugin[],
  others: readonly PreparedPlugin[] = [],
  invalid: ReadonlySet<string> = new Set(),
  leaving: ReadonlySet<string> = new Set(),
): void {
  const versions = new Map<string, string>();
  const registered = new Set<string>();
  for (const plugin of [...others, ...plugins]) {
    registered.add(plugin.name);
    if (plugin.manifest) versions.set(plugin.name, plugin.manifest.version);
  }
  const mismatch = (plugin: PreparedPlugin, dep: string, range: string, version: string, field: string) =>
    new PluginFactoryError(
      'DEPENDENCY_VERSION_MISMATCH',
      `plugin '${plugin.name}': needs '${dep}' ${range} but ${version} is registered; change ${field} in ${plugin.source} or use a matching '${dep}'`,
      { plugin: plugin.name, path: field, plugins: [dep] },
    );
  for (const plugin of plugins) {
    const manifest = plugin.manifest;
    if (!manifest) continue;
    const check = (deps: Record<string, string> | undefined, required: boolean) => {
      for (const [dep, range] of Object.entries(deps ?? {})) {
        const version = versions.get(dep);
        const field = `${required ? 'dependencies' : 'optionalDependencies'}.${dep}`;
        // Registered but with an unusable manifest: it will be invalid, and this plugin blocked
        // on it (DEPENDENCY_FAILED) rather than told it is missing.
        if (version === undefined && registered.has(dep)) continue;
        if (version === undefined) {
          if (required) {
            plugin.errors.push(
              new PluginFactoryError(
                'MISSING_DEPENDENCY',
                `plugin '${plugin.name}': requires '${dep}' (${range}) but ${leaving.has(dep) ? `'${dep}' is being unloaded;` : `no such plugin is registered; add '${dep}' or`} remove it from ${field} in ${plugin.source}`,
                { plugin: plugin.name, path: field, plugins: [dep] },
              ),
            );
          }
        } else if (!satisfiesDependency(version, range)) {
          plugin.errors.push(mismatch(plugin, dep, range, version, field));
        }
      }
    };
    check(manifest.dependencies, true);
    check(manifest.optionalDependencies, false);
    for (const other of others) {
      // One already invalid (its range on this plugin unmet before, a bad config …: `invalid` has
      // those found past the manifest) runs with no version of it: it is checked again when it
      // is itself reloaded, and does not stand in this one's way.
      if (other.errors.length > 0 || invalid.has(other.name)) continue;
      const range = ownValue(other.manifest?.dependencies, plugin.name) ?? ownValue(other.manifest?.optionalDependencies, plugin.name);
      if (range !== undefined && !satisfiesDependency(manifest.version, range)) {
        plugin.errors.push(
          new PluginFactoryError(
            'DEPENDENCY_VERSION_MISMATCH',
            `plugin '${plugin.name}': version ${manifest.version} is outside the range ${range} that '${other.name}' needs; keep a matching version`,
            { plugin: plugin.name, plugins: [other.name] },
          ),
        );
      }
    }
  }
  const checked = new Set(plugins);
  const all = [...others.filter((o) => !plugins.some((p) => p.name === o.name)), ...plugins].filter((p) => p.manifest);
  const byName = new Map(all.map((p) => [p.name, p] as const));
  for (const cycle of findCycles((others.length === 0 ? all : reachedFrom(plugins, byName)).map((p) => ({ name: p.name, requires: p.requires, optional: p.optional })))) {
    for (const member of new Set(cycle)) {
      const plugin = byName.get(member);
      if (!plugin || !checked.has(plugin)) continue;
      plugin.errors.push(
        new PluginFactoryError(
          'DEPENDENCY_CYCLE',
          `plugin '${member}': dependency cycle ${cycle.join(' -> ')}; remove one of these dependencies`,
          { plugin: member, plugins: cycle },
        ),
      );
    }
  }
}

/**
 * The plugins `from` reaches through their dependencies, themselves included: a cycle through one
 * of them lies among these (a reload of one plugin in a host of thousands looks at what it
 * depends on, not at the whole graph).
 */
function reachedFrom(from: readonly PreparedPlugin[], byName: ReadonlyMap<string, PreparedPlugin>): PreparedPlugin[] {
  const reached = new Map<string, PreparedPlugin>();
  const stack = from.map((plugin) => plugin.name);
  for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
    const plugin = byName.get(name);
    if (!plugin || reached.has(name)) continue;
    reached.set(name, plugin);
    stack.push(...plugin.requires, ...plugin.optional);
  }
  return [...reached.values()];
}

/**
 * What the engine refuses in a manifest the zod schema accepts (`name`: the name it parsed), as
 * the field and what is wrong with it. zod's record skips an own `__proto__` key unseen, so config
 * fields and dependencies are looked for in what was written.
 */
export function refusedBeyondSchema(manifest: unknown, name: string | undefined): Array<{ path: string; what: string }> {
  const refused = reservedConfigFields(manifest).map((key) => ({ path: `config.${key}`, what: 'is a name JavaScript objects reserve: pick another' }));
  if (typeof manifest === 'object' && manifest !== null) {
    for (const field of ['dependencies', 'optionalDependencies']) {
      const record = (manifest as Record<string, unknown>)[field];
      if (typeof record === 'object' && record !== null && Object.hasOwn(record, '__proto__')) refused.push({ path: `${field}.__proto__`, what: PLUGIN_NAME_RULE });
    }
  }
  // The host's own events (a plugin's state changes) carry 'host' as their source: a plugin so
  // named could publish events that pass for the host's.
  if (name === HOST_SOURCE) refused.push({ path: 'name', what: `is '${HOST_SOURCE}', which is reserved for the host's own events: pick another` });
  return refused;
}

/** `record[key]` only when it is the record's own (a plugin may be named `constructor`). */
function ownValue(record: Record<string, string> | undefined, key: string): string | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** What the manager chart needs of a prepared plugin. */
export function toEntry(plugin: PreparedPlugin): PluginEntry {
  return {
    name: plugin.name,
    requires: plugin.requires,
    optional: plugin.optional,
    input: {
      name: plugin.name,
      key: plugin.key,
      hookTimeoutMs: plugin.hookTimeoutMs,
      retry: plugin.retry,
      source: plugin.source,
    },
  };
}

/** Whether a factory was given up because the host stopped (false for anything that cannot be asked: a hostile Proxy). */
function givenUp(error: unknown): error is HostStopped {
  try {
    return error instanceof HostStopped;
  } catch {
    return false;
  }
}

/** Thrown by `loadModule`: every reason at once. */
export class ValidationFailure {
  constructor(readonly errors: PluginFactoryError[]) {}
}

/** What bounds a factory call: the host's clock, and a signal aborted when the host stops. */
export interface LoadLimits {
  clock: Clock;
  signal: AbortSignal;
}

/**
 * Resolves the module (calling a factory, bounded by the hook timeout and by the host stopping),
 * checks the contract and the config. Resolves once; rejects with a `ValidationFailure` listing
 * every problem.
 */
export function loadModule(plugin: PreparedPlugin, limits: LoadLimits): Promise<void> {
  plugin.loading ??= load(plugin, limits);
  return plugin.loading;
}

async function load(plugin: PreparedPlugin, limits: LoadLimits): Promise<void> {
  if (plugin.errors.length > 0 || !plugin.manifest) throw new ValidationFailure(plugin.errors);
  const { name, source } = plugin;
  // Read once, and in a try: a getter or Proxy of the definition that throws makes the plugin
  // invalid, named, rather than failing without its name (or as an engine fault on a reload).
  let exported: unknown;
  let given: { config: unknown; configSource: unknown };
  try {
    exported = plugin.definition.module;
    given = { config: plugin.definition.config, configSource: plugin.definition.configSource };
  } catch (error) {
    throw new ValidationFailure([
      new PluginFactoryError('CONTRACT_INVALID', `plugin '${name}': the definition cannot be read: ${describeThrown(error)}; pass a plain { manifest, module }`, {
        plugin: name,
      }),
    ]);
  }
  if (typeof exported === 'function' && isClass(exported)) {
    throw new ValidationFailure([
      new PluginFactoryError(
        'CONTRACT_INVALID',
        `plugin '${name}': the module exports a class, which cannot be called as a factory; default-export an instance (\`new ${exported.name || 'Plugin'}()\`) or a factory returning one (${source})`,
        { plugin: name },
      ),
    ]);
  }
  if (typeof exported === 'function') {
    try {
      exported = await withTimeout(Promise.resolve().then(exported as () => unknown), plugin.hookTimeoutMs, limits);
    } catch (error) {
      // Given up because the host stopped: nothing is wrong with the module.
      const message =
        givenUp(error)
          ? `plugin '${name}': its factory was given up: ${error.message}`
          : `plugin '${name}': its factory failed: ${describeThrown(error)}; fix the module's default export (${source})`;
      throw new ValidationFailure([new PluginFactoryError('MODULE_LOAD_FAILED', message, { plugin: name, cause: error })]);
    }
  }
  const errors: PluginFactoryError[] = [];
  if (typeof exported !== 'object' || exported === null) {
    errors.push(
      new PluginFactoryError(
        'CONTRACT_INVALID',
        `plugin '${name}': the module exports ${exported === null ? 'null' : typeof exported}, not a hooks object; default-export { init, start, stop } or a factory returning it`,
        { plugin: name },
      ),
    );
  } else {
    const hooks = exported as Record<string, unknown>;
    // A getter or Proxy that throws when a hook is read makes the module invalid, named as such.
    const unreadable = new Set<string>();
    const read = (hook: string): unknown => {
      try {
        return hooks[hook];
      } catch (error) {
        unreadable.add(hook);
        errors.push(
          new PluginFactoryError(
            'CONTRACT_INVALID',
            `plugin '${name}': reading the module's ${hook} threw: ${describeThrown(error)}; export plain functions, not getters that throw`,
            { plugin: name, hook: hook as HookName, path: hook },
          ),
        );
        return undefined;
      }
    };
    const found = Object.fromEntries((['init', 'start', 'stop', 'dispose', 'health'] as const).map((hook) => [hook, read(hook)]));
    for (const hook of ['init', 'start', 'stop'] as const) {
      if (!unreadable.has(hook) && typeof found[hook] !== 'function') {
        errors.push(
          new PluginFactoryError(
            'CONTRACT_INVALID',
            `plugin '${name}': the module has no ${hook} function; export init, start and stop (dispose and health are optional)`,
            { plugin: name, hook, path: hook },
          ),
        );
      }
    }
    for (const hook of ['dispose', 'health'] as const) {
      if (found[hook] !== undefined && typeof found[hook] !== 'function') {
        errors.push(
          new PluginFactoryError('CONTRACT_INVALID', `plugin '${name}': ${hook} must be a function when present`, {
            plugin: name,
            hook,
            path: hook,
          }),
        );
      }
    }
  }
  const { configSource } = given;
  const config = validateConfig(
    name,
    plugin.manifest.config,
    given.config as PluginDefinition['config'],
    // Where a bad value is fixed: the host file it came from, the config given in code, or the manifest.
    typeof configSource === 'string' ? configSource : given.config !== undefined ? `the config given with '${name}'` : source,
    source,
  );
  errors.push(...config.errors);
  if (errors.length > 0) throw new ValidationFailure(errors);
  plugin.hooks = exported as PluginHooks;
  plugin.config = Object.freeze(config.value);
}

/** Why a factory call was given up when the host stopped. */
class HostStopped extends Error {}

/** `promise`, unless `ms` pass on the host's clock or the host stops first; leaves no timer behind. */
function withTimeout<T>(promise: Promise<T>, ms: number, { clock, signal }: LoadLimits): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(new HostStopped('the host stopped before it was called'));
      return;
    }
    const done = () => {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', stopped);
    };
    const stopped = () => {
      done();
      reject(new HostStopped('the host stopped before it returned'));
    };
    const timer = clock.setTimeout(() => {
      done();
      reject(new Error(`did not return within ${ms} ms`));
    }, ms);
    signal.addEventListener('abort', stopped, { once: true });
    promise.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}

