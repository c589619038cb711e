/**
 * `plugin-factory run --watch`: editing a plugin's module reloads it (its new hooks run); an
 * edit that breaks it is reported and the previous version keeps running.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, exitOf, killAll, startCli, waitFor } from '../fixtures/cli/run-cli.ts';

/** A version of the `base` plugin that says which version ran each hook. */
const baseModule = (version: string) => `export default {
  init() {},
  start() { process.stdout.write('base ${version} started\\n'); },
  stop() { process.stdout.write('base ${version} stopped\\n'); },
};
`;

let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plugin-factory-cli-'));
  await cp(join(ROOT, FIXTURES, 'good'), dir, { recursive: true });
  await writeFile(join(dir, 'base', 'index.mjs'), baseModule('v1'));
});

afterEach(async () => {
  killAll();
  await rm(dir, { recursive: true, force: true });
});

describe('plugin-factory run --watch', () => {
  it('reloads a changed plugin; a broken edit is reported and the old version keeps running', async () => {
    const run = startCli(['run', dir, '--watch']);
    await waitFor(run, /press Ctrl-C to stop/);
    expect(run.out()).toContain('base v1 started');

    await writeFile(join(dir, 'base', 'index.mjs'), baseModule('v2'));
    await waitFor(run, /^reloaded base: running$/m);
    expect(run.out()).toMatch(/base v1 stopped\n(.*\n)*base v2 started/);
    // Its dependents were stopped for the reload and came back.
    await waitFor(run, /plugin api: starting\.hook -> running(\n.*)*\nreloaded base/);

    const mark = run.out().length;
    await writeFile(join(dir, 'base', 'index.mjs'), 'export default { init() {, };\n');
    await waitFor(run, /reload of base failed: MODULE_LOAD_FAILED: .*the previous version keeps running/, { stream: 'err' });
    // Nothing was stopped: v2 is still the running version.
    const since = run.out().slice(mark);
    expect(since).not.toMatch(/-> stopping/);
    expect(since).not.toContain('base v2 stopped');

    run.child.kill('SIGINT');
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(0);
    const after = run.out().slice(mark);
    expect(after).toContain('base v2 stopped');
    expect(after).toMatch(/^host: stopping -> stopped$/m);
  });

  it('a reload that fails validation names the code, and a fixed edit reloads again', async () => {
    const run = startCli(['run', dir, '--watch', '--json']);
    await waitFor(run, /press Ctrl-C to stop/, { stream: 'err' });
    // No stop hook: CONTRACT_INVALID.
    await writeFile(join(dir, 'base', 'index.mjs'), 'export default { init() {}, start() {} };\n');
    await waitFor(run, /reload of base failed: CONTRACT_INVALID: /, { stream: 'err' });
    await writeFile(join(dir, 'base', 'index.mjs'), baseModule('v3'));
    await waitFor(run, /^reloaded base: running$/m, { stream: 'err' });
    expect(run.out()).toContain('base v3 started');

    run.child.kill('SIGINT');
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(0);
    const lines = run.out().trimEnd().split('\n');
    const final = JSON.parse(lines[lines.length - 1]!) as { plugins: Array<{ name: string; state: string }> };
    expect(final.plugins.every((p) => p.state === 'stopped')).toBe(true);
  });
});
