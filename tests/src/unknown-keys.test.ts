/**
 * What a typo in a manifest, a host file or the options is told: the keys known at that place,
 * and the one most like it.
 */
import { describe, expect, it } from 'vitest';
import { Manifest } from '../../src/manifest.ts';
import { HostFile } from '../../src/loading/host-file.ts';
import { closestKey, knownKeysAt } from '../../src/unknown-keys.ts';
import { createPluginManager, loadHost, silentLogger } from '../../src/index.ts';
import type { PluginFactoryError } from '../../src/index.ts';

/** The key a message suggests: `(did you mean 'x'?)`. */
const suggested = (message: string) => /did you mean '([^']+)'/.exec(message)?.[1] ?? null;
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('unknown keys', () => {
  it('finds the known key most like a typo: an edit or two, a swap, a missing suffix, another case', () => {
    const known = ['dependencies', 'optionalDependencies', 'hookTimeoutMs', 'retry', 'config', 'name'];
    expect(closestKey('dependncies', known)).toBe('dependencies');
    expect(closestKey('hookTimeout', known)).toBe('hookTimeoutMs');
    expect(closestKey('retyr', known)).toBe('retry');
    expect(closestKey('Config', known)).toBe('config');
    expect(closestKey('optionaldependencies', known)).toBe('optionalDependencies');
    // Nothing close: no guess.
    expect(closestKey('zzz', known)).toBeNull();
    expect(closestKey('c', known)).toBeNull();
    expect(closestKey('versionRange', known)).toBeNull();
  });

  it('knows the keys at a place of a schema, through optional fields, lists and a union with an object', () => {
    expect(knownKeysAt(HostFile, [])).toContain('hookTimeoutMs');
    expect(knownKeysAt(HostFile, ['plugins', 0]).sort()).toEqual(['config', 'enabled', 'package', 'path']);
    expect(knownKeysAt(Manifest, ['retry']).sort()).toEqual(['backoffMs', 'factor', 'maxBackoffMs', 'retries']);
    expect(knownKeysAt(Manifest, ['name'])).toEqual([]);
    expect(knownKeysAt(Manifest, ['nowhere', 'deeper'])).toEqual([]);
  });

  it('a misspelt key in a host file, a manifest or the options is refused with its code, naming the key meant', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-keys-'));
    try {
      await writeFile(join(dir, 'host.yaml'), 'hookTimeout: 100\nplugins:\n  - path: ./p\n    enabeld: true\n');
      const host = await loadHost(join(dir, 'host.yaml'));
      expect(host.problems.map((problem) => problem.code)).toEqual(['OPTIONS_INVALID', 'OPTIONS_INVALID']);
      expect(host.problems.map((problem) => suggested(problem.message))).toEqual(['enabled', 'hookTimeoutMs']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const manager = createPluginManager({
      logger: silentLogger,
      plugins: [{ manifest: { name: 'p', version: '1.0.0', dependncies: {} } as never, module: { init() {}, start() {}, stop() {} } }],
    });
    const snapshot = await manager.start();
    expect(snapshot.plugins[0]?.errors.map((error) => [error.code, suggested(error.message)])).toEqual([['MANIFEST_INVALID', 'dependencies']]);
    await manager.stop();
    for (const [options, meant] of [[{ hookTimeout: 5 }, 'hookTimeoutMs'], [{ retry: { backof: 1 } }, 'backoffMs'], [{ health: { intervalMS: 1 } }, 'intervalMs']] as const) {
      const refused = (() => {
        try {
          createPluginManager(options as never);
          return null;
        } catch (error) {
          return error as PluginFactoryError;
        }
      })();
      expect([refused?.code, suggested(refused?.message ?? '')]).toEqual(['OPTIONS_INVALID', meant]);
    }
  });

  it('names ten unknown keys at most, so a manifest of thousands makes a short message', async () => {
    const manifest: Record<string, unknown> = { name: 'p', version: '1.0.0' };
    for (let i = 0; i < 5_000; i++) manifest[`extra${i}`] = i;
    const manager = createPluginManager({ logger: silentLogger, plugins: [{ manifest: manifest as never, module: { init() {}, start() {}, stop() {} } }] });
    const [error] = (await manager.start()).plugins[0]?.errors ?? [];
    expect(error?.code).toBe('MANIFEST_INVALID');
    expect(error?.message.length).toBeLessThan(500);
    await manager.stop();
  });
});
