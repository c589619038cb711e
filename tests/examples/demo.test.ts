/**
 * The runnable programs, run the way a user runs them: `npx tsx src/demo.ts` (the `npm start`
 * demo over `plugins/`) and `npx tsx examples/embed.ts`, each in its own process group.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEMO_PLUGINS = ['config', 'db', 'cache', 'http', 'metrics'];
const EMBED_PLUGINS = ['clock', 'greeter', 'reporter'];
/** tsx needs about a second to start; CI machines can be much slower. */
const BOOT_MS = 20_000;
const TEST_MS = 45_000;

interface Run {
  child: ChildProcess;
  /** stdout so far. */
  out(): string;
  /** stderr so far. */
  err(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: Run[] = [];

function run(file: string, env: Record<string, string> = {}): Run {
  // detached: its own process group, so afterEach can kill npx, tsx and node together.
  const child = spawn('npx', ['tsx', file], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const handle: Run = { child, out: () => stdout, err: () => stderr, exited };
  runs.push(handle);
  return handle;
}

/** Resolves with the first match of `pattern` in the run's stdout. */
async function waitFor(handle: Run, pattern: RegExp, ms = BOOT_MS): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const match = handle.out().match(pattern);
    if (match) return match;
    if (handle.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no ${pattern} in the output\n--- stdout\n${handle.out()}\n--- stderr\n${handle.err()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function exitOf(handle: Run, ms = BOOT_MS) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms\n${handle.out()}\n${handle.err()}`)), ms);
  });
  try {
    return await Promise.race([handle.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Each plugin's change lines (`plugin <name>: <previous> -> <state>`) show running, then stopped. */
function expectRanThenStopped(output: string, names: string[]) {
  const lines = output.split('\n');
  for (const name of names) {
    const running = lines.findIndex((line) => line.startsWith(`plugin ${name}: `) && line.endsWith(' -> running'));
    const stopped = lines.findIndex((line) => line.startsWith(`plugin ${name}: `) && line.endsWith(' -> stopped'));
    expect(running, `${name} reached running`).toBeGreaterThanOrEqual(0);
    expect(stopped, `${name} stopped after running`).toBeGreaterThan(running);
  }
  expect(output).not.toMatch(/-> (failed|invalid)/);
  expect(output).toMatch(/^host: stopping -> stopped$/m);
}

afterEach(() => {
  for (const handle of runs.splice(0)) {
    if (handle.child.exitCode !== null || handle.child.signalCode !== null || handle.child.pid === undefined) continue;
    try {
      process.kill(-handle.child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

describe('npm start demo (src/demo.ts)', () => {
  it(
    'boots every plugin under plugins/ and shuts down cleanly with PLUGIN_FACTORY_DEMO_ONCE=1',
    async () => {
      const demo = run('src/demo.ts', { PLUGIN_FACTORY_DEMO_ONCE: '1' });
      const { code } = await exitOf(demo);
      expect(code, demo.err()).toBe(0);
      expectRanThenStopped(demo.out(), DEMO_PLUGINS);
      expect(demo.out()).toMatch(/^http URL: http:\/\/127\.0\.0\.1:\d+\/$/m);
      expect(demo.err()).not.toContain('open handles');
    },
    TEST_MS,
  );

  it(
    'serves HTTP until SIGINT, then stops every plugin and exits 0',
    async () => {
      const demo = run('src/demo.ts');
      const [, url] = await waitFor(demo, /^http URL: (http:\/\/127\.0\.0\.1:\d+\/)$/m);
      // The demo's own pid: npx would answer a signal with its own exit code.
      const [, pid] = await waitFor(demo, /kill -INT (\d+)\)/);

      const status = await fetch(url!);
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({ plugin: 'http', status: 'running' });
      const health = await fetch(new URL('health', url));
      expect(await health.json()).toEqual({ status: 'ok' });

      process.kill(Number(pid), 'SIGINT');
      const { code } = await exitOf(demo);
      expect(code, demo.err()).toBe(0);
      expect(demo.out()).toContain('shutting down (SIGINT)');
      expectRanThenStopped(demo.out(), DEMO_PLUGINS);
      expect(demo.err()).not.toContain('open handles');
    },
    TEST_MS,
  );
});

describe('embedding example (examples/embed.ts)', () => {
  it(
    'runs clock, greeter and reporter, then shuts down cleanly with PLUGIN_FACTORY_DEMO_ONCE=1',
    async () => {
      const embed = run('examples/embed.ts', { PLUGIN_FACTORY_DEMO_ONCE: '1' });
      const { code } = await exitOf(embed);
      expect(code, embed.err()).toBe(0);
      expectRanThenStopped(embed.out(), EMBED_PLUGINS);
      expect(embed.out()).toContain('clock=stopped greeter=stopped reporter=stopped');
    },
    TEST_MS,
  );
});
