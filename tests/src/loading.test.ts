/**
 * Loading plugins from disk, driven only through `src/index.ts` (loadHost, loadPluginFolder,
 * createPluginManager): one fixture per error code under tests/fixtures/loading/, host files in
 * json and yaml, TypeScript and factory plugins, npm-package and symlink cases built in a temp
 * dir, the promise that a rejected manifest's module is never imported, inert `__proto__` keys,
 * secrets that never leak, and the deliberately broken demo plugins under plugins/broken/.
 *
 * Fixture modules report what happened to them through two globals: `__loadingFixtureImports`
 * (a Set of markers, added at the top level, so "was this module ever imported") and
 * `__loadingFixtureCalls` (hook calls with the ctx they saw). Assertions are on codes, states and
 * what a message names (a field, a folder, a cycle), never on its wording.
 */
import { execFileSync } from 'node:child_process';
import { renameSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DISK_CODES } from '../helpers/codes.ts';
import {
  ERROR_CODES,
  PluginFactoryError,
  createConsoleLogger,
  createPluginManager,
  loadHost,
  loadPluginFolder,
  reloadFromHost,
  silentLogger,
} from '../../src/index.ts';
import type {
  ErrorCode,
  ErrorInfo,
  LoadOptions,
  LoadedHost,
  ManagerSnapshot,
  PluginDefinition,
  PluginManager,
  PluginManagerOptions,
  PluginSnapshot,
} from '../../src/index.ts';

// ── helpers ────────────────────────────────────────────────────────────────

const FIXTURES = fileURLToPath(new URL('../fixtures/loading/', import.meta.url));
const BROKEN = fileURLToPath(new URL('../../plugins/broken/', import.meta.url));
const fixture = (...parts: string[]) => join(FIXTURES, ...parts);


interface HookCall {
  plugin: string;
  hook: string;
  config?: Record<string, unknown>;
  [key: string]: unknown;
}

interface FixtureGlobals {
  __loadingFixtureImports?: Set<string>;
  __loadingFixtureCalls?: HookCall[];
}

const globals = globalThis as unknown as FixtureGlobals;
/** Whether the fixture module with this marker was ever imported in this process. */
const imported = (marker: string) => globals.__loadingFixtureImports?.has(marker) ?? false;
const callsOf = (plugin: string) => (globals.__loadingFixtureCalls ?? []).filter((call) => call.plugin === plugin);
const hooksOf = (plugin: string) => callsOf(plugin).map((call) => call.hook);

beforeEach(() => {
  globals.__loadingFixtureCalls = [];
});

const managers: PluginManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.stop().catch(() => undefined)));
});

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pf-loading-'));
  temps.push(dir);
  return dir;
}

/** Writes `files` (path → text) under `root`, creating folders. */
async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
}

function manage(options: PluginManagerOptions): PluginManager {
  const manager = createPluginManager({ logger: silentLogger, ...options });
  managers.push(manager);
  return manager;
}

/** Loads `target`, boots what it found, and returns both. */
async function boot(
  target: string,
  options: Omit<PluginManagerOptions, 'plugins'> = {},
): Promise<{ host: LoadedHost; manager: PluginManager; snapshot: ManagerSnapshot }> {
  const host = await loadHost(target);
  const manager = manage({ ...host.settings, ...options, plugins: host.definitions });
  const snapshot = await manager.start();
  return { host, manager, snapshot };
}

function pluginOf(snapshot: ManagerSnapshot, name: string): PluginSnapshot {
  const found = snapshot.plugins.find((p) => p.name === name);
  if (!found) throw new Error(`no plugin '${name}' in the snapshot: ${snapshot.plugins.map((p) => p.name).join(', ')}`);
  return found;
}

/** `failed.halted` → `failed`: substates are free, top-level names are public API. */
const topState = (state: string) => state.split('.')[0];

function expectCoded(errors: readonly unknown[]): void {
  for (const error of errors) {
    expect(error).toBeInstanceOf(PluginFactoryError);
    expect(Object.keys(ERROR_CODES)).toContain((error as PluginFactoryError).code);
  }
}

const problemCodes = (definition: PluginDefinition) => (definition.problems ?? []).map((p) => p.code);
const definitionName = (definition: PluginDefinition) =>
  (definition.manifest as { name?: unknown } | undefined)?.name ?? definition.name;

/** Creates a symlink, or returns false where the platform refuses (Windows without privileges). */
async function trySymlink(target: string, path: string, type: 'file' | 'dir'): Promise<boolean> {
  try {
    await symlink(target, path, type);
    return true;
  } catch {
    return false;
  }
}

// ── one fixture per error code ─────────────────────────────────────────────

/** What every plugin of tests/fixtures/loading/codes/ ends as after boot. */
const CODES_EXPECTED: Record<string, { state: string; code: ErrorCode | null }> = {
  'manifest-not-found': { state: 'invalid', code: 'MANIFEST_NOT_FOUND' },
  'manifest-typo': { state: 'invalid', code: 'MANIFEST_INVALID' },
  'manifest-bad-json': { state: 'invalid', code: 'MANIFEST_INVALID' },
  'manifest-bad-yaml': { state: 'invalid', code: 'MANIFEST_INVALID' },
  'manifest-number-version': { state: 'invalid', code: 'MANIFEST_INVALID' },
  Manifest_Bad_Name: { state: 'invalid', code: 'MANIFEST_INVALID' },
  'manifest-bad-config-spec': { state: 'invalid', code: 'MANIFEST_INVALID' },
  'entry-not-found': { state: 'invalid', code: 'ENTRY_NOT_FOUND' },
  'entry-default-missing': { state: 'invalid', code: 'ENTRY_NOT_FOUND' },
  'entry-outside-plugin': { state: 'invalid', code: 'ENTRY_OUTSIDE_PLUGIN' },
  'entry-absolute': { state: 'invalid', code: 'ENTRY_OUTSIDE_PLUGIN' },
  'module-syntax-error': { state: 'invalid', code: 'MODULE_LOAD_FAILED' },
  'module-throws': { state: 'invalid', code: 'MODULE_LOAD_FAILED' },
  'factory-throws': { state: 'invalid', code: 'MODULE_LOAD_FAILED' },
  'contract-no-stop': { state: 'invalid', code: 'CONTRACT_INVALID' },
  'contract-no-default': { state: 'invalid', code: 'CONTRACT_INVALID' },
  'contract-bad-health': { state: 'invalid', code: 'CONTRACT_INVALID' },
  'config-missing-required': { state: 'invalid', code: 'CONFIG_INVALID' },
  duplicate: { state: 'running', code: null },
  base: { state: 'running', code: null },
  leaf: { state: 'running', code: null },
  'missing-dependency': { state: 'invalid', code: 'MISSING_DEPENDENCY' },
  'version-mismatch': { state: 'invalid', code: 'DEPENDENCY_VERSION_MISMATCH' },
  'optional-version-mismatch': { state: 'invalid', code: 'DEPENDENCY_VERSION_MISMATCH' },
  'cycle-one': { state: 'invalid', code: 'DEPENDENCY_CYCLE' },
  'cycle-two': { state: 'invalid', code: 'DEPENDENCY_CYCLE' },
  'engine-mismatch': { state: 'invalid', code: 'ENGINE_VERSION_MISMATCH' },
  'hook-failed': { state: 'failed', code: 'HOOK_FAILED' },
  'hook-timeout': { state: 'failed', code: 'HOOK_TIMEOUT' },
  // Dependents of broken plugins: one registered under the name they require (even with an
  // unusable manifest) → DEPENDENCY_FAILED at boot; no plugin of that name → MISSING_DEPENDENCY.
  'needs-contract': { state: 'failed', code: 'DEPENDENCY_FAILED' },
  'needs-hook-failed': { state: 'failed', code: 'DEPENDENCY_FAILED' },
  'needs-typo': { state: 'failed', code: 'DEPENDENCY_FAILED' },
  'needs-not-found': { state: 'failed', code: 'DEPENDENCY_FAILED' },
};

/** Modules next to a manifest the engine rejects (or no manifest at all): never imported. */
const NEVER_IMPORTED = [
  'codes/manifest-not-found',
  'codes/manifest-typo',
  'codes/manifest-bad-json',
  'codes/manifest-bad-yaml',
  'codes/manifest-number-version',
  'codes/manifest-bad-name',
  'codes/manifest-bad-config-spec',
  'codes/outside.mjs',
];

describe('a folder with one fixture per error code', () => {
  it('boots exactly the healthy plugins; the broken ones are invalid or failed with the right codes', async () => {
    const { host, manager, snapshot } = await boot(fixture('codes'));

    // The second folder declaring 'duplicate' is a problem of the host, and is not registered.
    expect(host.problems.map((p) => p.code)).toEqual(['DUPLICATE_PLUGIN']);
    expect(host.problems[0]?.plugin).toBe('duplicate');
    expectCoded(host.problems);
    for (const definition of host.definitions) expectCoded(definition.problems ?? []);

    expect(snapshot.state).toBe('running');
    expect(snapshot.plugins.map((p) => p.name).sort()).toEqual(Object.keys(CODES_EXPECTED).sort());
    for (const [name, expected] of Object.entries(CODES_EXPECTED)) {
      const plugin = pluginOf(snapshot, name);
      expect({ name, state: topState(plugin.state), code: plugin.error?.code ?? null }).toEqual({ name, ...expected });
      for (const error of plugin.errors) expect(Object.keys(ERROR_CODES)).toContain(error.code);
    }
    const running = snapshot.plugins.filter((p) => p.state === 'running').map((p) => p.name);
    expect(running.sort()).toEqual(['base', 'duplicate', 'leaf']);

    // Every code that can come from disk is shown by some fixture.
    const seen = new Set<string | undefined>([
      ...host.problems.map((p) => p.code),
      ...snapshot.plugins.flatMap((p) => [p.error?.code, ...p.errors.map((e) => e.code)]),
    ]);
    for (const code of DISK_CODES) expect(seen, code).toContain(code);

    // Hooks ran for the healthy plugins only; the hook errors name their hook.
    expect(hooksOf('base')).toEqual(['init', 'start']);
    expect(hooksOf('leaf')).toEqual(['init', 'start']);
    expect(hooksOf('contract-no-stop')).toEqual([]);
    expect(pluginOf(snapshot, 'hook-failed').error?.hook).toBe('start');
    expect(pluginOf(snapshot, 'hook-timeout').error?.hook).toBe('init');
    expect(pluginOf(snapshot, 'needs-contract').error?.plugins).toEqual(['contract-no-stop']);
    expect(pluginOf(snapshot, 'cycle-one').error?.message).toMatch(/cycle-(one|two) -> cycle-(one|two) -> cycle-(one|two)/);

    // Every error is plain JSON.
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);

    const final = await manager.stop();
    for (const name of ['base', 'duplicate', 'leaf']) expect(pluginOf(final, name).state).toBe('stopped');
    for (const [name, expected] of Object.entries(CODES_EXPECTED)) {
      if (expected.state === 'invalid') expect(pluginOf(final, name).state).toBe('invalid');
    }
    expect(hooksOf('base')).toEqual(['init', 'start', 'stop']);
    expect(hooksOf('leaf').indexOf('stop')).toBeLessThan(hooksOf('base').length);
  });

  it('never imports the module of a plugin whose manifest is missing or rejected', async () => {
    await boot(fixture('codes'));
    for (const marker of NEVER_IMPORTED) expect(imported(marker), marker).toBe(false);
    // Positive controls: the marker mechanism does see imports.
    expect(imported('codes/module-throws')).toBe(true);
    expect(imported('codes/base')).toBe(true);
  });

  it.each([
    ['manifest-not-found', 'MANIFEST_NOT_FOUND'],
    ['manifest-bad-json', 'MANIFEST_INVALID'],
    ['manifest-bad-yaml', 'MANIFEST_INVALID'],
    ['entry-not-found', 'ENTRY_NOT_FOUND'],
    ['entry-default-missing', 'ENTRY_NOT_FOUND'],
    ['entry-outside-plugin', 'ENTRY_OUTSIDE_PLUGIN'],
    ['entry-absolute', 'ENTRY_OUTSIDE_PLUGIN'],
    ['module-syntax-error', 'MODULE_LOAD_FAILED'],
    ['module-throws', 'MODULE_LOAD_FAILED'],
    ['contract-no-default', 'CONTRACT_INVALID'],
  ] as const)('loadPluginFolder(%s) reports %s on the definition', async (folder, code) => {
    const definition = await loadPluginFolder(fixture('codes', folder));
    expect(problemCodes(definition)).toEqual([code]);
    expectCoded(definition.problems ?? []);
    expect(definition.problems?.[0]?.plugin).toBe(folder);
  });

  it.each([
    ['manifest-typo', 'MANIFEST_INVALID'],
    ['manifest-number-version', 'MANIFEST_INVALID'],
    ['manifest-bad-name', 'MANIFEST_INVALID'],
    ['manifest-bad-config-spec', 'MANIFEST_INVALID'],
    ['factory-throws', 'MODULE_LOAD_FAILED'],
    ['contract-no-stop', 'CONTRACT_INVALID'],
    ['contract-bad-health', 'CONTRACT_INVALID'],
    ['config-missing-required', 'CONFIG_INVALID'],
    ['missing-dependency', 'MISSING_DEPENDENCY'],
    ['engine-mismatch', 'ENGINE_VERSION_MISMATCH'],
  ] as const)('%s alone is registered invalid with %s', async (folder, code) => {
    const definition = await loadPluginFolder(fixture('codes', folder));
    const manager = manage({ plugins: [definition] });
    const snapshot = await manager.start();
    expect(snapshot.plugins).toHaveLength(1);
    expect(snapshot.plugins[0]).toMatchObject({ state: 'invalid', error: { code } });
  });

  it('keeps a rejected manifest for the engine to report, without a module', async () => {
    const definition = await loadPluginFolder(fixture('codes', 'manifest-typo'));
    expect(definition.module).toBeUndefined();
    expect(definition.manifest).toMatchObject({ name: 'manifest-typo', dependecies: { base: '^1.0.0' } });
    const snapshot = await manage({ plugins: [definition] }).start();
    expect(snapshot.plugins[0]?.error).toMatchObject({ code: 'MANIFEST_INVALID', path: 'dependecies' });
  });

  it('a two-plugin cycle makes both members invalid, listing the cycle', async () => {
    const plugins = await Promise.all(['cycle-one', 'cycle-two'].map((f) => loadPluginFolder(fixture('codes', f))));
    const snapshot = await manage({ plugins }).start();
    for (const plugin of snapshot.plugins) {
      expect(plugin).toMatchObject({ state: 'invalid', error: { code: 'DEPENDENCY_CYCLE' } });
      expect(new Set(plugin.error?.plugins)).toEqual(new Set(['cycle-one', 'cycle-two']));
    }
  });

  it('needs-contract loaded alone: its absent dependency is MISSING_DEPENDENCY', async () => {
    const snapshot = await manage({ plugins: [await loadPluginFolder(fixture('codes', 'needs-contract'))] }).start();
    expect(snapshot.plugins[0]).toMatchObject({ state: 'invalid', error: { code: 'MISSING_DEPENDENCY' } });
  });
});

// ── host files ─────────────────────────────────────────────────────────────

describe('host files', () => {
  it('dataDir (relative to the host file) keeps ctx.store across runs, and health sets the check defaults', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'hosts/host.yaml': 'dataDir: ../state\nhealth: { intervalMs: 60000, unhealthyThreshold: 2 }\nplugins:\n  - ../counter\n',
      'counter/plugin.json': JSON.stringify({ name: 'counter', version: '1.0.0' }),
      'counter/index.mjs':
        "export default { init() {}, async start(ctx) { await ctx.store.set('boots', ((await ctx.store.get('boots')) ?? 0) + 1); }, stop() {}, health() { return 'healthy'; } };\n",
    });
    const file = join(dir, 'hosts', 'host.yaml');
    const loaded = await loadHost(file);
    expect(loaded.problems).toEqual([]);
    expect(loaded.settings).toEqual({ dataDir: join(dir, 'state'), health: { intervalMs: 60000, unhealthyThreshold: 2 } });
    for (let run = 0; run < 2; run++) {
      const { manager } = await boot(file);
      await manager.stop();
    }
    expect(JSON.parse(await readFile(join(dir, 'state', 'counter.json'), 'utf8')).values).toEqual({ boots: 2 });
  });

  it('a dataDir that is a file, or a health default out of range, is a host problem (OPTIONS_INVALID); the plugins still load', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'taken': 'a file, not a folder\n',
      'one.yaml': 'dataDir: ./taken/state\nplugins:\n  - ./alpha\n',
      'two.yaml': 'health: { intervalMs: 0 }\nplugins:\n  - ./alpha\n',
      'three.yaml': "dataDir: '   '\nplugins:\n  - ./alpha\n",
      'alpha/plugin.json': JSON.stringify({ name: 'alpha', version: '1.0.0' }),
      'alpha/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    const one = await loadHost(join(dir, 'one.yaml'));
    expect([one.problems.map((p) => p.code), one.settings.dataDir, one.definitions.length]).toEqual([['OPTIONS_INVALID'], undefined, 1]);
    const two = await loadHost(join(dir, 'two.yaml'));
    expect(two.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID']);
    const three = await loadHost(join(dir, 'three.yaml'));
    expect([three.problems.map((p) => p.code), three.settings.dataDir]).toEqual([['OPTIONS_INVALID'], undefined]);
  });

  it('a YAML host file: settings, per-plugin config, enabled: false, paths relative to the file', async () => {
    const file = fixture('hosts', 'host.yaml');
    const { host, snapshot } = await boot(file);
    expect(host.problems).toEqual([]);
    expect(host.hostFile).toBe(file);
    expect(host.settings).toEqual({ hookTimeoutMs: 3000, failurePolicy: 'isolate', retry: { retries: 0, backoffMs: 10 } });
    expect(host.definitions.map(definitionName)).toEqual(['alpha', 'beta', 'typed']);
    expect(host.folders).toEqual([fixture('healthy', 'alpha'), fixture('healthy', 'beta'), fixture('healthy', 'typed')]);
    expect(imported('healthy/dormant')).toBe(false);

    expect(snapshot.plugins.map((p) => [p.name, p.state])).toEqual([
      ['alpha', 'running'],
      ['beta', 'running'],
      ['typed', 'running'],
    ]);
    expect(callsOf('alpha')[0]?.config).toEqual({ label: 'alpha-default', tags: ['a', 'b'], verbose: false });
    expect(callsOf('beta')[0]?.config).toEqual({ token: 'yaml-token-1234', size: 3, mode: 'fast' });
    expect(callsOf('typed')[0]).toMatchObject({ config: { greeting: 'hello', times: 2 }, greeting: 'hello hello' });
    // beta requires alpha; typed orders after alpha through its optional dependency.
    const order = (globals.__loadingFixtureCalls ?? []).map((c) => `${c.plugin}.${c.hook}`);
    expect(order.indexOf('alpha.start')).toBeLessThan(order.indexOf('beta.init'));
    expect(order.indexOf('alpha.start')).toBeLessThan(order.indexOf('typed.init'));
    expect(pluginOf(snapshot, 'typed').dependencies).toEqual(['alpha']);
  });

  it('a JSON host file with the same plugins and other values', async () => {
    const { host, snapshot } = await boot(fixture('hosts', 'host.json'));
    expect(host.problems).toEqual([]);
    expect(host.settings).toEqual({ hookTimeoutMs: 4000, failurePolicy: 'abort' });
    expect(host.definitions.map(definitionName)).toEqual(['alpha', 'beta', 'typed']);
    expect(snapshot.plugins.every((p) => p.state === 'running')).toBe(true);
    expect(callsOf('alpha')[0]?.config).toEqual({ label: 'from-json', tags: ['x'], verbose: true });
    expect(callsOf('beta')[0]?.config).toEqual({ token: 'json-token-5678', size: 1, mode: 'safe' });
    expect(callsOf('typed')[0]).toMatchObject({ config: { greeting: 'hi', times: 3 }, greeting: 'hi hi hi' });
    expect(imported('healthy/dormant')).toBe(false);
    // The secret token reaches the plugin, never the snapshot.
    expect(JSON.stringify(snapshot)).not.toContain('json-token-5678');
  });

  it('onLoaded counts every entry of a host file, and every folder of a folder of plugins, as it goes', async () => {
    const calls: Array<[number, number]> = [];
    const fromFile = await loadHost(fixture('hosts', 'host.yaml'), { onLoaded: (loaded, total) => calls.push([loaded, total]) });
    // The disabled entry counts as done too; the last call says all of them.
    expect(calls).toEqual([[1, 4], [2, 4], [3, 4], [4, 4]]);
    expect(fromFile.definitions).toHaveLength(3);
    calls.length = 0;
    // Not imported: the host-file tests count on the disabled plugin's module never being imported.
    const fromFolder = await loadHost(fixture('healthy'), { importModules: false, onLoaded: (loaded, total) => calls.push([loaded, total]) });
    expect(calls).toEqual([[1, 4], [2, 4], [3, 4], [4, 4]]);
    expect(fromFolder.definitions).toHaveLength(4);
  });

  it('an onLoaded that throws is one host problem, called no more; the loading goes on', async () => {
    let calls = 0;
    const host = await loadHost(fixture('healthy'), {
      importModules: false,
      onLoaded: () => {
        calls++;
        throw new Error('progress bar broke');
      },
    });
    expect([calls, host.definitions.length, host.problems.map((p) => p.code)]).toEqual([1, 4, ['OPTIONS_INVALID']]);
  });

  it.each<[string, unknown, unknown]>([
    ['a bigint target', 10n, undefined],
    ['an object target', { toJSON: () => { throw new Error('no'); } }, undefined],
    ['null options', '.', null],
    ['options that are not an object', '.', 'fast'],
    ['an onLoaded that is not a function', '.', { onLoaded: 5 }],
    ['an importModules that is not a boolean', '.', { importModules: 'no' }],
    ['an unknown option (a typo of onLoaded)', '.', { onLoadd: () => undefined }],
    ['options whose field cannot be read', '.', { get displayRoot() { throw new Error('no'); } }],
  ])('loadHost with %s resolves with OPTIONS_INVALID and loads nothing', async (_, target, options) => {
    const host = await loadHost(target as string, options as LoadOptions);
    expect([host.definitions.length, host.problems.map((p) => p.code)]).toEqual([0, ['OPTIONS_INVALID']]);
  });

  it('a host file given by a path relative to the working directory resolves its entries against itself', async () => {
    const shown = relative(process.cwd(), fixture('hosts', 'host.yaml'));
    const host = await loadHost(shown);
    expect(host.folders).toEqual([fixture('healthy', 'alpha'), fixture('healthy', 'beta'), fixture('healthy', 'typed')]);
    expect(host.problems).toEqual([]);
  });

  it('a host file in a temp dir reaches plugins through ../ and absolute paths', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'conf/host.yaml': `plugins:\n  - ../plugins/one\n  - ${JSON.stringify(fixture('healthy', 'alpha'))}\n`,
      'plugins/one/plugin.json': JSON.stringify({ name: 'one', version: '1.0.0' }),
      'plugins/one/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    const { host, snapshot } = await boot(join(dir, 'conf', 'host.yaml'));
    expect(host.problems).toEqual([]);
    expect(snapshot.plugins.map((p) => [p.name, p.state])).toEqual([
      ['one', 'running'],
      ['alpha', 'running'],
    ]);
  });

  it('a host file that is not YAML is one coded problem, not a throw', async () => {
    const host = await loadHost(fixture('hosts', 'bad-syntax.yaml'));
    expect(host.definitions).toEqual([]);
    expect(host.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID']);
    expectCoded(host.problems);
  });

  it('a secret written unquoted that YAML reads as syntax (*alias, !tag, |block …) is never quoted back: line and column only', async () => {
    const dir = await tempDir();
    const values = ['*Hunter2Secret', '!Hunter2Secret', '|Hunter2Secret', '`Hunter2Secret', '- Hunter2Secret', '"Hunter2Secret'];
    for (const value of values) {
      await writeFile(join(dir, 'host.yaml'), `plugins:\n  - path: ./db\n    config:\n      password: ${value}\n`);
      const host = await loadHost(join(dir, 'host.yaml'));
      expect(host.problems.map((problem) => problem.code), value).toEqual(['OPTIONS_INVALID']);
      const said = host.problems.map((problem) => `${problem.message} ${String(problem.cause ?? '')}`).join(' ');
      expect(said, value).not.toContain('Hunter2');
      expect(said, value).toMatch(/line [45], column \d+/);
    }
    // A plugin.yaml whose secret default is written so: MANIFEST_INVALID, quoting nothing either.
    await mkdir(join(dir, 'x'));
    await writeFile(join(dir, 'x', 'plugin.yaml'), 'name: x\nversion: 1.0.0\nconfig:\n  token: { type: string, secret: true, default: *Hunter2Secret }\n');
    const definition = await loadPluginFolder(join(dir, 'x'));
    expect(definition.problems?.map((problem) => problem.code)).toEqual(['MANIFEST_INVALID']);
    expect(JSON.stringify(definition.problems?.map((problem) => [problem.message, problem.cause]))).not.toContain('Hunter2');
  });

  it('a key given twice in a JSON manifest or host file is refused, as in YAML, not silently the last one', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': '{ "name": "db", "version": "1.0.0",\n  "dependencies": { "cache": "^1.0.0" },\n  "dependencies": {} }\n',
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'host.json': '{ "plugins": ["./db"], "plugins": [] }\n',
    });
    const definition = await loadPluginFolder(join(dir, 'db'));
    expect(definition.problems?.map((p) => p.code)).toEqual(['MANIFEST_INVALID']);
    expect(definition.problems?.[0]?.message).toContain('line 3');
    const host = await loadHost(join(dir, 'host.json'));
    expect([host.definitions.length, host.problems.map((p) => p.code)]).toEqual([0, ['OPTIONS_INVALID']]);
  });

  it('a JSON host file with text after the document says where (line and column), as other JSON errors do', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'host.json'), '{ "plugins": [] }\n  trailing');
    const host = await loadHost(join(dir, 'host.json'));
    expect(host.problems.map((problem) => problem.code)).toEqual(['OPTIONS_INVALID']);
    expect(host.problems[0]!.message).toMatch(/line 2, column 3/);
  });

  it('a JSON syntax error is placed where it is, whatever text before it looks like it, and in the first characters too', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      // The text around the fault (a trailing comma) is found earlier too, inside a string.
      'echo.json': '{"$schema": "3,4,5,6,7,8,9,]}",\n "plugins": [],\n "health": [1,2,3,4,5,6,7,8,9,]}',
      'comment.json': '// the host\n{ "plugins": [] }',
      'cut.json': '{ "plugins": [\n',
    });
    const where = async (file: string) => {
      const host = await loadHost(join(dir, file));
      expect(host.problems.map((problem) => problem.code)).toEqual(['OPTIONS_INVALID']);
      return /line (\d+), column (\d+)/.exec(host.problems[0]!.message)?.slice(1).map(Number);
    };
    expect(await where('echo.json')).toEqual([3, 31]);
    expect(await where('comment.json')).toEqual([1, 1]);
    expect(await where('cut.json')).toEqual([2, 1]);
  });

  it('entries are checked as they are written: a disabled one with both or neither of path and package, and a manifest file named that is not there', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.yaml': 'name: db\nversion: 1.0.0\n',
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'host.yaml': 'plugins:\n  - { path: db, package: db-pkg, enabled: false }\n  - { enabled: false }\n  - db/plugin.json\n  - path: db/plugin.yml\n  - db/plugin.yaml\n',
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.problems.map((p) => [p.code, p.path])).toEqual([
      ['OPTIONS_INVALID', undefined],
      ['OPTIONS_INVALID', undefined],
      ['MANIFEST_NOT_FOUND', 'plugins.2'],
      ['MANIFEST_NOT_FOUND', 'plugins.3'],
    ]);
    expect(host.definitions.map(definitionName)).toEqual(['db']);
  });

  it('a host file is known by its extension in any case (HOST.YAML), and a target that is not there is named escaped', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'HOST.YAML': 'plugins:\n  - ./db\n',
      'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0' }),
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    const host = await loadHost(join(dir, 'HOST.YAML'));
    expect([host.problems, host.definitions.map(definitionName)]).toEqual([[], ['db']]);
    const missing = await loadHost(join(dir, 'no\u001b[2Jwhere'));
    expect(missing.problems.map((p) => p.code)).toEqual(['MANIFEST_NOT_FOUND']);
    expect(missing.problems[0]!.message).not.toMatch(/[\u0000-\u001f]/);
  });

  it('messages about the host file show its path from displayRoot, as messages about its plugins do', async () => {
    const dir = await tempDir();
    await writeTree(dir, { 'hosts/host.yaml': 'plugins:\n  - { enabled: true }\n  - package: not-installed-pkg\n' });
    const host = await loadHost(join(dir, 'hosts', 'host.yaml'), { displayRoot: dir });
    expect(host.problems).toHaveLength(2);
    for (const problem of host.problems) {
      expect(problem.message).toContain('hosts/host.yaml');
      expect(problem.message).not.toContain(dir);
    }
    // The folder that is displayRoot itself is '.', not its absolute path.
    const here = await loadPluginFolder(join(dir, 'hosts'), { displayRoot: join(dir, 'hosts') });
    expect(here.problems?.map((p) => p.code)).toEqual(['MANIFEST_NOT_FOUND']);
    expect(here.problems?.[0]?.message).not.toContain(dir);
  });

  it('a host file with unknown keys and bad values reports every field, loading nothing', async () => {
    const host = await loadHost(fixture('hosts', 'bad-shape.json'));
    expect(host.definitions).toEqual([]);
    expect(host.problems.length).toBeGreaterThanOrEqual(3);
    expectCoded(host.problems);
    const text = host.problems.map((p) => p.message).join('\n');
    for (const field of ['hookTimeoutMs', 'failurePolicy', 'plugns', 'enabeld']) expect(text).toContain(field);
  });

  it("a config value from the host file that does not fit: CONFIG_INVALID whose hint names the host file, not the plugin's manifest", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0', config: { pool: { type: 'integer', max: 10 } } }),
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'host.yaml': 'plugins:\n  - path: ./db\n    config: { pool: 50 }\n',
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.definitions[0]!.configSource).toMatch(/host\.yaml$/);
    const snapshot = await manage({ plugins: host.definitions }).start();
    const db = snapshot.plugins[0]!;
    expect([db.state, db.errors.map((e) => [e.code, e.path])]).toEqual(['invalid', [['CONFIG_INVALID', 'config.pool']]]);
    expect(db.errors[0]!.message).toContain('host.yaml');
    expect(db.errors[0]!.message).not.toContain('plugin.json');
  });

  it('a default in the manifest that does not fit its own field: the hint names the manifest, not the host file', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0', config: { pool: { type: 'integer', default: 'ten' }, size: { type: 'integer', default: 50, max: 10 } } }),
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'host.yaml': 'plugins:\n  - path: ./db\n    config: {}\n',
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    const db = (await manage({ plugins: host.definitions }).start()).plugins[0]!;
    expect(db.errors.map((e) => [e.code, e.path])).toEqual([
      ['CONFIG_INVALID', 'config.pool'],
      ['CONFIG_INVALID', 'config.size'],
    ]);
    for (const error of db.errors) {
      expect(error.message).toContain('plugin.json');
      expect(error.message).not.toContain('host.yaml');
    }
  });

  it.each([
    ['a Map', new Map([['url', 'postgres://prod']])],
    ['a Date', new Date(0)],
    ['a class instance', new (class Settings {})()],
  ])('a config given in code as %s is CONFIG_INVALID, not read as no config', async (_, config) => {
    const plugin: PluginDefinition = {
      manifest: { name: 'db', version: '1.0.0', config: { url: { type: 'string', default: 'sqlite://default' } } },
      module: { init() {}, start() {}, stop() {} },
      config: config as unknown as Record<string, unknown>,
    };
    const db = (await manage({ plugins: [plugin] }).start()).plugins[0]!;
    expect([db.state, db.errors.map((e) => [e.code, e.path])]).toEqual(['invalid', [['CONFIG_INVALID', 'config']]]);
  });

  it.each([
    ['an entry without config', '  - path: ./db\n'],
    ['a plain path', '  - ./db\n'],
  ])('a required config value missing for %s in a host file: the hint names the host file, where config is given', async (_, entry) => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0', config: { url: { type: 'string', required: true } } }),
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'host.yaml': `plugins:\n${entry}`,
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.problems).toEqual([]);
    expect(host.definitions[0]!.configSource).toMatch(/host\.yaml$/);
    // Read again for a reload (the dashboard's, run --watch's), it still points there.
    expect((await reloadFromHost(host)('db')).configSource).toMatch(/host\.yaml$/);
    const db = (await manage({ plugins: host.definitions }).start()).plugins[0]!;
    expect([db.state, db.errors.map((e) => [e.code, e.path])]).toEqual(['invalid', [['CONFIG_INVALID', 'config.url']]]);
    expect(db.errors[0]!.message).toContain('host.yaml');
  });

  it("reloadFromHost gives up an import that hangs once its signal aborts, coded, rather than wait out the host's time limit (10 minutes here)", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0' }),
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'host.yaml': 'hookTimeoutMs: 600000\nplugins:\n  - ./db\n',
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    await writeFile(join(dir, 'db', 'index.mjs'), 'await new Promise(() => {});\nexport default {};\n');
    const controller = new AbortController();
    const reloading = Promise.resolve(reloadFromHost(host)('db', { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    const failure = (await reloading.catch((error: unknown) => error)) as { code?: string };
    expect(failure.code).toBe('MODULE_LOAD_FAILED');
  });

  it('a malformed plugin entry names its field (config, enabled), not just the entry', async () => {
    const dir = await tempDir();
    const entries = [
      { path: './a', config: 'postgres://secret' },
      { path: './a', config: null },
      { path: './a', enabled: 'no' },
    ];
    await writeTree(dir, { 'host.json': JSON.stringify({ plugins: entries }) });
    const host = await loadHost(join(dir, 'host.json'));
    expect(host.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID', 'OPTIONS_INVALID', 'OPTIONS_INVALID']);
    const fields = host.problems.map((p) => /field '([^']+)'/.exec(p.message)?.[1]);
    expect(fields).toEqual(['plugins.0.config', 'plugins.1.config', 'plugins.2.enabled']);
    expect(host.problems.map((p) => p.message).join('\n')).not.toContain('postgres://secret');
  });

  it('bad entries are reported one by one while the good ones load', async () => {
    const host = await loadHost(fixture('hosts', 'bad-entries.yaml'));
    expect(host.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID', 'OPTIONS_INVALID']);
    expect(host.definitions.map((d) => [definitionName(d), problemCodes(d)])).toEqual([
      ['alpha', []],
      ['does-not-exist', ['MANIFEST_NOT_FOUND']],
    ]);
    const snapshot = await manage({ plugins: host.definitions }).start();
    expect(snapshot.plugins.map((p) => [p.name, p.state])).toEqual([
      ['alpha', 'running'],
      ['does-not-exist', 'invalid'],
    ]);
  });

  it('a target folder holding an entry module but no manifest is a plugin folder missing its manifest; an empty one holds no plugin', async () => {
    const dir = await tempDir();
    const module = 'export default { init() {}, start() {}, stop() {} };\n';
    await writeTree(dir, { 'lonely/index.mjs': module, 'helped/index.mjs': module, 'helped/lib/util.mjs': module, 'empty/notes.txt': 'nothing here' });
    const lonely = await loadHost(join(dir, 'lonely'));
    expect(lonely.definitions.map((d) => [definitionName(d), problemCodes(d)])).toEqual([['lonely', ['MANIFEST_NOT_FOUND']]]);
    // A helper folder beside the entry (no manifest in it either) is no plugin of its own.
    const helped = await loadHost(join(dir, 'helped'));
    expect(helped.definitions.map((d) => [definitionName(d), problemCodes(d)])).toEqual([['helped', ['MANIFEST_NOT_FOUND']]]);
    const empty = await loadHost(join(dir, 'empty'));
    expect([empty.definitions.length, empty.problems.length]).toEqual([0, 0]);
  });

  it('a folder of plugins that has an entry module of its own still loads its plugin folders; .git and node_modules are not plugins', async () => {
    const dir = await tempDir();
    const module = 'export default { init() {}, start() {}, stop() {} };\n';
    await writeTree(dir, {
      'index.mjs': 'export default {};\n',
      'alpha/plugin.json': JSON.stringify({ name: 'alpha', version: '1.0.0' }),
      'alpha/index.mjs': module,
      '.git/HEAD': 'ref: refs/heads/main\n',
      'node_modules/dep/plugin.json': JSON.stringify({ name: 'dep', version: '1.0.0' }),
      'node_modules/dep/index.mjs': module,
    });
    const host = await loadHost(dir);
    expect([host.definitions.map((d) => [definitionName(d), problemCodes(d)]), host.problems]).toEqual([[['alpha', []]], []]);
  });

  it('a target that is a loop of symbolic links, or a plugin.json that is one, is MANIFEST_NOT_FOUND, not a throw', async () => {
    const dir = await tempDir();
    if (!(await trySymlink('loop', join(dir, 'loop'), 'dir'))) return;
    expect((await loadHost(join(dir, 'loop'))).problems.map((p) => p.code)).toEqual(['MANIFEST_NOT_FOUND']);
    await writeTree(dir, { 'self/index.mjs': 'export default {};\n' });
    await trySymlink('plugin.json', join(dir, 'self', 'plugin.json'), 'file');
    expect(problemCodes(await loadPluginFolder(join(dir, 'self')))).toEqual(['MANIFEST_NOT_FOUND']);
  });

  it('targets: a missing path, an unknown file type, a manifest file, a single plugin folder', async () => {
    const missing = await loadHost(fixture('nowhere'));
    expect(missing.problems.map((p) => p.code)).toEqual(['MANIFEST_NOT_FOUND']);
    // An empty path is refused, not read as the working directory.
    const empty = await loadHost('');
    expect([empty.definitions.length, empty.problems.map((p) => p.code)]).toEqual([0, ['OPTIONS_INVALID']]);
    const module = await loadHost(fixture('healthy', 'alpha', 'index.mjs'));
    expect(module.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID']);
    const manifest = await loadHost(fixture('healthy', 'alpha', 'plugin.yaml'));
    expect(manifest.definitions.map(definitionName)).toEqual(['alpha']);
    const single = await loadHost(fixture('healthy', 'beta'));
    expect(single.definitions.map(definitionName)).toEqual(['beta']);
    expect(single.hostFile).toBeNull();
  });
});

// ── module shapes ──────────────────────────────────────────────────────────

describe('module shapes', () => {
  it('a .ts plugin loads through tsx and runs with its typed config', async () => {
    const definition = await loadPluginFolder(fixture('healthy', 'typed'), { config: { greeting: 'hey', times: 1 } });
    expect(problemCodes(definition)).toEqual([]);
    expect(imported('healthy/typed')).toBe(true);
    const hooks = definition.module as Record<string, unknown>;
    for (const hook of ['init', 'start', 'stop']) expect(typeof hooks[hook]).toBe('function');
    // typed's optional dependency on alpha is absent here: it is ignored.
    const snapshot = await manage({ plugins: [definition] }).start();
    expect(snapshot.plugins[0]).toMatchObject({ name: 'typed', state: 'running', dependencies: [] });
    expect(callsOf('typed')[0]).toMatchObject({ hook: 'init', greeting: 'hey' });
  });

  it('a factory default export is called once per load, before validation finishes', async () => {
    const definition = await loadPluginFolder(fixture('healthy', 'beta'), { config: { token: 'factory-token' } });
    expect(typeof definition.module).toBe('function');
    const alpha = await loadPluginFolder(fixture('healthy', 'alpha'));
    const snapshot = await manage({ plugins: [alpha, definition] }).start();
    expect(pluginOf(snapshot, 'beta').state).toBe('running');
    expect(callsOf('beta').map((c) => c.hook)).toEqual(['init', 'start']);
    expect(typeof callsOf('beta')[0]?.['factoryCall']).toBe('number');
  });

  it('a plugin with a bad contract is dropped: invalid, and none of its hooks ever runs', async () => {
    const definition = await loadPluginFolder(fixture('codes', 'contract-no-stop'));
    const manager = manage({ plugins: [definition] });
    const snapshot = await manager.start();
    expect(snapshot.plugins[0]).toMatchObject({ state: 'invalid', error: { code: 'CONTRACT_INVALID', path: 'stop' } });
    expect(manager.can('contract-no-stop', 'start')).toBe(false);
    await expect(manager.startPlugin('contract-no-stop')).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    await manager.stop();
    expect(hooksOf('contract-no-stop')).toEqual([]);
  });

  it('a class as default export is CONTRACT_INVALID (it cannot be called as a factory), never called; an instance of it runs', async () => {
    const dir = await tempDir();
    const body = 'init() {} start() {} stop() {}';
    await writeTree(dir, {
      'klass/plugin.json': JSON.stringify({ name: 'klass', version: '1.0.0' }),
      'klass/index.mjs': `export default class Pool { ${body} }\n`,
      'instance/plugin.json': JSON.stringify({ name: 'instance', version: '1.0.0' }),
      'instance/index.mjs': `class Pool { ${body} }\nexport default new Pool();\n`,
    });
    const { snapshot } = await boot(dir);
    expect(snapshot.plugins.map((p) => [p.name, p.state, p.error?.code ?? null]).sort()).toEqual([
      ['instance', 'running', null],
      ['klass', 'invalid', 'CONTRACT_INVALID'],
    ]);
  });

  it('a module exporting `then` (import() takes it for a promise) is CONTRACT_INVALID, not a raw TypeError', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'thenable', version: '1.0.0' }),
      'index.mjs': 'export function then(resolve) { resolve(42); }\nexport default { init() {}, start() {}, stop() {} };\n',
    });
    expect(problemCodes(await loadPluginFolder(dir))).toEqual(['CONTRACT_INVALID']);
  });

  it('importModules: false checks manifests and entries without importing anything', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'quiet/plugin.json': JSON.stringify({ name: 'quiet', version: '1.0.0' }),
      'quiet/index.mjs': "(globalThis.__loadingFixtureImports ??= new Set()).add('temp/quiet');\nexport default {};\n",
      'gone/plugin.json': JSON.stringify({ name: 'gone', version: '1.0.0', main: 'missing.mjs' }),
    });
    const host = await loadHost(dir, { importModules: false });
    expect(host.definitions.map((d) => [definitionName(d), problemCodes(d)])).toEqual([
      ['gone', ['ENTRY_NOT_FOUND']],
      ['quiet', []],
    ]);
    expect(imported('temp/quiet')).toBe(false);
  });
});

// ── npm packages ───────────────────────────────────────────────────────────

describe('npm-package plugins (a fake node_modules built in a temp dir)', () => {
  const pluginFiles = (name: string) => ({
    'plugin.json': JSON.stringify({ name, version: '1.0.0', main: 'index.mjs', config: { level: { type: 'integer', default: 1 } } }),
    'index.mjs':
      `(globalThis.__loadingFixtureImports ??= new Set()).add('package/${name}');\n` +
      `const record = (entry) => (globalThis.__loadingFixtureCalls ??= []).push(entry);\n` +
      `export default { init(ctx) { record({ plugin: ctx.name, hook: 'init', config: ctx.config }); }, start() {}, stop() {} };\n`,
  });
  const inFolder = (folder: string, files: Record<string, string>) =>
    Object.fromEntries(Object.entries(files).map(([path, text]) => [`${folder}/${path}`, text]));

  it('loads packages whose package.json names the manifest in "pluginFactory", and reports the others', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'host.yaml': [
        'plugins:',
        '  - package: fake-plugin-pkg',
        '    config: { level: 7 }',
        "  - package: '@fixture/scoped-plugin'",
        '  - package: no-field-pkg',
        '  - package: not-installed-pkg',
        '  - package: broken-json-pkg',
        '  - package: disabled-pkg',
        '    enabled: false',
        '',
      ].join('\n'),
      'node_modules/fake-plugin-pkg/package.json': JSON.stringify({ name: 'fake-plugin-pkg', version: '1.0.0', pluginFactory: './plugin/plugin.json' }),
      ...inFolder('node_modules/fake-plugin-pkg/plugin', pluginFiles('fake-plugin')),
      'node_modules/@fixture/scoped-plugin/package.json': JSON.stringify({ name: '@fixture/scoped-plugin', version: '2.0.0', pluginFactory: '.' }),
      ...inFolder('node_modules/@fixture/scoped-plugin', pluginFiles('scoped-plugin')),
      'node_modules/no-field-pkg/package.json': JSON.stringify({ name: 'no-field-pkg', version: '1.0.0' }),
      'node_modules/broken-json-pkg/package.json': '{ "name": "broken-json-pkg", ',
    });
    const { host, snapshot } = await boot(join(dir, 'host.yaml'));
    // No "pluginFactory" field, not installed, and installed with a package.json that is not JSON.
    expect(host.problems.map((p) => p.code)).toEqual(['MANIFEST_NOT_FOUND', 'MANIFEST_NOT_FOUND', 'MANIFEST_INVALID']);
    expectCoded(host.problems);
    expect(host.definitions.map(definitionName)).toEqual(['fake-plugin', 'scoped-plugin']);
    expect(snapshot.plugins.map((p) => [p.name, p.state])).toEqual([
      ['fake-plugin', 'running'],
      ['scoped-plugin', 'running'],
    ]);
    expect(callsOf('fake-plugin')[0]?.config).toEqual({ level: 7 });
    expect(callsOf('scoped-plugin')[0]?.config).toEqual({ level: 1 });
  });

  it.each([undefined, 123, '', '  '])('loadPluginFolder(%o) answers ARGUMENT_INVALID as a problem, and does not throw', async (dir) => {
    const definition = await loadPluginFolder(dir as string);
    expect(definition.problems?.map((p) => p.code)).toEqual(['ARGUMENT_INVALID']);
  });

  it('loadPluginFolder with options that are not an object answers ARGUMENT_INVALID as a problem', async () => {
    const definition = await loadPluginFolder(fixture('healthy', 'alpha'), null as never);
    expect(definition.problems?.map((p) => p.code)).toEqual(['ARGUMENT_INVALID']);
  });

  it("loadPluginFolder with an unknown option (loadHost's spelling importModules) answers ARGUMENT_INVALID and imports nothing", async () => {
    const definition = await loadPluginFolder(fixture('healthy', 'alpha'), { importModules: false } as never);
    expect(definition.problems?.map((p) => p.code)).toEqual(['ARGUMENT_INVALID']);
    expect(definition.module).toBeUndefined();
  });

  it.each([
    ['displayRoot', { displayRoot: 5 }],
    ['configSource', { configSource: 5 }],
    ['importIf', { importIf: 5 }],
    ['fresh', { fresh: 'yes' }],
    ['hookTimeoutMs Infinity', { hookTimeoutMs: Infinity }],
    ['hookTimeoutMs 0', { hookTimeoutMs: 0 }],
    ['hookTimeoutMs NaN', { hookTimeoutMs: Number.NaN }],
    ['hookTimeoutMs past the timer limit', { hookTimeoutMs: 1e12 }],
    ['signal', { signal: {} }],
    ['a getter that throws', { get displayRoot(): string { throw new Error('no'); } }],
    ['a Proxy whose keys throw', new Proxy({}, { ownKeys: () => { throw new Error('no'); } })],
  ])('loadPluginFolder with a bad option (%s) answers ARGUMENT_INVALID as a problem, imports nothing and does not throw', async (_what, options) => {
    const definition = await loadPluginFolder(fixture('healthy', 'alpha'), options as never);
    expect(definition.problems?.map((p) => p.code)).toEqual(['ARGUMENT_INVALID']);
    expect(definition.module).toBeUndefined();
  });

  it('loadPluginFolder takes a signal-like object (a polyfill, another realm) as a signal', async () => {
    const signal = { aborted: false, addEventListener() {}, removeEventListener() {} };
    const definition = await loadPluginFolder(fixture('healthy', 'alpha'), { signal: signal as unknown as AbortSignal });
    expect(definition.problems ?? []).toEqual([]);
    expect(definition.module).toBeDefined();
  });

  it('values reading would change are refused: bytes that are not UTF-8 (MANIFEST_INVALID) and an integer past 2^53 (CONFIG_INVALID)', async () => {
    const dir = await tempDir();
    const hooks = 'export default { init() {}, start() {}, stop() {} };\n';
    await writeTree(dir, {
      'latin/index.mjs': hooks,
      'big/plugin.json': JSON.stringify({ name: 'big', version: '1.0.0', config: { id: { type: 'integer', required: true } } }),
      'big/index.mjs': hooks,
      // JSON's number, past the safe integers: read as 9007199254740992.
      'host.json': '{"plugins":[{"path":"latin"},{"path":"big","config":{"id":9007199254740993}}]}',
    });
    // A Latin-1 é: decoded, it would become U+FFFD.
    await writeFile(join(dir, 'latin', 'plugin.json'), Buffer.concat([Buffer.from('{"name":"latin","version":"1.0.0","description":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]));
    const host = await loadHost(join(dir, 'host.json'));
    const manager = createPluginManager({ plugins: host.definitions, logger: silentLogger });
    managers.push(manager);
    await manager.start();
    const seen = manager.getSnapshot().plugins.map((p) => [p.name, p.state, p.errors.map((e) => e.code)]);
    expect(seen).toEqual([
      ['latin', 'invalid', ['MANIFEST_INVALID']],
      ['big', 'invalid', ['CONFIG_INVALID']],
    ]);
  });

  it('a folder whose name holds a terminal escape or a line break is named escaped in its problem', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'evil\u001b[2Jred'));
    await mkdir(join(dir, 'two\nlines'));
    const host = await loadHost(dir);
    const messages = host.definitions.flatMap((definition) => definition.problems ?? []).map((problem) => problem.message);
    expect(messages).toHaveLength(2);
    for (const message of messages) expect(message).not.toMatch(/[\u0000-\u001f]/);
    expect(messages.join('\n')).toContain('evil\\u001b[2Jred');
  });

  it('refuses a package whose "pluginFactory" names a folder outside the package (ENTRY_OUTSIDE_PLUGIN); nothing of it is loaded', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'host.yaml': 'plugins:\n  - package: escaping-pkg\n  - package: absolute-pkg\n  - package: nowhere-pkg\n  - package: missing-manifest-pkg\n',
      'node_modules/escaping-pkg/package.json': JSON.stringify({ name: 'escaping-pkg', version: '1.0.0', pluginFactory: '../../victim' }),
      // Out by its path, to a manifest that is not there either: out all the same.
      'node_modules/nowhere-pkg/package.json': JSON.stringify({ name: 'nowhere-pkg', version: '1.0.0', pluginFactory: '../../nowhere/plugin.json' }),
      // Inside, naming a manifest that is not there.
      'node_modules/missing-manifest-pkg/package.json': JSON.stringify({ name: 'missing-manifest-pkg', version: '1.0.0', pluginFactory: './plugin/plugin.json' }),
      ...inFolder('victim', pluginFiles('victim')),
      ...inFolder('node_modules/absolute-pkg', pluginFiles('decoy')),
    });
    await writeFile(join(dir, 'node_modules/absolute-pkg/package.json'), JSON.stringify({ name: 'absolute-pkg', version: '1.0.0', pluginFactory: join(dir, 'victim') }));
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.problems.map((p) => [p.code, p.path])).toEqual([
      ['ENTRY_OUTSIDE_PLUGIN', 'plugins.0'],
      ['ENTRY_OUTSIDE_PLUGIN', 'plugins.1'],
      ['ENTRY_OUTSIDE_PLUGIN', 'plugins.2'],
      ['MANIFEST_NOT_FOUND', 'plugins.3'],
    ]);
    expect(host.definitions).toEqual([]);
  });

  it('a "package" that is a path, a version or no package name is OPTIONS_INVALID, and nothing it reaches is loaded', async () => {
    const dir = await tempDir();
    const names = ['./node_modules/near-pkg', '../victim', 'near-pkg/../../victim', 'near-pkg@1', '@scope', '@/near-pkg', '@@scope/near-pkg', '/abs/near-pkg', 'near\u0000pkg', 'near pkg'];
    await writeTree(dir, {
      // The last bad one is disabled: its name is checked all the same.
      'host.yaml': `plugins:\n${names.map((name, i) => `  - package: ${JSON.stringify(name)}\n${i === names.length - 1 ? '    enabled: false\n' : ''}`).join('')}  - package: near-pkg\n`,
      'node_modules/near-pkg/package.json': JSON.stringify({ name: 'near-pkg', version: '1.0.0', pluginFactory: '.' }),
      ...inFolder('node_modules/near-pkg', pluginFiles('near')),
      ...inFolder('victim', pluginFiles('victim')),
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.problems.map((p) => p.code)).toEqual(names.map(() => 'OPTIONS_INVALID'));
    for (const problem of host.problems) expect(problem.message).not.toMatch(/[\u0000-\u001f]/);
    expect(host.definitions.map(definitionName)).toEqual(['near']);
  });

  it('a package.json read for "pluginFactory" is read as manifests are: a key twice, a syntax error with its line, a field that is no path', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'host.yaml': 'plugins:\n  - package: twice-pkg\n  - package: broken-pkg\n  - package: object-pkg\n',
      'node_modules/twice-pkg/package.json': '{"name": "twice-pkg", "pluginFactory": "./nope", "pluginFactory": "."}',
      ...inFolder('node_modules/twice-pkg', pluginFiles('twice')),
      'node_modules/broken-pkg/package.json': '{\n  "name": "broken-pkg",\n  "pluginFactory": "."\n  "version": "1.0.0"\n}',
      'node_modules/object-pkg/package.json': JSON.stringify({ name: 'object-pkg', pluginFactory: { path: '.' } }),
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.problems.map((p) => [p.code, p.path])).toEqual([
      ['MANIFEST_INVALID', 'plugins.0'],
      ['MANIFEST_INVALID', 'plugins.1'],
      ['MANIFEST_NOT_FOUND', 'plugins.2'],
    ]);
    expect(host.problems[1]!.message).toContain('line 4, column 3');
    expect(host.definitions).toEqual([]);
  });

  // Node refuses require.resolve(`${name}/package.json`) (ERR_PACKAGE_PATH_NOT_EXPORTED) for a
  // package whose "exports" map does not list "./package.json" — most modern packages.
  it('loads a package that has an "exports" map (package.json not exported)', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'host.yaml': 'plugins:\n  - package: exported-pkg\n',
      'node_modules/exported-pkg/package.json': JSON.stringify({
        name: 'exported-pkg',
        version: '1.0.0',
        type: 'module',
        exports: { '.': './plugin/index.mjs' },
        pluginFactory: './plugin/plugin.json',
      }),
      ...inFolder('node_modules/exported-pkg/plugin', pluginFiles('exported-plugin')),
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.problems).toEqual([]);
    expect(host.definitions.map(definitionName)).toEqual(['exported-plugin']);
  });
});

// ── symlinks ───────────────────────────────────────────────────────────────

describe('symlinks (created in a temp dir at test time)', () => {
  it('a main that is a symlink escaping the folder is refused and never imported', async ({ skip }) => {
    const dir = await tempDir();
    await writeTree(dir, {
      'outside.mjs': "(globalThis.__loadingFixtureImports ??= new Set()).add('temp/outside');\nexport default { init() {}, start() {}, stop() {} };\n",
      'shared/lib.mjs': "(globalThis.__loadingFixtureImports ??= new Set()).add('temp/shared');\nexport default { init() {}, start() {}, stop() {} };\n",
      'escape-file/plugin.json': JSON.stringify({ name: 'escape-file', version: '1.0.0', main: 'index.mjs' }),
      'escape-default/plugin.json': JSON.stringify({ name: 'escape-default', version: '1.0.0' }),
      'escape-dir/plugin.json': JSON.stringify({ name: 'escape-dir', version: '1.0.0', main: 'lib/lib.mjs' }),
    });
    const made = [
      await trySymlink('../outside.mjs', join(dir, 'escape-file', 'index.mjs'), 'file'),
      await trySymlink(join(dir, 'outside.mjs'), join(dir, 'escape-default', 'index.mjs'), 'file'),
      await trySymlink('../shared', join(dir, 'escape-dir', 'lib'), 'dir'),
    ];
    if (made.includes(false)) return skip('symlinks are not available here');
    const { snapshot } = await boot(dir);
    for (const name of ['escape-file', 'escape-default', 'escape-dir']) {
      expect(pluginOf(snapshot, name)).toMatchObject({ state: 'invalid', error: { code: 'ENTRY_OUTSIDE_PLUGIN' } });
    }
    expect(imported('temp/outside')).toBe(false);
    expect(imported('temp/shared')).toBe(false);
  });

  it('symlinks that stay inside the folder are fine; a host file may name a symlinked folder', async ({ skip }) => {
    const dir = await tempDir();
    await writeTree(dir, {
      'real/inner/plugin.json': JSON.stringify({ name: 'inner', version: '1.0.0', main: 'link.mjs' }),
      'real/inner/src/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'host.yaml': 'plugins:\n  - ./real/inner\n  - ./alias\n',
    });
    const made = [
      await trySymlink('src/index.mjs', join(dir, 'real', 'inner', 'link.mjs'), 'file'),
      await trySymlink(fixture('healthy', 'alpha'), join(dir, 'alias'), 'dir'),
    ];
    if (made.includes(false)) return skip('symlinks are not available here');
    const { host, snapshot } = await boot(join(dir, 'host.yaml'));
    expect(host.problems).toEqual([]);
    expect(snapshot.plugins.map((p) => [p.name, p.state])).toEqual([
      ['inner', 'running'],
      ['alpha', 'running'],
    ]);
  });

  it('a host file reached through a symbolic link takes its paths, dataDir and packages from the folder it really is in', async ({ skip }) => {
    const dir = await tempDir();
    await writeTree(dir, {
      'real/host.yaml': 'dataDir: data\nplugins:\n  - ./alpha\n  - package: near-pkg\n',
      'real/alpha/plugin.json': JSON.stringify({ name: 'alpha', version: '1.0.0' }),
      'real/alpha/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'real/node_modules/near-pkg/package.json': JSON.stringify({ name: 'near-pkg', version: '1.0.0', pluginFactory: '.' }),
      'real/node_modules/near-pkg/plugin.json': JSON.stringify({ name: 'near', version: '1.0.0' }),
      'real/node_modules/near-pkg/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'elsewhere/deeper/.keep': '',
    });
    if (!(await trySymlink('../../real/host.yaml', join(dir, 'elsewhere', 'deeper', 'host.yaml'), 'file'))) return skip('symlinks are not available here');
    const host = await loadHost(join(dir, 'elsewhere', 'deeper', 'host.yaml'));
    expect(host.problems).toEqual([]);
    expect(host.definitions.map((d) => [definitionName(d), d.problems ?? []])).toEqual([
      ['alpha', []],
      ['near', []],
    ]);
    expect(host.settings.dataDir).toBe(join(await realpath(dir), 'real', 'data'));
  });

  // Dirent.isDirectory() is false for a symlink to a folder; a linked plugin (the usual way to
  // develop one) must not be skipped silently.
  it('a symlinked plugin folder inside a folder of plugin folders is loaded (or at least reported)', async ({ skip }) => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugins/own/plugin.json': JSON.stringify({ name: 'own', version: '1.0.0' }),
      'plugins/own/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    if (!(await trySymlink(fixture('healthy', 'alpha'), join(dir, 'plugins', 'linked'), 'dir'))) {
      return skip('symlinks are not available here');
    }
    const host = await loadHost(join(dir, 'plugins'));
    const seen = [...host.definitions.map(definitionName), ...host.problems.map((p) => p.plugin)];
    expect(seen).toContain('alpha');
  });

  it('a link in a folder of plugin folders that cannot be followed (target gone, a loop) is MANIFEST_NOT_FOUND, not left out', async ({ skip }) => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugins/good/plugin.json': JSON.stringify({ name: 'good', version: '1.0.0' }),
      'plugins/good/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    const made = [
      await trySymlink(join(dir, 'nowhere'), join(dir, 'plugins', 'dangling'), 'dir'),
      await trySymlink(join(dir, 'plugins', 'loop-b'), join(dir, 'plugins', 'loop-a'), 'dir'),
      await trySymlink(join(dir, 'plugins', 'loop-a'), join(dir, 'plugins', 'loop-b'), 'dir'),
    ];
    if (made.includes(false)) return skip('symlinks are not available here');
    const host = await loadHost(join(dir, 'plugins'));
    expect(host.definitions.map((d) => [definitionName(d), d.problems?.map((p) => p.code) ?? []])).toEqual([
      ['dangling', ['MANIFEST_NOT_FOUND']],
      ['good', []],
      ['loop-a', ['MANIFEST_NOT_FOUND']],
      ['loop-b', ['MANIFEST_NOT_FOUND']],
    ]);
  });

  it('a plugin folder that vanishes after its manifest was read is a coded problem, not a throw', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0' }),
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    // importIf is asked between reading the manifest and resolving the entry: the folder goes then.
    const definition = await loadPluginFolder(join(dir, 'db'), {
      importIf: () => {
        renameSync(join(dir, 'db'), join(dir, 'gone'));
        return true;
      },
    });
    expect(definition.problems?.map((p) => [p.code, p.plugin])).toEqual([['ENTRY_NOT_FOUND', 'db']]);
  });
});

// ── __proto__, constructor, prototype ──────────────────────────────────────

describe('config keys __proto__, constructor and prototype are inert', () => {
  const PROTO_KEYS = ['polluted', 'pollutedViaConstructor', 'pollutedViaPrototype'];
  const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort();
  const before = prototypeKeys();
  const expectClean = () => {
    expect(prototypeKeys()).toEqual(before);
    const probe: Record<string, unknown> = {};
    for (const key of PROTO_KEYS) expect(probe[key], key).toBeUndefined();
    expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
  };

  it.each(['proto.json', 'proto.yaml'])('from %s: Object.prototype is untouched and the keys are refused', async (file) => {
    const { snapshot } = await boot(fixture('hosts', file));
    expectClean();
    const alpha = pluginOf(snapshot, 'alpha');
    expect(alpha.state).toBe('invalid');
    expect(alpha.errors.every((e) => e.code === 'CONFIG_INVALID')).toBe(true);
    // As for config passed in memory: every one of the three keys is refused, __proto__ included.
    expect(alpha.errors.map((e) => e.path).sort()).toEqual(['config.__proto__', 'config.constructor', 'config.prototype']);
    // typed got only `__proto__` beside its greeting: refused, never dropped or inherited.
    const typed = pluginOf(snapshot, 'typed');
    expect([typed.state, typed.errors.map((e) => [e.code, e.path])]).toEqual(['invalid', [['CONFIG_INVALID', 'config.__proto__']]]);
    expect(callsOf('typed')).toEqual([]);
  });

  it('in-memory config values with own __proto__ keys are refused, not assigned', async () => {
    const config = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"pollutedViaConstructor": 1}}, "prototype": {"pollutedViaPrototype": 1}}') as Record<string, unknown>;
    const definition = await loadPluginFolder(fixture('healthy', 'alpha'), { config });
    const snapshot = await manage({ plugins: [definition] }).start();
    expectClean();
    expect(snapshot.plugins[0]?.state).toBe('invalid');
    expect(snapshot.plugins[0]?.errors.map((e) => e.path).sort()).toEqual(['config.__proto__', 'config.constructor', 'config.prototype']);
  });

  it('manifests declaring such config fields, dependencies or names do not pollute either', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'constructor/plugin.json':
        '{"name":"constructor","version":"1.0.0","config":{"__proto__":{"type":"string","default":"x"},"constructor":{"type":"object","default":{"polluted":1}},"prototype":{"type":"string"}},"dependencies":{"prototype":"*"}}',
      'constructor/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'prototype/plugin.yaml': 'name: prototype\nversion: 1.0.0\nconfig:\n  __proto__: { type: object, default: { pollutedViaPrototype: 1 } }\n',
      'prototype/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    const { host, snapshot } = await boot(dir);
    expectClean();
    expectCoded(host.problems);
    expect(snapshot.plugins.map((p) => p.name).sort()).toEqual(['constructor', 'prototype']);
    for (const plugin of snapshot.plugins) {
      if (plugin.error) expect(Object.keys(ERROR_CODES)).toContain(plugin.error.code);
    }
  });
});

// ── secrets ────────────────────────────────────────────────────────────────

describe('secret config values', () => {
  const SECRETS = ['tok-7f3a9c-SECRET', 'pw-XYZZY-123', 'obj-5e5e5e-SECRET', 'key-SECRET-4242', '31415926', '271828182'];
  const expectNoSecret = (text: string, where: string) => {
    for (const secret of SECRETS) expect(text, `${where} leaks ${secret}`).not.toContain(secret);
  };
  const errorTexts = (errors: readonly (ErrorInfo | null | undefined)[]) =>
    errors.flatMap((e) => (e ? [e.message, e.cause ?? ''] : []));

  it('never appear in the snapshot, error messages, causes or the engine log', async () => {
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'debug', write: (line) => lines.push(line) });
    const { host, manager, snapshot } = await boot(fixture('hosts', 'secrets.yaml'), { logger });
    expect(host.problems).toEqual([]);

    expect(pluginOf(snapshot, 'leaky')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'start' } });
    expect(pluginOf(snapshot, 'leaky-object')).toMatchObject({ state: 'failed.halted', error: { code: 'HOOK_FAILED', hook: 'init' } });
    const picky = pluginOf(snapshot, 'picky');
    expect(picky.state).toBe('invalid');
    expect(picky.errors.map((e) => [e.code, e.path])).toEqual([
      ['CONFIG_INVALID', 'config.apiKey'],
      ['CONFIG_INVALID', 'config.pin'],
      ['CONFIG_INVALID', 'config.passphrase'],
    ]);
    // The leaky plugin's message still says what went wrong, with the values blanked out.
    expect(pluginOf(snapshot, 'leaky').error?.message).toContain('cannot connect with token=');

    expectNoSecret(JSON.stringify(snapshot), 'the snapshot');
    expectNoSecret(JSON.stringify(manager.getSnapshot()), 'getSnapshot()');
    expectNoSecret(errorTexts(snapshot.plugins.flatMap((p) => [p.error, ...p.errors])).join('\n'), 'error messages');
    expectNoSecret(host.problems.map((p) => p.message).join('\n'), 'host problems');

    // A retry fails again: the rejection carries the same scrubbed error.
    const retry = await manager.retryPlugin('leaky').then(
      () => null,
      (error: unknown) => error,
    );
    expect(retry).toBeInstanceOf(PluginFactoryError);
    const coded = retry as PluginFactoryError;
    expect(coded.code).toBe('HOOK_FAILED');
    expectNoSecret(`${coded.message}\n${String(coded.cause)}\n${JSON.stringify(coded)}`, 'the retry rejection');

    const final = await manager.stop();
    expectNoSecret(JSON.stringify(final), 'the final snapshot');
    expect(lines.length).toBeGreaterThan(0);
    expectNoSecret(lines.join('\n'), 'the engine log');
  });

  it('a secret given with the wrong type is refused without quoting it', async () => {
    const definition = await loadPluginFolder(fixture('secrets', 'picky'), {
      config: { apiKey: 31415926, pin: 'key-SECRET-4242', passphrase: ['pw-XYZZY-123'] },
    });
    const snapshot = await manage({ plugins: [definition] }).start();
    expect(snapshot.plugins[0]?.errors.map((e) => e.code)).toEqual(['CONFIG_INVALID', 'CONFIG_INVALID', 'CONFIG_INVALID']);
    expectNoSecret(JSON.stringify(snapshot), 'the snapshot');
  });
});

// ── plugins/broken, the demo of every code ─────────────────────────────────

describe('plugins/broken', () => {
  /** `- \`folder/\` — what it shows → \`CODE\`` (or `(none)`), one line per folder. */
  async function readmeLines(): Promise<Map<string, ErrorCode | null>> {
    const text = await readFile(join(BROKEN, 'README.md'), 'utf8');
    const lines = new Map<string, ErrorCode | null>();
    for (const match of text.matchAll(/^- `([a-z0-9-]+)\/` — .*→ (?:`([A-Z_]+)`|\(none\))\.?$/gm)) {
      lines.set(match[1]!, (match[2] as ErrorCode | undefined) ?? null);
    }
    return lines;
  }

  it('the README has one line per folder, and together they show every code from disk', async () => {
    const lines = await readmeLines();
    const folders = (await readdir(BROKEN, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    expect([...lines.keys()].sort()).toEqual(folders.sort());
    for (const folder of folders) expect(folder).toMatch(/^[a-z][a-z0-9-]*$/);
    expect(new Set(lines.values())).toEqual(new Set([...DISK_CODES, null]));
  });

  it('holds no symlinks (git on every platform can check it out)', async () => {
    const walk = async (dir: string): Promise<string[]> => {
      const found: string[] = [];
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if ((await lstat(path)).isSymbolicLink()) found.push(path);
        else if (entry.isDirectory()) found.push(...(await walk(path)));
      }
      return found;
    };
    expect(await walk(BROKEN)).toEqual([]);
  });

  it('every folder yields the code its README line names', async () => {
    const lines = await readmeLines();
    const { host, manager, snapshot } = await boot(BROKEN);
    expectCoded(host.problems);
    for (const [folder, code] of lines) {
      if (code === 'DUPLICATE_PLUGIN') {
        const problem = host.problems.find((p) => p.code === code);
        expect(problem?.message, folder).toContain(folder);
        continue;
      }
      const plugin = pluginOf(snapshot, folder);
      if (code === null) {
        expect([folder, plugin.state]).toEqual([folder, 'running']);
      } else {
        expect([folder, plugin.error?.code]).toEqual([folder, code]);
        expect(['invalid', 'failed']).toContain(topState(plugin.state));
      }
    }
    await manager.stop();
  });
});

// ── names ──────────────────────────────────────────────────────────────────

describe('names of plugins without a usable manifest', () => {
  // A plugin with no usable manifest name registers under its folder name. Two host entries whose
  // folders share a base name (a/x, b/x) once made createPluginManager throw DUPLICATE_PLUGIN, so
  // not even the healthy plugins booted.
  it('two manifest-less folders with the same name do not stop the healthy plugins from booting', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'host.yaml': 'plugins:\n  - ./a/x\n  - ./b/x\n  - ./ok\n',
      'a/x/index.mjs': 'export default {};\n',
      'b/x/index.mjs': 'export default {};\n',
      'ok/plugin.json': JSON.stringify({ name: 'ok', version: '1.0.0' }),
      'ok/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    expectCoded(host.problems);
    const snapshot = await manage({ plugins: host.definitions }).start();
    expect(pluginOf(snapshot, 'ok').state).toBe('running');
  });

  it('a folder whose name is no plugin name (Upper Case, 名前) shows under that name, escaped, not under a number', async () => {
    const dir = await tempDir();
    await writeTree(dir, { 'Upper Case/index.mjs': 'export default {};\n', '名前/index.mjs': 'export default {};\n' });
    await mkdir(join(dir, 'evil\u001b[2J'));
    const snapshot = await manage({ plugins: (await loadHost(dir)).definitions }).start();
    expect(snapshot.plugins.map((p) => [p.name, p.state]).sort()).toEqual([
      ['Upper Case', 'invalid'],
      ['evil\\u001b[2J', 'invalid'],
      ['名前', 'invalid'],
    ]);
  });

  // Likelier in practice: plugins/db lost its "name" (MANIFEST_INVALID, shown under the folder
  // name) while plugins/db-v2 declares "name": "db": the declared name wins.
  it('a nameless manifest in folder db beside a plugin named db does not stop the host from booting', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': JSON.stringify({ version: '1.0.0' }),
      'db/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
      'db-v2/plugin.json': JSON.stringify({ name: 'db', version: '2.0.0' }),
      'db-v2/index.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    const host = await loadHost(dir);
    const snapshot = await manage({ plugins: host.definitions }).start();
    expect(snapshot.plugins.some((p) => p.state === 'running')).toBe(true);
  });
});

describe('edge cases of entries and config defaults', () => {
  it("an entry inside the folder whose name starts with '..' is accepted", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'dots', version: '1.0.0', main: '..entry.mjs' }),
      '..entry.mjs': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    const definition = await loadPluginFolder(dir);
    expect(definition.problems ?? []).toEqual([]);
    const snapshot = await manage({ plugins: [definition] }).start();
    expect(snapshot.plugins[0]?.state).toBe('running');
  });

  it('a config default too deep to copy is CONFIG_INVALID, not an engine error', async () => {
    let deep: unknown = 0;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const snapshot = await manage({
      plugins: [
        {
          manifest: { name: 'deep', version: '1.0.0', config: { nested: { type: 'array', default: deep } } },
          module: { init() {}, start() {}, stop() {} },
        },
      ],
    }).start();
    expect(snapshot.plugins[0]).toMatchObject({ state: 'invalid', error: { code: 'CONFIG_INVALID', path: 'config.nested' } });
  });
});

describe('files that are not regular files (a FIFO would block the loader for good)', () => {
  const fifo = (path: string) => execFileSync('mkfifo', [path]);

  it('a manifest that is a FIFO is MANIFEST_NOT_FOUND, answered at once', async () => {
    const dir = await tempDir();
    fifo(join(dir, 'plugin.json'));
    const definition = await loadPluginFolder(dir);
    expect(definition.problems?.map((p) => p.code)).toEqual(['MANIFEST_NOT_FOUND']);
  });

  it('a host file that is a FIFO is OPTIONS_INVALID', async () => {
    const dir = await tempDir();
    fifo(join(dir, 'host.yaml'));
    const host = await loadHost(join(dir, 'host.yaml'));
    expect([host.definitions.length, host.problems.map((p) => p.code)]).toEqual([0, ['OPTIONS_INVALID']]);
  });

  it('an entry that is a FIFO is ENTRY_NOT_FOUND and is never imported', async () => {
    const dir = await tempDir();
    await writeTree(dir, { 'plugin.json': JSON.stringify({ name: 'piped', version: '1.0.0', main: 'entry.mjs' }) });
    fifo(join(dir, 'entry.mjs'));
    const definition = await loadPluginFolder(dir);
    expect(definition.problems?.map((p) => [p.code, p.path])).toEqual([['ENTRY_NOT_FOUND', 'main']]);
  });

  it('a default entry that is a FIFO counts as absent: the next default entry is used', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'piped-default', version: '1.0.0' }),
      'package.json': '{ "type": "module" }\n',
      'index.js': 'export default { init() {}, start() {}, stop() {} };\n',
    });
    fifo(join(dir, 'index.mjs'));
    const definition = await loadPluginFolder(dir);
    expect(definition.problems ?? []).toEqual([]);
    expect(typeof (definition.module as { init?: unknown }).init).toBe('function');
  });

  it('a manifest larger than 1 MiB is MANIFEST_NOT_FOUND', async () => {
    const dir = await tempDir();
    await writeTree(dir, { 'plugin.json': JSON.stringify({ name: 'huge', version: '1.0.0', description: 'x'.repeat(1024 * 1024) }) });
    const definition = await loadPluginFolder(dir);
    expect(definition.problems?.map((p) => p.code)).toEqual(['MANIFEST_NOT_FOUND']);
  });
});

describe('modules and files as they come from editors and compilers', () => {
  const hooks = 'export default { init() {}, start() {}, stop() {} };\n';

  it('a .ts plugin outside any ESM package loads: its CommonJS-compiled default export is unwrapped', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'typed', version: '1.0.0' }),
      'index.ts': 'const hooks: Record<string, () => void> = { init() {}, start() {}, stop() {} };\nexport default hooks;\n',
    });
    const definition = await loadPluginFolder(dir);
    expect(definition.problems ?? []).toEqual([]);
    expect(Object.keys(definition.module as object).sort()).toEqual(['init', 'start', 'stop']);
  });

  it('a fresh load (hot reload) also reloads the files the entry imports', async () => {
    const dir = await tempDir();
    const version = (v: string) => `export const version = '${v}';\n`;
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'layered', version: '1.0.0' }),
      'package.json': '{ "type": "module" }\n',
      'lib.js': version('v1'),
      'index.js': "import { version } from './lib.js';\nexport default { version, init() {}, start() {}, stop() {} };\n",
    });
    const first = await loadPluginFolder(dir, { fresh: true });
    await writeFile(join(dir, 'lib.js'), version('v2'));
    const second = await loadPluginFolder(dir, { fresh: true });
    expect([(first.module as { version: string }).version, (second.module as { version: string }).version]).toEqual(['v1', 'v2']);
  });

  it.each([
    ['the default entry', undefined],
    ["main 'index.js'", 'index.js'],
  ])('%s runs the .js file as written, not a sibling .ts of the same name', async (_, main) => {
    const dir = await tempDir();
    const which = (file: string) => `export default { file: '${file}', init() {}, start() {}, stop() {} };\n`;
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'built', version: '1.0.0', ...(main ? { main } : {}) }),
      'package.json': '{ "type": "module" }\n',
      'index.js': which('index.js'),
      'index.ts': which('index.ts'),
    });
    for (const fresh of [false, true]) expect(((await loadPluginFolder(dir, { fresh })).module as { file: string }).file).toBe('index.js');
  });

  it("a fresh load keeps a package from the plugin's own node_modules as it is (one instance, as a native addon needs)", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'vendored', version: '1.0.0', main: 'index.cjs' }),
      'node_modules/dep/index.js': 'module.exports = { made: Symbol() };\n',
      'index.cjs': "module.exports = { dep: require('dep'), init() {}, start() {}, stop() {} };\n",
    });
    const first = await loadPluginFolder(dir, { fresh: true });
    const second = await loadPluginFolder(dir, { fresh: true });
    expect((second.module as { dep: object }).dep).toBe((first.module as { dep: object }).dep);
    expect(second.module).not.toBe(first.module);
  });

  it.each([
    ['a CommonJS package requiring a helper', { 'package.json': '{ "type": "commonjs" }\n', 'index.js': "const { version } = require('./lib.js');\nmodule.exports = { version, init() {}, start() {}, stop() {} };\n" }, 'lib.js'],
    ['a .cjs entry', { 'index.cjs': "module.exports = { version: require('./lib.cjs').version, init() {}, start() {}, stop() {} };\n" }, 'lib.cjs'],
    ['an ES module importing a .cjs helper', { 'index.mjs': "import lib from './lib.cjs';\nexport default { version: lib.version, init() {}, start() {}, stop() {} };\n" }, 'lib.cjs'],
  ] as const)('a fresh load reloads CommonJS files too: %s', async (_, files, helper) => {
    const dir = await tempDir();
    const main = Object.keys(files).find((file) => file.startsWith('index'))!;
    const version = (v: string) => `module.exports = { version: '${v}' };\n`;
    await writeTree(dir, { 'plugin.json': JSON.stringify({ name: 'common', version: '1.0.0', main }), ...files, [helper]: version('v1') });
    const first = await loadPluginFolder(dir, { fresh: true });
    await writeFile(join(dir, helper), version('v2'));
    const second = await loadPluginFolder(dir, { fresh: true });
    expect([first.problems, second.problems]).toEqual([undefined, undefined]);
    expect([(first.module as { version: string }).version, (second.module as { version: string }).version]).toEqual(['v1', 'v2']);
  });

  it('a module whose top-level await never settles is MODULE_LOAD_FAILED after its hook timeout', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'stuck', version: '1.0.0', hookTimeoutMs: 100 }),
      'index.mjs': `await new Promise(() => {});\n${hooks}`,
    });
    const definition = await loadPluginFolder(dir);
    expect(definition.problems?.map((p) => p.code)).toEqual(['MODULE_LOAD_FAILED']);
  });

  it('with a signal, the wait for an import that never settles ends when it aborts (MODULE_LOAD_FAILED), not after the hook timeout', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'plugin.json': JSON.stringify({ name: 'stuck', version: '1.0.0', hookTimeoutMs: 60_000 }),
      'index.mjs': `await new Promise(() => {});\n${hooks}`,
    });
    const controller = new AbortController();
    const loading = loadPluginFolder(dir, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    let guard: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([loading, new Promise<string>((resolve) => (guard = setTimeout(() => resolve('still waiting'), 5000)))]);
    clearTimeout(guard);
    expect(typeof outcome === 'string' ? outcome : outcome.problems?.map((p) => p.code)).toEqual(['MODULE_LOAD_FAILED']);
    const already = new AbortController();
    already.abort();
    expect((await loadPluginFolder(dir, { signal: already.signal, fresh: true })).problems?.map((p) => p.code)).toEqual(['MODULE_LOAD_FAILED']);
  });

  it('a module that throws a value which cannot be described is MODULE_LOAD_FAILED; its sibling still loads', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'sly/plugin.json': JSON.stringify({ name: 'sly', version: '1.0.0' }),
      'sly/index.mjs': "const e = new Error('x');\nObject.defineProperty(e, 'message', { get() { throw e; } });\nthrow e;\n",
      'cyclic/plugin.json': JSON.stringify({ name: 'cyclic', version: '1.0.0' }),
      'cyclic/index.mjs': 'const o = Object.create(null);\no.self = o;\nthrow o;\n',
      'fine/plugin.json': JSON.stringify({ name: 'fine', version: '1.0.0' }),
      'fine/index.mjs': hooks,
    });
    const host = await loadHost(dir);
    const problems = Object.fromEntries(host.definitions.map((d) => [d.manifest.name, d.problems?.map((p) => p.code) ?? []]));
    expect(problems).toEqual({ sly: ['MODULE_LOAD_FAILED'], cyclic: ['MODULE_LOAD_FAILED'], fine: [] });
  });

  it("without a limit of its own, a module's import is bounded by the host file's hookTimeoutMs", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'stuck/plugin.json': JSON.stringify({ name: 'stuck', version: '1.0.0' }),
      'stuck/index.mjs': `await new Promise(() => {});\n${hooks}`,
      'host.yaml': 'hookTimeoutMs: 100\nplugins:\n  - stuck\n',
    });
    const started = Date.now();
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.definitions[0]!.problems?.map((p) => p.code)).toEqual(['MODULE_LOAD_FAILED']);
    expect(Date.now() - started).toBeLessThan(4000); // not the 5,000 ms default
  });

  it('a YAML tag it does not know (`!secret`) is a coded error, and no warning quoting the line is printed', async () => {
    const dir = await tempDir();
    const secret = 'hunter2-tagged-value';
    await writeTree(dir, {
      'db/plugin.yaml': `name: db\nversion: 1.0.0\nconfig:\n  url: { type: string, secret: true, default: !secret ${secret} }\n`,
      'db/index.mjs': hooks,
      'host.yaml': `plugins:\n  - path: ./db\n    config: { url: !vault ${secret} }\n`,
    });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const definition = await loadPluginFolder(join(dir, 'db'));
      const host = await loadHost(join(dir, 'host.yaml'));
      await new Promise((resolve) => setImmediate(resolve));
      expect(definition.problems?.map((p) => p.code)).toEqual(['MANIFEST_INVALID']);
      expect(host.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID']);
      expect(JSON.stringify([definition.problems, host.problems.map((p) => p.message)])).not.toContain(secret);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a folder holding both plugin.json and plugin.yaml is MANIFEST_INVALID; its module is not imported', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0' }),
      'db/plugin.yaml': 'name: db\nversion: 2.0.0\n',
      'db/index.mjs': `globalThis.importedBoth = true;\n${hooks}`,
    });
    const definition = await loadPluginFolder(join(dir, 'db'));
    expect(definition.problems?.map((p) => p.code)).toEqual(['MANIFEST_INVALID']);
    expect((globalThis as { importedBoth?: boolean }).importedBoth).toBeUndefined();
  });

  it('main naming the plugin folder itself (".") is ENTRY_NOT_FOUND, not outside the folder', async () => {
    const dir = await tempDir();
    await writeTree(dir, { 'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0', main: '.' }), 'db/index.mjs': hooks });
    const definition = await loadPluginFolder(join(dir, 'db'));
    expect(definition.problems?.map((p) => p.code)).toEqual(['ENTRY_NOT_FOUND']);
  });

  it('YAML tags beyond JSON data (!!binary, !!timestamp, !!set) are coded errors, not a Buffer read as an object', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.yaml': 'name: db\nversion: 1.0.0\ndescription: !!binary aGVsbG8=\n',
      'db/index.mjs': hooks,
      'host.yaml': 'plugins: [!!binary aGVsbG8=]\n',
      'when.yaml': 'plugins: [db]\nconfig: { db: { at: !!timestamp 2001-12-14 } }\n',
    });
    expect((await loadPluginFolder(join(dir, 'db'))).problems?.map((p) => p.code)).toEqual(['MANIFEST_INVALID']);
    for (const file of ['host.yaml', 'when.yaml']) {
      const host = await loadHost(join(dir, file));
      expect(host.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID']);
    }
    // Core tags still read as before.
    await writeFile(join(dir, 'db/plugin.yaml'), 'name: !!str db\nversion: 1.0.0\n');
    expect((await loadPluginFolder(join(dir, 'db'))).problems).toBeUndefined();
  });

  it('a YAML manifest or host file holding a second document (---) is a coded error, not cut to the first', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.yaml': 'name: db\nversion: 1.0.0\n---\nbogus: true\n',
      'db/index.mjs': hooks,
      'host.yaml': 'plugins: [db]\n---\nplugins: []\n',
    });
    const definition = await loadPluginFolder(join(dir, 'db'));
    expect(definition.problems?.map((p) => p.code)).toEqual(['MANIFEST_INVALID']);
    const host = await loadHost(join(dir, 'host.yaml'));
    expect(host.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID']);
    expect(host.definitions).toEqual([]);
    // A lone leading `---` is one document, as before.
    await writeFile(join(dir, 'db/plugin.yaml'), '---\nname: db\nversion: 1.0.0\n');
    expect((await loadPluginFolder(join(dir, 'db'))).problems).toBeUndefined();
  });

  it('a JSON syntax error says where, never quoting the text (it may hold a secret)', async () => {
    const dir = await tempDir();
    const secret = 'hunter2-s3cret-value';
    await writeTree(dir, {
      'db/plugin.json': `{\n  "name": "db",\n  "version": "1.0.0",\n  "password": ${secret}\n}\n`,
      'host.json': `{ "plugins": ["db"], "config": { "db": { "password": '${secret}' } } }\n`,
    });
    const definition = await loadPluginFolder(join(dir, 'db'));
    expect(definition.problems?.map((p) => p.code)).toEqual(['MANIFEST_INVALID']);
    expect(definition.problems![0]!.message).toContain('line 4, column 15');
    const host = await loadHost(join(dir, 'host.json'));
    expect(host.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID']);
    for (const text of [definition.problems![0]!.message, host.problems[0]!.message]) {
      expect(text).not.toContain('hunter2');
    }
  });

  it('a byte-order mark before a plugin.json or a JSON host file is ignored', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': `\uFEFF${JSON.stringify({ name: 'db', version: '1.0.0' })}`,
      'db/index.mjs': hooks,
      'host.json': `\uFEFF${JSON.stringify({ plugins: ['db'] })}`,
    });
    const host = await loadHost(join(dir, 'host.json'));
    expect([host.problems, host.definitions.map((d) => [d.manifest?.name, d.problems ?? []])]).toEqual([[], [['db', []]]]);
  });

  it('a host-file entry may name the manifest file itself', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'db/plugin.json': JSON.stringify({ name: 'db', version: '1.0.0' }),
      'db/index.mjs': hooks,
      'host.yaml': 'plugins:\n  - db/plugin.json\n  - path: db/plugin.json\n    enabled: false\n',
    });
    const host = await loadHost(join(dir, 'host.yaml'));
    expect([host.problems, host.definitions.map((d) => [d.manifest?.name, d.problems ?? []])]).toEqual([[], [['db', []]]]);
  });
});

describe('manifests that would cost the host much more than their size', () => {
  const hooks = 'export default { init() {}, start() {}, stop() {} };\n';
  const load = async (manifest: string, file = 'plugin.yaml') => {
    const dir = await tempDir();
    await writeTree(dir, { [file]: manifest, 'index.mjs': hooks });
    return loadPluginFolder(dir);
  };
  /** The error codes of the one plugin in a folder holding `manifest`, once a manager validated it. */
  const validated = async (manifest: string, file = 'plugin.yaml') => {
    const dir = await tempDir();
    await writeTree(dir, { [file]: manifest, 'index.mjs': hooks });
    const { snapshot } = await boot(dir);
    return snapshot.plugins.map((plugin) => plugin.errors.map((error) => error.code));
  };

  it('YAML aliases that would expand to more than 100,000 values are refused with MANIFEST_INVALID; a few shared blocks load', async () => {
    const list = `[${Array.from({ length: 2_000 }, () => '1').join(',')}]`;
    const aliases = Array.from({ length: 60 }, () => '      - *a').join('\n');
    const manifest = (extra: string) => `name: amp\nversion: 1.0.0\nconfig:\n  x:\n    type: array\n    default:\n      - &a ${list}\n${extra}\n`;
    // 60 copies of 2,000 values: 120,000 values from a file of 4 KB.
    expect(problemCodes(await load(manifest(aliases)))).toEqual(['MANIFEST_INVALID']);
    const shared = await load(manifest(Array.from({ length: 5 }, () => '      - *a').join('\n')));
    expect(problemCodes(shared)).toEqual([]);
    // An alias inside the very value it names is no finite value at all.
    expect(problemCodes(await load('name: loop\nversion: 1.0.0\nconfig:\n  x:\n    type: array\n    default: &a [1, *a]\n'))).toEqual(['MANIFEST_INVALID']);
  });

  it('many anchors and aliases within the budget load (each alias a copy of what it names); keys one object would merge are a key given twice', async () => {
    const fields = Array.from({ length: 300 }, (_, i) => `  f${i}:\n    type: string\n    default: &d${i} value-${i}\n  g${i}:\n    type: string\n    default: *d${i}`).join('\n');
    const many = await validated(`name: many\nversion: 1.0.0\nconfig:\n${fields}\n`);
    expect(many).toEqual([[]]);
    // 1 and '1' are one key of the object the map becomes: the second would silently win.
    const merged = await load("name: twice\nversion: 1.0.0\nconfig:\n  1: { type: string }\n  '1': { type: integer }\n");
    expect(problemCodes(merged)).toEqual(['MANIFEST_INVALID']);
    const plain = await load('name: twice\nversion: 1.0.0\ndescription: a\ndescription: b\n');
    expect(problemCodes(plain)).toEqual(['MANIFEST_INVALID']);
    // A key given twice through an alias is reported where the alias stands (line 6), not where its anchor is.
    const aliased = await load('name: aliased\nversion: 1.0.0\ndescription: &k name\nconfig:\n  name: { type: string }\n  *k : { type: string }\n');
    expect([problemCodes(aliased), /line 6\b/.test(aliased.problems?.[0]?.message ?? '')]).toEqual([['MANIFEST_INVALID'], true]);
    // A list as a key would become its YAML text, and two of them one key.
    const listKey = await load('name: lists\nversion: 1.0.0\nconfig:\n  ? [a]\n  : { type: string }\n');
    expect(problemCodes(listKey)).toEqual(['MANIFEST_INVALID']);
  });

  it('a %YAML 1.1 directive does not turn on merge keys (which would hide a key given twice) nor yes/no booleans', async () => {
    const merged = await validated('%YAML 1.1\n---\nname: merged\nversion: 1.0.0\n<<: { name: other, description: merged }\n');
    expect(merged).toEqual([['MANIFEST_INVALID']]);
    const yes = await validated('%YAML 1.1\n---\nname: yes-string\nversion: 1.0.0\nconfig:\n  mode:\n    type: string\n    default: yes\n');
    expect(yes).toEqual([[]]);
  });

  it('an enum value that is an object or an array (never matched) is refused with MANIFEST_INVALID, however deep', async () => {
    const manifest = (values: unknown[]) => JSON.stringify({ name: 'enum', version: '1.0.0', config: { x: { type: 'array', default: [], enum: values } } });
    expect(await validated(manifest([[1], [2]]), 'plugin.json')).toEqual([['MANIFEST_INVALID']]);
    // Built as text: JSON.stringify itself would overflow the stack on it.
    const deepText = manifest(['DEEP']).replace('"DEEP"', `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(await validated(deepText, 'plugin.json')).toEqual([['MANIFEST_INVALID']]);
  });

  it("a value outside a long enum is CONFIG_INVALID with a message of bounded length", async () => {
    const values = Array.from({ length: 5_000 }, (_, i) => `mode-${i}`);
    const manifest = JSON.stringify({ name: 'modes', version: '1.0.0', config: { mode: { type: 'string', default: 'none', enum: values } } });
    const dir = await tempDir();
    await writeTree(dir, { 'plugin.json': manifest, 'index.mjs': hooks });
    const { snapshot } = await boot(dir);
    expect(snapshot.plugins[0]!.errors.map((error) => error.code)).toEqual(['CONFIG_INVALID']);
    expect(snapshot.plugins[0]!.errors[0]!.message.length).toBeLessThan(1_000);
  });

  it('a long allowed value is cut before a character made of two UTF-16 units, not through it', async () => {
    const manifest = JSON.stringify({ name: 'wide', version: '1.0.0', config: { mode: { type: 'string', default: 'none', enum: [`${'a'.repeat(198)}\u{1F600}tail`] } } });
    const dir = await tempDir();
    await writeTree(dir, { 'plugin.json': manifest, 'index.mjs': hooks });
    const { snapshot } = await boot(dir);
    const [error] = snapshot.plugins[0]!.errors;
    expect(error?.code).toBe('CONFIG_INVALID');
    expect(error?.message).toContain(`"${'a'.repeat(198)}…`);
    expect(error?.message).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});
