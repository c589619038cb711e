/**
 * The WebSocket under the Stately inspector: JSON text frames to a relay, held in a bounded
 * buffer until the socket opens, reconnecting after a drop. Unlike `@statelyai/inspect`'s own
 * adapter (which keeps reconnecting every 5 s after `stop()` when the relay is unreachable, a
 * timer that keeps the process alive, and resends its whole buffer on each reconnect), `close()`
 * ends everything and no timer ever holds the process open.
 *
 * Frames that wait for a slow receiver go out as soon as it catches up (checked on a short
 * timer), not only when the next frame comes, and `close()` sends them before it closes. A relay
 * that more frames waited for than are kept (not reached yet, or behind while thousands of
 * plugins boot), and with `replayOnReconnect` one that comes back after a drop (restarted, so it
 * forgot everything), is sent what it needs to show the live actors instead: their registrations
 * and latest snapshots and the recent events, as the relay keeps them for late viewers.
 */
import { WebSocket } from 'ws';
import { Replay } from './replay.ts';
import type { FrameInfo, ReplayCursor } from './replay.ts';
import { RingBuffer } from './ring-buffer.ts';

/** Bytes the socket may hold unsent before frames wait in the ring buffer instead. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** How often frames waiting for a slow receiver are tried again. */
const DRAIN_CHECK_MS = 50;

/** What the frames waiting to be sent may take in all (UTF-8 bytes); past it the oldest go. */
const MAX_WAITING_BYTES = 64 * 1024 * 1024;

/** Frames waiting to be sent, oldest first, bounded in count and in size: the oldest are dropped. */
class Backlog {
  private readonly frames: RingBuffer<string>;
  private bytes = 0;
  /** Whether frames were dropped since the last `clear()`. */
  dropped = false;

  constructor(capacity: number) {
    this.frames = new RingBuffer(capacity);
  }

  get size(): number {
    return this.frames.size;
  }

  push(frame: string): void {
    if (this.frames.size === this.frames.capacity) this.drop();
    this.frames.push(frame);
    this.bytes += Buffer.byteLength(frame);
    while (this.bytes > MAX_WAITING_BYTES && this.frames.size > 1) this.drop();
  }

  /** Drops the oldest frame. */
  private drop(): void {
    this.shift();
    this.dropped = true;
  }

  shift(): string | undefined {
    const frame = this.frames.shift();
    if (frame !== undefined) this.bytes -= Buffer.byteLength(frame);
    return frame;
  }

  clear(): void {
    this.frames.clear();
    this.bytes = 0;
    this.dropped = false;
  }
}

export interface InspectorSocketOptions {
  url: string;
  /** Frames kept while the socket is not open or the receiver is behind (the oldest are dropped; 64 MiB at most). @default 100000 */
  buffer?: number;
  /** Wait before reconnecting after the socket closed or failed. @default 1000 */
  retryMs?: number;
  /** How long the relay may take to answer the opening handshake before the attempt counts as failed (then retried). @default 5000 */
  handshakeMs?: number;
  /**
   * After a reconnect, send the live actors' registrations and snapshots again. (Whenever frames
   * that waited were dropped, they are: a connected receiver that fell behind too.) @default false
   */
  replayOnReconnect?: boolean;
  /**
   * Told when the receiver turns out unreachable (`reason`: what the connection failed with), and
   * when it is reached again; not on every retry.
   */
  onReachable?(reachable: boolean, reason?: string): void;
}

/** How long `close()` waits for a connecting socket to open and flush, or an open one to close. */
const CLOSE_WAIT_MS = 2000;

export class InspectorSocket {
  private socket: WebSocket | null = null;
  private retry: NodeJS.Timeout | null = null;
  private drain: NodeJS.Timeout | null = null;
  private closed = false;
  private opened = false;
  private readonly pending: Backlog;
  private readonly replay = new Replay();
  /** After a reconnect: the replay still being sent, before anything that waited. */
  private replaying: ReplayCursor | null = null;
  /** What `onReachable` was last told. */
  private reachable: boolean | null = null;

  constructor(private readonly options: InspectorSocketOptions) {
    this.pending = new Backlog(options.buffer ?? 100_000);
    this.connect();
  }

  /** Sends a frame; `info` says what it is (a sender that built it saves the replay a parse). */
  send(frame: string, info?: FrameInfo): void {
    if (this.closed) return;
    if (info) this.replay.keep(frame, info);
    else this.replay.remember(frame);
    const socket = this.socket;
    // While the receiver keeps up, frames go straight out, after any that waited (in order);
    // when it falls behind, or is not connected, they wait in the bounded ring buffer, oldest
    // dropped first, so a stalled receiver cannot grow the host's memory.
    if (!this.replaying && this.pending.size === 0 && socket?.readyState === WebSocket.OPEN && socket.bufferedAmount < MAX_BUFFERED_BYTES) {
      socket.send(frame);
      return;
    }
    this.pending.push(frame);
    this.flush();
  }

  /**
   * Stops reconnecting and closes the socket once what was sent, and what waited, has gone out:
   * a socket still connecting gets up to `CLOSE_WAIT_MS` to open and flush (a short `run --once`
   * would lose everything otherwise); after that, or when the relay is unreachable, it is dropped.
   */
  close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.drain) clearTimeout(this.drain);
    this.retry = this.drain = null;
    const socket = this.socket;
    this.socket = null;
    if (!socket || socket.readyState === WebSocket.CLOSED) {
      this.pending.clear();
      return Promise.resolve();
    }
    // Still connecting: a relay that turns out unreachable now is said to be, as it would be in a
    // longer run (a short `run --once` used to end without a word, its frames dropped).
    let unreached = socket.readyState === WebSocket.CONNECTING;
    let reason: string | undefined;
    socket.once('open', () => void (unreached = false));
    socket.once('error', (error: NodeJS.ErrnoException) => void (reason ??= error.code ?? error.message));
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        reason ??= `no answer within ${CLOSE_WAIT_MS} ms`;
        socket.terminate();
      }, CLOSE_WAIT_MS);
      socket.once('close', () => {
        clearTimeout(force);
        this.pending.clear();
        if (unreached) this.tell(false, reason ?? 'the connection closed');
        resolve();
      });
      // The close frame goes out after everything queued before it.
      const finish = () => {
        // Frames were dropped while it connected: the live actors go out instead, as in flush().
        if (this.pending.dropped && !this.replaying) this.startReplay();
        const replaying = this.replaying;
        this.replaying = null;
        for (let frame = replaying?.next(); frame !== undefined; frame = replaying!.next()) socket.send(frame);
        for (let frame = this.pending.shift(); frame !== undefined; frame = this.pending.shift()) socket.send(frame);
        socket.close(1000);
      };
      if (socket.readyState === WebSocket.OPEN) finish();
      else if (socket.readyState === WebSocket.CONNECTING) socket.once('open', finish);
    });
  }

  /** Sends waiting frames, oldest first, while the receiver keeps up; looks again shortly when it does not. */
  private flush(): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    // The receiver fell so far behind that waiting frames were dropped, registrations among them
    // (a host of thousands booting): what it needs to show every live actor goes out instead.
    if (this.pending.dropped && !this.replaying) this.startReplay();
    while (this.replaying && socket.bufferedAmount < MAX_BUFFERED_BYTES) {
      const frame = this.replaying.next();
      if (frame === undefined) this.replaying = null;
      else socket.send(frame);
    }
    while (!this.replaying && this.pending.size > 0 && socket.bufferedAmount < MAX_BUFFERED_BYTES) socket.send(this.pending.shift()!);
    if ((this.replaying || this.pending.size > 0) && !this.drain) {
      this.drain = setTimeout(() => {
        this.drain = null;
        this.flush();
      }, DRAIN_CHECK_MS).unref();
    }
  }

  /**
   * Sends the live actors' registrations and latest snapshots and the recent events, as a late
   * viewer gets them, instead of what waited (it is in the replay too): made one frame at a time
   * as the relay takes them; frames sent meanwhile wait behind it.
   */
  private startReplay(): void {
    this.pending.clear();
    this.replaying = this.replay.cursor();
  }

  private tell(reachable: boolean, reason?: string): void {
    if (this.reachable === reachable) return;
    this.reachable = reachable;
    try {
      this.options.onReachable?.(reachable, reason);
    } catch {
      // A listener that throws changes nothing here.
    }
  }

  private connect(): void {
    this.retry = null;
    if (this.closed) return;
    // A relay that accepts the connection and never answers would otherwise hold it forever,
    // neither reported unreachable nor tried again.
    const socket = new WebSocket(this.options.url, { handshakeTimeout: this.options.handshakeMs ?? 5000 });
    this.socket = socket;
    let failure: string | undefined;
    socket.on('open', () => {
      this.tell(true);
      // Back after a drop: the relay may have restarted and forgotten every actor.
      if (this.options.replayOnReconnect && this.opened) this.startReplay();
      this.opened = true;
      this.flush();
    });
    // 'error' is always followed by 'close'; it is kept only to say why.
    socket.on('error', (error: NodeJS.ErrnoException) => void (failure ??= error.code ?? error.message));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closed) return;
      this.tell(false, failure ?? 'the connection closed');
      this.retry = setTimeout(() => this.connect(), this.options.retryMs ?? 1000).unref();
    });
  }
}
