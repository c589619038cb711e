/**
 * Fuzzing the loader from disk, through `src/index.ts`:
 *
 * (a) random manifests — JSON or YAML text of random values, of a valid manifest with a few
 *     mutations (keys deleted, wrong types, extra keys, `__proto__` & co., huge numbers, weird
 *     strings, nested garbage), or of no structure at all — written to a fresh temp plugin folder
 *     whose modules record it if they are ever imported. loadPluginFolder + createPluginManager +
 *     start/stop never throw anything but a PluginFactoryError, every reported code is in
 *     ERROR_CODES, a module whose manifest is rejected is never imported, and config keys never
 *     pollute Object.prototype.
 * (b) random host files (json and yaml, valid and mutated) naming fixture plugins, missing paths
 *     and fake npm packages → loadHost never throws and every problem is coded.
 *
 * Budget: 700 + 350 runs, about 10–15 s (PF_FUZZ_SCALE multiplies both).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import semver from 'semver';
import {
  ENGINE_VERSION,
  ERROR_CODES,
  Manifest,
  PluginFactoryError,
  createPluginManager,
  loadHost,
  loadPluginFolder,
  silentLogger,
} from '../../src/index.ts';
import type { HostSettings, ManagerSnapshot, PluginDefinition, PluginManager } from '../../src/index.ts';

/** `PF_FUZZ_SCALE=10 npx vitest run tests/src/loading.fuzz.test.ts` fuzzes ten times longer. */
const SCALE = Math.max(1, Number(process.env['PF_FUZZ_SCALE'] ?? 1) || 1);
const MANIFEST_RUNS = 700 * SCALE;
const HOST_RUNS = 350 * SCALE;

const FIXTURES = fileURLToPath(new URL('../fixtures/loading/', import.meta.url));
const CODES = new Set(Object.keys(ERROR_CODES));

interface FuzzGlobals {
  __loadingFuzzImports?: Set<string>;
}
const globals = globalThis as unknown as FuzzGlobals;
const importedIds = () => (globals.__loadingFuzzImports ??= new Set());

let root = '';
let restoreWarnings: (() => void) | null = null;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pf-loading-fuzz-'));
  // The yaml package reports odd documents (`%junk` directives …) through process.emitWarning;
  // random text produces hundreds. Drop those, keep every other warning.
  const original = process.emitWarning.bind(process);
  const spy = vi.spyOn(process, 'emitWarning').mockImplementation(((warning: string | Error, ...rest: unknown[]) => {
    const name = warning instanceof Error ? warning.name : typeof rest[0] === 'string' ? rest[0] : '';
    if (name === 'YAMLWarning') return;
    (original as (...args: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning);
  restoreWarnings = () => spy.mockRestore();
});
afterAll(async () => {
  restoreWarnings?.();
  await rm(root, { recursive: true, force: true });
});

const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();

function expectNoPollution(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
  const probe = {} as Record<string, unknown>;
  for (const key of ['polluted', 'type', 'required', 'default', 'fuzz']) expect(probe[key], key).toBeUndefined();
}

function expectCoded(error: unknown, where: string): void {
  if (!(error instanceof PluginFactoryError)) {
    throw new Error(`${where}: threw something that is not a PluginFactoryError: ${String(error)}`, { cause: error });
  }
  expect(CODES, `${where}: ${error.message}`).toContain(error.code);
}

function expectSnapshotCoded(snapshot: ManagerSnapshot): void {
  for (const plugin of snapshot.plugins) {
    for (const error of [plugin.error, ...plugin.errors]) if (error) expect(CODES).toContain(error.code);
  }
  // Plain JSON, whatever went in.
  expect(() => JSON.stringify(snapshot)).not.toThrow();
}

/**
 * Registers `definitions`, boots and shuts down. Anything thrown must be a PluginFactoryError
 * (createPluginManager refuses duplicate names by throwing one; the abort policy rejects start()).
 */
async function runManager(definitions: PluginDefinition[], options: HostSettings = {}): Promise<ManagerSnapshot | null> {
  let manager: PluginManager;
  try {
    manager = createPluginManager({ logger: silentLogger, hookTimeoutMs: 1000, ...options, plugins: definitions });
  } catch (error) {
    expectCoded(error, 'createPluginManager');
    return null;
  }
  let snapshot: ManagerSnapshot | null = null;
  try {
    snapshot = await manager.start();
    expectSnapshotCoded(snapshot);
  } catch (error) {
    expectCoded(error, 'start()');
  }
  try {
    const final = await manager.stop();
    expectSnapshotCoded(final);
    return snapshot ?? final;
  } catch (error) {
    expectCoded(error, 'stop()');
    return snapshot;
  }
}

// ── arbitraries ────────────────────────────────────────────────────────────

const weirdString = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    '',
    ' ',
    '.',
    '..',
    '../index.mjs',
    '../../etc/passwd',
    '/etc/passwd',
    'C:\\Windows\\win.ini',
    'index.mjs\u0000.txt',
    '\u0000',
    'index.mjs',
    'other.mjs',
    'plugin.json',
    'plugin.yaml',
    'sub',
    'sub/',
    './index.mjs',
    'index.MJS',
    '💥',
    '\ud800',
    '${HOME}',
    '%s%s%s',
    '\n- a\n',
    'x'.repeat(300),
    'y'.repeat(5000),
    '^1.0.0',
    '1.0.0',
    '>=99.0.0',
    '*',
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);

const weirdNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, 0.5, 1.5, 1e21, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, 2 ** 53, Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY),
  fc.integer(),
  fc.double(),
);

const garbage: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  weirdString,
  weirdNumber,
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
  fc.array(weirdString, { maxLength: 3 }),
  fc.dictionary(weirdString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);

const pluginName = fc.constantFrom('fuzzed', 'constructor', 'prototype', 'a', 'x-1', 'Fuzzed', '__proto__');
const range = fc.constantFrom('^1.0.0', '*', '>=0.1.0', '>=99.0.0', '1.x', 'not a range');

/** Enum values of a field's type, so that the spec is coherent (the mutations below break it). */
const enumValues: Record<string, fc.Arbitrary<unknown>> = {
  string: fc.string({ maxLength: 3 }),
  integer: fc.integer(),
  number: fc.double({ noNaN: true, noDefaultInfinity: true }),
  boolean: fc.boolean(),
  object: fc.constant({}),
  array: fc.constant([]),
};

const configSpec = fc.constantFrom('string', 'integer', 'number', 'boolean', 'object', 'array').chain((type) =>
  fc.record(
    {
      type: fc.constant(type),
      required: fc.boolean(),
      default: fc.oneof(fc.string({ maxLength: 4 }), fc.integer({ min: 0, max: 9 }), fc.boolean(), fc.constant([]), fc.constant({})),
      min: fc.integer({ min: 0, max: 3 }),
      max: fc.integer({ min: 3, max: 100 }),
      enum: fc.array(enumValues[type]!, { minLength: 1, maxLength: 3 }),
      secret: fc.boolean(),
      description: fc.string({ maxLength: 6 }),
    },
    { requiredKeys: ['type'] },
  ),
);

/** A manifest that zod accepts more often than not. */
const baseManifest = fc.record(
  {
    name: pluginName,
    version: fc.constantFrom('1.0.0', '0.1.0', '2.0.0-rc.1'),
    description: fc.string({ maxLength: 10 }),
    main: fc.constantFrom('index.mjs', 'other.mjs', 'sub/deep.mjs'),
    dependencies: fc.dictionary(fc.constantFrom('dep', 'constructor'), range, { maxKeys: 1 }),
    optionalDependencies: fc.dictionary(fc.constantFrom('opt', 'fuzzed'), range, { maxKeys: 1 }),
    engine: range,
    hookTimeoutMs: fc.integer({ min: 1, max: 2000 }),
    retry: fc.record({ retries: fc.nat(2), backoffMs: fc.nat(5), factor: fc.constantFrom(1, 2), maxBackoffMs: fc.nat(10) }, { requiredKeys: [] }),
    // Reserved field names (a manifest declaring one is rejected) now and then, not half the time:
    // most generated manifests must still reach the import.
    config: fc.dictionary(
      fc.oneof({ weight: 6, arbitrary: fc.constantFrom('url', 'pool') }, { weight: 1, arbitrary: fc.constantFrom('constructor', '__proto__') }),
      configSpec,
      { maxKeys: 2 },
    ),
    events: fc.record({ publishes: fc.array(fc.constantFrom('a.b', 'c'), { maxLength: 2 }) }, { requiredKeys: [] }),
    permissions: fc.array(fc.constantFrom('net', 'fs'), { maxLength: 2 }),
  },
  { requiredKeys: ['name', 'version'] },
);

const MANIFEST_PATHS: string[][] = [
  ...['$schema', 'name', 'version', 'description', 'main', 'dependencies', 'optionalDependencies', 'engine', 'hookTimeoutMs', 'retry', 'config', 'events', 'permissions'].map((k) => [k]),
  ['dependecies'],
  ['__proto__'],
  ['constructor'],
  ['prototype'],
  ['config', 'url'],
  ['config', 'url', 'type'],
  ['config', 'url', 'default'],
  ['config', 'url', 'min'],
  ['config', 'url', 'enum'],
  ['config', 'url', '__proto__'],
  ['config', '__proto__', 'type'],
  ['dependencies', '__proto__'],
  ['dependencies', 'constructor'],
  ['retry', 'retries'],
  ['retry', 'factor'],
  ['events', 'publishes'],
  ['events', 'extra'],
];

/** Sets (or deletes) the value at `path` with defineProperty, so `__proto__` stays an own key. */
function mutate(target: Record<string, unknown>, path: string[], value: unknown, remove: boolean): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = Object.hasOwn(node, key) ? node[key] : undefined;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      Object.defineProperty(node, key, { value: {}, enumerable: true, writable: true, configurable: true });
    }
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (remove) delete node[last];
  else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
}

const mutation = fc.record({ path: fc.constantFrom(...MANIFEST_PATHS), value: garbage, remove: fc.boolean() });

/**
 * A manifest with nothing that can fail (no dependencies, no engine range, no config fields), so
 * that runs reaching `running` are common rather than a few per thousand: the mutated manifests
 * above get there only when every random field happens to agree.
 */
const plainManifest = fc.record(
  {
    name: fc.constantFrom('fuzzed', 'a', 'x-1'),
    version: fc.constantFrom('1.0.0', '0.1.0'),
    main: fc.constantFrom('index.mjs', 'other.mjs', 'sub/deep.mjs'),
    description: fc.string({ maxLength: 10 }),
  },
  { requiredKeys: ['name', 'version'] },
);

const manifestValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 1, arbitrary: plainManifest },
  { weight: 2, arbitrary: baseManifest },
  {
    weight: 5,
    arbitrary: fc.tuple(baseManifest, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([manifest, mutations]) => {
      const copy = structuredClone(manifest) as Record<string, unknown>;
      for (const m of mutations) mutate(copy, m.path, m.value, m.remove);
      return copy;
    }),
  },
  { weight: 2, arbitrary: garbage },
);

/** Manifest text: JSON, YAML, or raw noise. */
const manifestFile = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constant('plugin.json' as const), manifestValue.map((v) => JSON.stringify(v) ?? 'undefined')) },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('plugin.yaml' as const, 'plugin.yml' as const), manifestValue.map(toYaml)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('plugin.json' as const, 'plugin.yaml' as const), fc.string({ maxLength: 60 })) },
);

function toYaml(value: unknown): string {
  try {
    return stringifyYaml(value);
  } catch {
    return JSON.stringify(value) ?? '';
  }
}

/** What the engine must decide about the manifest text: parsed and accepted by zod, or not. */
function acceptedBeforeImport(file: string, text: string, check = { engine: true }): boolean {
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch {
    return false;
  }
  const parsed = Manifest.safeParse(raw);
  // A manifest whose engine range excludes this engine is rejected before its module is imported,
  // and so is one declaring a config field named __proto__, constructor or prototype, or a
  // dependency named __proto__ (which zod's record would skip).
  const config = (raw as { config?: unknown } | null)?.config;
  const reserved = typeof config === 'object' && config !== null && Object.keys(config).some((key) => ['__proto__', 'constructor', 'prototype'].includes(key));
  const protoDependency = ['dependencies', 'optionalDependencies'].some((field) => {
    const record = (raw as Record<string, unknown> | null)?.[field];
    return typeof record === 'object' && record !== null && Object.hasOwn(record, '__proto__');
  });
  if (!parsed.success || reserved || protoDependency) return false;
  return !check.engine || parsed.data.engine === undefined || semver.satisfies(ENGINE_VERSION, parsed.data.engine);
}

const configValues = fc.option(
  fc.oneof(
    fc.dictionary(fc.constantFrom('url', 'pool', '__proto__', 'constructor', 'prototype', 'extra'), garbage, { maxKeys: 3 }),
    garbage,
  ),
  { nil: undefined },
);

const folderName = fc.constantFrom('fuzzed', 'Fuzz Dir', 'constructor', '__proto__', 'x');

// ── (a) manifests ──────────────────────────────────────────────────────────

describe('fuzz: random manifests in a plugin folder', () => {
  it(`never throws uncoded errors and never imports a rejected module (${MANIFEST_RUNS} runs)`, { timeout: 60_000 * SCALE }, async () => {
    let run = 0;
    const outcomes = { rejected: 0, imported: 0, running: 0 };
    await fc.assert(
      fc.asyncProperty(manifestFile, folderName, configValues, async ([file, text], folder, config) => {
        const id = `run-${++run}`;
        const base = join(root, id);
        const dir = join(base, folder);
        const module = `(globalThis.__loadingFuzzImports ??= new Set()).add(${JSON.stringify(id)});\nexport default { init() {}, start() {}, stop() {} };\n`;
        await mkdir(join(dir, 'sub'), { recursive: true });
        await Promise.all([
          writeFile(join(dir, file), text),
          writeFile(join(dir, 'index.mjs'), module),
          writeFile(join(dir, 'other.mjs'), module),
          writeFile(join(dir, 'sub', 'deep.mjs'), module),
          writeFile(join(base, 'index.mjs'), module),
        ]);
        try {
          let definition: PluginDefinition;
          try {
            definition = await loadPluginFolder(dir, config === undefined ? {} : { config: config as Record<string, unknown> });
          } catch (error) {
            throw new Error(`loadPluginFolder threw: ${String(error)}`, { cause: error });
          }
          for (const problem of definition.problems ?? []) expectCoded(problem, 'definition.problems');

          const accepted = acceptedBeforeImport(file, text);
          const wasImported = importedIds().has(id);
          if (!accepted) {
            outcomes.rejected += 1;
            expect(wasImported, `rejected manifest, module imported:\n${text}`).toBe(false);
          } else if ((definition.problems ?? []).length === 0) {
            expect(wasImported, `accepted manifest, module not imported:\n${text}`).toBe(true);
          }
          if ((definition.problems ?? []).some((p) => p.code === 'ENTRY_OUTSIDE_PLUGIN' || p.code === 'ENTRY_NOT_FOUND')) {
            expect(wasImported, `entry refused, module imported:\n${text}`).toBe(false);
          }
          if (wasImported) outcomes.imported += 1;

          const snapshot = await runManager([definition]);
          if (!accepted) expect(importedIds().has(id), 'imported after the manager saw it').toBe(false);
          if (snapshot) {
            const plugin = snapshot.plugins[0];
            expect(snapshot.plugins).toHaveLength(1);
            if (!accepted) {
              expect(plugin?.state).toBe('invalid');
              const codes = plugin?.errors.map((e) => e.code) ?? [];
              // Refused by the schema: only MANIFEST_INVALID; by the engine range: that code among others.
              if (acceptedBeforeImport(file, text, { engine: false })) expect(codes).toContain('ENGINE_VERSION_MISMATCH');
              else expect(codes.every((c) => c === 'MANIFEST_INVALID')).toBe(true);
            }
            if (plugin?.state === 'running') outcomes.running += 1;
          }
          expectNoPollution();
        } finally {
          await rm(base, { recursive: true, force: true });
        }
      }),
      { numRuns: MANIFEST_RUNS },
    );
    // The generators reach every outcome.
    expect(outcomes.rejected).toBeGreaterThan(MANIFEST_RUNS / 10);
    expect(outcomes.imported).toBeGreaterThan(MANIFEST_RUNS / 20);
    expect(outcomes.running).toBeGreaterThan(0);
  });
});

// ── (b) host files ─────────────────────────────────────────────────────────

/** Fixture plugins the host files may name (none that waits on a timeout). */
const FIXTURE_FOLDERS = [
  'healthy/alpha',
  'healthy/beta',
  'healthy/typed',
  'healthy/dormant',
  'codes/base',
  'codes/leaf',
  'codes/manifest-typo',
  'codes/manifest-not-found',
  'codes/manifest-bad-yaml',
  'codes/entry-outside-plugin',
  'codes/module-throws',
  'codes/contract-no-stop',
  'codes/config-missing-required',
  'codes/hook-failed',
  'codes/cycle-one',
  'codes/cycle-two',
  'codes/duplicate-first',
  'codes/duplicate-second',
];

const hostPath = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FIXTURE_FOLDERS).map((f) => join(FIXTURES, f)) },
  { weight: 1, arbitrary: fc.constantFrom('./missing', '../..', '.', 'pkg-home', FIXTURES, join(FIXTURES, 'hosts', 'host.yaml')) },
  { weight: 1, arbitrary: weirdString },
);

const packageName = fc.constantFrom('fuzz-pkg', '@fuzz/scoped', 'missing-pkg', '.', '..', '../..', 'fs', 'node:fs', '__proto__', 'constructor', '', 'x'.repeat(300));

const hostEntry: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostPath },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        path: hostPath,
        config: fc.oneof(
          { weight: 3, arbitrary: fc.record({ token: fc.constantFrom('fuzz-token', ''), label: fc.string({ maxLength: 4 }), greeting: fc.constant('hi') }, { requiredKeys: [] }) },
          { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'token'), garbage, { maxKeys: 2 }) },
        ),
        enabled: fc.boolean(),
      },
      { requiredKeys: ['path'] },
    ),
  },
  { weight: 2, arbitrary: fc.record({ package: packageName, enabled: fc.boolean() }, { requiredKeys: ['package'] }) },
);

/** A host file the schema accepts (its entries may still point anywhere). */
const validHost = fc.record(
  {
    $schema: fc.string({ maxLength: 5 }),
    hookTimeoutMs: fc.integer({ min: 50, max: 2000 }),
    failurePolicy: fc.constantFrom('isolate', 'abort'),
    retry: fc.record({ retries: fc.nat(1), backoffMs: fc.nat(5) }, { requiredKeys: [] }),
    plugins: fc.array(hostEntry, { maxLength: 5 }),
  },
  { requiredKeys: ['plugins'] },
);

const HOST_PATHS: string[][] = [
  ['plugins'],
  ['plugns'],
  ['__proto__'],
  ['constructor'],
  ['hookTimeoutMs'],
  ['failurePolicy'],
  ['retry'],
  ['retry', 'factor'],
  ['plugins', '0'],
  ['plugins', '0', 'path'],
  ['plugins', '0', 'package'],
  ['plugins', '0', 'config'],
  ['plugins', '0', 'config', '__proto__'],
  ['plugins', '0', 'enabled'],
  ['plugins', '1', 'extra'],
];

const hostValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: validHost },
  {
    weight: 4,
    arbitrary: fc
      .tuple(validHost, fc.array(fc.record({ path: fc.constantFrom(...HOST_PATHS), value: garbage, remove: fc.boolean() }), { minLength: 1, maxLength: 2 }))
      .map(([host, mutations]) => {
        const copy = structuredClone(host) as Record<string, unknown>;
        for (const m of mutations) mutate(copy, m.path, m.value, m.remove);
        return copy;
      }),
  },
  { weight: 1, arbitrary: garbage },
);

const hostFile = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constant('host.json'), hostValue.map((v) => JSON.stringify(v) ?? '')) },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('host.yaml', 'host.yml'), hostValue.map(toYaml)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('host.json', 'host.yaml'), fc.string({ maxLength: 60 })) },
);

/** What the fake packages' package.json may say about their manifest. */
const pluginFactoryField = fc.oneof(
  fc.constantFrom('./plugin/plugin.json', '.', './plugin', '../..', '/etc', 'plugin.json', '', join(FIXTURES, 'healthy', 'alpha')),
  garbage,
);

describe('fuzz: random host files', () => {
  it(`loadHost never throws and every problem is coded (${HOST_RUNS} runs)`, { timeout: 60_000 * SCALE }, async () => {
    let run = 0;
    const seen = { problems: 0, definitions: 0 };
    await fc.assert(
      fc.asyncProperty(hostFile, pluginFactoryField, async ([file, text], pluginFactory) => {
        const dir = join(root, `host-${++run}`);
        const pkgPlugin = { name: 'fuzz-pkg-plugin', version: '1.0.0' };
        const files: Record<string, string> = {
          [file]: text,
          'node_modules/fuzz-pkg/package.json': JSON.stringify({ name: 'fuzz-pkg', version: '1.0.0', pluginFactory }),
          'node_modules/fuzz-pkg/plugin/plugin.json': JSON.stringify(pkgPlugin),
          'node_modules/fuzz-pkg/plugin/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
          'node_modules/@fuzz/scoped/package.json': JSON.stringify({ name: '@fuzz/scoped', version: '1.0.0', pluginFactory: '.' }),
          'node_modules/@fuzz/scoped/plugin.json': JSON.stringify({ name: 'fuzz-scoped', version: '1.0.0' }),
          'node_modules/@fuzz/scoped/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
          'pkg-home/plugin.yaml': 'name: pkg-home\nversion: 1.0.0\n',
          'pkg-home/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
        };
        for (const [path, content] of Object.entries(files)) {
          await mkdir(join(dir, path, '..'), { recursive: true });
          await writeFile(join(dir, path), content);
        }
        try {
          let host: Awaited<ReturnType<typeof loadHost>>;
          try {
            host = await loadHost(join(dir, file));
          } catch (error) {
            throw new Error(`loadHost threw on:\n${text}\n${String(error)}`, { cause: error });
          }
          for (const problem of host.problems) expectCoded(problem, 'host.problems');
          for (const definition of host.definitions) {
            for (const problem of definition.problems ?? []) expectCoded(problem, 'definition.problems');
          }
          expect(host.folders).toHaveLength(host.definitions.length);
          seen.problems += host.problems.length;
          seen.definitions += host.definitions.length;
          await runManager(host.definitions, host.settings);
          expectNoPollution();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: HOST_RUNS },
    );
    expect(seen.problems).toBeGreaterThan(0);
    // The generator must reach the loader's happy path, not only its refusals: over 350 runs it
    // yields 170–250 definitions (it varies with the random hosts), so a quarter leaves a margin.
    expect(seen.definitions).toBeGreaterThan(HOST_RUNS / 4);
  });
});
