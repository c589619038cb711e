/**
 * The runnable programs, run the way a user runs them: `npx tsx src/demo.ts` (the `npm start`
 * demo over `plugins/`) and `npx tsx examples/embed.ts`, each in its own process group.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HAS_SCRIPT, exitAfterHangup, exitOf as exitWithin, killAll, startProcess, waitFor as waitForOutput } from '../helpers/process.ts';
import type { Run } from '../helpers/process.ts';

const DEMO_PLUGINS = ['config', 'db', 'cache', 'http', 'metrics'];
const EMBED_PLUGINS = ['clock', 'greeter', 'reporter'];
/** tsx needs about a second to start; CI machines can be much slower. */
const BOOT_MS = 20_000;
const TEST_MS = 45_000;

/** `npx tsx <file>`, as a user runs it. */
const run = (file: string, env: Record<string, string> = {}): Run => startProcess('npx', ['tsx', file], env);
const waitFor = (handle: Run, pattern: RegExp, ms = BOOT_MS) => waitForOutput(handle, pattern, { ms });
const exitOf = (handle: Run, ms = BOOT_MS) => exitWithin(handle, ms);

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

afterEach(killAll);

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
      // A target Node's parser takes and no URL parser does is the client's error, not the host's end.
      const head = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(url!).port), '127.0.0.1', () => socket.write('GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let text = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        socket.on('error', reject);
        socket.on('close', () => resolve(text.split('\r\n')[0]!));
      });
      expect(head).toBe('HTTP/1.1 400 Bad Request');
      expect((await fetch(url!)).status).toBe(200);

      process.kill(Number(pid), 'SIGINT');
      const { code } = await exitOf(demo);
      expect(code, demo.err()).toBe(0);
      expect(demo.out()).toContain('shutting down (SIGINT)');
      expectRanThenStopped(demo.out(), DEMO_PLUGINS);
      expect(demo.err()).not.toContain('open handles');
    },
    TEST_MS,
  );

  it.skipIf(!HAS_SCRIPT)(
    'on a terminal that hung up, stops every plugin and exits 0: the lines it can no longer print are dropped',
    async () => {
      const { status, output } = await exitAfterHangup([process.execPath, '--import', 'tsx', 'src/demo.ts'], BOOT_MS);
      // Before: the first line after the hangup failed (EIO) and ended the demo, no plugin stopped.
      expect(status, output).toBe('0');
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

  it(
    'a SIGINT during boot ends in a clean shutdown and exit 0, not an unhandled rejection',
    async () => {
      const embed = startProcess('node', ['--import', 'tsx', '--import', './tests/fixtures/process/signal-during-boot.mjs', 'examples/embed.ts']);
      const { code } = await exitOf(embed);
      expect(code, embed.err()).toBe(0);
      expect(embed.out()).toContain('shutting down (SIGINT)');
      expect(embed.err()).not.toMatch(/at .*\.ts:\d+/); // no stack
    },
    TEST_MS,
  );
});
