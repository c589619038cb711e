/**
 * The dashboard's JSON API over 127.0.0.1: reads without a token, commands only with it,
 * refusals carrying their error code, and no secret in any response or in the live stream.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { bundleClientScript } from '../../src/dashboard/assets.ts';
import { MAX_PILED_PER_CONNECTION, MAX_WAITING_PER_CONNECTION, checkHostHeader } from '../../src/dashboard/http.ts';
import { LiveFeed } from '../../src/dashboard/live.ts';
import { StateClock } from '../../src/dashboard/view.ts';
import { LIFECYCLE_STATES, definePlugin } from '../../src/index.ts';
import type { DashboardChart, DashboardPlugin, DashboardSnapshot, LiveMessage, PluginDefinition, ReloadSource } from '../../src/index.ts';
import { pluginOf } from '../helpers/host.ts';
import { codeOf } from '../platform/helpers.ts';
import { sleep, until } from '../helpers/time.ts';
import { call, openEvents, post, rawRequest, startHost } from './http.ts';
import type { TestHost } from './http.ts';
import { SECRET, definitions, top } from './plugins.ts';

const hosts: TestHost[] = [];
afterEach(async () => {
  for (const host of hosts.splice(0)) await host.close();
});
const start = async (...args: Parameters<typeof startHost>) => {
  const host = await startHost(...args);
  hosts.push(host);
  return host;
};

/** A raw `stop` command for the plugin cache, with the host's token. */
const stopCommand = (host: TestHost) =>
  `POST /api/plugins/cache/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${host.dashboard.token}\r\nContent-Length: 0\r\n\r\n`;

/**
 * Sends `head`, then `chunk` every `everyMs` for as long as the connection stays open (3 s at
 * most): whether the server closed it, and the statuses it answered.
 */
async function sendUntilClosed(port: number, head: string, chunk: string, everyMs: number): Promise<{ closed: boolean; statuses: number[] }> {
  const socket = connect(port, '127.0.0.1', () => socket.write(head));
  const trickle = setInterval(() => socket.writable && socket.write(chunk), everyMs);
  let text = '';
  socket.setEncoding('utf8').on('data', (part: string) => (text += part));
  socket.on('error', () => undefined);
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 3000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  clearInterval(trickle);
  socket.destroy();
  return { closed, statuses: [...text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((match) => Number(match[1])) };
}

/** A raw connection to the dashboard whose first request is a live stream, open once its first snapshot came. */
async function streamingConnection(host: TestHost, behind = '') {
  const socket = connect({ port: host.dashboard.port, host: '127.0.0.1' });
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${behind}`);
  await until(() => received.includes('"type":"snapshot"'));
  return { socket, closed };
}

describe('dashboard API: reads', () => {
  it('GET /api/snapshot: every plugin with state, version, attempts, error code and allowed commands', async () => {
    const host = await start();
    const reply = await call(`${host.base}/api/snapshot`);
    expect(reply.status).toBe(200);
    const snapshot = reply.json as unknown as DashboardSnapshot;
    expect(snapshot.state).toBe('running');
    const byName = Object.fromEntries(snapshot.plugins.map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['cache', 'config', 'db', 'leaky']);
    expect(byName['db']).toMatchObject({ version: '1.2.0', attempts: 1, dependencies: ['config'], error: null });
    expect(top(byName['db']!.state)).toBe('running');
    expect(byName['leaky']!.state).toMatch(/^failed/);
    expect(byName['leaky']!.error?.code).toBe('HOOK_FAILED');
    for (const plugin of snapshot.plugins) {
      for (const command of ['start', 'stop', 'restart', 'retry', 'reset'] as const) {
        expect(plugin.can[command], `${plugin.name} ${command}`).toBe(host.manager.can(plugin.name, command));
      }
      expect(plugin.can.reload).toBe(false); // no reload source given
    }
  });

  it('GET /api/chart: the lifecycle chart from its definition, drawn with every state', async () => {
    const host = await start();
    const reply = await call(`${host.base}/api/chart`);
    expect(reply.status).toBe(200);
    const chart = reply.json as unknown as DashboardChart;
    const paths = chart.states.map((s) => s.path);
    for (const state of LIFECYCLE_STATES) expect(paths).toContain(state);
    for (const path of paths) expect(chart.svg).toContain(`data-state="${path}"`);
    expect(chart.transitions.length).toBeGreaterThan(20);
  });

  it('GET /metrics: Prometheus text with a sample per plugin, and no secret', async () => {
    const host = await start();
    const reply = await call(`${host.base}/metrics`);
    expect(reply.status).toBe(200);
    const names = host.manager.getSnapshot().plugins.filter((p) => p.state !== 'invalid').map((p) => p.name);
    for (const name of names) expect(reply.text).toContain(`plugin="${name}"`);
    expect(reply.text).not.toContain(SECRET);
    const headers = await fetch(`${host.base}/metrics`).then((r) => r.headers);
    expect([headers.get('x-content-type-options'), headers.get('content-security-policy')]).toEqual([
      'nosniff',
      expect.stringContaining("default-src 'none'"),
    ]);
  });

  it('serves the page and its assets from the host itself, with a strict content security policy', async () => {
    const host = await start();
    const page = await call(`${host.base}/`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('/assets/dashboard.js');
    expect(page.text).not.toMatch(/https?:\/\//); // nothing fetched from elsewhere
    const script = await call(`${host.base}/assets/dashboard.js`);
    expect(script.status).toBe(200);
    expect(script.text).toContain('EventSource');
    expect((await call(`${host.base}/assets/dashboard.css`)).status).toBe(200);
    const headers = await fetch(`${host.base}/`).then((r) => r.headers);
    expect(headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it("bundles the page's script whatever tsconfig.json lies above the sources (an installed package's is its user's)", async () => {
    // The sources as an installed package has them: under a project whose tsconfig.json does not parse.
    const project = await mkdtemp(join(tmpdir(), 'pf-client-'));
    try {
      await writeFile(join(project, 'tsconfig.json'), '{ not json');
      const folder = join(project, 'node_modules', 'plugin-factory', 'src', 'dashboard', 'client');
      await cp(fileURLToPath(new URL('../../src/dashboard/client/', import.meta.url)), folder, { recursive: true });
      await cp(fileURLToPath(new URL('../../src/dashboard/wire.ts', import.meta.url)), join(folder, '..', 'wire.ts'));
      // The one module of the engine the page's script bundles (its text escaping).
      await cp(fileURLToPath(new URL('../../src/printable.ts', import.meta.url)), join(folder, '..', '..', 'printable.ts'));
      expect(await bundleClientScript(folder)).toBe(await bundleClientScript());
    } finally {
      await rm(project, { recursive: true, force: true });
    }
  });

  it('unknown paths and wrong methods answer with OPTIONS_INVALID', async () => {
    const host = await start();
    const missing = await call(`${host.base}/api/nothing`);
    expect([missing.status, missing.json.error?.code]).toEqual([404, 'OPTIONS_INVALID']);
    const wrongMethod = await call(`${host.base}/api/plugins/db/restart`, { headers: { authorization: `Bearer ${host.dashboard.token}` } });
    expect([wrongMethod.status, wrongMethod.json.error?.code]).toEqual([405, 'OPTIONS_INVALID']);
    expect(top(pluginOf(host.manager, 'db').state)).toBe('running');
    // GET routes allow HEAD too.
    const post = await call(`${host.base}/api/snapshot`, { method: 'POST' });
    expect([post.status, post.headers['allow']]).toEqual([405, 'GET, HEAD']);
  });

  it('a path starting with // is a path, not a host name', async () => {
    const host = await start();
    expect((await call(`${host.base}//evil.example/api/snapshot`)).status).toBe(404);
    expect((await call(`${host.base}//api/snapshot`)).status).toBe(404);
    expect((await call(`${host.base}/api/snapshot`)).status).toBe(200);
  });

  it('a refusal never echoes the path or the Host header: whether a guessed string is a secret cannot be read off it', async () => {
    const host = await start();
    const guess = async (text: string) => {
      const reply = await call(`${host.base}/${encodeURIComponent(text)}`);
      const wrongMethod = await call(`${host.base}/api/plugins/${encodeURIComponent(text)}/restart`);
      const badEscape = await call(`${host.base}/api/plugins/${encodeURIComponent(text)}%zz/restart`, { method: 'POST' });
      const wrongHost = await call(`${host.base}/api/snapshot`, { headers: { host: text } });
      return [reply, wrongMethod, badEscape, wrongHost].flatMap(({ status, text }) => [status, text]);
    };
    expect(await guess(SECRET)).toEqual(await guess(`${SECRET.slice(0, -1)}X`));
  });

  it("requests Node's parser refuses, and a bad percent-escape, get a coded JSON answer with the security headers", async () => {
    const host = await start();
    const raw = (request: string) => rawRequest(host.dashboard.port, request);
    const cases: Array<[string, number]> = [
      [`GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['POST /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: nope\r\n\r\n', 400],
      ['GET /api/snap shot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400],
      ['POST /api/plugins/%E0%A4%A/start HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 400],
      ['GET http://[/api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 400],
      ['CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n', 405],
      ['GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: teapot\r\nConnection: close\r\n\r\n', 417],
    ];
    for (const [request, status] of cases) {
      const reply = await raw(request);
      expect(reply.status).toBe(status);
      expect(reply.head).toContain('x-content-type-options: nosniff');
      expect((JSON.parse(reply.body) as { error: { code: string } }).error.code).toBe('OPTIONS_INVALID');
    }
    expect((await call(`${host.base}/api/snapshot`)).status).toBe(200); // and it serves on
    // A client waiting to be told to send its body is refused first when its Host is not ours.
    const early = await raw('POST /api/plugins/cache/stop HTTP/1.1\r\nHost: evil.example\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n');
    expect(early.status).toBe(401);
    expect(early.text).not.toContain('100 Continue');
    // With the right Host and token, it is told to go on, and the command runs.
    const told = await raw(`POST /api/plugins/cache/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${host.dashboard.token}\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    expect([...told.text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((match) => Number(match[1]))).toEqual([100, 200]);
  });

  it('a CONNECT client that resets after the refusal neither crashes the host nor stops the dashboard; one that keeps its side open does not hold close()', async () => {
    const host = await start();
    const open = (allowHalfOpen: boolean) =>
      new Promise<Socket>((resolve) => {
        const socket = connect({ port: host.dashboard.port, host: '127.0.0.1', allowHalfOpen }, () => {
          socket.write('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
          socket.once('data', () => resolve(socket));
        });
        socket.on('error', () => undefined);
      });
    (await open(false)).resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await call(`${host.base}/api/snapshot`)).status).toBe(200);
    const holding = await open(true);
    await host.manager.stop();
    const closed = await Promise.race([host.dashboard.close().then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('pending'), 2000))]);
    holding.destroy();
    expect(closed).toBe('closed');
  });

  it('refuses requests addressed to another host name (DNS rebinding) with PERMISSION_DENIED', async () => {
    const host = await start();
    const reply = await call(`${host.base}/api/snapshot`, { headers: { host: 'attacker.example' } });
    expect([reply.status, reply.json.error?.code]).toEqual([401, 'PERMISSION_DENIED']);
    expect((await call(`${host.base}/api/snapshot`, { headers: { host: `localhost:${host.dashboard.port}` } })).status).toBe(200);
    for (const name of ['127.attacker.example', '[::1]attacker.example', '[::1]:80attacker', '[::1]x:80']) {
      const named = await call(`${host.base}/api/snapshot`, { headers: { host: name } });
      expect([name, named.status, named.json.error?.code]).toEqual([name, 401, 'PERMISSION_DENIED']);
    }
    // Loopback literals in other spellings address this machine too.
    for (const literal of ['[::1]', '[0:0:0:0:0:0:0:1]', '[::ffff:127.0.0.1]', '127.0.0.2']) {
      const reply = await call(`${host.base}/api/snapshot`, { headers: { host: `${literal}:${host.dashboard.port}` } });
      expect([literal, reply.status]).toEqual([literal, 200]);
    }
  });

  it('a request with no Host header at all is refused coded (PERMISSION_DENIED) with the security headers, not with an empty 400', async () => {
    const host = await start();
    const reply = await rawRequest(host.dashboard.port, 'GET /api/snapshot HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect([reply.status, (JSON.parse(reply.body) as { error?: { code?: string } }).error?.code]).toEqual([401, 'PERMISSION_DENIED']);
    expect(reply.head.toLowerCase()).toContain('x-content-type-options: nosniff');
  });

  it('an absolute-form request target (a proxy request, whose host would outrank Host) is a coded 400', async () => {
    const host = await start();
    for (const target of ['http://evil.example/api/snapshot', `http://127.0.0.1:${host.dashboard.port}/api/snapshot`]) {
      const reply = await rawRequest(host.dashboard.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect([target, reply.status, (JSON.parse(reply.body) as { error?: { code?: string } }).error?.code]).toEqual([target, 400, 'OPTIONS_INVALID']);
    }
  });

  it('served on a name that is not loopback, an HTTP/1.1 request without Host is a coded 400; HTTP/1.0 may leave it out', () => {
    const request = (httpVersion: string, host?: string) => ({ httpVersion, headers: host === undefined ? {} : { host } }) as unknown as IncomingMessage;
    expect(codeOf(() => checkHostHeader(request('1.1'), false))).toBe('OPTIONS_INVALID');
    expect(() => checkHostHeader(request('1.0'), false)).not.toThrow();
    expect(() => checkHostHeader(request('1.1', 'example.org'), false)).not.toThrow();
    expect(codeOf(() => checkHostHeader(request('1.0'), true))).toBe('PERMISSION_DENIED');
  });
});

describe('dashboard API: commands', () => {
  it('refuses a command without the token, or with a wrong one, with PERMISSION_DENIED', async () => {
    const host = await start();
    for (const token of [null, 'x'.repeat(43), `${host.dashboard.token}x`]) {
      const reply = await post(host, '/api/plugins/db/stop', token);
      expect([reply.status, reply.json.error?.code]).toEqual([401, 'PERMISSION_DENIED']);
    }
    expect(top(pluginOf(host.manager, 'db').state)).toBe('running');
  });

  it('POST /api/token says whether a token opens the controls (200), without running anything; a missing or wrong one is PERMISSION_DENIED', async () => {
    const host = await start();
    const before = host.manager.getSnapshot();
    const accepted = await post(host, '/api/token');
    expect([accepted.status, accepted.json]).toEqual([200, { ok: true }]);
    for (const token of [null, `${host.dashboard.token}x`]) {
      const refused = await post(host, '/api/token', token);
      expect([refused.status, refused.json.error?.code]).toEqual([401, 'PERMISSION_DENIED']);
    }
    const read = await call(`${host.base}/api/token`);
    expect([read.status, read.json.error?.code]).toEqual([405, 'OPTIONS_INVALID']);
    expect(host.manager.getSnapshot()).toEqual(before);
  });

  it('runs an allowed command and answers with the plugin row', async () => {
    const host = await start();
    const stopped = await post(host, '/api/plugins/cache/stop');
    expect(stopped.status).toBe(200);
    expect((stopped.json['plugin'] as DashboardPlugin).state).toBe('stopped');
    expect((stopped.json['plugin'] as DashboardPlugin).can.start).toBe(true);
    const restarted = await post(host, '/api/plugins/cache/start');
    expect(top((restarted.json['plugin'] as DashboardPlugin).state)).toBe('running');
    const again = await post(host, '/api/plugins/db/restart');
    expect([again.status, top((again.json['plugin'] as DashboardPlugin).state)]).toEqual([200, 'running']);
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
  });

  it('a transition the chart does not allow answers 409 INVALID_TRANSITION and changes nothing', async () => {
    const host = await start();
    const reply = await post(host, '/api/plugins/db/start');
    expect([reply.status, reply.json.error?.code]).toEqual([409, 'INVALID_TRANSITION']);
    const retry = await post(host, '/api/plugins/config/retry');
    expect(retry.json.error?.code).toBe('INVALID_TRANSITION');
    expect(top(pluginOf(host.manager, 'db').state)).toBe('running');
  });

  it('a command once the host has stopped answers INVALID_TRANSITION', async () => {
    const host = await start();
    await host.manager.stop();
    const reply = await post(host, '/api/plugins/db/restart');
    expect([reply.status, reply.json.error?.code]).toEqual([409, 'INVALID_TRANSITION']);
  });

  it('an unknown plugin answers 404 PLUGIN_NOT_FOUND, an unknown command 400 OPTIONS_INVALID', async () => {
    const host = await start();
    const ghost = await post(host, '/api/plugins/ghost/restart');
    expect([ghost.status, ghost.json.error?.code]).toEqual([404, 'PLUGIN_NOT_FOUND']);
    const unload = await post(host, '/api/plugins/db/unload');
    expect([unload.status, unload.json.error?.code]).toEqual([400, 'OPTIONS_INVALID']);
    expect(top(pluginOf(host.manager, 'db').state)).toBe('running');
  });

  it('a command with a body larger than 4 KiB answers 400 OPTIONS_INVALID and does not run', async () => {
    const host = await start();
    const reply = await fetch(`${host.base}/api/plugins/cache/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${host.dashboard.token}` },
      body: 'x'.repeat(10_000),
    });
    expect(reply.status).toBe(400);
    expect(((await reply.json()) as { error: { code: string } }).error.code).toBe('OPTIONS_INVALID');
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
  });

  it('a body announced far over 4 KiB gets its 400 and the connection closes, the rest never waited for', async () => {
    const host = await start();
    const head = `POST /api/plugins/cache/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${host.dashboard.token}\r\nContent-Length: 100000000\r\n\r\n`;
    // A client that goes on sending its body, slowly: the server must not stay to read it.
    const { closed, statuses } = await sendUntilClosed(host.dashboard.port, head, 'x'.repeat(10), 50);
    expect(closed).toBe(true);
    expect(statuses).toEqual([400]);
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
  });

  it('a request whose body nobody reads (no token, no route, a read) is answered and its connection closed, however long the body goes on', async () => {
    const host = await start();
    const cases: Array<[string, number]> = [
      ['POST /api/plugins/cache/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n', 401],
      ['POST /api/plugins/cache/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000\r\n\r\n', 401],
      ['POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n', 404],
      ['PUT /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n', 405],
      ['POST /api/plugins/cache/stop HTTP/1.1\r\nHost: elsewhere.example\r\nTransfer-Encoding: chunked\r\n\r\n', 401],
      ['GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n', 200],
    ];
    for (const [head, status] of cases) {
      // A client that goes on sending its body: left open, the connection would read it forever.
      const chunk = head.includes('chunked') ? `400\r\n${'x'.repeat(1024)}\r\n` : 'x'.repeat(1024);
      const { closed, statuses } = await sendUntilClosed(host.dashboard.port, head, chunk, 20);
      expect({ head, closed, statuses }).toEqual({ head, closed: true, statuses: [status] });
    }
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
  });

  it('a client in another process uploading a large body fast, without the token, still reads its 401 before the connection closes', async () => {
    const host = await start();
    // A client that writes its whole body before it reads, as simple clients do: closed at once
    // with its bytes unread, the connection would be reset and its answer lost on the way.
    const client = `
      const net = require('node:net');
      const chunk = Buffer.alloc(64 * 1024, 120);
      const once = () => new Promise((resolve) => {
        const socket = net.connect(${host.dashboard.port}, '127.0.0.1', () => {
          socket.write('POST /api/plugins/cache/stop HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Length: 10000000000\\r\\n\\r\\n');
          const pump = () => { while (socket.writable && socket.write(chunk)); };
          socket.on('drain', pump);
          pump();
        });
        let text = '';
        socket.on('data', (data) => (text += data));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(text.split(' ')[1] ?? 'no answer'));
      });
      (async () => { const statuses = []; for (let i = 0; i < 6; i++) statuses.push(await once()); console.log(JSON.stringify(statuses)); })();
    `;
    const child = spawn(process.execPath, ['-e', client], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (part: string) => (out += part));
    await new Promise((resolve) => child.on('exit', resolve));
    expect(JSON.parse(out)).toEqual(Array.from({ length: 6 }, () => '401'));
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
  });

  it('a malformed request pipelined behind a command gets its 400 after the command is answered, not instead', async () => {
    const host = await start();
    const command = `POST /api/plugins/cache/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${host.dashboard.token}\r\nContent-Length: 0\r\n\r\n`;
    const reply = await rawRequest(host.dashboard.port, `${command}BLAH BLAH\r\n\r\n`);
    const statuses = [...reply.text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((match) => Number(match[1]));
    expect(statuses).toEqual([200, 400]);
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
    // A command whose own body is malformed is refused at once, not left waiting for that body.
    const chunked = `POST /api/plugins/cache/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${host.dashboard.token}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n`;
    const refused = await rawRequest(host.dashboard.port, chunked);
    expect([...refused.text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((match) => Number(match[1]))).toEqual([400]);
  });

  it('a command pipelined behind a live stream never runs (nobody could be told); behind an ordinary answer it runs and is answered', async () => {
    const host = await start();
    const command = stopCommand(host);
    const { socket, closed } = await streamingConnection(host, command);
    await sleep(100);
    socket.destroy();
    await closed;
    await sleep(50);
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
    const reply = await rawRequest(host.dashboard.port, `GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${command.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`);
    expect([...reply.text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((match) => Number(match[1]))).toEqual([200, 200]);
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('stopped');
  });

  it('a client piling more requests behind a live stream than a connection may have waiting is disconnected; none of them runs', async () => {
    const host = await start();
    const { socket, closed } = await streamingConnection(host);
    socket.write(stopCommand(host).repeat(MAX_WAITING_PER_CONNECTION + 1));
    await closed;
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
  });

  it('reads piled behind a live stream are not answered ahead of their turn: no snapshot is built for them, and past the limit the connection closes', async () => {
    const host = await start();
    const { socket, closed } = await streamingConnection(host);
    const built = { count: 0 };
    const getSnapshot = host.manager.getSnapshot;
    host.manager.getSnapshot = () => (built.count++, getSnapshot());
    try {
      // One write: the whole pile reaches the parser at once.
      socket.write('GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(MAX_WAITING_PER_CONNECTION * 4));
      await closed;
      expect(built.count).toBeLessThanOrEqual(1); // the stream's own, at most
    } finally {
      host.manager.getSnapshot = getSnapshot;
    }
  });

  it('many reads pipelined in one write behind answers that end are all answered, in order, on the one connection', async () => {
    const host = await start();
    const count = MAX_WAITING_PER_CONNECTION * 3;
    const read = 'GET /api/chart HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    const last = 'GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    const reply = await rawRequest(host.dashboard.port, read.repeat(count - 1) + last);
    const statuses = [...reply.text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((match) => Number(match[1]));
    expect(statuses).toEqual(Array.from({ length: count }, () => 200));
    // The last answer is the snapshot, after every chart.
    expect(reply.text.lastIndexOf('"plugins"')).toBeGreaterThan(reply.text.lastIndexOf('"svg"'));
  });

  it('reads pipelined behind a stream in the same write, or more than a connection may pile up, close the connection', async () => {
    const host = await start();
    const built = { count: 0 };
    const getSnapshot = host.manager.getSnapshot;
    host.manager.getSnapshot = () => (built.count++, getSnapshot());
    try {
      const read = 'GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
      // The stream's answer never ends: what waits behind it past the limit closes the connection
      // (rawRequest resolves when it closes), and no snapshot is built for those reads.
      await rawRequest(host.dashboard.port, `GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${read.repeat(MAX_WAITING_PER_CONNECTION * 2)}`);
      expect(built.count).toBeLessThanOrEqual(1); // the stream's own, at most
      // Behind answers that end, a pile past its own limit closes the connection too.
      const chart = 'GET /api/chart HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
      const piled = await rawRequest(host.dashboard.port, chart.repeat(MAX_PILED_PER_CONNECTION + 10));
      expect([...piled.text.matchAll(/^HTTP\/1\.1 200/gm)].length).toBeLessThan(MAX_PILED_PER_CONNECTION + 10);
    } finally {
      host.manager.getSnapshot = getSnapshot;
    }
  });

  it('a stream pipelined behind an answer that ends, or asked for by another spelling of its path, does not let more requests wait behind it', async () => {
    const host = await start();
    const read = 'GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    const pile = read.repeat(MAX_WAITING_PER_CONNECTION * 2);
    // The reads arrive while the chart's answer holds the connection; once the stream starts they
    // would wait for ever behind it. rawRequest resolves only when the connection is closed.
    const behindRead = await rawRequest(host.dashboard.port, `GET /api/chart HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${pile}`);
    expect(behindRead.status).toBe(200); // the chart was answered
    expect(behindRead.text).not.toContain('text/event-stream');
    for (const path of ['/api/./events', '/api/%2e/events', '/x/../api/events', '/api\\events', '/api/events#f']) {
      const reply = await rawRequest(host.dashboard.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${pile}`);
      // Closed, with no read behind the stream answered (the stream's own head may have gone out).
      expect([...reply.text.matchAll(/^HTTP\/1\.1 /gm)].length, path).toBeLessThanOrEqual(1);
      expect(reply.text, path).not.toContain('application/json');
    }
  });

  it('a command whose plugin fails answers with the failure code', async () => {
    let fail = false;
    const flaky = definePlugin({
      init() {},
      start() {
        if (fail) throw new Error('start broke');
      },
      stop() {},
    });
    const host = await start({}, [{ manifest: { name: 'flaky', version: '1.0.0' }, module: flaky }]);
    fail = true;
    const reply = await post(host, '/api/plugins/flaky/restart');
    expect([reply.status, reply.json.error?.code]).toEqual([422, 'HOOK_FAILED']);
    expect(pluginOf(host.manager, 'flaky').state).toMatch(/^failed/);
  });

  it('reload: 501 OPTIONS_INVALID without a source; with one, the plugin comes back with the new code', async () => {
    const without = await start();
    const refused = await post(without, '/api/plugins/cache/reload');
    expect([refused.status, refused.json.error?.code]).toEqual([501, 'OPTIONS_INVALID']);

    const plugins = definitions();
    let loads = 0;
    const host = await start({ reload: (name) => (loads++, plugins.find((p) => p.manifest.name === name)!) }, plugins);
    const snapshot = (await call(`${host.base}/api/snapshot`)).json as unknown as DashboardSnapshot;
    expect(snapshot.plugins.find((p) => p.name === 'cache')!.can.reload).toBe(true);
    const reply = await post(host, '/api/plugins/cache/reload');
    expect([reply.status, top((reply.json['plugin'] as DashboardPlugin).state)]).toEqual([200, 'running']);
    expect(loads).toBe(1);
    const ghost = await post(host, '/api/plugins/ghost/reload');
    expect(ghost.json.error?.code).toBe('PLUGIN_NOT_FOUND');
    expect(loads).toBe(1);
  });

  it('a second reload of a plugin whose new code is still loading answers 409 INVALID_TRANSITION; the first goes on', async () => {
    const plugins = definitions();
    let loads = 0;
    let release: () => void = () => undefined;
    const loaded = new Promise<void>((resolve) => (release = resolve));
    const host = await start({ reload: async (name) => (loads++, await loaded, plugins.find((p) => p.manifest.name === name)!) }, plugins);
    const first = post(host, '/api/plugins/cache/reload');
    while (loads === 0) await new Promise((resolve) => setTimeout(resolve, 5)); // the first is loading its module
    const second = await post(host, '/api/plugins/cache/reload');
    expect([second.status, second.json.error?.code]).toEqual([409, 'INVALID_TRANSITION']);
    release();
    expect((await first).status).toBe(200);
    expect(loads).toBe(1);
    // Once it ended, a reload is taken again.
    expect((await post(host, '/api/plugins/cache/reload')).status).toBe(200);
    expect(loads).toBe(2);
  });

  it('a stop accepted while a reload loads its new code wins: the new version is installed, not started', async () => {
    const plugins = definitions();
    let loads = 0;
    let release: () => void = () => undefined;
    const loaded = new Promise<void>((resolve) => (release = resolve));
    const host = await start({ reload: async (name) => (loads++, await loaded, plugins.find((p) => p.manifest.name === name)!) }, plugins);
    const reload = post(host, '/api/plugins/cache/reload');
    while (loads === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const stop = await post(host, '/api/plugins/cache/stop');
    expect(stop.status).toBe(200);
    release();
    const reloaded = await reload;
    expect(reloaded.status).toBe(200);
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('created');
  });

  it('a reload source still loading is told to give up (its signal aborts) when the host stops, and when the dashboard closes', async () => {
    const signals: AbortSignal[] = [];
    // Typed by ReloadSource: the context is always given, so it destructures as the docs show.
    const source: ReloadSource = (_name, { signal }) =>
      new Promise<never>((_, reject) => {
        signals.push(signal);
        signal.addEventListener('abort', () => reject(new Error('given up')), { once: true });
      });
    const stopped = await start({ reload: source });
    const answer = post(stopped, '/api/plugins/cache/reload');
    await until(() => signals.length === 1);
    expect(signals[0]!.aborted).toBe(false);
    await stopped.manager.stop();
    expect(signals[0]!.aborted).toBe(true);
    const refused = await answer;
    expect([refused.status, refused.json.error?.code]).toEqual([409, 'INVALID_TRANSITION']);

    const closed = await start({ reload: source });
    void post(closed, '/api/plugins/cache/reload').catch(() => undefined);
    await until(() => signals.length === 2);
    await closed.dashboard.close();
    expect(signals[1]!.aborted).toBe(true);
  });

  it('many reloads loading at once (one listener each on the dashboard\'s signal) raise no listener-leak warning', async () => {
    const plugins: PluginDefinition[] = Array.from({ length: 14 }, (_, i) => ({ manifest: { name: `p${i}`, version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } }));
    let release: () => void = () => undefined;
    const loaded = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const host = await start({ reload: async (name) => (calls++, await loaded, plugins.find((p) => p.manifest.name === name)!) }, plugins);
      const answers = plugins.map((plugin) => post(host, `/api/plugins/${plugin.manifest.name}/reload`));
      await until(() => calls === plugins.length);
      release();
      expect((await Promise.all(answers)).map((answer) => answer.status)).toEqual(plugins.map(() => 200));
      await sleep(20); // warnings are emitted on the next tick
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a reload source that ignores its signal is let go of when the host stops: the request is answered 409 at once', async () => {
    let calls = 0;
    const host = await start({ reload: () => (calls++, new Promise<never>(() => undefined)) });
    const answer = post(host, '/api/plugins/cache/reload');
    await until(() => calls === 1);
    await host.manager.stop();
    const refused = await Promise.race([answer, sleep(3000).then(() => 'no answer' as const)]);
    expect(refused === 'no answer' ? refused : [refused.status, refused.json.error?.code]).toEqual([409, 'INVALID_TRANSITION']);
  });

  it('a stop accepted while a reload loads its new code wins also when it is still stopping as the code arrives', async () => {
    const plugins: PluginDefinition[] = [
      { manifest: { name: 'svc', version: '1.0.0' }, module: { init() {}, start() {}, stop: () => new Promise<void>((resolve) => setTimeout(resolve, 200)) } },
    ];
    let release: () => void = () => undefined;
    const loaded = new Promise<void>((resolve) => (release = resolve));
    const next: PluginDefinition = { manifest: { name: 'svc', version: '2.0.0' }, module: { init() {}, start() {}, stop() {} } };
    const host = await start({ reload: async () => (await loaded, next) }, plugins);
    const reload = post(host, '/api/plugins/svc/reload');
    await until(() => host.manager.can('svc', 'reload') === false);
    const stop = post(host, '/api/plugins/svc/stop');
    await until(() => pluginOf(host.manager, 'svc').state === 'stopping');
    release();
    const [reloaded, stopped] = await Promise.all([reload, stop]);
    expect([reloaded.status, stopped.status]).toEqual([200, 200]);
    expect(pluginOf(host.manager, 'svc')).toMatchObject({ state: 'created', version: '2.0.0' });
  });

  it.each<[string, () => never | Promise<never>, string]>([
    ['a plain error carrying one of our codes', () => { throw Object.assign(new Error('bad manifest'), { code: 'MANIFEST_INVALID' }); }, 'MANIFEST_INVALID'],
    ['an error without a code', () => { throw new Error('disk gone'); }, 'MODULE_LOAD_FAILED'],
    ['a rejection with a foreign code', () => Promise.reject(Object.assign(new Error('no such file'), { code: 'ENOENT' })), 'MODULE_LOAD_FAILED'],
    [
      'an error whose code cannot be read',
      () => {
        throw Object.defineProperty(new Error('hostile'), 'code', { get: () => { throw new Error('no'); } });
      },
      'MODULE_LOAD_FAILED',
    ],
    [
      'a Proxy whose every trap throws (instanceof included)',
      () => {
        throw new Proxy({}, { getPrototypeOf: () => { throw new Error('trap'); }, get: () => { throw new Error('trap'); } });
      },
      'MODULE_LOAD_FAILED',
    ],
  ])('a reload source throwing %s answers 422 with a code and keeps the running version', async (_, reload, code) => {
    const host = await start({ reload });
    const reply = await post(host, '/api/plugins/cache/reload');
    expect([reply.status, reply.json.error?.code]).toEqual([422, code]);
    expect(top(pluginOf(host.manager, 'cache').state)).toBe('running');
  });
});

describe('dashboard API: live stream and secrets', () => {
  it('forgets the state time of an unloaded plugin, whether or not a page is watching', async () => {
    const host = await start();
    const removed = vi.spyOn(StateClock.prototype, 'removed');
    await host.manager.unloadPlugin('cache');
    expect(removed.mock.calls.map(([name]) => name)).toContain('cache');
    removed.mockRestore();
  });

  it("a plugin's state time grows with each change it sees, within one millisecond and with the wall clock stepped back too", () => {
    const clock = new StateClock(0);
    clock.changed('db', 1000);
    clock.changed('db', 1000);
    const same = clock.of('db');
    clock.changed('db', 500);
    expect([same > 1000, clock.of('db') > same, clock.of('other')]).toEqual([true, true, 0]);
  });

  it('a stream request pipelined behind another answer becomes a client only when its turn comes; a pile of them on one connection is one client, gone with it', async () => {
    const host = await start();
    const spy = vi.spyOn(LiveFeed.prototype, 'attach'); // to see the feed's clients
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const socket = connect({ port: host.dashboard.port, host: '127.0.0.1' });
    let received = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    socket.write(request('/api/snapshot') + request('/api/events').repeat(50));
    await until(() => received.includes('"type":"snapshot"'));
    const feed = spy.mock.contexts[0] as LiveFeed;
    expect([...received.matchAll(/^HTTP\/1\.1 200/gm)]).toHaveLength(2); // the snapshot, then one stream
    expect(feed.size).toBe(1);
    socket.destroy();
    await until(() => feed.size === 0);
    spy.mockRestore();
  });

  it('a stream request that asks for Connection: close (HEAD, HTTP/1.0) has its connection closed once answered, not kept alive', async () => {
    const host = await start();
    const within = <T,>(promise: Promise<T>) => Promise.race([promise, sleep(2000).then(() => 'still open' as const)]);
    const head = await within(rawRequest(host.dashboard.port, 'HEAD /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    expect(head === 'still open' ? head : [head.status, /^connection: close$/m.test(head.head)]).toEqual([200, true]);
    // HTTP/1.0 knows no chunks: the stream ends when the connection does, and says so.
    const socket = connect(host.dashboard.port, '127.0.0.1', () => socket.write('GET /api/events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n'));
    let text = '';
    socket.setEncoding('utf8').on('data', (part: string) => (text += part));
    socket.on('error', () => undefined);
    await until(() => text.includes('"type":"snapshot"'));
    socket.destroy();
    expect(text.split('\r\n\r\n')[0]!.toLowerCase()).toMatch(/^connection: close$/m);
  });

  it("a live stream asked for by another site's page is refused (PERMISSION_DENIED) before it takes a place; the own page and tools are served", async () => {
    const host = await start({ maxStreams: 2 });
    const head = (headers: Record<string, string>) => call(`${host.base}/api/events`, { method: 'HEAD', headers });
    for (const headers of [
      { 'sec-fetch-site': 'cross-site', origin: 'https://elsewhere.example' },
      { 'sec-fetch-site': 'same-site', origin: 'http://localhost:3000' },
      { origin: 'https://elsewhere.example' },
      { origin: 'null' },
    ]) {
      const reply = await head(headers);
      expect({ headers, status: reply.status }).toEqual({ headers, status: 401 });
    }
    const port = host.dashboard.port;
    for (const headers of [{}, { 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }, { origin: `http://127.0.0.1:${port}` }]) {
      expect({ headers, status: (await head(headers)).status }).toEqual({ headers, status: 200 });
    }
    const refused = await fetch(`${host.base}/api/events`, { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('PERMISSION_DENIED');
  });

  it('a client that connects while records wait gets each timeline record once', async () => {
    const plugins = Array.from({ length: 20 }, (_, i): PluginDefinition => ({ manifest: { name: `p${i}`, version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } }));
    const host = await start({}, plugins);
    const seqs = (events: Array<{ event: string; data: unknown }>) =>
      events.flatMap(({ event, data }) => {
        const message = data as { recent?: Array<{ seq: number }>; records?: Array<{ seq: number }> };
        return (event === 'snapshot' ? message.recent : event === 'inspection' ? message.records : undefined)?.map((record) => record.seq) ?? [];
      });
    const first = openEvents(host.base);
    let churning = true;
    const churn = (async () => {
      for (let i = 0; churning; i++) {
        await host.manager.restartPlugin(`p${i % 20}`).catch(() => undefined);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const late = openEvents(host.base); // mid-churn: records are waiting for the first client
    await late.until((events) => events.some((e) => e.event === 'snapshot'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    churning = false;
    await churn;
    await new Promise((resolve) => setTimeout(resolve, 100));
    first.close();
    late.close();
    for (const client of [first, late]) {
      const seen = seqs(client.events);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.length - new Set(seen).size).toBe(0);
    }
  });

  it('GET /api/events: a snapshot first, then changed rows and timeline records', async () => {
    const host = await start();
    const stream = openEvents(host.base);
    await stream.until((events) => events.some((e) => e.event === 'snapshot'));
    const first = stream.events[0]!.data as LiveMessage & { type: 'snapshot' };
    expect(first.snapshot.plugins.map((p) => p.name).sort()).toEqual(['cache', 'config', 'db', 'leaky']);
    expect(first.recent.length).toBeGreaterThan(0);
    await post(host, '/api/plugins/cache/stop');
    const rowState = (state: string) => (events: typeof stream.events) =>
      events.some((e) => e.event === 'plugins' && (e.data as { plugins: DashboardPlugin[] }).plugins.some((p) => p.name === 'cache' && p.state === state));
    await stream.until(rowState('stopped'));
    await stream.until((events) =>
      events.some((e) => e.event === 'inspection' && (e.data as { records: Array<{ plugin: string; state: string }> }).records.some((r) => r.plugin === 'cache' && r.state === 'stopping')),
    );
    stream.close();
  });

  it('GET /api/events: a change of health alone (the state staying running) pushes the row, with no inspection hub too', async () => {
    let status = 'healthy';
    const checked: PluginDefinition = {
      manifest: { name: 'checked', version: '1.0.0', health: { intervalMs: 10, timeoutMs: 100 } },
      module: { init() {}, start() {}, stop() {}, health: () => status },
    };
    const host = await start({ noHub: true }, [checked]);
    const stream = openEvents(host.base);
    await stream.until((events) => events.some((e) => e.event === 'snapshot'));
    status = 'unhealthy';
    await stream.until((events) =>
      events.some((e) => e.event === 'plugins' && (e.data as { plugins: DashboardPlugin[] }).plugins.some((p) => p.name === 'checked' && p.health?.status === 'unhealthy')),
    );
    stream.close();
  });

  it('GET /api/events on a quiet host: the snapshot names the time between heartbeats, which keep coming while the stream is open, and stop with the last stream', async () => {
    const host = await start({ heartbeatMs: 40 });
    const spy = vi.spyOn(LiveFeed.prototype, 'attach'); // to see the feed
    const stream = openEvents(host.base);
    await stream.until((events) => events.filter((e) => e.event === 'heartbeat').length >= 3);
    const feed = spy.mock.contexts[0] as LiveFeed;
    spy.mockRestore();
    expect(stream.events[0]).toMatchObject({ event: 'snapshot', data: { type: 'snapshot', heartbeatMs: 40 } });
    expect(stream.events.slice(1).every((e) => e.event === 'heartbeat')).toBe(true);
    expect(feed.beating).toBe(true);
    stream.close();
    await until(() => feed.size === 0);
    expect(feed.beating).toBe(false);
    // The default: one every 15 s.
    const other = await start();
    const plain = openEvents(other.base);
    await plain.until((events) => events.length > 0);
    expect(plain.events[0]!.data).toMatchObject({ heartbeatMs: 15_000 });
    plain.close();
  });

  it('GET /api/events past maxStreams: LIMIT_REACHED (503, retry-after) until a stream closes; the streams served go on', async () => {
    const host = await start({ maxStreams: 2 });
    const first = openEvents(host.base);
    const second = openEvents(host.base);
    const snapshotOf = (stream: ReturnType<typeof openEvents>) => stream.until((events) => events.some((e) => e.event === 'snapshot'));
    await Promise.all([snapshotOf(first), snapshotOf(second)]);
    const refused = await call(`${host.base}/api/events`);
    expect([refused.status, refused.json.error?.code, refused.headers['retry-after']]).toEqual([503, 'LIMIT_REACHED', '5']);
    // The streams served still get the changes.
    await post(host, '/api/plugins/cache/stop');
    const stopped = (events: typeof first.events) =>
      events.some((e) => e.event === 'plugins' && (e.data as { plugins: DashboardPlugin[] }).plugins.some((p) => p.name === 'cache' && p.state === 'stopped'));
    await Promise.all([first.until(stopped), second.until(stopped)]);
    first.close();
    await first.done;
    // The closed one's place is free again (once the server has seen it close).
    let third = openEvents(host.base);
    for (let tries = 0; tries < 50; tries++) {
      await until(() => third.ended() || third.events.length > 0, 5000);
      if (third.events.length > 0) break;
      await sleep(20);
      third = openEvents(host.base);
    }
    expect(third.events[0]?.event).toBe('snapshot');
    second.close();
    third.close();
  });

  it("a restart that settles after the plugin's own last change (its dependents came back later) re-sends its row with the commands it takes again", async () => {
    const plugins: PluginDefinition[] = [
      { manifest: { name: 'alpha', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } },
      { manifest: { name: 'beta', version: '1.0.0', dependencies: { alpha: '^1.0.0' } }, module: { init() {}, start: () => new Promise<void>((resolve) => setTimeout(resolve, 150)), stop() {} } },
    ];
    const host = await start({}, plugins);
    const stream = openEvents(host.base);
    await stream.until((events) => events.some((e) => e.event === 'snapshot'));
    expect((await post(host, '/api/plugins/alpha/restart')).status).toBe(200);
    expect(host.manager.can('alpha', 'restart')).toBe(true);
    const lastAlpha = (events: typeof stream.events) =>
      events.flatMap((e) => (e.event === 'plugins' ? (e.data as { plugins: DashboardPlugin[] }).plugins : [])).filter((p) => p.name === 'alpha').at(-1);
    await stream.until((events) => lastAlpha(events)?.can.restart === true);
    expect(lastAlpha(stream.events)).toMatchObject({ state: 'running', can: { stop: true, restart: true } });
    stream.close();
  });

  it('a dashboard closed as soon as its host stopped sends the last changes before it ends the streams', async () => {
    const host = await start();
    const stream = openEvents(host.base);
    await stream.until((events) => events.some((e) => e.event === 'snapshot'));
    await host.manager.stop();
    await host.dashboard.close();
    await stream.done;
    const last = new Map<string, string>();
    let hostState = '';
    for (const { event, data } of stream.events) {
      if (event !== 'plugins') continue;
      const message = data as LiveMessage & { type: 'plugins' };
      hostState = message.state;
      for (const plugin of message.plugins) last.set(plugin.name, top(plugin.state));
    }
    expect(hostState).toBe('stopped');
    expect(Object.fromEntries(last)).toEqual({ cache: 'stopped', config: 'stopped', db: 'stopped', leaky: 'failed' });
  });

  it('without an inspection hub the timeline falls back to the manager\'s change notifications', async () => {
    const host = await start({ noHub: true });
    const stream = openEvents(host.base);
    await stream.until((events) => events.some((e) => e.event === 'snapshot'));
    const first = stream.events[0]!.data as LiveMessage & { type: 'snapshot' };
    expect(first.snapshot.inspection).toBe(false);
    expect(first.recent.some((r) => r.plugin === 'db' && top(r.state) === 'running')).toBe(true);
    await post(host, '/api/plugins/cache/stop');
    await stream.until((events) =>
      events.some((e) => e.event === 'inspection' && (e.data as { records: Array<{ plugin: string; state: string }> }).records.some((r) => r.plugin === 'cache' && r.state === 'stopped')),
    );
    stream.close();
  });

  it('no response and no stream message carries a secret config value', async () => {
    const host = await start();
    const stream = openEvents(host.base);
    await stream.until((events) => events.length > 0);
    const texts = [
      (await call(`${host.base}/api/snapshot`)).text,
      (await call(`${host.base}/api/chart`)).text,
      (await post(host, '/api/plugins/db/restart')).text,
      (await post(host, '/api/plugins/leaky/retry')).text, // fails again, with the secret in its thrown message
      (await post(host, '/api/plugins/db/restart', null)).text,
      (await call(`${host.base}/`)).text,
    ];
    await stream.until((events) => events.some((e) => e.event === 'inspection' && JSON.stringify(e.data).includes('"plugin":"leaky"')));
    await new Promise((resolve) => setTimeout(resolve, 100));
    texts.push(stream.raw());
    stream.close();
    expect(texts[3]).toContain('HOOK_FAILED');
    for (const text of texts) expect(text).not.toContain(SECRET);
  });

  it('a secret a reload brings, or one given to addSecrets, is redacted from then on', async () => {
    const fresh = 'fresh-secret-5e8a1f';
    const later = 'later-secret-93b2c0';
    // 'leaky' quotes values it has no business knowing: the engine scrubs a plugin's errors of
    // its own secrets only, the dashboard of every secret it was told about.
    const plugins = definitions();
    plugins.find((p) => p.manifest.name === 'leaky')!.module = {
      init() {},
      start() {
        throw new Error(`cannot reach ${fresh} or ${later}`);
      },
      stop() {},
    };
    const reloaded = {
      manifest: { name: 'cache', version: '1.1.0', dependencies: { db: '^1.0.0' }, config: { key: { type: 'string', secret: true, default: fresh } } },
      module: { init() {}, start() {}, stop() {} },
    } as PluginDefinition;
    const host = await start({ reload: () => reloaded }, plugins);
    const retry = () => post(host, '/api/plugins/leaky/retry');
    const before = await retry();
    expect(before.json.error?.code).toBe('HOOK_FAILED');
    expect(before.text).toContain(fresh); // nothing declared either value secret yet
    expect(before.text).toContain(later);

    expect((await post(host, '/api/plugins/cache/reload')).status).toBe(200);
    const reloadedReply = await retry();
    expect(reloadedReply.json.error?.code).toBe('HOOK_FAILED');
    expect(reloadedReply.text).not.toContain(fresh);
    expect(reloadedReply.text).toContain(later);

    host.dashboard.addSecrets([later]);
    const told = await retry();
    expect(told.json.error?.code).toBe('HOOK_FAILED');
    expect(told.text).not.toContain(later);
    expect((await call(`${host.base}/api/snapshot`)).text).not.toMatch(new RegExp(`${fresh}|${later}`));
    expect(() => host.dashboard.addSecrets([1] as never)).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
  });

  it('close() ends open streams and stops listening', async () => {
    const host = await startHost();
    const stream = openEvents(host.base);
    await stream.until((events) => events.length > 0);
    await host.close();
    await stream.done;
    expect(stream.ended()).toBe(true);
    await expect(fetch(`${host.base}/api/snapshot`)).rejects.toThrow();
  });
});
