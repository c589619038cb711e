/**
 * `plugin-factory run --watch`: editing a plugin's module reloads it (its new hooks run); an
 * edit that breaks it is reported and the previous version keeps running; a secret the edit
 * brings is redacted by the dashboard from then on.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, exitOf, killAll, startCli, waitFor } from '../fixtures/cli/run-cli.ts';
import { call } from '../dashboard/http.ts';

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

  it('a whole chain of plugins changed at once (a checkout, a project-wide replace) ends with every plugin on the new version', async () => {
    const chain = await mkdtemp(join(tmpdir(), 'plugin-factory-chain-'));
    try {
      const names = ['c1', 'c2', 'c3', 'c4', 'c5'];
      // Each requires the one before; a start that takes a moment keeps dependents busy while
      // their requirements reload, so most of their reloads are refused at first.
      const module = (name: string, version: string) =>
        `export default { init() {}, async start() { await new Promise((r) => setTimeout(r, 20)); process.stdout.write('${name} ${version} started\\n'); }, stop() {} };\n`;
      for (const [index, name] of names.entries()) {
        await mkdir(join(chain, name));
        const dependencies = index === 0 ? {} : { [names[index - 1]!]: '*' };
        await writeFile(join(chain, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', dependencies }));
        await writeFile(join(chain, name, 'index.mjs'), module(name, 'v1'));
      }
      const run = startCli(['run', chain, '--watch']);
      await waitFor(run, /press Ctrl-C to stop/);
      await Promise.all(names.map((name) => writeFile(join(chain, name, 'index.mjs'), module(name, 'v2'))));
      for (const name of names) await waitFor(run, new RegExp(`^reloaded ${name}: running$`, 'm'), { ms: 30_000 });
      run.child.kill('SIGINT');
      const { code } = await exitOf(run);
      expect(code, run.err()).toBe(0);
      expect(run.err()).not.toMatch(/reload of c\d failed/);
      // The last version each one started is the new one.
      for (const name of names) {
        const started = [...run.out().matchAll(new RegExp(`^${name} (v\\d) started$`, 'gm'))].map((match) => match[1]);
        expect({ name, last: started.at(-1) }).toEqual({ name, last: 'v2' });
      }
    } finally {
      await rm(chain, { recursive: true, force: true });
    }
  });

  it("an edit that needs a failed plugin, saved before that plugin's fix, waits for the fix and goes in", async () => {
    const host = await mkdtemp(join(tmpdir(), 'plugin-factory-fix-'));
    try {
      const hooks = (start: string) => `export default { init() {}, start() { ${start} }, stop() {} };\n`;
      await mkdir(join(host, 'a'));
      await writeFile(join(host, 'a', 'plugin.json'), JSON.stringify({ name: 'a', version: '1.0.0' }));
      await writeFile(join(host, 'a', 'index.mjs'), hooks("throw new Error('a is broken');"));
      await mkdir(join(host, 'c'));
      await writeFile(join(host, 'c', 'plugin.json'), JSON.stringify({ name: 'c', version: '1.0.0' }));
      await writeFile(join(host, 'c', 'index.mjs'), hooks(''));
      const run = startCli(['run', host, '--watch']);
      await waitFor(run, /press Ctrl-C to stop/);
      // c's edit first: refused while a is failed, it waits rather than being dropped.
      await writeFile(join(host, 'c', 'plugin.json'), JSON.stringify({ name: 'c', version: '1.1.0', dependencies: { a: '*' } }));
      await waitFor(run, /reload of c waits: it requires a/);
      await writeFile(join(host, 'a', 'index.mjs'), hooks(''));
      await waitFor(run, /^reloaded a: running$/m, { ms: 30_000 });
      await waitFor(run, /^reloaded c: running$/m, { ms: 30_000 });
      expect(run.err()).not.toMatch(/reload of c failed/);
      run.child.kill('SIGINT');
      const { code } = await exitOf(run);
      expect(code, run.err()).toBe(0);
    } finally {
      await rm(host, { recursive: true, force: true });
    }
  });

  it('an edit made while the host boots is not lost: it is reloaded once the boot is over', async () => {
    await writeFile(
      join(dir, 'base', 'index.mjs'),
      `export default {
  init() {},
  start() { process.stdout.write('base v1 starting\\n'); return new Promise((resolve) => setTimeout(resolve, 1500)); },
  stop() {},
};
`,
    );
    const run = startCli(['run', dir, '--watch']);
    await waitFor(run, /^base v1 starting$/m);
    await writeFile(join(dir, 'base', 'index.mjs'), baseModule('v2'));
    await waitFor(run, /press Ctrl-C to stop/);
    await waitFor(run, /^reloaded base: running$/m);
    expect(run.out()).toContain('base v2 started');
    run.child.kill('SIGINT');
    expect((await exitOf(run)).code, run.err()).toBe(0);
  });

  it('shutdown does not wait for an edited module whose import hangs: the reload is given up', async () => {
    await writeFile(join(dir, 'base', 'plugin.json'), JSON.stringify({ name: 'base', version: '1.0.0', hookTimeoutMs: 30_000 }));
    const run = startCli(['run', dir, '--watch']);
    await waitFor(run, /press Ctrl-C to stop/);
    await writeFile(join(dir, 'base', 'index.mjs'), `process.stdout.write('importing the new base\\n');\nawait new Promise(() => {});\n${baseModule('v2')}`);
    await waitFor(run, /^importing the new base$/m);
    run.child.kill('SIGINT');
    const { code } = await exitOf(run, 10_000);
    expect(code, run.err()).toBe(0);
    expect(run.out()).toMatch(/^host: stopping -> stopped$/m);
    expect(run.out()).toMatch(/^reload of base given up/m);
    expect(run.err()).not.toContain('open handles');
  });

  it('an import given up at shutdown whose code keeps a timer alive is named when the process outlives the shutdown', async () => {
    await writeFile(join(dir, 'base', 'plugin.json'), JSON.stringify({ name: 'base', version: '1.0.0', hookTimeoutMs: 30_000 }));
    const run = startCli(['run', dir, '--watch']);
    await waitFor(run, /press Ctrl-C to stop/);
    await writeFile(join(dir, 'base', 'index.mjs'), `process.stdout.write('importing the new base\\n');\nawait new Promise((resolve) => setTimeout(resolve, 20_000));\n${baseModule('v2')}`);
    await waitFor(run, /^importing the new base$/m);
    run.child.kill('SIGINT');
    const { code } = await exitOf(run, 15_000);
    expect(code).toBe(1);
    expect(run.err()).toMatch(/given up at shutdown and may still run: .*base/);
  });

  it('a reload that fails validation names the code, and a fixed edit reloads again', async () => {
    const run = startCli(['run', dir, '--watch', '--json']);
    await waitFor(run, /press Ctrl-C to stop/, { stream: 'err' });
    // No stop hook: CONTRACT_INVALID.
    await writeFile(join(dir, 'base', 'index.mjs'), 'export default { init() {}, start() {} };\n');
    await waitFor(run, /reload of base failed: CONTRACT_INVALID: /, { stream: 'err' });
    await writeFile(join(dir, 'base', 'index.mjs'), baseModule('v3'));
    await waitFor(run, /^reloaded base: running$/m, { stream: 'err' });
    expect(run.err()).toContain('base v3 started'); // with --json, plugin output goes to stderr

    run.child.kill('SIGINT');
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(0);
    const lines = run.out().trimEnd().split('\n');
    const final = JSON.parse(lines[lines.length - 1]!) as { plugins: Array<{ name: string; state: string }> };
    expect(final.plugins.every((p) => p.state === 'stopped')).toBe(true);
  });

  it('an edit to a plugin the operator stopped installs the new version without starting it', async () => {
    const run = startCli(['run', dir, '--watch', '--dashboard']);
    const [, url] = await waitFor(run, /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m);
    const [, token] = await waitFor(run, /^dashboard control token: (\S+) /m);
    await waitFor(run, /press Ctrl-C to stop/);
    const command = (name: string, verb: string) =>
      call(`${url}api/plugins/${name}/${verb}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect((await command('base', 'stop')).status).toBe(200);
    // The answer and the plugin's line come on two channels: the line may be read after it.
    await waitFor(run, /^base v1 stopped$/m);

    await writeFile(join(dir, 'base', 'index.mjs'), baseModule('v2'));
    await waitFor(run, /^reloaded base: created$/m);
    expect(run.out()).not.toContain('base v2 started');
    // The operator's start brings up the new version, and the dependents it held down with it.
    expect((await command('base', 'start')).status).toBe(200);
    await waitFor(run, /^base v2 started$/m);
    const { json } = await call(`${url}api/snapshot`);
    const states = Object.fromEntries((json['plugins'] as Array<{ name: string; state: string }>).map((p) => [p.name, p.state]));
    expect(states).toMatchObject({ base: 'running', store: 'running', api: 'running' });

    run.child.kill('SIGINT');
    expect((await exitOf(run)).code, run.err()).toBe(0);
  });

  it('an edit made while the dashboard reloads the plugin goes in after it, not refused and lost', async () => {
    // A module that takes a while to import, so that the two reloads overlap.
    const slow = (version: string) => `await new Promise((resolve) => setTimeout(resolve, 1500));\n${baseModule(version)}`;
    // And a running version that takes a while to stop, so that the dashboard's reload lasts.
    await writeFile(join(dir, 'base', 'index.mjs'), baseModule('v1').replace('stop() {', 'async stop() { await new Promise((resolve) => setTimeout(resolve, 2500));'));
    const run = startCli(['run', dir, '--watch', '--dashboard']);
    const [, url] = await waitFor(run, /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m);
    const [, token] = await waitFor(run, /^dashboard control token: (\S+) /m);
    await waitFor(run, /press Ctrl-C to stop/);
    // The dashboard's reload imports v2 while the watcher's does; then the file changes again.
    await writeFile(join(dir, 'base', 'index.mjs'), slow('v2'));
    const fromDashboard = call(`${url}api/plugins/base/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writeFile(join(dir, 'base', 'index.mjs'), slow('v3'));
    await fromDashboard;
    await waitFor(run, /base v3 started/, { ms: 20_000 });
    await waitFor(run, /^reloaded base: running$(?![\s\S]*^reloading base)/m);
    const { json } = await call(`${url}api/snapshot`);
    const base = (json['plugins'] as Array<{ name: string; state: string }>).find((p) => p.name === 'base');
    expect(base?.state).toBe('running');
    // The last version started is the last one written.
    const started = [...run.out().matchAll(/base (v\d) started/g)].map((match) => match[1]);
    expect(started.at(-1)).toBe('v3');
    expect(run.err()).not.toMatch(/reload of base failed/);

    run.child.kill('SIGINT');
    expect((await exitOf(run)).code, run.err()).toBe(0);
  });

  it('with --dashboard, a secret a reloaded plugin brings is redacted from then on', async () => {
    const fresh = 'fresh-secret-7c1d2e9a';
    // 'leaky' fails quoting a value it has no business knowing: the engine scrubs a plugin's
    // errors of its own secrets only, the dashboard of every plugin's.
    await mkdir(join(dir, 'leaky'));
    await writeFile(join(dir, 'leaky', 'plugin.json'), JSON.stringify({ name: 'leaky', version: '1.0.0' }));
    await writeFile(join(dir, 'leaky', 'index.mjs'), `export default { init() {}, start() { throw new Error('cannot reach ${fresh}'); }, stop() {} };\n`);
    const run = startCli(['run', dir, '--watch', '--dashboard']);
    const [, url] = await waitFor(run, /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m);
    await waitFor(run, /press Ctrl-C to stop/);
    const leaky = async () => {
      const { json, text } = await call(`${url}api/snapshot`);
      const row = (json['plugins'] as Array<{ name: string; state: string; error: { code: string } | null }>).find((p) => p.name === 'leaky')!;
      return { state: row.state.split('.')[0], code: row.error?.code, text };
    };
    const before = await leaky();
    expect([before.state, before.code]).toEqual(['failed', 'HOOK_FAILED']);
    expect(before.text).toContain(fresh); // nothing declared it secret yet

    await writeFile(
      join(dir, 'base', 'plugin.json'),
      JSON.stringify({ name: 'base', version: '1.0.0', config: { key: { type: 'string', secret: true, default: fresh } } }),
    );
    await waitFor(run, /^reloaded base: running$/m);
    const after = await leaky();
    expect([after.state, after.code]).toEqual(['failed', 'HOOK_FAILED']);
    expect(after.text).not.toContain(fresh);

    run.child.kill('SIGINT');
    expect((await exitOf(run)).code, run.err()).toBe(1); // a plugin failed
  });

  it("an edit whose import fails quoting the plugin's secret is reported coded, the secret scrubbed", async () => {
    const secret = 'watch-secret-4f2a91';
    await writeFile(
      join(dir, 'base', 'plugin.json'),
      JSON.stringify({ name: 'base', version: '1.0.0', config: { key: { type: 'string', secret: true, default: secret } } }),
    );
    const run = startCli(['run', dir, '--watch', '--verbose']);
    await waitFor(run, /press Ctrl-C to stop/);
    await writeFile(join(dir, 'base', 'index.mjs'), `throw new Error('vault refused ${secret}');\n`);
    await waitFor(run, /reload of base failed: MODULE_LOAD_FAILED: .*vault refused \[redacted\]/, { stream: 'err' });
    run.child.kill('SIGINT');
    expect((await exitOf(run)).code, run.err()).toBe(0);
    expect(run.out() + run.err()).not.toContain(secret);
  });
});
