/**
 * The Stately inspector over WebSocket, on 127.0.0.1: a receiver gets the manager and every
 * plugin actor in @statelyai/inspect's format, with no secret and no registry in any frame; the
 * local relay replays live actors to a late viewer, refuses foreign web pages, and nothing keeps
 * reconnecting after close().
 */
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebSocketReceiver } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';
import { connectStatelyInspector, createInspectionHub, createPluginManager, silentLogger } from '../../src/index.ts';
import type { PluginFactoryError, StatelyInspector } from '../../src/index.ts';
import { startInspectorRelay } from '../../src/inspection/relay.ts';
import { InspectorSocket } from '../../src/inspection/socket.ts';
import { safeEvent, toStatelyFrame } from '../../src/inspection/stately-events.ts';
import { REPLAY_LIMITS } from '../../src/inspection/replay.ts';
import type { InspectionEvent } from 'xstate';
import { stopWithin } from '../helpers/host.ts';
import { SECRET, definitions } from './plugins.ts';

interface Frame {
  type: string;
  name?: string;
  sessionId: string;
  snapshot?: { value?: unknown; context?: Record<string, unknown> };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A WebSocket server on 127.0.0.1 that records every text frame. */
async function receiver(port = 0) {
  const server = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise((resolve) => server.once('listening', resolve));
  const frames: string[] = [];
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    socket.on('message', (data) => frames.push(data.toString()));
  });
  const close = () => new Promise<void>((resolve) => {
    for (const client of server.clients) client.terminate();
    server.close(() => resolve());
  });
  cleanups.push(close);
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, frames, connections: () => connections, close };
}

/** A viewer of the relay at `url`: every frame it is sent, parsed. */
function viewer(url: string): Frame[] {
  const socket = new WebSocket(url);
  const frames: Frame[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
  cleanups.push(() => socket.terminate());
  return frames;
}

async function until(test: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`test: condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function inspect(stately: StatelyInspector) {
  cleanups.push(() => stately.close());
  const manager = createPluginManager({ plugins: definitions(), logger: silentLogger, inspect: stately.inspect });
  await manager.start();
  await stopWithin(manager);
}

describe('connectStatelyInspector', () => {
  it('sends the manager and every plugin actor to a WebSocket receiver, without secrets', async () => {
    const rx = await receiver();
    const stately = await connectStatelyInspector({ url: rx.url });
    await inspect(stately);
    const frames = () => rx.frames.map((text) => JSON.parse(text) as Frame);
    await until(() => frames().filter((f) => f.type === '@xstate.snapshot' && f.snapshot?.value === 'stopped').length >= 4);
    const actors = frames().filter((f) => f.type === '@xstate.actor').map((f) => f.name);
    expect(actors.sort()).toEqual(['cache', 'config', 'db', 'leaky', 'manager']);
    expect(frames().some((f) => f.type === '@xstate.event')).toBe(true);
    for (const text of rx.frames) expect(text).not.toContain(SECRET);
    // The manager's context is a count, not its registry of actors.
    const managerSession = frames().find((f) => f.type === '@xstate.actor' && f.name === 'manager')!.sessionId;
    const contexts = frames().filter((f) => f.sessionId === managerSession && f.snapshot).map((f) => f.snapshot!.context);
    expect(contexts.length).toBeGreaterThan(0);
    for (const context of contexts) expect(Object.keys(context ?? {})).toEqual(['plugins']);
  });

  it('redacts what addSecrets adds from then on, and refuses anything but strings with OPTIONS_INVALID', async () => {
    const later = 'later-secret-4d7e21';
    const plugins = definitions();
    plugins.find((p) => p.manifest.name === 'leaky')!.module = {
      init() {},
      start() {
        throw new Error(`cannot reach ${later}`);
      },
      stop() {},
    };
    const rx = await receiver();
    const stately = await connectStatelyInspector({ url: rx.url });
    cleanups.push(() => stately.close());
    expect(() => stately.addSecrets(['ok', 2] as never)).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
    stately.addSecrets([later]);
    const manager = createPluginManager({ plugins, logger: silentLogger, inspect: stately.inspect });
    await manager.start();
    await stopWithin(manager);
    // leaky's failure was sent, with its message redacted.
    await until(() => rx.frames.some((text) => text.includes('HOOK_FAILED') && text.includes('cannot reach [redacted]')));
    for (const text of rx.frames) expect(text).not.toContain(later);
  });

  it('goes through a hub as well: hub.forward(stately.inspect)', async () => {
    const rx = await receiver();
    const stately = await connectStatelyInspector({ url: rx.url });
    cleanups.push(() => stately.close());
    const hub = createInspectionHub();
    hub.forward(stately.inspect);
    const manager = createPluginManager({ plugins: definitions().slice(0, 2), logger: silentLogger, inspect: hub.inspect });
    await manager.start();
    await stopWithin(manager);
    await until(() => rx.frames.some((text) => text.includes('"name":"db"')));
    expect(hub.recent().some((r) => r.plugin === 'db')).toBe(true);
  });

  it('starts a local relay on 127.0.0.1 that replays live actors to a late viewer', async () => {
    const stately = await connectStatelyInspector();
    expect(stately.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/?$/);
    expect(stately.viewerUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    cleanups.push(() => stately.close());
    const manager = createPluginManager({ plugins: definitions(), logger: silentLogger, inspect: stately.inspect });
    await manager.start();
    // A viewer that connects after boot still gets every actor's registration.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const seen = viewer(stately.url);
    await until(() => seen.filter((f) => f.type === '@xstate.actor').length >= 5);
    expect(seen.filter((f) => f.type === '@xstate.actor').map((f) => f.name).sort()).toEqual(['cache', 'config', 'db', 'leaky', 'manager']);
    await stopWithin(manager);
    const page = await fetch(stately.viewerUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<iframe');
  });

  it('a late viewer sees the state of a plugin that failed with a huge message; the message is cut after redaction', async () => {
    const secret = 's3cret-at-the-end';
    const stately = await connectStatelyInspector({ redact: [secret] });
    cleanups.push(() => stately.close());
    const huge = `upstream said: ${'<p>…</p>'.repeat(40_000)}`;
    const plugins = [
      { manifest: { name: 'ok', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } },
      { manifest: { name: 'api', version: '1.0.0' }, module: { init() {}, start() { throw new Error(`${secret.slice(0, 3)}${secret.slice(3)} ${huge}`); }, stop() {} } },
    ];
    const manager = createPluginManager({ plugins, logger: silentLogger, inspect: stately.inspect });
    await manager.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const viewer = new WebSocket(stately.url);
    const seen: string[] = [];
    viewer.on('message', (data) => seen.push(data.toString()));
    cleanups.push(() => viewer.terminate());
    await until(() => seen.some((text) => text.includes('"failed"')));
    const frames = seen.map((text) => JSON.parse(text) as Frame);
    const session = frames.find((f) => f.type === '@xstate.actor' && f.name === 'api')!.sessionId;
    const last = frames.filter((f) => f.sessionId === session && f.snapshot).at(-1)!;
    expect(last.snapshot!.value).toEqual({ failed: 'halted' });
    expect(seen.every((text) => text.length < 64 * 1024)).toBe(true);
    expect(seen.some((text) => text.includes(secret))).toBe(false);
    expect(seen.some((text) => text.includes('[redacted] upstream said'))).toBe(true);
    await stopWithin(manager);
  });

  it('a late viewer sees a plugin that was invalid from the start, in its final state', async () => {
    const stately = await connectStatelyInspector();
    cleanups.push(() => stately.close());
    const plugins = [
      { manifest: { name: 'ok', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } },
      { manifest: { name: 'bad', version: 'not-a-version' }, module: { init() {}, start() {}, stop() {} } },
    ];
    const manager = createPluginManager({ plugins, logger: silentLogger, inspect: stately.inspect });
    await manager.start();
    expect(manager.getSnapshot().plugins.find((p) => p.name === 'bad')?.state).toBe('invalid');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const frames = viewer(stately.url);
    await until(() => frames.filter((f) => f.type === '@xstate.actor').length >= 3);
    const session = frames.find((f) => f.type === '@xstate.actor' && f.name === 'bad')?.sessionId;
    expect(session).toBeDefined();
    await until(() => frames.some((f) => f.sessionId === session && f.type === '@xstate.snapshot'));
    expect(frames.filter((f) => f.sessionId === session && f.snapshot).at(-1)!.snapshot!.value).toBe('invalid');
    await stopWithin(manager);
  });

  it('keeps an event field named __proto__ as a field of the frame, not as its prototype', () => {
    const event = JSON.parse('{ "type": "x", "__proto__": ["a", "b"], "n": 1 }') as unknown;
    const safe = safeEvent(event, (text) => text);
    expect(JSON.parse(JSON.stringify(safe))).toEqual(JSON.parse('{ "type": "x", "__proto__": ["a", "b"], "n": 1 }'));
    expect(Object.getPrototypeOf(safe)).toBe(Object.prototype);
  });

  it('a frame that its cuts leave too large for the relay to keep is made again, cut shorter, and keeps its state', () => {
    const errors = Array.from({ length: 150 }, (_, n) => ({ code: 'CONFIG_INVALID', message: `${n} ${'x'.repeat(4000)}` }));
    const event = {
      type: '@xstate.snapshot',
      rootId: 'x:0',
      actorRef: { sessionId: 'x:1' },
      event: { type: 'validate.failed' },
      snapshot: { status: 'done', value: 'invalid', context: { name: 'bad', errors, error: errors[0] } },
    } as unknown as InspectionEvent;
    const frame = toStatelyFrame(event, (text) => text)!;
    expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(REPLAY_LIMITS.frameBytes);
    const parsed = JSON.parse(frame) as { snapshot: { value: unknown; status: string; context: { errors: unknown[] } } };
    expect([parsed.snapshot.value, parsed.snapshot.status]).toEqual(['invalid', 'done']);
    expect(parsed.snapshot.context.errors.length).toBeGreaterThan(0);
    // A frame within the bound keeps the usual cuts.
    const small = { ...event, snapshot: { status: 'done', value: 'invalid', context: { errors: errors.slice(0, 2) } } } as unknown as InspectionEvent;
    expect((JSON.parse(toStatelyFrame(small, (text) => text)!) as { snapshot: { context: { errors: Array<{ message: string }> } } }).snapshot.context.errors[0]!.message.length).toBeGreaterThan(4000);
  });

  it('cuts a long text field before a character made of two UTF-16 units, not through it', () => {
    const safe = safeEvent({ type: 'x', note: `${'n'.repeat(4095)}\u{1F600}${'n'.repeat(10)}` }, (text) => text);
    expect(safe['note']).toMatch(/^n{4095}… \[12 more characters\]$/);
  });

  it("speaks @statelyai/inspect's format: the package's own WebSocket receiver reads the relay", async () => {
    const stately = await connectStatelyInspector();
    cleanups.push(() => stately.close());
    const received: Array<{ type: string; name?: string }> = [];
    const subscription = createWebSocketReceiver({ server: stately.url }).subscribe((event) => received.push(event as { type: string }));
    cleanups.push(async () => subscription.unsubscribe());
    const manager = createPluginManager({ plugins: definitions().slice(0, 2), logger: silentLogger, inspect: stately.inspect });
    await manager.start();
    // However late the receiver connects, the relay replays the running host to it.
    await until(() => received.filter((e) => e.type === '@xstate.actor').length >= 3, 10_000);
    await stopWithin(manager);
    expect(received.filter((e) => e.type === '@xstate.actor').map((e) => e.name).sort()).toEqual(['config', 'db', 'manager']);
    expect(received.some((e) => e.type === '@xstate.snapshot')).toBe(true);
  });

  it('the relay refuses WebSocket connections from other web pages', async () => {
    const stately = await connectStatelyInspector();
    cleanups.push(() => stately.close());
    const foreign = new WebSocket(stately.url, { headers: { origin: 'http://evil.example' } });
    const outcome = await new Promise<string>((resolve) => {
      foreign.on('open', () => resolve('open'));
      foreign.on('error', () => resolve('refused'));
    });
    foreign.terminate();
    expect(outcome).toBe('refused');
    const own = new WebSocket(stately.url, { headers: { origin: new URL(stately.viewerUrl!).origin } });
    const ok = await new Promise<string>((resolve) => {
      own.on('open', () => resolve('open'));
      own.on('error', () => resolve('refused'));
    });
    own.terminate();
    expect(ok).toBe('open');
  });

  it('a second close() resolves once the first has closed everything, not before', async () => {
    const stately = await connectStatelyInspector();
    cleanups.push(() => stately.close());
    let firstDone = false;
    const first = stately.close().then(() => (firstDone = true));
    await stately.close();
    expect(firstDone).toBe(true);
    await first;
  });

  it("the relay's page may not be framed by another site, and answers only requests addressed to a loopback name", async () => {
    const relay = await startInspectorRelay();
    cleanups.push(() => relay.close());
    const port = Number(new URL(relay.viewerUrl).port);
    const get = (host: string | null) =>
      new Promise<{ status: number; head: string }>((resolve, reject) => {
        const request = host === null ? 'GET / HTTP/1.0\r\n\r\n' : `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
        const socket = connect(port, '127.0.0.1', () => socket.write(request));
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('end', () => resolve({ status: Number(text.split(' ')[1]), head: text.split('\r\n\r\n')[0]!.toLowerCase() }));
        socket.on('error', reject);
      });
    for (const host of ['127.0.0.1', `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      const page = await get(host);
      expect({ host, status: page.status }).toEqual({ host, status: 200 });
      expect(page.head).toMatch(/^x-frame-options: deny$/m);
      expect(page.head).toMatch(/^content-security-policy: frame-ancestors 'none'$/m);
      expect(page.head).toMatch(/^x-content-type-options: nosniff$/m);
    }
    // A DNS name pointed at 127.0.0.1 (rebinding), or no Host at all.
    for (const host of ['attacker.example', `attacker.example:${port}`, null]) expect({ host, status: (await get(host)).status }).toEqual({ host, status: 403 });
  });

  it('the relay takes at most maxViewers clients at once: one more is refused with 503 and retry-after, and gets in once one leaves', async () => {
    const relay = await startInspectorRelay({ maxViewers: 2 });
    cleanups.push(() => relay.close());
    const attempt = () => {
      const socket = new WebSocket(relay.url);
      cleanups.push(() => socket.terminate());
      return new Promise<{ socket: WebSocket; status: number; retryAfter?: string | undefined }>((resolve) => {
        socket.on('open', () => resolve({ socket, status: 101 }));
        socket.on('unexpected-response', (_, response) => resolve({ socket, status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] }));
        socket.on('error', () => undefined);
      });
    };
    const first = await attempt();
    const second = await attempt();
    const third = await attempt();
    expect([first.status, second.status, third.status, third.retryAfter]).toEqual([101, 101, 503, '5']);
    const gone = new Promise((resolve) => first.socket.once('close', resolve));
    first.socket.close();
    await gone;
    let fourth = await attempt();
    // The relay sees the close a moment after the client does.
    for (let tries = 0; fourth.status !== 101 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      fourth = await attempt();
    }
    expect(fourth.status).toBe(101);
  });

  it('stops reconnecting once closed, even when the relay was unreachable', async () => {
    const placeholder = await receiver();
    const port = Number(new URL(placeholder.url).port);
    await placeholder.close(); // the port is free again: the inspector cannot connect
    const stately = await connectStatelyInspector({ url: `ws://127.0.0.1:${port}` });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await stately.close();
    const late = await receiver(port);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past the reconnect delay
    expect(late.connections()).toBe(0);
  });

  it('answers a request line no URL parser accepts with 404 and keeps serving', async () => {
    const stately = await connectStatelyInspector();
    try {
      const { port } = new URL(stately.viewerUrl!);
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.end('GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(raw.startsWith('HTTP/1.1 404')).toBe(true);
      expect((await fetch(stately.viewerUrl!)).status).toBe(200);
    } finally {
      await stately.close();
    }
  });

  it('a client sending frames that are not JSON objects neither crashes the host nor stops the relay, and they reach no other client', async () => {
    const stately = await connectStatelyInspector();
    try {
      const url = stately.url;
      const open = (address: string) =>
        new Promise<WebSocket>((resolve, reject) => {
          const socket = new WebSocket(address);
          socket.once('open', () => resolve(socket));
          socket.once('error', reject);
        });
      const sender = await open(url);
      const viewer = await open(url);
      const got: string[] = [];
      viewer.on('message', (data) => got.push(data.toString()));
      for (const junk of ['not json {', 'null', '42', '[]', '"text"', '{"type":"@xstate.snapshot","sessionId":null}']) sender.send(junk);
      sender.send('{"type":"@xstate.event","sessionId":"x:1"}');
      const deadline = Date.now() + 5000;
      while (!got.includes('{"type":"@xstate.event","sessionId":"x:1"}') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      // The JSON objects were relayed (a receiver parses every frame: the others would break it),
      // and the process is still here to say so.
      expect(got).toEqual(['{"type":"@xstate.snapshot","sessionId":null}', '{"type":"@xstate.event","sessionId":"x:1"}']);
      sender.close();
      viewer.close();
    } finally {
      await stately.close();
    }
  });

  it('closes its local relay: nothing listens afterwards', async () => {
    const stately = await connectStatelyInspector();
    await stately.close();
    await expect(fetch(stately.viewerUrl!)).rejects.toThrow();
  });

  it.each(['http://127.0.0.1:8080', 'not a url', 42, 'ws://127.0.0.1:9/#frag', 'ws://127.0.0.1:99999'])('refuses url %s with OPTIONS_INVALID', async (url) => {
    await expect(connectStatelyInspector({ url: url as string })).rejects.toMatchObject({ code: 'OPTIONS_INVALID' } satisfies Partial<PluginFactoryError>);
  });

  it('refuses a url that does not parse without quoting the credentials in it', async () => {
    const refused = await connectStatelyInspector({ url: 'ws://admin:hunter2@127.0.0.1:99999' }).then(() => null, (error: PluginFactoryError) => error);
    expect(refused?.code).toBe('OPTIONS_INVALID');
    expect(refused?.message).not.toContain('hunter2');
  });

  it.each(['hunter2', [1, 2], null])('refuses redact %o with OPTIONS_INVALID before it connects to anything', async (redact) => {
    const relay = await receiver();
    await expect(connectStatelyInspector({ url: relay.url, redact: redact as never })).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(relay.connections()).toBe(0);
  });

  it('refuses a relay port out of range with OPTIONS_INVALID', async () => {
    await expect(connectStatelyInspector({ port: 70_000 })).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
  });

  it('refuses an unknown option (a typo of url) and options that are not an object with OPTIONS_INVALID, before starting a relay', async () => {
    await expect(connectStatelyInspector({ utl: 'ws://127.0.0.1:9' } as never)).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
    await expect(connectStatelyInspector(null as never)).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
  });

  it('refuses url and port together (port is the local relay\'s, which a url replaces) with OPTIONS_INVALID', async () => {
    const relay = await startInspectorRelay();
    cleanups.push(() => relay.close());
    await expect(connectStatelyInspector({ url: relay.url, port: 4400 })).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
  });
});

describe('the inspector relay', () => {
  it('sends a large replay to a new viewer as it reads it, and keeps it while the host is busy', { timeout: 30_000 }, async () => {
    const relay = await startInspectorRelay();
    cleanups.push(() => relay.close());
    const host = new WebSocket(relay.url);
    cleanups.push(() => host.terminate());
    await new Promise((resolve) => host.once('open', resolve));
    // 3,000 registrations of about 7 KB: a replay of 21 MB, more than a viewer may have waiting.
    const definition = JSON.stringify({ id: 'plugin', description: 'x'.repeat(7000) });
    const count = 3000;
    for (let i = 0; i < count; i++) host.send(JSON.stringify({ type: '@xstate.actor', sessionId: `p${i}`, name: `p${i}`, definition, snapshot: { status: 'active' } }));
    const probe = new WebSocket(relay.url); // once it got everything, the relay has kept everything
    cleanups.push(() => probe.terminate());
    let probed = 0;
    probe.on('message', () => void probed++);
    await until(() => probed >= count, 15_000);
    probe.terminate();
    let n = 0;
    const busy = setInterval(() => host.send(JSON.stringify({ type: '@xstate.event', sessionId: 'p0', n: n++ })), 5);
    cleanups.push(() => clearInterval(busy));
    const viewer = new WebSocket(relay.url);
    cleanups.push(() => viewer.terminate());
    let registrations = 0;
    let live = 0;
    let closed = false;
    viewer.on('message', (data) => {
      const text = data.toString();
      if (text.includes('"@xstate.actor"')) registrations++;
      else if (text.includes('"@xstate.event"')) live++;
    });
    viewer.on('close', () => void (closed = true));
    await until(() => registrations === count && live > 50, 15_000);
    expect(closed).toBe(false);
  });
});

describe('a relay viewer that stops reading', () => {
  /**
   * A relay, a host connected to it, a viewer whose TCP reading is paused until `resume()`, and a
   * second viewer reading normally: once it has a frame, the relay has relayed it to both.
   */
  async function stalledViewer(options: { stallMs?: number } = {}) {
    const relay = await startInspectorRelay(options);
    cleanups.push(() => relay.close());
    const [host, viewer, reader] = [0, 1, 2].map(() => {
      const socket = new WebSocket(relay.url);
      cleanups.push(() => socket.terminate());
      return socket;
    }) as [WebSocket, WebSocket, WebSocket];
    await Promise.all([host, viewer, reader].map((socket) => new Promise((resolve) => socket.once('open', resolve))));
    let relayed = 0;
    reader.on('message', () => void relayed++);
    const tcp = (viewer as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    let received = 0;
    let closed = false;
    viewer.on('message', () => void received++);
    viewer.on('close', () => void (closed = true));
    const send = async (count: number, big: string) => {
      for (let n = 0; n < count; n++) host.send(JSON.stringify({ type: '@xstate.event', sessionId: 's', n, big }));
      await until(() => relayed === count, 10_000);
    };
    return { send, received: () => received, closed: () => closed, pause: () => tcp.pause(), resume: () => tcp.resume() };
  }
  /** What the viewer got once it reads again: everything, or up to where it was dropped. */
  async function settle(viewer: Awaited<ReturnType<typeof stalledViewer>>, count: number) {
    viewer.resume();
    await until(() => viewer.closed() || viewer.received() === count, 10_000);
    return { received: viewer.received(), closed: viewer.closed() };
  }

  it.each([
    ['ASCII', 'y'.repeat(1024 * 1024)],
    ['two-byte characters, counted in bytes', 'é'.repeat(512 * 1024)],
  ])('is dropped once 32 MiB queue for it (%s)', { timeout: 30_000 }, async (_name, big) => {
    const viewer = await stalledViewer();
    // 70 frames of 1 MiB: past the 8 MiB its socket may hold, what the kernel takes, and 32 MiB.
    const count = 70;
    await viewer.send(count, big);
    const { received, closed } = await settle(viewer, count);
    expect(closed).toBe(true);
    expect(received).toBeLessThan(count);
  });

  it('is dropped when it takes nothing for stallMs, even with no more frames coming', { timeout: 30_000 }, async () => {
    const viewer = await stalledViewer({ stallMs: 300 });
    // 30 MiB: some of it queues in the relay, under the 32 MiB that would drop the viewer.
    const count = 30;
    await viewer.send(count, 'z'.repeat(1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const { received, closed } = await settle(viewer, count);
    expect(closed).toBe(true);
    expect(received).toBeLessThan(count);
  });

  it('is kept while it reads slowly, and gets every frame', { timeout: 30_000 }, async () => {
    const viewer = await stalledViewer({ stallMs: 1500 });
    const count = 30;
    // It reads from the start, while the frames are still being sent: in short bursts of at least
    // a frame, with pauses longer than a pump's look but well under stallMs.
    const sending = viewer.send(count, 'z'.repeat(1024 * 1024));
    sending.catch(() => undefined); // awaited below: a failure is the test's, not an unhandled one
    while (!viewer.closed() && viewer.received() < count) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const before = viewer.received();
      viewer.resume();
      await until(() => viewer.closed() || viewer.received() > before, 10_000);
      viewer.pause();
    }
    await sending;
    expect(viewer.closed()).toBe(false);
    expect(viewer.received()).toBe(count);
  });
});

describe('InspectorSocket', () => {
  /** A receiver whose TCP reading is paused until `resume()`. */
  async function slowReceiver() {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    const frames: string[] = [];
    let tcp: { pause(): void; resume(): void } | null = null;
    server.on('connection', (socket) => {
      tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      tcp.pause();
      socket.on('message', (data) => frames.push(data.toString()));
    });
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const client of server.clients) client.terminate();
      server.close(() => resolve());
    }));
    return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, frames, connected: () => tcp !== null, resume: () => tcp?.resume() };
  }
  const payload = 'x'.repeat(100 * 1024);
  const frame = (n: number) => JSON.stringify({ type: '@xstate.event', sessionId: 's', n, payload });

  it('sends the frames that waited for a slow receiver once it catches up, with nothing sent after', async () => {
    const receiver = await slowReceiver();
    const socket = new InspectorSocket({ url: receiver.url });
    cleanups.push(() => socket.close());
    await until(() => receiver.connected());
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (let n = 0; n < 200; n++) socket.send(frame(n)); // 20 MB: past what the socket may hold
    await new Promise((resolve) => setTimeout(resolve, 100));
    receiver.resume();
    await until(() => receiver.frames.length === 200);
    expect(receiver.frames.map((text) => (JSON.parse(text) as { n: number }).n)).toEqual([...Array(200).keys()]);
  });

  it('close() sends what waited before it closes', async () => {
    const receiver = await slowReceiver();
    const socket = new InspectorSocket({ url: receiver.url });
    await until(() => receiver.connected());
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (let n = 0; n < 200; n++) socket.send(frame(n));
    const closed = socket.close();
    setTimeout(() => receiver.resume(), 100);
    await closed;
    expect(receiver.frames).toHaveLength(200);
  });

  it('replays a large host whole to a restarted relay: a replay is not cut to the size of the waiting frames', { timeout: 30_000 }, async () => {
    const first = await receiver();
    const port = Number(new URL(first.url).port);
    const socket = new InspectorSocket({ url: first.url, replayOnReconnect: true, retryMs: 50 });
    cleanups.push(() => socket.close());
    await until(() => first.connections() === 1);
    // 10,000 registrations of about 7 KB: 70 MB as text, more than the 64 MiB that may wait.
    const definition = JSON.stringify({ id: 'plugin', description: 'd'.repeat(7000) });
    const count = 10_000;
    for (let batch = 0; batch < count; batch += 1000) {
      for (let i = batch; i < batch + 1000; i++) {
        const frame = JSON.stringify({ type: '@xstate.actor', sessionId: `s${i}`, name: `p${i}`, definition });
        socket.send(frame, { type: '@xstate.actor', sessionId: `s${i}`, definition });
      }
      await until(() => first.frames.length === batch + 1000, 10_000);
    }
    first.frames.length = 0; // only their count mattered
    await first.close();
    const second = await receiver(port);
    await until(() => second.frames.length === count, 20_000);
    expect(new Set(second.frames.map((text) => (JSON.parse(text) as { sessionId: string }).sessionId)).size).toBe(count);
    expect(JSON.parse(second.frames[0]!)).toMatchObject({ sessionId: 's0', definition });
  });

  it.each([
    ['ASCII', 'y'.repeat(1024 * 1024)],
    ['two-byte characters, counted in bytes', 'é'.repeat(512 * 1024)],
  ])('keeps at most 64 MiB of frames for a relay it cannot reach yet; past it, the relay is sent the live actors instead (%s)', async (_name, big) => {
    const probe = await receiver();
    const port = Number(new URL(probe.url).port);
    await probe.close(); // nothing listens there now
    const socket = new InspectorSocket({ url: `ws://127.0.0.1:${port}`, retryMs: 50 });
    cleanups.push(() => socket.close());
    socket.send(JSON.stringify({ type: '@xstate.actor', sessionId: 's', name: 's' }));
    // 70 MiB of events: more than waits; each too large for the replay too.
    for (let n = 0; n < 70; n++) socket.send(JSON.stringify({ type: '@xstate.event', sessionId: 's', n, big }));
    const late = await receiver(port);
    socket.send(JSON.stringify({ type: '@xstate.event', sessionId: 's', n: 70 }));
    await until(() => late.frames.some((text) => (JSON.parse(text) as { n?: number }).n === 70), 10_000);
    const received = late.frames.map((text) => JSON.parse(text) as { type: string; n?: number });
    // The registration the overflow dropped comes first; the dropped events are gone; what comes after, follows.
    expect(received.map((frame) => frame.n ?? frame.type)).toEqual(['@xstate.actor', 70]);
  });

  it('reports a relay that accepts the connection but never answers the handshake as unreachable, and tries again', async () => {
    const held: Socket[] = [];
    const silent = createServer((connection) => void held.push(connection));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const connection of held) connection.destroy();
      silent.close(() => resolve());
    }));
    const told: Array<[boolean, string | undefined]> = [];
    const socket = new InspectorSocket({
      url: `ws://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      handshakeMs: 200,
      retryMs: 50,
      onReachable: (reachable, reason) => void told.push([reachable, reason]),
    });
    cleanups.push(() => socket.close());
    await until(() => held.length >= 2);
    expect(told).toHaveLength(1);
    expect(told[0]![0]).toBe(false);
    expect(typeof told[0]![1]).toBe('string');
  });

  it('says once that the relay is unreachable, however often it retries, and again once it is reached', async () => {
    const probe = await receiver();
    const port = Number(new URL(probe.url).port);
    await probe.close(); // nothing listens there now
    const told: Array<[boolean, string | undefined]> = [];
    const socket = new InspectorSocket({ url: `ws://127.0.0.1:${port}`, retryMs: 30, onReachable: (reachable, reason) => void told.push([reachable, reason]) });
    cleanups.push(() => socket.close());
    await new Promise((resolve) => setTimeout(resolve, 200)); // several retries
    expect(told).toEqual([[false, 'ECONNREFUSED']]);
    const late = await receiver(port);
    await until(() => late.connections() === 1);
    await until(() => told.length === 2);
    expect(told[1]).toEqual([true, undefined]);
  });

  it('closed while still connecting to a relay that turns out unreachable, it still says so (a short run must not end without a word)', async () => {
    const probe = await receiver();
    const port = Number(new URL(probe.url).port);
    await probe.close(); // nothing listens there now
    const told: Array<[boolean, string | undefined]> = [];
    const socket = new InspectorSocket({ url: `ws://127.0.0.1:${port}`, onReachable: (reachable, reason) => void told.push([reachable, reason]) });
    socket.send(JSON.stringify({ type: '@xstate.actor', sessionId: 'manager', name: 'manager' }));
    await socket.close(); // at once: the connection attempt has not failed yet
    expect(told).toEqual([[false, 'ECONNREFUSED']]);
  });

  it.each([true, false])('replayOnReconnect %s: a relay reached after the waiting frames overflowed is told the live actors, not the newest frames only', async (replayOnReconnect) => {
    const probe = await receiver();
    const port = Number(new URL(probe.url).port);
    await probe.close(); // nothing listens there yet
    const socket = new InspectorSocket({ url: `ws://127.0.0.1:${port}`, replayOnReconnect, buffer: 5, retryMs: 50 });
    cleanups.push(() => socket.close());
    for (const id of ['manager', 'a', 'b']) socket.send(JSON.stringify({ type: '@xstate.actor', sessionId: id, name: id }));
    for (let n = 0; n < 20; n++) socket.send(JSON.stringify({ type: '@xstate.event', sessionId: 'a', n }));
    const late = await receiver(port);
    await until(() => late.frames.some((text) => (JSON.parse(text) as { n?: number }).n === 19));
    const kinds = late.frames.map((text) => {
      const parsed = JSON.parse(text) as { type: string; sessionId: string };
      return `${parsed.type} ${parsed.sessionId}`;
    });
    expect(kinds.slice(0, 3)).toEqual(['@xstate.actor manager', '@xstate.actor a', '@xstate.actor b']);
  });

  it('close() while still connecting, after the waiting frames overflowed, sends the live actors rather than the newest frames only', async () => {
    const late = await receiver();
    const socket = new InspectorSocket({ url: late.url, buffer: 5 });
    for (const id of ['manager', 'a', 'b']) socket.send(JSON.stringify({ type: '@xstate.actor', sessionId: id, name: id }));
    for (let n = 0; n < 20; n++) socket.send(JSON.stringify({ type: '@xstate.event', sessionId: 'a', n }));
    await socket.close();
    await until(() => late.frames.some((text) => (JSON.parse(text) as { n?: number }).n === 19));
    const kinds = late.frames.map((text) => {
      const parsed = JSON.parse(text) as { type: string; sessionId: string };
      return `${parsed.type} ${parsed.sessionId}`;
    });
    expect(kinds.slice(0, 3)).toEqual(['@xstate.actor manager', '@xstate.actor a', '@xstate.actor b']);
  });

  it('with replayOnReconnect, a relay that restarted is told the live actors again', async () => {
    const first = await receiver();
    const port = Number(new URL(first.url).port);
    const socket = new InspectorSocket({ url: first.url, replayOnReconnect: true, retryMs: 50 });
    cleanups.push(() => socket.close());
    const actor = (id: string) => JSON.stringify({ type: '@xstate.actor', sessionId: id, name: id });
    const snapshot = (id: string, status = 'active') => JSON.stringify({ type: '@xstate.snapshot', sessionId: id, snapshot: { status, value: 'running' } });
    for (const id of ['manager', 'a', 'b']) socket.send(actor(id));
    socket.send(snapshot('a'));
    socket.send(snapshot('b', 'stopped')); // b was stopped: not replayed
    await until(() => first.frames.length === 5);
    await first.close();
    const second = await receiver(port);
    await until(() => second.connections() === 1);
    await until(() => second.frames.length >= 3);
    const kinds = second.frames.map((text) => {
      const parsed = JSON.parse(text) as { type: string; sessionId: string };
      return `${parsed.type} ${parsed.sessionId}`;
    });
    expect(kinds).toEqual(['@xstate.actor manager', '@xstate.actor a', '@xstate.snapshot a']);
  });
});
