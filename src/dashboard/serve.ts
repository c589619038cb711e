/**
 * `serveDashboard(manager, options)`: the live dashboard of a host, served by the host itself on
 * 127.0.0.1 unless told otherwise. Reads need nothing; commands need the token (random unless
 * given), which the host prints at startup.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createServer } from 'node:http';
import { pluginLifecycle } from '../../machines/plugin-lifecycle.ts';
import { PluginFactoryError } from '../errors.ts';
import { MAX_TIMER_MS } from '../manifest.ts';
import type { InspectionHub } from '../inspection/hub.ts';
import { createRedactor, isStringArray, secretsOf } from '../inspection/redact.ts';
import type { PluginManager } from '../manager.ts';
import { apiRoutes } from './api.ts';
import { assetRoutes, loadAssets } from './assets.ts';
import { dashboardChart } from './chart-svg.ts';
import type { ReloadSource } from './host-reload.ts';
import { LOOPBACK, checkHost, checkPort, closeServer, isLoopback, listen, origin } from './listen.ts';
import { LiveFeed } from './live.ts';
import { answerClientError, answerConnect, requestError, sendError } from './http.ts';
import { createRouter } from './router.ts';
import { TOKEN_PATTERN } from './wire.ts';
import { isOptionsObject, unknownOptions } from '../platform/_utils.ts';

export interface DashboardOptions {
  /** @default 0 (any free port; read it from `url`) */
  port?: number | undefined;
  /** The address to listen on. Anything but a loopback address exposes the host to the network. @default '127.0.0.1' */
  host?: string | undefined;
  /** The control token (16+ characters: letters, digits, `-`, `_`, `.`, `~`). @default 32 random bytes, base64url */
  token?: string | undefined;
  /** An inspection hub passed as the manager's `inspect`: its events fill the timeline. */
  hub?: InspectionHub | undefined;
  /** Where reload gets a plugin's new definition (`reloadFromHost(host)` for hosts on disk); without it reload is off. */
  reload?: ReloadSource | undefined;
  /**
   * Values replaced by `[redacted]` in everything the dashboard sends (`secretsOf(definitions)`).
   * The secrets of definitions the dashboard reloads are added by itself; for plugins you reload
   * another way, call `addSecrets(secretsOf([definition]))`.
   */
  redact?: readonly string[] | undefined;
  /** Live streams (`/api/events`, one per open page) served at once; one more is refused with LIMIT_REACHED (503). @default 64 */
  maxStreams?: number | undefined;
  /**
   * Time between two heartbeats on every live stream. They keep proxies from closing a quiet
   * stream as idle, and a page that hears nothing for twice as long and a second more connects again. @default 15000
   */
  heartbeatMs?: number | undefined;
}

export interface Dashboard {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  /** The URL that also unlocks the controls: `url` plus `#token=…` (a fragment: never sent to the server or logged). */
  readonly controlUrl: string;
  readonly token: string;
  readonly port: number;
  readonly host: string;
  /** Adds values to redact from now on (a plugin reloaded with a new secret); OPTIONS_INVALID unless an array of strings. */
  addSecrets(values: readonly string[]): void;
  /** Ends every live stream and stops the server. */
  close(): Promise<void>;
}

const DASHBOARD_OPTIONS: ReadonlySet<string> = new Set(['port', 'host', 'token', 'hub', 'reload', 'redact', 'maxStreams', 'heartbeatMs']);

function optionsError(message: string): PluginFactoryError {
  return new PluginFactoryError('OPTIONS_INVALID', `serveDashboard: ${message}`);
}

function checkOptions(manager: unknown, options: DashboardOptions): void {
  const fn = (value: unknown, key: string) => typeof (value as Record<string, unknown> | null)?.[key] === 'function';
  if (!['getSnapshot', 'subscribe', 'can', 'startPlugin', 'stopPlugin', 'restartPlugin', 'reloadPlugin'].every((key) => fn(manager, key))) {
    throw optionsError('the first argument must be a plugin manager (createPluginManager)');
  }
  // `options` is serveDashboard's copy, made once the object was checked to be one.
  const unknown = unknownOptions(options, DASHBOARD_OPTIONS);
  if (unknown) throw optionsError(unknown);
  if (options.token !== undefined && (typeof options.token !== 'string' || !TOKEN_PATTERN.test(options.token))) {
    throw optionsError('token must be 16 to 256 characters: letters, digits, -, _, . or ~');
  }
  if (options.hub !== undefined && !(fn(options.hub, 'subscribe') && fn(options.hub, 'recent'))) {
    throw optionsError('hub must come from createInspectionHub()');
  }
  if (options.reload !== undefined && typeof options.reload !== 'function') throw optionsError('reload must be a function (name) => definition');
  if (options.redact !== undefined && !isStringArray(options.redact)) throw optionsError('redact must be an array of strings');
  const { maxStreams } = options;
  if (maxStreams !== undefined && !(Number.isSafeInteger(maxStreams) && maxStreams >= 1)) {
    throw optionsError(`maxStreams must be a whole number of at least 1 (got ${String(maxStreams)})`);
  }
  const { heartbeatMs } = options;
  if (heartbeatMs !== undefined && !(Number.isSafeInteger(heartbeatMs) && heartbeatMs >= 1 && heartbeatMs <= MAX_TIMER_MS)) {
    throw optionsError(`heartbeatMs must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS} (got ${String(heartbeatMs)})`);
  }
}

/** Host states in which no reload can be taken any more. */
const ENDING: ReadonlySet<string> = new Set(['stopping', 'stopped', 'crashed']);

/**
 * Serves the dashboard of `manager`; resolves once it listens.
 *
 * @example
 * ```ts
 * const hub = createInspectionHub();
 * const manager = createPluginManager({ plugins, inspect: hub.inspect });
 * const dashboard = await serveDashboard(manager, { hub });
 * console.log(`dashboard: ${dashboard.url} (control token ${dashboard.token})`);
 * await manager.start();
 * // … on shutdown:
 * await manager.stop();
 * await dashboard.close();
 * ```
 */
export async function serveDashboard(manager: PluginManager, given: DashboardOptions = {}): Promise<Dashboard> {
  // Read once; what throws as it is read (a getter, a revoked Proxy) is a malformed argument.
  let options: DashboardOptions;
  try {
    if (!isOptionsObject(given)) throw optionsError('options must be an object');
    // The copy is what is checked and used: a getter is not read a second time.
    options = { ...given };
    checkOptions(manager, options);
  } catch (error) {
    if (error instanceof PluginFactoryError) throw error;
    throw optionsError('the manager or the options cannot be read (a getter or a Proxy trap threw)');
  }
  const owner = 'serveDashboard';
  const port = checkPort(options.port ?? 0, owner);
  const host = checkHost(options.host ?? LOOPBACK, owner);
  const token = options.token ?? randomBytes(32).toString('base64url');
  const redact = createRedactor(options.redact);
  const view = { redact, reload: options.reload !== undefined, inspection: options.hub !== undefined };

  const assets = await loadAssets();
  const feed = new LiveFeed({
    manager,
    hub: options.hub ?? null,
    view,
    ...(options.maxStreams === undefined ? {} : { maxStreams: options.maxStreams }),
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
  });
  // Reloads still loading their code are given up when the dashboard closes or the host stops.
  const ending = new AbortController();
  // One listener per reload still loading, removed as it ends: any number of them is no leak.
  setMaxListeners(0, ending.signal);
  const watching = manager.subscribe((change) => {
    if (change.type === 'manager.changed' && ENDING.has(change.state)) ending.abort();
  });
  if (ENDING.has(manager.getSnapshot().state)) ending.abort();
  const routes = [
    ...assetRoutes(assets),
    ...apiRoutes({
      manager,
      feed,
      view,
      chart: dashboardChart(pluginLifecycle),
      reload: options.reload ?? null,
      signal: ending.signal,
      // A reloaded plugin may bring a secret the host did not have at startup.
      learn: (definition) => redact.add(secretsOf([definition])),
    }),
  ];
  const handle = createRouter(routes, { token, loopbackOnly: isLoopback(host), redact });
  // A request without Host is refused by the router, coded and with the security headers, not
  // by Node's bare 400.
  const server = createServer({ requireHostHeader: false }, (req, res) => void handle(req, res));
  server.on('clientError', answerClientError);
  server.on('connect', answerConnect);
  // `Expect: 100-continue` goes through the checks first (the body is asked for once they
  // passed); any other expectation is refused as every request is, coded and with the headers.
  server.on('checkContinue', (req, res) => void handle(req, res));
  server.on('checkExpectation', (req, res) => {
    res.setHeader('connection', 'close');
    sendError(res, requestError('the Expect header is not supported (only 100-continue)'), redact, 417);
  });
  let address;
  try {
    address = await listen(server, port, host, owner);
  } catch (error) {
    feed.close();
    watching.unsubscribe();
    throw error;
  }
  const url = `${origin(host, address.port)}/`;
  let closing: Promise<void> | null = null;
  return {
    url,
    controlUrl: `${url}#token=${token}`,
    token,
    port: address.port,
    host,
    addSecrets(values) {
      if (!isStringArray(values)) throw optionsError('addSecrets takes an array of strings');
      redact.add(values);
    },
    close() {
      closing ??= (async () => {
        watching.unsubscribe();
        ending.abort();
        feed.close();
        await closeServer(server);
      })();
      return closing;
    },
  };
}
