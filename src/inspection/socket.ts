/**
 * The WebSocket under the Stately inspector: JSON text frames to a relay, held in a bounded
 * buffer until the socket opens, reconnecting after a drop. Unlike `@statelyai/inspect`'s own
 * adapter (which keeps reconnecting every 5 s after `stop()` when the relay is unreachable, a
 * timer that keeps the process alive, and resends its whole buffer on each reconnect), `close()`
 * ends everything and no timer ever holds the process open.
 */
import { WebSocket } from 'ws';
import { RingBuffer } from './ring-buffer.ts';

/** Bytes the socket may hold unsent before frames wait in the ring buffer instead. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export interface InspectorSocketOptions {
  url: string;
  /** Frames kept while the socket is not open (the oldest are dropped). @default 100000 */
  buffer?: number;
  /** Wait before reconnecting after the socket closed or failed. @default 1000 */
  retryMs?: number;
}

/** How long `close()` waits for a connecting socket to open and flush, or an open one to close. */
const CLOSE_WAIT_MS = 2000;

export class InspectorSocket {
  private socket: WebSocket | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly pending: RingBuffer<string>;

  constructor(private readonly options: InspectorSocketOptions) {
    this.pending = new RingBuffer(options.buffer ?? 100_000);
    this.connect();
  }

  send(frame: string): void {
    if (this.closed) return;
    const socket = this.socket;
    // While the receiver keeps up, frames go straight out, after any that waited (in order);
    // when it falls behind, or is not connected, they wait in the bounded ring buffer, oldest
    // dropped first, so a stalled receiver cannot grow the host's memory.
    if (!socket || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount >= MAX_BUFFERED_BYTES) {
      this.pending.push(frame);
      return;
    }
    if (this.pending.size > 0) {
      for (const waiting of this.pending.toArray()) socket.send(waiting);
      this.pending.clear();
    }
    socket.send(frame);
  }

  /**
   * Stops reconnecting and closes the socket once what was sent has gone out: a socket still
   * connecting gets up to `CLOSE_WAIT_MS` to open and flush (a short `run --once` would lose
   * everything otherwise); after that, or when the relay is unreachable, it is dropped.
   */
  close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const socket = this.socket;
    this.socket = null;
    if (!socket || socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => socket.terminate(), CLOSE_WAIT_MS);
      socket.once('close', () => {
        clearTimeout(force);
        this.pending.clear();
        resolve();
      });
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
      else if (socket.readyState === WebSocket.CONNECTING) socket.once('open', () => socket.close(1000));
    });
  }

  private connect(): void {
    this.retry = null;
    if (this.closed) return;
    const socket = new WebSocket(this.options.url);
    this.socket = socket;
    socket.on('open', () => {
      for (const frame of this.pending.toArray()) socket.send(frame);
      this.pending.clear();
    });
    // 'error' is always followed by 'close'; this handler only keeps it from being thrown.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closed) return;
      this.retry = setTimeout(() => this.connect(), this.options.retryMs ?? 1000).unref();
    });
  }
}
