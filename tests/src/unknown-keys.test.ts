/**
 * What a typo in a manifest, a host file or the options is told: the keys known at that place,
 * and the one most like it.
 */
import { describe, expect, it } from 'vitest';
import { Manifest } from '../../src/manifest.ts';
import { HostFile } from '../../src/loading/host-file.ts';
import { closestKey, knownKeysAt } from '../../src/unknown-keys.ts';
import { loadHost } from '../../src/index.ts';
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

  it("a host file's misspelt key is one OPTIONS_INVALID problem per key, each at its own place", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-keys-'));
    try {
      await writeFile(join(dir, 'host.yaml'), 'hookTimeout: 100\nplugins:\n  - path: ./p\n    enabeld: true\n');
      const host = await loadHost(join(dir, 'host.yaml'));
      expect(host.problems.map((problem) => problem.code)).toEqual(['OPTIONS_INVALID', 'OPTIONS_INVALID']);
      expect(host.definitions).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
