/**
 * `run --dashboard` and `run --inspect`, and `npm start`, run the way a user runs them: the URL
 * and token are printed, the API answers, the inspector relay receives every actor, bad flags
 * are usage errors, and the process ends by itself after shutdown.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { cli, exitOf, killAll, startCli, waitFor } from '../fixtures/cli/run-cli.ts';
import { startProcess } from '../helpers/process.ts';
import type { Run } from '../helpers/process.ts';
import { call } from './http.ts';
import { top } from './plugins.ts';

const HOST = 'plugins/host.yaml';
const DEMO_PLUGINS = ['cache', 'config', 'db', 'http', 'metrics'];
const BOOT_MS = 20_000;

afterEach(killAll);

/** The dashboard's URL and token, as printed. */
async function printed(run: Run) {
  const [, url] = await waitFor(run, /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m, { ms: BOOT_MS });
  const [, token] = await waitFor(run, /^dashboard control token: (\S+) /m, { ms: BOOT_MS });
  return { base: url!.replace(/\/$/, ''), token: token! };
}

describe('plugin-factory run --dashboard', () => {
  it('serves the dashboard of the running host, prints URL and token, and closes it on SIGINT', async () => {
    const run = startCli(['run', HOST, '--dashboard']);
    const { base, token } = await printed(run);
    await waitFor(run, /^booted: 5 of 5 plugins running$/m, { ms: BOOT_MS });
    const snapshot = await call(`${base}/api/snapshot`);
    const plugins = snapshot.json['plugins'] as Array<{ name: string; state: string; can: { reload: boolean } }>;
    expect(plugins.map((p) => p.name).sort()).toEqual(DEMO_PLUGINS);
    expect(plugins.every((p) => top(p.state) === 'running' && p.can.reload)).toBe(true);
    const refused = await call(`${base}/api/plugins/metrics/restart`, { method: 'POST' });
    expect(refused.json.error?.code).toBe('PERMISSION_DENIED');
    const reloaded = await call(`${base}/api/plugins/metrics/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect([reloaded.status, top((reloaded.json['plugin'] as { state: string }).state)]).toEqual([200, 'running']);
    run.child.kill('SIGINT');
    expect((await exitOf(run, BOOT_MS)).code).toBe(0);
    await expect(fetch(`${base}/api/snapshot`)).rejects.toThrow();
  });

  it('a busy port fails with OPTIONS_INVALID before any plugin starts', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { code, stdout, stderr } = await cli(['run', HOST, `--dashboard=${(blocker.address() as AddressInfo).port}`]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/OPTIONS_INVALID/);
      expect(stdout).not.toMatch(/-> running/);
      // With --json the last stdout line is the final snapshot, this way of ending too.
      const json = await cli(['run', HOST, `--dashboard=${(blocker.address() as AddressInfo).port}`, '--json']);
      expect(json.code).toBe(1);
      const final = JSON.parse(json.stdout.trim().split('\n').at(-1) ?? '') as { state: string; plugins: Array<{ state: string }> };
      expect(final.state).toBe('stopped');
      expect(final.plugins.some((plugin) => plugin.state === 'running')).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it.each([
    ['--dashboard=abc', /--dashboard/],
    ['--dashboard=70000', /--dashboard/],
    ['--inspect=http://127.0.0.1:8080', /--inspect/],
  ])('%s is a usage error (exit 2)', async (flag, pattern) => {
    const { code, stderr } = await cli(['run', HOST, flag]);
    expect(code).toBe(2);
    expect(stderr).toMatch(pattern);
  });
});

describe('plugin-factory run --inspect', () => {
  it('sends the manager and every plugin actor to the relay at the given URL', async () => {
    const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => relay.once('listening', resolve));
    const frames: Array<{ type: string; name?: string }> = [];
    relay.on('connection', (socket) => socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as { type: string })));
    try {
      const url = `ws://127.0.0.1:${(relay.address() as AddressInfo).port}`;
      const { code, stderr } = await cli(['run', HOST, '--once', `--inspect=${url}`]);
      expect(code, stderr).toBe(0);
      const actors = frames.filter((f) => f.type === '@xstate.actor').map((f) => f.name);
      expect([...new Set(actors)].sort()).toEqual([...DEMO_PLUGINS, 'manager'].sort());
    } finally {
      for (const client of relay.clients) client.terminate();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  it('without a URL starts a local relay, prints its page, and still exits by itself', async () => {
    const run = startCli(['run', HOST, '--once', '--inspect']);
    await waitFor(run, /^inspector: open http:\/\/127\.0\.0\.1:\d+\/ /m, { ms: BOOT_MS });
    expect((await exitOf(run, BOOT_MS)).code).toBe(0);
    expect(run.err()).not.toMatch(/still alive/);
  });
});

describe('npm start', () => {
  it('serves the dashboard and prints its URL and token', async () => {
    const demo = startProcess('npx', ['tsx', 'src/demo.ts']);
    const { base, token } = await printed(demo);
    const [, pid] = await waitFor(demo, /kill -INT (\d+)\)/, { ms: BOOT_MS });
    expect(token.length).toBeGreaterThanOrEqual(16);
    const snapshot = await call(`${base}/api/snapshot`);
    expect((snapshot.json['plugins'] as unknown[]).length).toBe(5);
    process.kill(Number(pid), 'SIGINT');
    expect((await exitOf(demo, BOOT_MS)).code).toBe(0);
  });
});
