/**
 * A local relay for the Stately inspector, bound to 127.0.0.1: the host's inspector connects
 * to it over WebSocket and every other client (the viewer page it serves, or any tool speaking
 * `@statelyai/inspect`'s protocol) receives what the host sends. The viewer page embeds Stately's
 * inspector UI (stately.ai/inspect, so that browser needs the internet) and forwards the events
 * to it, as the package's own `@statelyai/inspect/server` does; that server listens on every
 * interface, cannot pick a free port, throws when its port is taken and opens a browser, so
 * the relay is ours.
 *
 * A viewer that connects late still sees every live actor: the relay keeps each actor's
 * registration and latest snapshot, plus the last events.
 */
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { LOOPBACK, checkHost, checkPort, closeServer, hostIsLoopback, isLoopback, listen, origin } from '../dashboard/listen.ts';
import { bridgePage } from './relay-page.ts';
import { Replay } from './replay.ts';
import type { ReplayCursor } from './replay.ts';

/** What may wait in a viewer's socket; past it, frames for it queue in the relay. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** What may queue for a viewer (UTF-8 bytes) before it counts as not reading and is dropped. */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/** What one turn sends a viewer from its queue (UTF-8 bytes) before it yields to the event loop. */
const MAX_BYTES_PER_TURN = 4 * 1024 * 1024;

/** How often a viewer's queue is tried again. */
const CATCH_UP_CHECK_MS = 20;

/** How long a viewer with frames waiting may take none before it counts as not reading and is dropped. */
const STALL_MS = 30_000;

/**
 * How many clients may be connected at once (the host's inspector among them). Each one that
 * stops reading holds up to MAX_BUFFERED_BYTES + MAX_QUEUED_BYTES until it is dropped: without a
 * cap, a few hundred of them exhaust the host's memory before the first is found stalled.
 */
const MAX_VIEWERS = 16;

export interface InspectorRelayOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** The inspector UI the viewer page embeds. @default 'https://stately.ai/inspect' */
  inspectorUrl?: string;
  /** How long a viewer with frames waiting may read nothing before it is dropped. @default 30000 */
  stallMs?: number;
  /** Clients connected at once; one more is refused (503, retry after 5 s). @default 16 */
  maxViewers?: number;
}

export interface InspectorRelay {
  /** Where inspectors send events: `ws://127.0.0.1:PORT`. */
  readonly url: string;
  /** The viewer page: `http://127.0.0.1:PORT/`. */
  readonly viewerUrl: string;
  close(): Promise<void>;
}

const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** The relay's answers: never framed by another page, never sniffed, no referrer sent on. */
const PAGE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "frame-ancestors 'none'",
} as const;

/** Starts the relay; resolves once it listens. */
export async function startInspectorRelay(options: InspectorRelayOptions = {}): Promise<InspectorRelay> {
  const owner = 'inspector relay';
  const port = checkPort(options.port ?? 0, owner);
  const host = checkHost(options.host ?? LOOPBACK, owner);
  const inspectorUrl = options.inspectorUrl ?? 'https://stately.ai/inspect';
  const stallMs = options.stallMs ?? STALL_MS;
  const maxViewers = options.maxViewers ?? MAX_VIEWERS;
  let page = '';
  const loopbackOnly = isLoopback(host);
  const server = createServer((req, res) => {
    // Compared as text: a request line no URL parser accepts must not throw in the host.
    const path = (req.url ?? '/').split('?')[0];
    // No other site may frame the page: framed, it would be the relay's own origin, pass the
    // socket's Origin check and take viewer places; nor reach it by a DNS name of its own.
    const headers = { ...PAGE_HEADERS, connection: 'close' };
    if (loopbackOnly && !hostIsLoopback(req.headers.host)) {
      res.writeHead(403, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('requests must address 127.0.0.1 or localhost\n');
      return;
    }
    if (req.method !== 'GET' || path !== '/') {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page);
  });
  const address = await listen(server, port, host, owner);
  const own = [origin(host, address.port), origin('localhost', address.port), origin(LOOPBACK, address.port)];
  page = bridgePage(inspectorUrl);

  // Tools connect without an Origin; a browser only from our own viewer page, so no other web
  // page open in that browser can read the host's events.
  // Past `maxViewers` a client is refused before the upgrade; the viewer page tries again later.
  const verifyClient = ({ req }: { req: IncomingMessage }, accept: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => {
    if (req.headers.origin !== undefined && !own.includes(req.headers.origin)) accept(false, 403);
    else if (wss.clients.size >= maxViewers) accept(false, 503, 'Service Unavailable', { 'retry-after': '5' });
    else accept(true);
  };
  const wss: WebSocketServer = new WebSocketServer({ server, verifyClient, maxPayload: MAX_FRAME_BYTES });
  const replay = new Replay();
  // A failure to accept a connection (EMFILE …) must not take the host down.
  server.on('error', () => undefined);
  wss.on('error', () => undefined);
  // Each viewer is sent what it can read: a new one first gets the replay (a large host's is tens
  // of MB) as it reads it, and frames relayed while it catches up, or while a burst fills its
  // socket, queue behind, bounded; one whose queue overflows, or that reads nothing of it for
  // `stallMs`, has stopped reading and is dropped.
  interface Viewer {
    cursor: ReplayCursor | null;
    queued: string[];
    head: number;
    bytes: number;
    timer: NodeJS.Timeout | null;
    /** Its socket's unsent bytes when last looked at, and since when it has taken nothing. */
    buffered: number;
    idleSince: number;
  }
  const viewers = new Map<WebSocket, Viewer>();
  const pump = (viewer: WebSocket) => {
    const state = viewers.get(viewer);
    if (!state) return;
    state.timer = null;
    if (viewer.readyState !== WebSocket.OPEN) return;
    // It took something since the last look: its socket holds less, or room was made for more.
    let took = viewer.bufferedAmount < state.buffered;
    while (state.cursor && viewer.bufferedAmount < MAX_BUFFERED_BYTES) {
      const frame = state.cursor.next();
      if (frame === undefined) state.cursor = null;
      else viewer.send(frame);
      took = true;
    }
    // Read from a head index (shift() moves the whole array: quadratic on a long queue), and at
    // most a slice per turn, so that the host's event loop never stalls on one viewer.
    let sent = 0;
    while (!state.cursor && state.head < state.queued.length && viewer.bufferedAmount < MAX_BUFFERED_BYTES && sent < MAX_BYTES_PER_TURN) {
      const frame = state.queued[state.head++]!;
      const bytes = Buffer.byteLength(frame);
      state.bytes -= bytes;
      sent += bytes;
      viewer.send(frame);
    }
    if (state.head === state.queued.length) {
      state.queued = [];
      state.head = 0;
    }
    state.buffered = viewer.bufferedAmount;
    if (!state.cursor && state.queued.length === 0) return;
    const now = Date.now();
    if (took || sent > 0) state.idleSince = now;
    else if (now - state.idleSince >= stallMs) {
      viewer.terminate();
      return;
    }
    state.timer = setTimeout(() => pump(viewer), CATCH_UP_CHECK_MS).unref();
  };
  const relayTo = (viewer: WebSocket, frame: string) => {
    const state = viewers.get(viewer);
    if (!state) return;
    if (!state.cursor && state.queued.length === 0) {
      if (viewer.bufferedAmount < MAX_BUFFERED_BYTES) {
        viewer.send(frame);
        return;
      }
      // Its socket is full: frames wait for it from now on.
      state.buffered = viewer.bufferedAmount;
      state.idleSince = Date.now();
    }
    const bytes = Buffer.byteLength(frame);
    if (state.bytes + bytes > MAX_QUEUED_BYTES) {
      // It stopped reading: dropped rather than buffered for without limit. The viewer page
      // connects again and gets the replay.
      viewer.terminate();
      return;
    }
    state.queued.push(frame);
    state.bytes += bytes;
    if (!state.timer) state.timer = setTimeout(() => pump(viewer), CATCH_UP_CHECK_MS).unref();
  };
  wss.on('connection', (socket) => {
    viewers.set(socket, { cursor: replay.cursor(), queued: [], head: 0, bytes: 0, timer: null, buffered: 0, idleSince: Date.now() });
    socket.on('close', () => {
      const state = viewers.get(socket);
      if (state?.timer) clearTimeout(state.timer);
      viewers.delete(socket);
    });
    pump(socket);
    socket.on('error', () => undefined);
    socket.on('message', (data, binary) => {
      if (binary) return;
      const frame = data.toString();
      try {
        // Not a JSON object: not relayed either, since a receiver that parses every frame (the
        // @statelyai/inspect package's) would fail on it.
        if (!replay.remember(frame)) return;
      } catch {
        // Whatever a client sends, the host goes on: the frame is still relayed, just not kept.
      }
      for (const client of wss.clients) {
        if (client !== socket && client.readyState === WebSocket.OPEN) relayTo(client, frame);
      }
    });
  });

  return {
    url: origin(host, address.port, 'ws'),
    viewerUrl: `${origin(host, address.port)}/`,
    async close() {
      for (const state of viewers.values()) if (state.timer) clearTimeout(state.timer);
      viewers.clear();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await closeServer(server);
    },
  };
}
