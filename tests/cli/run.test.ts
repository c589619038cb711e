/**
 * `plugin-factory run`: boot and shutdown with --once, the final snapshot with --json, progress
 * lines, signals (clean shutdown, a relayed repeat ignored, a second Ctrl-C forcing the exit, a
 * hangup with the terminal gone).
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ManagerSnapshot } from '../../src/index.ts';
import { exitReasons } from '../../src/cli/run.ts';
import { FIXTURES, cli, exitOf, killAll, lastJsonLine, startCli, waitFor } from '../fixtures/cli/run-cli.ts';
import { HAS_SCRIPT, exitAfterHangup } from '../helpers/process.ts';

interface Snapshot {
  state: string;
  plugins: Array<{ name: string; state: string; error: { code: string } | null; errors: Array<{ code: string }> }>;
}

afterEach(killAll);

/** The plugins a progress output shows reaching `state`. */
function reached(output: string, state: string): string[] {
  const names = new Set<string>();
  for (const match of output.matchAll(/^plugin (\S+): \S+ -> (\S+)$/gm)) if (match[2] === state) names.add(match[1]!);
  return [...names].sort();
}

describe('plugin-factory run', () => {
  it('--once --json on good plugins: boots, shuts down, exits 0, snapshot on the last stdout line', async () => {
    const { code, stdout, stderr } = await cli(['run', `${FIXTURES}/good`, '--once', '--json']);
    expect(code, stderr).toBe(0);
    const final = lastJsonLine<Snapshot>(stdout);
    expect(final.state).toBe('stopped');
    expect(final.plugins.map((p) => [p.name, p.state]).sort()).toEqual([
      ['api', 'stopped'],
      ['audit', 'stopped'],
      ['base', 'stopped'],
      ['store', 'stopped'],
    ]);
    // stdout holds only the snapshot; progress went to stderr, a line for every change.
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(reached(stderr, 'created')).toEqual(['api', 'audit', 'base', 'store']);
    expect(reached(stderr, 'running')).toEqual(['api', 'audit', 'base', 'store']);
    expect(stderr).toMatch(/^host: stopping -> stopped$/m);
  });

  it('--once --json on a mix: only the healthy plugins run and stop, exit 1 for the broken ones', async () => {
    const { code, stdout, stderr } = await cli(['run', `${FIXTURES}/mixed`, '--once', '--json']);
    expect(code).toBe(1);
    const final = lastJsonLine<Snapshot>(stdout);
    const states = Object.fromEntries(final.plugins.map((p) => [p.name, p.state]));
    expect(states).toEqual({
      alpha: 'stopped',
      beta: 'stopped',
      'bad-config': 'invalid',
      'bad-contract': 'invalid',
      'bad-manifest': 'invalid',
      'cycle-a': 'invalid',
      'cycle-b': 'invalid',
      'import-throws': 'invalid',
      'needs-ghost': 'invalid',
      'no-entry': 'invalid',
      'no-manifest': 'invalid',
    });
    expect(final.plugins.find((p) => p.name === 'needs-ghost')?.error?.code).toBe('MISSING_DEPENDENCY');
    expect(reached(stderr, 'running')).toEqual(['alpha', 'beta']);
    expect(reached(stderr, 'stopped')).toEqual(['alpha', 'beta']);
    expect(stderr).toContain('DUPLICATE_PLUGIN: ');
  });

  it('prints one plain line per state change when stdout is not a terminal', async () => {
    const { code, stdout } = await cli(['run', `${FIXTURES}/good`, '--once']);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    const running = lines.indexOf('plugin base: starting.hook -> running');
    const stopped = lines.indexOf('plugin base: stopping -> stopped');
    expect(running).toBeGreaterThanOrEqual(0);
    expect(stopped).toBeGreaterThan(running);
    expect(stdout).toMatch(/^booted: 4 of 4 plugins running$/m);
    expect(stdout).toMatch(/^ {2}base +stopped +1\.0\.0$/m);
  });

  it('runs a yaml host file with the config values it gives', async () => {
    const { code, stdout, stderr } = await cli(['run', `${FIXTURES}/host/host.yaml`, '--once', '--json']);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('greeter says hej hej');
    expect(lastJsonLine<Snapshot>(stdout).plugins.map((p) => [p.name, p.state])).toEqual([['greeter', 'stopped']]);
  });

  it('serves until SIGINT, then stops every plugin in reverse order and exits 0', async () => {
    const run = startCli(['run', `${FIXTURES}/good`, '--json']);
    await waitFor(run, /press Ctrl-C to stop/, { stream: 'err' });
    expect(run.child.exitCode).toBeNull();
    run.child.kill('SIGINT');
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(0);
    expect(run.err()).toContain('shutting down (SIGINT)');
    const final = lastJsonLine<Snapshot>(run.out());
    expect(final.plugins.every((p) => p.state === 'stopped')).toBe(true);
    // Reverse dependency order: api before store before base.
    const order = run.err().split('\n').filter((line) => line.endsWith('-> stopped') && line.startsWith('plugin '));
    const at = (name: string) => order.findIndex((line) => line.startsWith(`plugin ${name}:`));
    expect(at('api')).toBeLessThan(at('store'));
    expect(at('store')).toBeLessThan(at('base'));
  });

  it('a stdout reader that goes away does not take the host down: it serves on and stops in order', async () => {
    const run = startCli(['run', `${FIXTURES}/good`]);
    await waitFor(run, /press Ctrl-C to stop/);
    run.child.stdout!.destroy(); // as `| grep -m1 booted` does once it has its line
    run.child.kill('SIGINT'); // shutdown progress now goes to a closed pipe
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(0);
    expect(run.err()).not.toMatch(/EPIPE|Error/);
  });

  it.skipIf(!existsSync('/dev/full'))('stdout on a full disk does not take the host down: it says so once, and stops in order', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const run = startCli(['run', `${FIXTURES}/good`, '--once', '--json'], { stdout: full });
      const { code } = await exitOf(run);
      expect(code, run.err()).toBe(0);
      expect(run.err().match(/cannot write to stdout \(ENOSPC\)/g)).toHaveLength(1);
      expect(run.err()).toMatch(/^host: stopping -> stopped$/m);
      expect(run.err()).not.toMatch(/^\s+at /m);
    } finally {
      closeSync(full);
    }
  });

  it.skipIf(!existsSync('/dev/full'))('stderr on a full disk under --json: the run ends as usual, stdout holds only the snapshot', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const run = startCli(['run', `${FIXTURES}/good`, '--once', '--json'], { stderr: full });
      const { code } = await exitOf(run);
      expect(code).toBe(0);
      expect(lastJsonLine<Snapshot>(run.out()).state).toBe('stopped');
      expect(run.out()).not.toContain('cannot write');
    } finally {
      closeSync(full);
    }
  });

  it.skipIf(!existsSync('/dev/full'))('stderr on a full disk without --json: said once on stdout, and the run ends with its own code', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      // A failing plugin: its error goes to stderr, more than once.
      const run = startCli(['run', `${FIXTURES}/failing`, '--once'], { stderr: full });
      const { code } = await exitOf(run);
      expect(code).toBe(1);
      expect(run.out().match(/cannot write to stderr \(ENOSPC\)/g)).toHaveLength(1);
    } finally {
      closeSync(full);
    }
  });

  it('a Ctrl-C while a plugin waits to retry its failed start ends the run as an interrupted boot (130), not as a failure', async () => {
    const run = startCli(['run', `${FIXTURES}/retrying`, '--json']);
    await waitFor(run, /flaky: starting\.hook -> failed\.retrying/, { stream: 'err' });
    run.child.kill('SIGINT');
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(130);
    expect(lastJsonLine<Snapshot>(run.out()).plugins.map((p) => [p.name, p.state])).toEqual([['flaky', 'failed.halted']]);
    expect(run.err()).not.toContain('ended failed');
  });

  it('shuts down cleanly on SIGTERM, and ignores a relayed repeat of the signal', async () => {
    const run = startCli(['run', `${FIXTURES}/good`]);
    await waitFor(run, /press Ctrl-C to stop/);
    run.child.kill('SIGTERM');
    run.child.kill('SIGTERM'); // the same signal relayed by a parent (npm, tsx) within 300 ms
    const { code } = await exitOf(run);
    expect(code, run.err()).toBe(0);
    expect(run.out()).toMatch(/^host: stopping -> stopped$/m);
    expect(run.err()).not.toContain('again');
  });

  it('a relayed repeat of the signal, even once the host has stopped, is still one signal: the open-handle report and exit 1 follow, not 130', async () => {
    const run = startCli(['run', `${FIXTURES}/leaky`]);
    await waitFor(run, /press Ctrl-C to stop/);
    run.child.kill('SIGINT');
    // A parent's relay of the same Ctrl-C: the host stops quickly, so it may come after the
    // command let go of the signals.
    await new Promise((resolve) => setTimeout(resolve, 50));
    run.child.kill('SIGINT');
    const { code } = await exitOf(run, 10_000);
    expect(code, run.err()).toBe(1);
    expect(run.err()).toContain('open handles');
  });

  it('a Ctrl-C once the host has stopped, while a handle a plugin left keeps the process alive, reports the handles and exits 1 at once', async () => {
    const run = startCli(['run', `${FIXTURES}/leaky`]);
    await waitFor(run, /press Ctrl-C to stop/);
    run.child.kill('SIGINT');
    await waitFor(run, /^host: stopping -> stopped$/m);
    await new Promise((resolve) => setTimeout(resolve, 400)); // past a relayed repeat's window
    const sent = Date.now();
    run.child.kill('SIGINT');
    const { code } = await exitOf(run, 10_000);
    expect(code, run.err()).toBe(1);
    // The plugin's interval, not the command's own stdout and stderr (pipes here).
    expect(run.err()).toMatch(/open handles: Timeout$/m);
    expect(run.err()).not.toContain('again');
    // Not the report's own wait (5 s): the signal ended it.
    expect(Date.now() - sent).toBeLessThan(4000);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const)('%s during boot stops the host without reporting a boot failure, and exits %i as an interrupted command', async (signal, exitCode) => {
    const run = startCli(['run', `${FIXTURES}/slow-boot`]);
    await waitFor(run, /^plugin late: \S+ -> starting\.hook$/m);
    run.child.kill(signal);
    const { code } = await exitOf(run, 5000);
    expect(run.out()).toMatch(/^host: stopping -> stopped$/m);
    expect(run.err()).not.toContain('boot failed');
    expect(run.err()).not.toContain('INVALID_TRANSITION');
    expect(run.err()).not.toContain('did not reach running'); // the signal kept late from it
    expect(code).toBe(exitCode);
  });

  it.skipIf(!HAS_SCRIPT)('on a terminal that hung up, stops every plugin and exits 0, not aborting in Node as it restores the terminal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-pty-'));
    try {
      const mark = join(dir, 'stopped.txt');
      await mkdir(join(dir, 'writer'));
      await writeFile(join(dir, 'writer', 'plugin.json'), JSON.stringify({ name: 'writer', version: '1.0.0' }));
      await writeFile(join(dir, 'writer', 'index.mjs'), `import { writeFileSync } from 'node:fs';\nexport default { init() {}, start() {}, stop() { writeFileSync(${JSON.stringify(mark)}, 'stopped'); } };\n`);
      const { status, output } = await exitAfterHangup([process.execPath, '--import', 'tsx', 'src/cli.ts', 'run', dir]);
      // 134 (SIGABRT) before: the shutdown went well, then Node aborted as it exited.
      expect(status, output).toBe('0');
      expect(await readFile(mark, 'utf8')).toBe('stopped');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('SIGHUP with its reader gone (a closed terminal) stops every plugin and exits 0: what the host writes meanwhile is dropped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-hangup-'));
    try {
      const mark = join(dir, 'stopped.txt');
      await mkdir(join(dir, 'writer'));
      await writeFile(join(dir, 'writer', 'plugin.json'), JSON.stringify({ name: 'writer', version: '1.0.0' }));
      await writeFile(
        join(dir, 'writer', 'index.mjs'),
        `import { writeFileSync } from 'node:fs';\nexport default { init() {}, start() {}, stop() { console.log('stopping'); writeFileSync(${JSON.stringify(mark)}, 'stopped'); } };\n`,
      );
      const run = startCli(['run', dir]);
      await waitFor(run, /press Ctrl-C to stop/);
      // The terminal goes away: every later write of the host fails (EPIPE), then the hangup.
      run.child.stdout?.destroy();
      run.child.stderr?.destroy();
      run.child.kill('SIGHUP');
      const { code, signal } = await exitOf(run, 10_000);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(await readFile(mark, 'utf8')).toBe('stopped');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a second SIGINT during a slow shutdown exits at once with 130; a SIGHUP before it (the terminal closed) does not cut the stop hooks short', async () => {
    const run = startCli(['run', `${FIXTURES}/slow-stop`]);
    await waitFor(run, /press Ctrl-C to stop/);
    run.child.kill('SIGINT');
    await waitFor(run, /^plugin hang: running -> stopping$/m);
    await new Promise((resolve) => setTimeout(resolve, 350));
    run.child.kill('SIGHUP');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(run.child.exitCode, run.err()).toBeNull(); // still stopping
    run.child.kill('SIGINT');
    const { code } = await exitOf(run, 5000);
    expect(code).toBe(130);
    expect(run.err()).toContain('SIGINT again, exiting without waiting for the plugins');
  });

  it('--json: a second SIGINT that forces the exit still leaves the snapshot as it stood as the last stdout line', async () => {
    const run = startCli(['run', `${FIXTURES}/slow-stop`, '--json']);
    await waitFor(run, /press Ctrl-C to stop/, { stream: 'err' });
    run.child.kill('SIGINT');
    await waitFor(run, /^plugin hang: running -> stopping$/m, { stream: 'err' });
    await new Promise((resolve) => setTimeout(resolve, 350)); // past the window of a relayed repeat
    run.child.kill('SIGINT');
    const { code } = await exitOf(run, 5000);
    expect(code).toBe(130);
    expect(lastJsonLine<Snapshot>(run.out()).plugins.map((p) => [p.name, p.state])).toEqual([['hang', 'stopping']]);
  });

  it('--json: a signal while plugin modules load ends the run (130) with an empty final snapshot on stdout and a word on stderr', async () => {
    const run = startCli(['run', `${FIXTURES}/slow-import`, '--json']);
    await waitFor(run, /slow: importing/, { stream: 'err' });
    run.child.kill('SIGINT');
    const { code } = await exitOf(run, 5000);
    expect(code).toBe(130);
    expect(run.out().trim().split('\n')).toHaveLength(1);
    expect(lastJsonLine<Snapshot>(run.out())).toEqual({ state: 'stopped', plugins: [] });
    expect(run.err()).toMatch(/SIGINT/);
  });

  it("under the abort policy, a plugin that was running before the abort stopped it is not said to have missed running", async () => {
    const home = await mkdtemp(join(tmpdir(), 'plugin-factory-run-abort-'));
    try {
      const fixtures = join(process.cwd(), FIXTURES, 'failing');
      await writeFile(join(home, 'host.json'), JSON.stringify({ failurePolicy: 'abort', plugins: [join(fixtures, 'fine'), join(fixtures, 'boom')] }));
      const { code, stdout, stderr } = await cli(['run', join(home, 'host.json'), '--once', '--json']);
      expect(code).toBe(1);
      expect(lastJsonLine<Snapshot>(stdout).plugins.map((p) => [p.name, p.state.split('.')[0]])).toEqual([['fine', 'stopped'], ['boom', 'failed']]);
      const missed = stderr.split('\n').find((line) => line.includes('did not reach running')) ?? '';
      expect(missed).toMatch(/\bboom\b/);
      expect(missed).not.toMatch(/\bfine\b/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('exits 1 when a valid plugin fails to start, while the others run', async () => {
    const { code, stdout, stderr } = await cli(['run', `${FIXTURES}/failing`, '--once', '--json']);
    expect(code).toBe(1);
    const final = lastJsonLine<Snapshot>(stdout);
    const boom = final.plugins.find((p) => p.name === 'boom');
    expect(boom?.state).toMatch(/^failed/);
    expect(boom?.error?.code).toBe('HOOK_FAILED');
    expect(final.plugins.find((p) => p.name === 'fine')?.state).toBe('stopped');
    expect(stderr).toMatch(/did not reach running: boom/);
  });

  it('--json: stdout is the final snapshot alone, whatever plugin code prints (at import, in hooks, from a timer after its stop)', async () => {
    const { code, stdout, stderr } = await cli(['run', `${FIXTURES}/noisy`, '--once', '--json']);
    expect(code, stderr).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect((JSON.parse(lines[0]!) as Snapshot).plugins.map((p) => `${p.name}: ${p.state}`)).toEqual(['loud: stopped']);
    expect(stderr).toContain('loud: imported');
    expect(stderr).toContain('loud: stop');
    expect(stderr).toContain('loud: a timer after stop');
  });

  it('a target with no plugin is PLUGIN_NOT_FOUND, as for every command', async () => {
    const { code, stdout, stderr } = await cli(['run', `${FIXTURES}/empty-host/host.json`, '--once', '--json']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/PLUGIN_NOT_FOUND: /);
    expect(JSON.parse(stdout.trim())).toEqual({ state: 'stopped', plugins: [] });
  });

  it('a reason names ten plugins at most, then how many more', () => {
    const plugins = Array.from({ length: 15 }, (_, i) => ({ name: `p${i}`, state: 'failed.halted' }));
    const final = { state: 'stopped', plugins } as unknown as ManagerSnapshot;
    expect(exitReasons(null, final, 0)).toEqual([`ended failed: ${plugins.slice(0, 10).map((p) => `${p.name} (failed.halted)`).join(', ')} … and 5 more`]);
  });

  it('a plugin that entered running during the boot is not among those that missed it, whatever its state at the end of the boot', () => {
    const boot = { state: 'stopped', plugins: [{ name: 'fine', state: 'stopped' }, { name: 'boom', state: 'failed.halted' }] } as unknown as ManagerSnapshot;
    const reasons = exitReasons(boot, boot, 0, new Set(), new Set(['fine']));
    const missed = reasons.filter((reason) => reason.startsWith('did not reach running'));
    expect(missed.map((reason) => [reason.includes('boom'), reason.includes('fine')])).toEqual([[true, false]]);
    // Without knowing that it ran, it is counted.
    expect(exitReasons(boot, boot, 0).filter((reason) => reason.startsWith('did not reach running') && reason.includes('fine'))).toHaveLength(1);
  });

  it('exits 1 when nothing can be loaded', async () => {
    const { code, stderr } = await cli(['run', `${FIXTURES}/no-such-folder`, '--once']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/MANIFEST_NOT_FOUND: /);
  });
});
