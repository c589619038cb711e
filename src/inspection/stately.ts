/**
 * `connectStatelyInspector()`: shows the manager and every plugin actor in Stately's inspector.
 * Inspection events are sent in `@statelyai/inspect`'s WebSocket format, either to a relay you
 * name (`url`) or to a local relay it starts on 127.0.0.1, whose page embeds the inspector UI.
 */
import type { InspectionEvent, Observer } from 'xstate';
import { PluginFactoryError } from '../errors.ts';
import { createRedactor, isStringArray } from './redact.ts';
import { isOptionsObject, quote, unknownOptions } from '../platform/_utils.ts';
import type { InspectorRelay } from './relay.ts';

export interface StatelyInspectorOptions {
  /** A relay to send to (`ws://…` or `wss://…`). Without one a local relay is started. */
  url?: string;
  /** Port of the local relay. @default 0 (any free port) */
  port?: number;
  /** Values replaced by `[redacted]` in everything sent (see `secretsOf`; more with `addSecrets`). */
  redact?: readonly string[];
  /**
   * With `url`: told when the relay turns out unreachable (`reason`, such as `ECONNREFUSED`) and
   * when it is reached again; frames wait for it meanwhile (bounded).
   */
  onReachable?(reachable: boolean, reason?: string): void;
}

export interface StatelyInspector {
  /** The observer to pass as `createPluginManager({ inspect })` (or to `hub.forward`). */
  readonly inspect: Observer<InspectionEvent>;
  /** The relay the events go to. */
  readonly url: string;
  /** The local relay's viewer page (open it in a browser), or null when `url` was given. */
  readonly viewerUrl: string | null;
  /** Adds values to redact from now on (a plugin reloaded with a new secret); OPTIONS_INVALID unless an array of strings. */
  addSecrets(values: readonly string[]): void;
  /** Stops sending and closes the local relay. */
  close(): Promise<void>;
}

/**
 * The URL as the socket will use it, when it is one a WebSocket can connect to: `ws:` or `wss:`,
 * a valid port, no `#fragment` (which the WebSocket client refuses); null otherwise.
 */
export function webSocketUrl(url: unknown): string | null {
  let parsed: URL;
  try {
    if (typeof url !== 'string') return null;
    parsed = new URL(url);
  } catch {
    return null;
  }
  return (parsed.protocol === 'ws:' || parsed.protocol === 'wss:') && parsed.hash === '' ? parsed.href : null;
}

/**
 * A URL as it is printed: credentials in it (`ws://user:pw@…`) are not shown, in one that does
 * not parse either (a typo in its port).
 */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '***';
    parsed.password = '';
    return parsed.href;
  } catch {
    // Up to the last '@': a password may hold '/', '?' or '#' (which is why it did not parse).
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/is, '$1***@');
  }
}

function checkUrl(url: unknown): string {
  const href = webSocketUrl(url);
  if (href === null) {
    throw new PluginFactoryError(
      'OPTIONS_INVALID',
      `Stately inspector: url must be a WebSocket URL such as ws://127.0.0.1:8080, without a #fragment (got ${typeof url === 'string' ? JSON.stringify(shownUrl(url)) : JSON.stringify(url)})`,
    );
  }
  return href;
}

const STATELY_OPTIONS: ReadonlySet<string> = new Set(['url', 'port', 'redact', 'onReachable']);

/**
 * Connects the Stately inspector.
 *
 * @example
 * ```ts
 * const stately = await connectStatelyInspector();          // local relay on 127.0.0.1
 * const manager = createPluginManager({ plugins, inspect: stately.inspect });
 * console.log(`open ${stately.viewerUrl}`);
 * // … on shutdown, after manager.stop():
 * await stately.close();
 * ```
 */
export async function connectStatelyInspector(options: StatelyInspectorOptions = {}): Promise<StatelyInspector> {
  if (!isOptionsObject(options)) throw new PluginFactoryError('OPTIONS_INVALID', `Stately inspector: the options must be an object, not ${quote(options)}`);
  const unknown = unknownOptions(options, STATELY_OPTIONS);
  if (unknown) throw new PluginFactoryError('OPTIONS_INVALID', `Stately inspector: ${unknown}`);
  const url = options.url === undefined ? null : checkUrl(options.url);
  // `port` is the local relay's; with a relay of your own it would be ignored unseen.
  if (url !== null && options.port !== undefined) {
    throw new PluginFactoryError('OPTIONS_INVALID', 'Stately inspector: give url (a relay of your own) or port (of the local relay), not both');
  }
  // Every option is checked before anything listens or connects: a refused call leaves nothing open.
  if (options.redact !== undefined && !isStringArray(options.redact)) {
    throw new PluginFactoryError('OPTIONS_INVALID', 'Stately inspector: redact must be an array of strings');
  }
  if (options.onReachable !== undefined && typeof options.onReachable !== 'function') {
    throw new PluginFactoryError('OPTIONS_INVALID', 'Stately inspector: onReachable must be a function');
  }
  // Loaded here, not with the library: hosts that never inspect do not pay for them.
  const [{ startInspectorRelay }, { InspectorSocket }, { toStatelyFrame, statelyFrameInfo }] = await Promise.all([
    import('./relay.ts'),
    import('./socket.ts'),
    import('./stately-events.ts'),
  ]);
  const relay: InspectorRelay | null = url ? null : await startInspectorRelay({ port: options.port ?? 0 });
  const target = url ?? relay!.url;
  // A relay of your own may restart while the host runs; the local one lives and dies with it.
  const socket = new InspectorSocket({
    url: target,
    replayOnReconnect: url !== null,
    ...(url !== null && options.onReachable ? { onReachable: options.onReachable } : {}),
  });
  const redact = createRedactor(options.redact);
  // Converted a microtask later, in order: an actor's first snapshot exists only once its
  // constructor has returned, and a burst of events costs one pass.
  let queue: Array<{ event: InspectionEvent; at: number }> = [];
  let closed = false;
  let closing: Promise<void> | null = null;
  const flush = () => {
    const batch = queue;
    queue = [];
    for (const { event, at } of batch) {
      const frame = toStatelyFrame(event, redact, at);
      if (frame !== null) socket.send(frame, statelyFrameInfo(event));
    }
  };
  const inspect: Observer<InspectionEvent> = {
    next(event) {
      if (closed || event.type === '@xstate.action' || event.type === '@xstate.microstep') return;
      if (queue.push({ event, at: Date.now() }) === 1) queueMicrotask(flush);
    },
  };
  return {
    inspect,
    url: target,
    viewerUrl: relay?.viewerUrl ?? null,
    addSecrets(values) {
      if (!isStringArray(values)) {
        throw new PluginFactoryError('OPTIONS_INVALID', 'Stately inspector: addSecrets takes an array of strings');
      }
      redact.add(values);
    },
    close() {
      // A second call waits for the first one's work rather than resolving before it is done.
      closing ??= (async () => {
        flush();
        closed = true;
        await socket.close();
        await relay?.close();
      })();
      return closing;
    },
  };
}
