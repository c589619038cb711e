/**
 * `plugin-factory validate`: exit codes and the --json document, on folders of good and broken
 * plugins and on a host file.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cli, exitOf, killAll, startCli } from '../fixtures/cli/run-cli.ts';
import { startProcess } from '../helpers/process.ts';
import { wrapOrder } from '../../src/cli/validate.ts';
import { formatError } from '../../src/cli/output.ts';
import { PluginFactoryError } from '../../src/errors.ts';

interface ValidateJson {
  plugins: Array<{ name: string; version: string | null; valid: boolean; errors: Array<{ code: string; message: string }> }>;
  order: string[];
  problems: Array<{ code: string; message: string; plugins: string[] }>;
}

afterEach(killAll);

/** Runs `check` on a temporary folder holding one plugin, `name`, whose module is `source`. */
async function withOnePlugin(name: string, source: string, check: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-cli-'));
  try {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0' }));
    await writeFile(join(dir, name, 'index.mjs'), source);
    await check(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every plugin of `order` comes after the plugins it depends on. */
function expectBefore(order: string[], first: string, then: string) {
  expect(order.indexOf(first), `${first} in order`).toBeGreaterThanOrEqual(0);
  expect(order.indexOf(first), `${first} before ${then}`).toBeLessThan(order.indexOf(then));
}

describe('plugin-factory validate', () => {
  it.each([
    ['an empty folder', async (dir: string) => dir],
    [
      'a host file listing no plugin',
      async (dir: string) => {
        await writeFile(join(dir, 'host.yaml'), 'plugins: []\n');
        return join(dir, 'host.yaml');
      },
    ],
  ])('validate, test and graph fail on %s with PLUGIN_NOT_FOUND, as run does', async (_what, target) => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-empty-'));
    try {
      const path = await target(dir);
      const validate = await cli(['validate', path, '--json']);
      expect(validate.code).toBe(1);
      expect((JSON.parse(validate.stdout) as ValidateJson).problems.map((p) => p.code)).toEqual(['PLUGIN_NOT_FOUND']);
      const test = await cli(['test', path, '--json']);
      expect(test.code).toBe(1);
      expect((JSON.parse(test.stdout) as ValidateJson).problems.map((p) => p.code)).toEqual(['PLUGIN_NOT_FOUND']);
      const graph = await cli(['graph', path]);
      expect(graph.code).toBe(1);
      expect(graph.stderr).toContain('PLUGIN_NOT_FOUND');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 0 on a folder of good plugins, with a boot order that respects dependencies', async () => {
    const { code, stdout, stderr } = await cli(['validate', `${FIXTURES}/good`, '--json']);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as ValidateJson;
    expect(report.plugins.map((p) => p.name).sort()).toEqual(['api', 'audit', 'base', 'store']);
    expect(report.plugins.every((p) => p.valid && p.errors.length === 0)).toBe(true);
    expect(report.plugins.find((p) => p.name === 'store')?.version).toBe('1.1.0');
    expect(report.order).toHaveLength(4);
    expectBefore(report.order, 'base', 'store');
    expectBefore(report.order, 'store', 'api');
    expectBefore(report.order, 'audit', 'api'); // optional, and present: it orders boot
    expect(report.problems).toEqual([]);
  });

  it('prints exactly one JSON document with --json', async () => {
    const { stdout } = await cli(['validate', `${FIXTURES}/good`, '--json']);
    expect(stdout.trim().split('\n')).toHaveLength(1);
  });

  it.skipIf(!existsSync('/dev/full'))('fails (exit 1) when its answer cannot be written to stdout, as on a full disk; chart and graph too', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      for (const args of [['validate', `${FIXTURES}/good`, '--json'], ['validate', `${FIXTURES}/good`], ['chart', '--format', 'json'], ['graph', `${FIXTURES}/good`]]) {
        const run = startCli(args, { stdout: full });
        const { code } = await exitOf(run);
        expect([args.join(' '), code]).toEqual([args.join(' '), 1]);
      }
    } finally {
      closeSync(full);
    }
  });

  it('exits 1 on a mix of good and broken plugins and names every problem by its code', async () => {
    const { code, stdout } = await cli(['validate', `${FIXTURES}/mixed`, '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as ValidateJson;
    const byName = new Map(report.plugins.map((p) => [p.name, p]));
    const codesOf = (name: string) => byName.get(name)?.errors.map((e) => e.code);
    expect(byName.get('alpha')).toMatchObject({ valid: true, errors: [] });
    expect(byName.get('beta')).toMatchObject({ valid: true, errors: [] });
    expect(codesOf('no-manifest')).toEqual(['MANIFEST_NOT_FOUND']);
    expect(codesOf('bad-manifest')).toEqual(['MANIFEST_INVALID']);
    expect(codesOf('no-entry')).toEqual(['ENTRY_NOT_FOUND']);
    expect(codesOf('bad-contract')).toContain('CONTRACT_INVALID');
    expect(codesOf('needs-ghost')).toEqual(['MISSING_DEPENDENCY']);
    expect(codesOf('cycle-a')).toEqual(['DEPENDENCY_CYCLE']);
    expect(codesOf('cycle-b')).toEqual(['DEPENDENCY_CYCLE']);
    expect(codesOf('bad-config')).toEqual(['CONFIG_INVALID']);
    expect(codesOf('import-throws')).toEqual(['MODULE_LOAD_FAILED']);
    for (const plugin of report.plugins) {
      expect(plugin.valid, plugin.name).toBe(plugin.errors.length === 0);
      for (const error of plugin.errors) expect(error.message).toContain(`'${plugin.name}'`);
    }
    // The order holds the valid plugins only.
    expect(report.order).toEqual(['alpha', 'beta']);
    // A second folder named 'alpha' is a problem of the host, not of a plugin.
    expect(report.problems).toEqual([expect.objectContaining({ code: 'DUPLICATE_PLUGIN', plugins: ['alpha'] })]);
  });

  it('prints a readable report without --json', async () => {
    const { code, stdout } = await cli(['validate', `${FIXTURES}/mixed`]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✓ alpha 1\.0\.0$/m);
    expect(stdout).toMatch(/^✗ needs-ghost 1\.0\.0 \(invalid\)$/m);
    expect(stdout).toMatch(/^ {4}MISSING_DEPENDENCY: plugin 'needs-ghost'/m);
    expect(stdout).toMatch(/^ {2}✗ DUPLICATE_PLUGIN: /m);
    expect(stdout).toMatch(/^boot order: alpha -> beta$/m);
  });

  it('reads a yaml host file: config values from the host, disabled plugins skipped', async () => {
    const { code, stdout, stderr } = await cli(['validate', `${FIXTURES}/host/host.yaml`, '--json']);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as ValidateJson;
    // greeter requires config.greeting, which only the host file gives; 'disabled' (whose main
    // does not exist) is not loaded at all.
    expect(report).toEqual({
      plugins: [{ name: 'greeter', version: '1.0.0', valid: true, errors: [] }],
      order: ['greeter'],
      problems: [],
    });
  });

  it('validates a single plugin folder', async () => {
    const { code, stdout } = await cli(['validate', `${FIXTURES}/mixed/needs-ghost`, '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as ValidateJson;
    expect(report.plugins).toEqual([
      expect.objectContaining({ name: 'needs-ghost', valid: false, errors: [expect.objectContaining({ code: 'MISSING_DEPENDENCY' })] }),
    ]);
  });

  it('exits 1 with a host problem when the target does not exist', async () => {
    const { code, stdout } = await cli(['validate', `${FIXTURES}/no-such-folder`, '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as ValidateJson;
    expect(report.plugins).toEqual([]);
    expect(report.problems.map((p) => p.code)).toEqual(['MANIFEST_NOT_FOUND']);
  });

  it("a plugin's error text with line breaks and terminal escapes stays one line, escapes written out, in validate, graph and run", () =>
    withOnePlugin('loud', "throw new Error('first\\n\\u001b[2J\\u001b]0;title\\u0007forged line');\n", async (dir) => {
      const outputs = [await cli(['validate', dir]), await cli(['graph', dir]), await cli(['run', dir, '--once'])];
      for (const { stdout, stderr } of outputs) {
        const text = stdout + stderr;
        expect(text).toContain('MODULE_LOAD_FAILED');
        expect(text).not.toMatch(/[\u0007\u001b]/);
        expect(text.split('\n').filter((line) => line.includes('forged line'))).toEqual(
          text.split('\n').filter((line) => line.includes('first') && line.includes('forged line')),
        );
      }
    }));

  it('--json stdout holds one document even when the command fails from the inside (a plugin polluting Object.prototype at import)', () =>
    withOnePlugin('polluter', 'Object.prototype.init = () => {};\nexport default { init() {}, start() {}, stop() {} };\n', async (dir) => {
      const validate = await cli(['validate', dir, '--json']);
      const test = await cli(['test', dir, '--json']);
      const graph = await cli(['graph', dir, '--format', 'json']);
      for (const [what, result] of [['validate', validate], ['test', test], ['graph', graph]] as const) {
        expect({ what, code: result.code }).toEqual({ what, code: 1 });
        expect(() => JSON.parse(result.stdout), what).not.toThrow();
      }
      expect((JSON.parse(validate.stdout) as ValidateJson).problems.map((problem) => typeof problem.code)).toEqual(['string']);
      expect(JSON.parse(graph.stdout)).toHaveProperty('nodes');
    }));

  it.each(['null', 'undefined'])('a module whose `then` export gives %s is CONTRACT_INVALID from the CLI too (tsx loads it)', (value) =>
    withOnePlugin('thenable', `export function then(resolve) { resolve(${value}); }\n`, async (dir) => {
      const { code, stdout } = await cli(['validate', dir, '--json']);
      expect(code).toBe(1);
      expect((JSON.parse(stdout) as ValidateJson).plugins.map((p) => [p.name, p.errors.map((e) => e.code)])).toEqual([['thenable', ['CONTRACT_INVALID']]]);
    }));

  it('--verbose stacks are escaped too: a cause whose message spans lines with terminal escapes adds no raw line', () => {
    const cause = new Error('first\n\u001b[2J\u001b]0;title\u0007forged line');
    const error = new PluginFactoryError('MODULE_LOAD_FAILED', "plugin 'loud': importing failed", { cause });
    const text = formatError(error, true);
    expect(text).not.toMatch(/[\u0007\u001b]/);
    expect(text.split('\n').filter((line) => line.includes('forged line'))).toEqual([expect.stringContaining('first')]);
    // The frames are kept.
    expect(text.split('\n').some((line) => /^\s+at /.test(line))).toBe(true);
    // A message changed after the stack was read cuts no frame; an error that is its own cause ends the chain.
    const changed = new Error('one line');
    const frames = changed.stack!.split('\n').filter((line) => /^\s+at /.test(line)).length;
    changed.message = 'now\nthree\nlines';
    expect(formatError(changed, true).split('\n').filter((line) => /^\s+at /.test(line)).length).toBe(frames);
    const looped = new Error('looped');
    looped.cause = looped;
    expect(formatError(looped, true).split('\n').filter((line) => line.startsWith('caused by')).length).toBe(0);
  });

  it('validate and graph end although a plugin module holds a handle from its import', () =>
    // A pool made at import time: an interval that nothing clears.
    withOnePlugin('pool', 'setInterval(() => {}, 1000);\nexport default { init() {}, start() {}, stop() {} };\n', async (dir) => {
      const validated = await cli(['validate', dir, '--json'], { timeoutMs: 15_000 });
      expect([validated.code, JSON.parse(validated.stdout).plugins[0].valid]).toEqual([0, true]);
      const graphed = await cli(['graph', dir], { timeoutMs: 15_000 });
      expect(graphed.code).toBe(0);
      expect(graphed.stdout).toContain('pool');
    }));
});

describe('the boot order line', () => {
  it('is one line off a terminal, and wrapped at the width on one, no line wider than it, no name lost', () => {
    const order = Array.from({ length: 50 }, (_, i) => `plugin-${i}`);
    expect(wrapOrder(order, Infinity)).toEqual([`boot order: ${order.join(' -> ')}`]);
    const lines = wrapOrder(order, 60);
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(60);
    expect(lines.slice(1).every((line) => line.startsWith('  -> '))).toBe(true);
    expect(lines.join(' ').replace(/^boot order: /, '').split(/\s+->\s+/)).toEqual(order);
  });
});

describe('TypeScript plugins compiled to CommonJS, through the package bin (plain node)', () => {
  it('load with the sibling files they require: a .ts entry outside an ESM package, and a .cts entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-cjs-ts-'));
    try {
      await mkdir(join(dir, 'cjs-ts'));
      await writeFile(join(dir, 'cjs-ts', 'package.json'), '{}\n');
      await writeFile(join(dir, 'cjs-ts', 'plugin.json'), JSON.stringify({ name: 'cjs-ts', version: '1.0.0', main: 'index.ts' }));
      await writeFile(join(dir, 'cjs-ts', 'helper.ts'), 'export const n: number = 41;\n');
      await writeFile(join(dir, 'cjs-ts', 'index.ts'), "import { n } from './helper';\nconst x: number = n + 1;\nexport default { init() {}, start() {}, stop() {}, x };\n");
      await mkdir(join(dir, 'cts'));
      await writeFile(join(dir, 'cts', 'plugin.json'), JSON.stringify({ name: 'cts', version: '1.0.0', main: 'index.cts' }));
      await writeFile(join(dir, 'cts', 'helper.cts'), 'exports.n = 41 as number;\n');
      await writeFile(join(dir, 'cts', 'index.cts'), "const { n } = require('./helper.cts');\nconst x: number = n + 1;\nmodule.exports = { init() {}, start() {}, stop() {}, x };\n");
      const run = startProcess(process.execPath, ['bin/plugin-factory.mjs', 'validate', dir, '--json']);
      const { code } = await exitOf(run, 30_000);
      expect(code, run.err()).toBe(0);
      const report = JSON.parse(run.out()) as { plugins: Array<{ name: string; valid: boolean }> };
      expect(report.plugins.map((p) => [p.name, p.valid])).toEqual([
        ['cjs-ts', true],
        ['cts', true],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
