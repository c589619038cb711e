/**
 * The live feed behind `/api/events` (Server-Sent Events): a full snapshot on connect, then the
 * rows that changed and the new timeline records, gathered and sent at most once per
 * `intervalMs` (a host booting 1,000 plugins moves thousands of times a second; the page gets
 * a few dozen messages). A client that cannot keep up is dropped; its EventSource reconnects and
 * starts again from a fresh snapshot.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InspectionHub } from '../inspection/hub.ts';
import type { InspectionRecord } from '../inspection/record.ts';
import { onCommandSettled, snapshotsOf } from '../manager.ts';
import type { PluginManager } from '../manager.ts';
import type { PluginSnapshot } from '../snapshot.ts';
import { changeRecords } from './changes.ts';
import type { RecordSource } from './changes.ts';
import { PluginFactoryError } from '../errors.ts';
import { SECURITY_HEADERS, beginEndless, markEndless, sendError } from './http.ts';
import { StateClock, allowed, dashboardSnapshot, pluginRow } from './view.ts';
import type { ViewOptions } from './view.ts';
import type { DashboardPlugin, LiveMessage } from './wire.ts';

export interface LiveFeedOptions {
  manager: PluginManager;
  /** Feeds the timeline; without one, the manager's change notifications do. */
  hub: InspectionHub | null;
  view: ViewOptions;
  /** Least time between two messages to a page. @default 25 */
  intervalMs?: number;
  /** Live streams open at once; one more is refused with LIMIT_REACHED (503). @default 64 */
  maxStreams?: number;
  /** Time between two heartbeats on every open stream. @default 15000 */
  heartbeatMs?: number;
}

const DEFAULT_MAX_STREAMS = 64;
const DEFAULT_HEARTBEAT_MS = 15_000;

/** Records held between two messages; past this the oldest are dropped (the page only shows the newest). */
const MAX_PENDING_RECORDS = 5000;
/** Bytes a client may have unread before it is dropped. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export class LiveFeed {
  readonly clock = new StateClock();
  private readonly clients = new Set<ServerResponse>();
  private readonly dirty = new Set<string>();
  private everything = false;
  private records: InspectionRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private lastFlush = 0;
  private closed = false;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly source: RecordSource;

  constructor(private readonly options: LiveFeedOptions) {
    const { manager, hub } = options;
    const changes = manager.subscribe((change) => {
      if (change.type === 'plugin.changed') {
        // An unloaded plugin's last change: nothing to time any more (with or without a viewer).
        if (change.state === 'removed') this.clock.removed(change.name);
        else this.clock.changed(change.name);
        this.dirty.add(change.name);
      } else if (change.type === 'plugin.health') {
        // Its row's health cell; its state (and how long it has held) is unchanged.
        this.dirty.add(change.name);
      } else {
        // Every plugin's allowed commands depend on the host's state.
        this.everything = true;
      }
      this.schedule();
    });
    this.unsubscribe.push(() => changes.unsubscribe());
    // A restart or reload that settled changes the plugin's allowed commands, not its state.
    this.unsubscribe.push(
      onCommandSettled(manager, (name) => {
        this.dirty.add(name);
        this.schedule();
      }),
    );
    // Without a hub the timeline shows the manager's own change notifications.
    const fallback = hub ? null : changeRecords(manager);
    if (fallback) this.unsubscribe.push(() => fallback.close());
    this.source = hub ?? fallback!;
    const records = this.source.subscribe((record) => {
      if (this.clients.size === 0) return;
      this.records.push(record);
      if (this.records.length > MAX_PENDING_RECORDS) this.records.splice(0, this.records.length - MAX_PENDING_RECORDS);
      this.schedule();
    });
    this.unsubscribe.push(() => records.unsubscribe());
  }

  get size(): number {
    return this.clients.size;
  }

  /** Whether the heartbeat's timer runs (only while a stream is open). */
  get beating(): boolean {
    return this.heartbeat !== null;
  }

  /** Turns a request into an event stream, starting with the whole picture. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed) {
      markEndless(res, false);
      res.end();
      return;
    }
    // A request pipelined behind another answer comes here only once its answer can be sent (the
    // router waits for its turn): a pile of them on one connection is no client at all.
    const limit = this.options.maxStreams ?? DEFAULT_MAX_STREAMS;
    if (this.clients.size >= limit) {
      // Each stream holds a snapshot of the host in its buffer until read: streams without
      // a bound would let clients that never read use up the host's memory.
      markEndless(res, false);
      res.setHeader('retry-after', '5');
      sendError(
        res,
        new PluginFactoryError('LIMIT_REACHED', `dashboard: ${limit} live streams are open, the most it serves; close a page or try again later`),
        this.options.view.redact,
      );
      return;
    }
    // Requests piled behind the stream while an earlier answer held the connection would wait
    // for ever: past the limit behind a stream, the connection is closed instead.
    if (req.method !== 'HEAD' && !beginEndless(req, res)) return;
    req.socket.setNoDelay(true);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // No `connection` header: Node keeps a streaming answer open by itself, and closes it
      // when the client asked for that (HEAD with `Connection: close`, HTTP/1.0).
      'x-accel-buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.write('retry: 1000\n\n');
    // What still waits goes to the clients already here first: the newcomer's snapshot and
    // `recent` hold it already, and it must not get those records a second time.
    if (this.timer || this.records.length > 0) {
      if (this.timer) clearTimeout(this.timer);
      this.flush();
    }
    const { manager, view } = this.options;
    const snapshot = dashboardSnapshot(manager, manager.getSnapshot(), this.clock, view);
    const heartbeatMs = this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.write(res, { type: 'snapshot', snapshot, recent: this.source.recent(), heartbeatMs });
    this.clients.add(res);
    // A quiet host sends nothing: the heartbeat keeps proxies from closing the stream as idle,
    // and tells the page that a stream which stopped bringing anything has stalled.
    this.heartbeat ??= setInterval(() => this.broadcast({ type: 'heartbeat' }), heartbeatMs).unref();
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stopHeartbeat();
    });
  }

  /** Sends what still waits (the last changes of a host that stopped), then ends every stream and stops listening to the manager and the hub. */
  close(): void {
    this.closed = true;
    for (const stop of this.unsubscribe.splice(0)) stop();
    if (this.timer) clearTimeout(this.timer);
    this.stopHeartbeat();
    this.flush();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private schedule(): void {
    if (this.timer || this.clients.size === 0) return;
    const wait = Math.max(0, this.lastFlush + (this.options.intervalMs ?? 25) - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = null;
    this.lastFlush = Date.now();
    const records = this.records;
    this.records = [];
    if (this.clients.size === 0) {
      this.dirty.clear();
      this.everything = false;
      return;
    }
    if (this.everything || this.dirty.size > 0) this.broadcast(this.rows());
    if (records.length > 0) this.broadcast({ type: 'inspection', records });
  }

  /**
   * The rows that changed (all of them after a host state change), and the plugins that are gone.
   * Only the changed plugins are looked at: a host of 10,000 with one restarting costs one row.
   */
  private rows(): LiveMessage {
    const { manager, view } = this.options;
    const plugins: DashboardPlugin[] = [];
    const removed: string[] = [];
    const row = (plugin: PluginSnapshot) => pluginRow(plugin, allowed(manager, plugin.name, view.reload), this.clock.of(plugin.name), view.redact);
    let state: string;
    if (this.everything) {
      const snapshot = manager.getSnapshot();
      state = snapshot.state;
      for (const plugin of snapshot.plugins) plugins.push(row(plugin));
    } else {
      const changed = snapshotsOf(manager, this.dirty);
      state = changed.state;
      for (const [name, plugin] of changed.plugins) {
        if (plugin) plugins.push(row(plugin));
        else removed.push(name);
      }
    }
    for (const name of removed) this.clock.removed(name);
    const full = this.everything;
    this.dirty.clear();
    this.everything = false;
    return { type: 'plugins', state, plugins, removed, full };
  }

  private broadcast(message: LiveMessage): void {
    const frame = this.frame(message);
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }

  private write(res: ServerResponse, message: LiveMessage): void {
    res.write(this.frame(message));
  }

  private frame(message: LiveMessage): string {
    return `event: ${message.type}\ndata: ${JSON.stringify(message)}\n\n`;
  }
}
