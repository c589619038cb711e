/**
 * The CLI on hosts that do not load: problems are coded, exit codes say so, nothing secret or
 * rejected leaks out.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, startCli } from '../fixtures/cli/run-cli.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pf-cli-host-'));
  await mkdir(join(dir, 'empty'));
  await writeFile(
    join(dir, 'bad.yaml'),
    'plugins:\n  - path: ./db\n    config: { url: "postgres://admin:HUNTER2@db"\n  - ./other\n',
  );
  for (const [name, manifest, marker] of [
    ['eng', { name: 'eng', version: '1.0.0', engine: '>=99.0.0' }, 'IMPORTED-ENG'],
    ['dup1', { name: 'dup', version: '1.0.0' }, 'IMPORTED-DUP1'],
    ['dup2', { name: 'dup', version: '1.0.0' }, 'IMPORTED-DUP2'],
  ] as const) {
    await mkdir(join(dir, 'imp', name), { recursive: true });
    await writeFile(join(dir, 'imp', name, 'plugin.json'), JSON.stringify(manifest));
    await writeFile(
      join(dir, 'imp', name, 'index.mjs'),
      `console.error(${JSON.stringify(marker)});\nexport default { init() {}, start() {}, stop() {} };\n`,
    );
  }
  // A module that fails to import, and a factory that fails, both quoting the secret the host file gives.
  const secretManifest = (name: string) => ({ name, version: '1.0.0', config: { token: { type: 'string', secret: true } } });
  for (const [name, source] of [
    ['top', 'throw new Error("cannot reach the vault with IMPORT-SECRET-8080");\n'],
    ['factory', 'export default () => { throw new Error("factory refused IMPORT-SECRET-8080"); };\n'],
  ] as const) {
    await mkdir(join(dir, 'leaks', name), { recursive: true });
    await writeFile(join(dir, 'leaks', name, 'plugin.json'), JSON.stringify(secretManifest(name)));
    await writeFile(join(dir, 'leaks', name, 'index.mjs'), source);
  }
  await writeFile(
    join(dir, 'leaks', 'host.yaml'),
    'plugins:\n  - path: ./top\n    config: { token: IMPORT-SECRET-8080 }\n  - path: ./factory\n    config: { token: IMPORT-SECRET-8080 }\n',
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(killAll);

async function cli(args: string[]) {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, out: run.out(), err: run.err() };
}

describe('hosts that do not load', () => {
  it('graph reports host problems on stderr and exits 1', async () => {
    const result = await cli(['graph', join(dir, 'nope')]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('MANIFEST_NOT_FOUND');
  });

  it('a YAML syntax error is reported without quoting the text (which may hold a secret)', async () => {
    const result = await cli(['validate', join(dir, 'bad.yaml'), '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.out) as { problems: Array<{ code: string }> };
    expect(report.problems.map((p) => p.code)).toEqual(['OPTIONS_INVALID']);
    expect(result.out + result.err).not.toContain('HUNTER2');
  });

  it('a module whose import or factory throws quoting its secret is reported coded, the secret scrubbed, by validate, run and test', async () => {
    const host = join(dir, 'leaks', 'host.yaml');
    const report = await cli(['validate', host, '--json']);
    expect(report.code).toBe(1);
    const plugins = (JSON.parse(report.out) as { plugins: Array<{ name: string; errors: Array<{ code: string }> }> }).plugins;
    expect(plugins.map((p) => [p.name, p.errors.map((e) => e.code)])).toEqual([
      ['top', ['MODULE_LOAD_FAILED']],
      ['factory', ['MODULE_LOAD_FAILED']],
    ]);
    for (const args of [['validate', host, '--json'], ['validate', host], ['run', host, '--once'], ['test', host, '--json']]) {
      const result = await cli(args);
      expect([args.join(' '), result.out + result.err]).not.toEqual([args.join(' '), expect.stringContaining('IMPORT-SECRET-8080')]);
      expect([args.join(' '), result.out + result.err]).toEqual([args.join(' '), expect.stringContaining('[redacted]')]);
    }
  });

  it('modules of plugins rejected before import (engine range, duplicate name) are never imported', async () => {
    const result = await cli(['validate', join(dir, 'imp'), '--json']);
    expect(result.code).toBe(1);
    expect(result.err).not.toContain('IMPORTED-ENG');
    expect(result.err).not.toContain('IMPORTED-DUP2');
    expect(result.err).toContain('IMPORTED-DUP1');
    const report = JSON.parse(result.out) as { plugins: Array<{ name: string; errors: Array<{ code: string }> }>; problems: Array<{ code: string }> };
    expect(report.plugins.find((p) => p.name === 'eng')?.errors.map((e) => e.code)).toEqual(['ENGINE_VERSION_MISMATCH']);
    expect(report.problems.map((p) => p.code)).toEqual(['DUPLICATE_PLUGIN']);
  });

  it('run --json on a folder without plugins still ends stdout with a snapshot', async () => {
    const result = await cli(['run', join(dir, 'empty'), '--once', '--json']);
    expect(result.code).toBe(1);
    const last = result.out.trim().split('\n').at(-1) ?? '';
    expect(JSON.parse(last)).toEqual({ state: 'stopped', plugins: [] });
  });
});
