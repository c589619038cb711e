/**
 * The WebSocket under the Stately inspector: JSON text frames to a relay, held in a bounded
 * buffer until the socket opens, reconnecting after a drop. Unlike `@statelyai/inspect`'s own
 * adapter (which keeps reconnecting every 5 s after `stop()` when the relay is unreachable, a
 * timer that keeps the process alive, and resends its whole buffer on each reconnect), `close()`
 * ends everything and no timer ever holds the process open.
 */
import { WebSocket } from 'ws';
import { RingBuffer } from './ring-buffer.ts';

export interface InspectorSocketOptions {
  url: string;
  /** Frames kept while the socket is not open (the oldest are dropped). @default 100000 */
  buffer?: number;
  /** Wait before reconnecting after the socket closed or failed. @default 1000 */
  retryMs?: number;
}

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
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(frame);
    else this.pending.push(frame);
  }

  /** Stops reconnecting; what was sent is flushed, then the socket closes (at most 1 s later). */
  close(): void {
    this.closed = true;
    this.pending.clear();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    if (socket.readyState !== WebSocket.OPEN) {
      socket.terminate();
      return;
    }
    const force = setTimeout(() => socket.terminate(), 1000).unref();
    socket.once('close', () => clearTimeout(force));
    socket.close(1000);
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
