/**
 * `plugin-factory test`: every valid plugin walked through the lifecycle paths of the test kit,
 * from the command line: exit codes, the --json report, the options.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, cli, exitOf, killAll, lastJsonLine, startCli } from '../fixtures/cli/run-cli.ts';
import { until } from '../helpers/time.ts';
import type { TestReport } from '../../src/cli/test.ts';

afterEach(killAll);

const TIMEOUT = { timeoutMs: 60_000 };

/** Plugins with the bugs the kit finds, each in its own folder of `dir`. */
const BUGGY: Record<string, { manifest: object; source: string }> = {
  // A timer started in start and never cleared.
  leaky: {
    manifest: { name: 'leaky', version: '1.0.0' },
    source: 'let timer;\nexport default { init() {}, start() { timer = setInterval(() => {}, 1000); }, stop() {} };\n',
  },
  // An init that cannot run twice (the chart allows stopped → init).
  'init-once': {
    manifest: { name: 'init-once', version: '1.0.0' },
    source:
      "let done = false;\nexport default { init() { if (done) throw new Error('already initialised'); done = true; }, start() {}, stop() {}, dispose() { done = false; } };\n",
  },
  // Uses a service its dependency would provide: walked alone, the service is not there.
  client: {
    manifest: { name: 'client', version: '1.0.0', dependencies: { server: '*' } },
    source: "export default { init(ctx) { ctx.services.get({ id: 'server.api' }); }, start() {}, stop() {} };\n",
  },
  server: {
    manifest: { name: 'server', version: '1.0.0' },
    source: "export default { init() {}, start(ctx) { ctx.services.provide({ id: 'server.api' }, {}); }, stop() {} };\n",
  },
  // Throws an error whose code cannot be read: a failed path like any other, not a crash of the command.
  'odd-thrower': {
    manifest: { name: 'odd-thrower', version: '1.0.0' },
    source:
      "export default { init() { const error = new Error('db down'); Object.defineProperty(error, 'code', { get() { throw new Error('getter bomb'); } }); throw error; }, start() {}, stop() {} };\n",
  },
  // Not valid: no stop hook.
  incomplete: {
    manifest: { name: 'incomplete', version: '1.0.0' },
    source: 'export default { init() {}, start() {} };\n',
  },
};

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plugin-factory-test-'));
  for (const [name, plugin] of Object.entries(BUGGY)) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'plugin.json'), JSON.stringify(plugin.manifest));
    await writeFile(join(dir, name, 'index.mjs'), plugin.source);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function testJson(args: string[]): Promise<{ code: number | null; report: TestReport; stderr: string }> {
  const { code, stdout, stderr } = await cli(['test', ...args, '--json'], TIMEOUT);
  return { code, report: JSON.parse(stdout) as TestReport, stderr };
}

const byName = (report: TestReport, name: string) => report.plugins.find((plugin) => plugin.name === name)!;

describe('plugin-factory test', () => {
  it('exits 0 when every plugin passes every path, each path counted once', async () => {
    const { code, report, stderr } = await testJson([`${FIXTURES}/good`]);
    expect(code, stderr).toBe(0);
    expect(report.plugins.map((plugin) => plugin.name).sort()).toEqual(['api', 'audit', 'base', 'store']);
    for (const plugin of report.plugins) {
      expect(plugin.valid).toBe(true);
      expect(plugin.failed).toEqual([]);
      expect(plugin.notWalked).toBe(0);
      expect(plugin.paths).toBeGreaterThan(150);
      expect(plugin.passed + plugin.skipped).toBe(plugin.paths);
    }
    // store's start awaits a timer, so its start timeouts and cancels really happen.
    expect(byName(report, 'store').passed).toBeGreaterThan(byName(report, 'base').passed);
    expect(report.problems).toEqual([]);
    expect(report.interrupted).toBeNull();
  });

  it('reports the failed paths with their codes and exits 1', async () => {
    // A leak is counted once closes under way have had their grace (0.5 s a path): a limit keeps it short.
    const { code, report } = await testJson([dir, '--max-failures', '5']);
    expect(code).toBe(1);
    const leaky = byName(report, 'leaky');
    expect(leaky.failed.map((failed) => failed.code)).toEqual(Array(5).fill('HANDLE_LEAKED'));
    // Every failed path has the cause key, null when there is none to tell.
    for (const failed of report.plugins.flatMap((plugin) => plugin.failed)) expect(Object.hasOwn(failed, 'cause')).toBe(true);
    expect(leaky.notWalked).toBeGreaterThan(0);
    expect(leaky.passed + leaky.skipped + leaky.failed.length + leaky.notWalked).toBe(leaky.paths);

    const initOnce = byName(report, 'init-once');
    expect(initOnce.failed.length).toBeGreaterThan(0);
    expect(initOnce.notWalked).toBe(0); // fewer failures than the limit: every path walked
    expect(initOnce.failed.every((failed) => failed.code === 'LIFECYCLE_PATH_DIVERGED')).toBe(true);
    // Only paths that init a second time (after a stop, or a reset) fail.
    const inits = (path: string) => path.split(' → ').filter((event) => event === 'INIT').length;
    expect(initOnce.failed.map((failed) => inits(failed.path) >= 2)).toEqual(initOnce.failed.map(() => true));
    expect(initOnce.passed).toBeGreaterThan(0);

    // The cause is what the plugin's hook threw, with its code.
    const client = byName(report, 'client');
    expect(client.failed.length).toBeGreaterThan(0);
    expect(client.failed[0]).toMatchObject({ code: 'LIFECYCLE_PATH_DIVERGED', cause: { code: 'SERVICE_NOT_FOUND' } });

    // What it threw cannot be read whole: the path fails with the kit's code, the report goes on.
    const odd = byName(report, 'odd-thrower');
    expect(odd.failed.length).toBe(5);
    expect(odd.failed.every((failed) => failed.code === 'LIFECYCLE_PATH_DIVERGED' && failed.cause?.code === undefined)).toBe(true);

    expect(byName(report, 'server').failed).toEqual([]);
    const incomplete = byName(report, 'incomplete');
    expect([incomplete.valid, incomplete.walked, incomplete.paths, incomplete.errors.map((error) => error.code)]).toEqual([false, false, 0, ['CONTRACT_INVALID']]);
  });

  it('walks every path with --max-failures 0, and stops after 10 failed paths by default', async () => {
    const all = await testJson([dir, '--plugin', 'init-once', '--max-failures', '0']);
    const limited = await testJson([dir, '--plugin', 'init-once', '--max-failures', '2']);
    const byDefault = await testJson([dir, '--plugin', 'client']);
    expect([all.code, limited.code, byDefault.code]).toEqual([1, 1, 1]);
    const initOnce = byName(all.report, 'init-once');
    expect(initOnce.failed.length).toBeGreaterThan(2);
    expect([initOnce.notWalked, initOnce.passed + initOnce.skipped + initOnce.failed.length]).toEqual([0, initOnce.paths]);
    expect(byName(limited.report, 'init-once').failed).toHaveLength(2);
    expect(byName(limited.report, 'init-once').notWalked).toBeGreaterThan(0);
    const client = byName(byDefault.report, 'client');
    expect([client.failed.length, client.notWalked > 0]).toEqual([10, true]);
  });

  it('walks only the plugins named with --plugin, and --no-handles turns the handle check off', async () => {
    const { code, report } = await testJson([dir, '--plugin', 'leaky', '--plugin', 'server', '--no-handles']);
    expect(code).toBe(0);
    expect(report.plugins.map((plugin) => plugin.name).sort()).toEqual(['leaky', 'server']);
    expect(report.plugins.every((plugin) => plugin.failed.length === 0 && plugin.passed > 0)).toBe(true);
  });

  it('--cover simple walks fewer paths', async () => {
    const { code, report } = await testJson([`${FIXTURES}/good`, '--plugin', 'base', '--cover', 'simple']);
    const all = await testJson([`${FIXTURES}/good`, '--plugin', 'base']);
    expect([code, all.code]).toEqual([0, 0]);
    expect(byName(report, 'base').paths).toBeGreaterThan(0);
    expect(byName(report, 'base').paths).toBeLessThan(byName(all.report, 'base').paths);
  });

  it('prints a line per plugin without --json, and a note for services a walked-alone plugin lacks', async () => {
    const { code, stdout } = await cli(['test', dir, '--plugin', 'client', '--plugin', 'server', '--max-failures', '1'], TIMEOUT);
    expect(code).toBe(1);
    const lines = stdout.split('\n');
    expect(lines.some((line) => line.startsWith('✓ server'))).toBe(true);
    expect(lines.some((line) => line.startsWith('✗ client'))).toBe(true);
    expect(stdout).toContain('SERVICE_NOT_FOUND');
    expect(stdout).toContain('docs/testing.md');
  });

  it("never prints a secret config value a failing hook quotes, its own or another plugin's", async () => {
    const hostDir = join(dir, 'with-secrets');
    const plugin = async (name: string, source: string) => {
      await mkdir(join(hostDir, name), { recursive: true });
      const manifest = { name, version: '1.0.0', config: { token: { type: 'string', secret: true }, pin: { type: 'string', secret: true } } };
      await writeFile(join(hostDir, name, 'plugin.json'), JSON.stringify(manifest));
      await writeFile(join(hostDir, name, 'index.mjs'), source);
    };
    await plugin('vault', "export default { init() {}, start(ctx) { throw new Error(`cannot open ${ctx.config.token} with pin ${ctx.config.pin}`); }, stop() {} };\n");
    await plugin('quoter', "export default { init() {}, start() { throw new Error('peer said VAULT-TOKEN-8c1f'); }, stop() {} };\n");
    const host = ['plugins:', '  - path: vault', '    config: { token: VAULT-TOKEN-8c1f, pin: "77" }', '  - path: quoter', '    config: { token: QUOTER-TOKEN-5d2e }', ''];
    await writeFile(join(hostDir, 'host.yaml'), host.join('\n'));
    const json = await cli(['test', join(hostDir, 'host.yaml'), '--json', '--max-failures', '2'], TIMEOUT);
    const text = await cli(['test', join(hostDir, 'host.yaml'), '--max-failures', '2'], TIMEOUT);
    expect([json.code, text.code]).toEqual([1, 1]);
    const report = JSON.parse(json.stdout) as TestReport;
    expect(report.plugins.map((entry) => entry.failed.length)).toEqual([2, 2]);
    expect(report.plugins.flatMap((entry) => entry.failed.map((failed) => failed.code))).toEqual(Array(4).fill('LIFECYCLE_PATH_DIVERGED'));
    for (const output of [json.stdout, text.stdout]) {
      expect(output).not.toContain('VAULT-TOKEN-8c1f');
      expect(output).not.toMatch(/pin 77/);
      expect(output).toContain('[redacted]');
    }
  });

  it("bounds a plugin's factory by the host file's hookTimeoutMs, as the host does", async () => {
    const hostDir = join(dir, 'host-timeout');
    await mkdir(join(hostDir, 'slow'), { recursive: true });
    await writeFile(join(hostDir, 'slow', 'plugin.json'), JSON.stringify({ name: 'slow', version: '1.0.0' }));
    // Quick when the host checks it, slow on the paths: within the default limit, beyond the host's.
    await writeFile(
      join(hostDir, 'slow', 'index.mjs'),
      'let calls = 0;\nexport default async () => { if (calls++ > 0) await new Promise((r) => setTimeout(r, 600)); return { init() {}, start() {}, stop() {} }; };\n',
    );
    await writeFile(join(hostDir, 'host.yaml'), ['hookTimeoutMs: 200', 'plugins:', '  - slow', ''].join('\n'));
    const { report } = await testJson([join(hostDir, 'host.yaml'), '--max-failures', '1']);
    expect(byName(report, 'slow').failed.map((failed) => failed.code)).toEqual(['MODULE_LOAD_FAILED']);
  });

  it('walks alone a plugin invalid only by the host graph, and --plugin finds a plugin by the name the host gives it', async () => {
    const graphDir = join(dir, 'graph');
    const write = async (folder: string, manifest: object) => {
      await mkdir(join(graphDir, folder), { recursive: true });
      await writeFile(join(graphDir, folder, 'plugin.json'), JSON.stringify(manifest));
      await writeFile(join(graphDir, folder, 'index.mjs'), 'export default { init() {}, start() {}, stop() {} };\n');
    };
    await write('orphan', { name: 'orphan', version: '1.0.0', dependencies: { ghost: '^1.0.0' } });
    await write('nameless', { version: '1.0.0' });
    // Broken in itself too (a required config value missing): listed with that, not walked.
    await write('broken-orphan', { name: 'broken-orphan', version: '1.0.0', dependencies: { ghost: '*' }, config: { pin: { type: 'string', required: true } } });
    const { code, report } = await testJson([graphDir, '--plugin', 'orphan', '--plugin', 'broken-orphan']);
    expect(code).toBe(1);
    const orphan = byName(report, 'orphan');
    expect([orphan.valid, orphan.walked, orphan.errors.map((error) => error.code), orphan.failed]).toEqual([false, true, ['MISSING_DEPENDENCY'], []]);
    expect(orphan.passed).toBeGreaterThan(100);
    const broken = byName(report, 'broken-orphan');
    expect([broken.walked, broken.paths, broken.errors.map((error) => error.code)]).toEqual([false, 0, ['MISSING_DEPENDENCY', 'CONFIG_INVALID']]);

    const all = await testJson([graphDir]);
    const nameless = all.report.plugins.find((plugin) => !['orphan', 'broken-orphan'].includes(plugin.name))!;
    expect([nameless.valid, nameless.walked, nameless.paths]).toEqual([false, false, 0]);
    const picked = await testJson([graphDir, '--plugin', nameless.name]);
    expect(picked.code).toBe(1);
    expect(picked.report.plugins.map((plugin) => plugin.name)).toEqual([nameless.name]);
  });

  it.each([
    ['an unknown --plugin', ['--plugin', 'ghost']],
    ['a bad --cover', ['--cover', 'all']],
    ['a bad --max-failures', ['--max-failures', 'many']],
    ['a --hook-limit of 0', ['--hook-limit', '0']],
    ['a --hook-limit that is not a number', ['--hook-limit', 'soon']],
    ['an --abort-grace of 0', ['--abort-grace', '0']],
    ['an unknown option', ['--fast']],
  ])('exits 2 on %s', async (_name, args) => {
    const { code, stdout } = await cli(['test', `${FIXTURES}/good`, ...args], TIMEOUT);
    expect(code).toBe(2);
    expect(stdout).toBe('');
  });

  it('--hook-limit sets how long a hook a path expects to succeed may take', async () => {
    const patientDir = await mkdtemp(join(tmpdir(), 'plugin-factory-test-limit-'));
    try {
      await mkdir(join(patientDir, 'patient'));
      await writeFile(join(patientDir, 'patient', 'plugin.json'), JSON.stringify({ name: 'patient', version: '1.0.0', hookTimeoutMs: 10_000 }));
      await writeFile(
        join(patientDir, 'patient', 'index.mjs'),
        "export default { init() {}, start(ctx) { return new Promise((resolve, reject) => { const t = setTimeout(resolve, 300); ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(ctx.signal.reason); }); }); }, stop() {} };\n",
      );
      const args = [patientDir, '--cover', 'simple', '--max-failures', '1'];
      const roomy = await testJson(args);
      const tight = await testJson([...args, '--hook-limit', '100']);
      expect(roomy.code).toBe(0);
      expect(roomy.report.plugins[0]!.failed).toEqual([]);
      expect(tight.code).toBe(1);
      expect(tight.report.plugins[0]!.failed.map((path) => path.code)).toEqual(['LIFECYCLE_PATH_DIVERGED']);
    } finally {
      await rm(patientDir, { recursive: true, force: true });
    }
  });

  it('--abort-grace sets how long an aborted hook may run on: a start that ignores its signal for 300 ms passes at 500, fails at 100', async () => {
    const slowDir = await mkdtemp(join(tmpdir(), 'plugin-factory-test-grace-'));
    try {
      await mkdir(join(slowDir, 'deaf'));
      await writeFile(join(slowDir, 'deaf', 'plugin.json'), JSON.stringify({ name: 'deaf', version: '1.0.0' }));
      // Its start takes 300 ms whatever its signal says.
      await writeFile(join(slowDir, 'deaf', 'index.mjs'), 'export default { init() {}, start() { return new Promise((resolve) => setTimeout(resolve, 300)); }, stop() {} };\n');
      const args = [slowDir, '--cover', 'simple', '--max-failures', '1'];
      const lenient = await testJson(args);
      const strict = await testJson([...args, '--abort-grace', '100']);
      expect([lenient.code, lenient.report.plugins[0]!.failed]).toEqual([0, []]);
      expect([strict.code, strict.report.plugins[0]!.failed.map((path) => path.code)]).toEqual([1, ['HOOK_IGNORED_ABORT']]);
    } finally {
      await rm(slowDir, { recursive: true, force: true });
    }
  });

  it('exits 1 with the host problem when the target does not exist', async () => {
    const { code, report } = await testJson([join(dir, 'nowhere')]);
    expect(code).toBe(1);
    expect(report.plugins).toEqual([]);
    expect(report.problems.map((problem) => problem.code)).toEqual(['MANIFEST_NOT_FOUND']);
  });

  it('--json: a signal while plugin modules load still leaves a report saying it was interrupted (exit 130)', async () => {
    const run = startCli(['test', `${FIXTURES}/slow-import`, '--json']);
    await until(() => run.err().includes('slow: importing'), 20_000);
    run.child.kill('SIGINT');
    const { code } = await exitOf(run, 5000);
    expect(code).toBe(130);
    expect(lastJsonLine<TestReport>(run.out())).toEqual({ plugins: [], problems: [], interrupted: 'SIGINT' });
  });

  /** Runs `check` on a temporary folder holding one plugin, `name`, whose module is `source(home)`. */
  async function inOnePluginFolder(name: string, source: (home: string) => string, check: (home: string) => Promise<void>): Promise<void> {
    const home = await mkdtemp(join(tmpdir(), 'plugin-factory-test-signal-'));
    try {
      await mkdir(join(home, name));
      await writeFile(join(home, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0' }));
      await writeFile(join(home, name, 'index.mjs'), source(home));
      await check(home);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }

  /** `test --json` on `home`, sent SIGINT once `init-called` is there, then SIGTERM: the report it printed. */
  async function reportAtSecondSignal(home: string): Promise<TestReport> {
    const run = startCli(['test', home, '--json']);
    await until(() => existsSync(join(home, 'init-called')), 20_000);
    run.child.kill('SIGINT');
    await until(() => run.err().includes('stopping after the path under way'), 10_000);
    run.child.kill('SIGTERM');
    await exitOf(run, 10_000);
    return lastJsonLine<TestReport>(run.out());
  }

  it('--json: a second signal exits at once with the report as it stands, whose counts add up to the paths', () =>
    inOnePluginFolder(
      'slow',
      (home) =>
        `import { writeFileSync } from 'node:fs';\nexport default { init() { writeFileSync(${JSON.stringify(join(home, 'init-called'))}, 'x'); return new Promise((resolve) => setTimeout(resolve, 1500)); }, start() {}, stop() {} };\n`,
      async (home) => {
        const [slow] = (await reportAtSecondSignal(home)).plugins;
        expect(slow!.notWalked).toBeGreaterThan(0);
        expect(slow!.passed + slow!.skipped + slow!.failed.length + slow!.notWalked).toBe(slow!.paths);
      },
    ));

  it('--json: a path under way that a stray error failed is counted once in the report a second signal prints', () =>
    inOnePluginFolder(
      'stray',
      // Its first path fails at once (an error thrown from a timer) and goes on running.
      (home) =>
        `import { writeFileSync } from 'node:fs';\nexport default { init() { setTimeout(() => { throw new Error('from a timer'); }, 0); setTimeout(() => writeFileSync(${JSON.stringify(join(home, 'init-called'))}, 'x'), 200); return new Promise((resolve) => setTimeout(resolve, 1500)); }, start() {}, stop() {} };\n`,
      async (home) => {
        const [stray] = (await reportAtSecondSignal(home)).plugins;
        expect(stray!.failed).toHaveLength(1);
        expect(stray!.passed + stray!.skipped + stray!.failed.length + stray!.notWalked).toBe(stray!.paths);
      },
    ));

  it('a signal to the command alone stops the walk after the path under way: exit 130, and no child process a plugin spawned is left running', () =>
    inOnePluginFolder(
      'spawner',
      (home) =>
        `import { spawn } from 'node:child_process';\nimport { appendFileSync } from 'node:fs';\nlet child;\nexport default { init() {}, start() { child = spawn('sleep', ['300'], { stdio: 'ignore' }); appendFileSync(${JSON.stringify(join(home, 'pids.txt'))}, child.pid + '\\n'); }, stop() { child?.kill(); } };\n`,
      async (home) => {
        const pids = join(home, 'pids.txt');
        const run = startCli(['test', home, '--json']);
        await until(() => existsSync(pids), 20_000);
        run.child.kill('SIGINT');
        const { code } = await exitOf(run, 30_000);
        expect(code, run.err()).toBe(130);
        // The report says the walk was cut short: it lists the plugin under way, its rest unwalked.
        const report = lastJsonLine<TestReport>(run.out());
        expect(report.interrupted).toBe('SIGINT');
        expect(report.plugins.map((plugin) => [plugin.name, plugin.notWalked > 0])).toEqual([['spawner', true]]);
        const alive = (await readFile(pids, 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map(Number)
          .filter((pid) => {
            try {
              process.kill(pid, 0);
              return true;
            } catch {
              return false;
            }
          });
        for (const pid of alive) process.kill(pid, 'SIGKILL');
        expect(alive).toEqual([]);
      },
    ));
});
