/**
 * Plugin code that throws or rejects outside any hook (a timer, a promise nobody awaits), or
 * calls process.exit(): the command line reports it as a coded error and fails, and `run` still
 * stops every plugin in order, where Node alone would end the process with a stack trace. And
 * what plugin code prints never breaks a command whose stdout is one JSON document.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, cli, exitOf, killAll, lastJsonLine, startCli, waitFor } from '../fixtures/cli/run-cli.ts';

const run = promisify(execFile);
let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plugin-factory-stray-'));
});

afterEach(async () => {
  killAll();
  await rm(dir, { recursive: true, force: true });
});

/** Writes plugin folders: name → module source. */
async function plugins(modules: Record<string, string>): Promise<void> {
  for (const [name, source] of Object.entries(modules)) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0' }));
    await writeFile(join(dir, name, 'index.mjs'), source);
  }
}

const witness = `export default {
  init() {},
  start() { process.stdout.write('witness started\\n'); },
  stop() { process.stdout.write('witness stopped\\n'); },
};
`;
const STACK_LINE = /^\s+at /m;

interface Snapshot {
  plugins: Array<{ name: string; state: string; error: { code: string; cause?: string } | null }>;
}

describe('plugin code writing to stdout', () => {
  it.each([
    ['validate', '--json'],
    ['test', '--json'],
    ['graph', '--format=json'],
  ])('%s %s: stdout stays one JSON document; what the plugin writes goes to stderr', async (command, flag) => {
    await plugins({
      loud: `console.log('IMPORT NOISE');\nexport default { init() { console.log('HOOK NOISE'); }, start() { process.stdout.write('START NOISE\\n'); }, stop() {} };\n`,
    });
    const { code, stdout, stderr } = await cli([command, dir, flag], { timeoutMs: 60_000 });
    expect(code, stderr).toBe(0);
    expect(() => JSON.parse(stdout)).not.toThrow();
    expect(stderr).toContain('IMPORT NOISE');
  });
});

describe('Ctrl-C under tsx', () => {
  it('ends test at once with 130, not reported as an error of the plugin being walked', { timeout: 30_000 }, async () => {
    // tsx's own signal handler calls process.exit when nobody else listens; the guard must not
    // turn that into a plugin's error, and the command must still end.
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/cli.ts', 'test', 'tests/fixtures/cli/slow-boot'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 2500)); // walking its paths by now
    const sent = Date.now();
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    // Well before the 15 s its plugin's start would take, though the walker may first wait out
    // a hook it began (hookLimitMs) on a loaded machine.
    expect(Date.now() - sent).toBeLessThan(10_000);
    expect(output).not.toContain('UNCAUGHT_ERROR');
  });
});

describe('a document larger than a pipe holds', () => {
  it('graph --format=json reaches a reader that is slow to start, whole', { timeout: 60_000 }, async () => {
    // 300 plugins with long names: about 90 KB of JSON, more than a pipe holds (64 KiB).
    const names = Array.from({ length: 300 }, (_, i) => `p${i}-${'x'.repeat(200)}`);
    for (const name of names) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0' }));
      await writeFile(join(dir, name, 'index.mjs'), 'export default { init() {}, start() {}, stop() {} };\n');
    }
    // A reader that starts late, as `| (sleep 2; cat)` does: the CLI has answered and is exiting.
    const { stdout: text } = await run('sh', ['-c', `"${process.execPath}" --import tsx src/cli.ts graph "${dir}" --format=json | (sleep 2; cat)`], { cwd: ROOT, maxBuffer: 1 << 24 });
    const graph = JSON.parse(text) as { nodes: unknown[] };
    expect(graph.nodes).toHaveLength(names.length);
  });
});

describe('errors outside any hook', () => {
  it('run: an exception thrown from a plugin timer is reported with its plugin, and the host stops in order', async () => {
    await plugins({
      thrower: `export default { init() {}, start() { setTimeout(() => { throw new Error('from a timer'); }, 200); }, stop() {} };\n`,
      witness,
    });
    const run = startCli(['run', dir, '--json']);
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(1);
    expect(run.err()).toMatch(/UNCAUGHT_ERROR: plugin 'thrower': an exception nobody caught, outside any hook: from a timer; shutting down/);
    expect(run.err()).toContain('witness stopped'); // --json: plugin output on stderr
    const final = lastJsonLine<Snapshot>(run.out());
    expect(final.plugins.map((p) => p.state)).toEqual(['stopped', 'stopped']);
    expect(run.err()).not.toMatch(STACK_LINE);
  });

  it('run: a rejection nobody handles is reported and the host goes on; the run fails at the end', async () => {
    await plugins({
      rejecter: `export default { init() {}, start() { Promise.reject(new Error('nobody awaits me')); }, stop() {} };\n`,
      witness,
    });
    const run = startCli(['run', dir]);
    await waitFor(run, /UNCAUGHT_ERROR: plugin 'rejecter': a promise rejection nobody handled, outside any hook: nobody awaits me; the host goes on/, { stream: 'err' });
    await waitFor(run, /press Ctrl-C to stop/);
    expect(run.child.exitCode).toBeNull();
    run.child.kill('SIGINT');
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(1);
    expect(run.err()).toMatch(/1 error outside any hook \(UNCAUGHT_ERROR\)/);
    expect(run.out()).toContain('witness stopped');
  });

  it('run --once: a rejection from the last hooks counts in the verdict, printed before the run ends', async () => {
    await plugins({ rejecter: `export default { init() {}, start() { Promise.reject(new Error('rejected late')); }, stop() {} };\n` });
    const { code, stderr } = await cli(['run', dir, '--once']);
    expect(code, stderr).toBe(1);
    const report = stderr.indexOf("UNCAUGHT_ERROR: plugin 'rejecter'");
    const reason = stderr.indexOf('(UNCAUGHT_ERROR)');
    expect(report).toBeGreaterThanOrEqual(0);
    expect(reason).toBeGreaterThan(report);
    expect(stderr).not.toContain('the host goes on');
  });

  it('run: a plugin reached through a symlink is still named, and its short secret scrubbed from the report', async () => {
    await mkdir(join(dir, 'real', 'pinned'), { recursive: true });
    const manifest = { name: 'pinned', version: '1.0.0', config: { pin: { type: 'string', secret: true, default: '432' } } };
    await writeFile(join(dir, 'real', 'pinned', 'plugin.json'), JSON.stringify(manifest));
    await writeFile(join(dir, 'real', 'pinned', 'index.mjs'), `export default { init() {}, start(ctx) { Promise.reject(new Error('pin ' + ctx.config.pin + ' refused')); }, stop() {} };\n`);
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const { code, stderr } = await cli(['run', join(dir, 'link'), '--once']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/UNCAUGHT_ERROR: plugin 'pinned': a promise rejection nobody handled, outside any hook: pin \[redacted\] refused/);
    expect(stderr).not.toContain('432');
  });

  it('run: process.exit() in a hook fails that hook, and the host stops in order', async () => {
    await plugins({ exiter: `export default { init() {}, start() { process.exit(0); }, stop() {} };\n`, witness });
    const { code, stdout, stderr } = await cli(['run', dir, '--once', '--json']);
    expect(code, stderr).toBe(1);
    const final = lastJsonLine<Snapshot>(stdout);
    const exiter = final.plugins.find((p) => p.name === 'exiter');
    expect(exiter?.state).toBe('failed.halted');
    expect(exiter?.error?.code).toBe('HOOK_FAILED');
    expect(stderr).toContain('witness stopped'); // --json: plugin output on stderr
  });

  it('validate: a rejection at import makes the plugin invalid with UNCAUGHT_ERROR', async () => {
    await plugins({
      imp: `Promise.reject(new Error('rejected at import'));\nexport default { init() {}, start() {}, stop() {} };\n`,
      ok: `export default { init() {}, start() {}, stop() {} };\n`,
    });
    const { code, stdout } = await cli(['validate', dir, '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { plugins: Array<{ name: string; valid: boolean; errors: Array<{ code: string }> }> };
    const byName = Object.fromEntries(report.plugins.map((p) => [p.name, p]));
    expect(byName['imp']).toMatchObject({ valid: false, errors: [{ code: 'UNCAUGHT_ERROR' }] });
    expect(byName['ok']?.valid).toBe(true);
  });

  it('validate and graph: a rejection at import from the last plugin loaded counts too, and blocks its dependents and leaves the order', async () => {
    await mkdir(join(dir, 'app'));
    await writeFile(join(dir, 'app', 'plugin.json'), JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { zeta: '*' } }));
    await writeFile(join(dir, 'app', 'index.mjs'), 'export default { init() {}, start() {}, stop() {} };\n');
    await plugins({ zeta: `Promise.reject(new Error('rejected at import'));\nexport default { init() {}, start() {}, stop() {} };\n` });
    const { code, stdout } = await cli(['validate', dir, '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { plugins: Array<{ name: string; valid: boolean; errors: Array<{ code: string }> }>; order: string[] };
    const byName = Object.fromEntries(report.plugins.map((p) => [p.name, p]));
    expect(byName['zeta']).toMatchObject({ valid: false, errors: [{ code: 'UNCAUGHT_ERROR' }] });
    expect(byName['app']).toMatchObject({ valid: false, errors: [{ code: 'DEPENDENCY_FAILED' }] });
    expect(report.order).toEqual([]);
    const graph = await cli(['graph', dir, '--format=json']);
    expect(graph.code).toBe(1);
    expect(graph.stderr).toContain('UNCAUGHT_ERROR');
    // The graph marks it invalid, as validate does.
    const nodes = (JSON.parse(graph.stdout) as { nodes: Array<{ name: string; valid: boolean }> }).nodes;
    expect(nodes.map((node) => [node.name, node.valid]).sort()).toEqual([
      ['app', true],
      ['zeta', false],
    ]);
  });

  it('graph: a rejection at import is told naming its plugin, its secret scrubbed, as validate tells it', async () => {
    await mkdir(join(dir, 'vault'));
    const manifest = { name: 'vault', version: '1.0.0', config: { token: { type: 'string', secret: true, default: 'VAULT-TOKEN-7781' } } };
    await writeFile(join(dir, 'vault', 'plugin.json'), JSON.stringify(manifest));
    await writeFile(join(dir, 'vault', 'index.mjs'), `Promise.reject(new Error('token VAULT-TOKEN-7781 refused'));\nexport default { init() {}, start() {}, stop() {} };\n`);
    const { code, stderr } = await cli(['graph', dir]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/UNCAUGHT_ERROR: plugin 'vault': /);
    expect(stderr).not.toContain('VAULT-TOKEN-7781');
  });

  it('test: an exception from a plugin timer fails that plugin in the report instead of ending the run', async () => {
    await plugins({
      thrower: `let once = false;\nexport default { init() {}, start() { if (!once) { once = true; setTimeout(() => { throw Object.assign(new Error('from a timer'), { code: 'ECONNRESET' }); }, 0); } }, stop() {} };\n`,
      ok: `export default { init() {}, start() {}, stop() {} };\n`,
    });
    const { code, stdout, stderr } = await cli(['test', dir, '--json'], { timeoutMs: 60_000 });
    expect(code, stderr).toBe(1);
    const report = JSON.parse(stdout) as {
      plugins: Array<{ name: string; paths: number; passed: number; skipped: number; notWalked: number; failed: Array<{ code: string; cause: { code?: string } | null }> }>;
    };
    const byName = Object.fromEntries(report.plugins.map((p) => [p.name, p]));
    // Its cause is what the plugin threw, with its code.
    expect(byName['thrower']?.failed.filter((f) => f.code === 'UNCAUGHT_ERROR').map((f) => f.cause?.code)).toEqual(['ECONNRESET']);
    expect(byName['ok']?.failed).toEqual([]);
    // The path it happened on counts once, as failed: the counts add up to the paths.
    for (const plugin of report.plugins) expect(plugin.passed + plugin.skipped + plugin.failed.length + plugin.notWalked).toBe(plugin.paths);
    expect(stderr).not.toMatch(STACK_LINE);
  });

  it('test: a late, stackless error fails the path whose code it came from, counted once, not the plugin or path walked when it arrives', async () => {
    await plugins({
      // Its first start leaves a promise whose reaction throws a bare string once the next plugin starts.
      'a-source': `let armed = false;\nexport default { init() {}, start() { if (armed) return; armed = true; new Promise((resolve) => (globalThis.releaseStray = resolve)).then(() => { throw 'no stack'; }); }, stop() {} };\n`,
      'b-trigger': `export default { init() {}, start() { globalThis.releaseStray?.(); }, stop() {} };\n`,
    });
    const { code, stdout, stderr } = await cli(['test', dir, '--json'], { timeoutMs: 60_000 });
    expect(code, stderr).toBe(1);
    const report = JSON.parse(stdout) as {
      plugins: Array<{ name: string; paths: number; passed: number; skipped: number; notWalked: number; failed: Array<{ path: string; code: string }> }>;
    };
    const byName = Object.fromEntries(report.plugins.map((p) => [p.name, p]));
    expect(byName['b-trigger']?.failed).toEqual([]);
    const failed = byName['a-source']?.failed ?? [];
    expect(failed.map((f) => f.code)).toEqual(['UNCAUGHT_ERROR']);
    // The first path that starts it: it ends with that start.
    expect(failed[0]?.path).toMatch(/→ START$/);
    for (const plugin of report.plugins) expect(plugin.passed + plugin.skipped + plugin.failed.length + plugin.notWalked).toBe(plugin.paths);
  });
});
