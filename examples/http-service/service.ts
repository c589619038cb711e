/**
 * The HTTP service: one node:http server in front of a plugin manager. Plugins contribute routes
 * through the `http.routes` host hook; the host serves them under `/api`, plus its own:
 *
 * - `GET /`        the plugins, their states and their routes
 * - `GET /health`  `manager.health()` (worst status of the running plugins; degraded while one is out of service), 503 when unhealthy
 * - `GET /metrics` `manager.metrics()`, Prometheus text
 *
 * The server outlives every plugin restart: it belongs to the host, not to a plugin. Requests for
 * a plugin that is restarting are held until it serves again (see routes.ts and the README).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { PROMETHEUS_CONTENT_TYPE, createPinoLogger, createPluginManager, isPluginFactoryError } from '../../src/index.ts';
import type { Logger, ManagerSnapshot, PluginDefinition, PluginManager } from '../../src/index.ts';
import { examplePlugins } from './plugins/index.ts';
import { BadPath, ROUTES_HOOK, RouteTable, isRevoked } from './routes.ts';
import type { Method, PluginRoutes, RoutesArg } from './routes.ts';

export const API_PREFIX = '/api';
/** Paths the host answers itself. */
const HOST_PATHS: readonly string[] = ['/', '/health', '/metrics'];
/** Methods a request may be replayed with when its handler was revoked under it. */
const IDEMPOTENT: readonly string[] = ['GET', 'PUT', 'DELETE'];
const MAX_BODY_BYTES = 64 * 1024;
/** A request is held (and replayed) at most this many times before it is answered 503. */
const MAX_ATTEMPTS = 4;

export interface HttpServiceOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** Loopback only by default. @default '127.0.0.1' */
  host?: string;
  /** Where `ctx.store` keeps its files; in memory when absent. */
  dataDir?: string;
  /** Any pino-compatible logger. @default pino at level info on stderr */
  logger?: Logger;
  /** How long a request waits for a restarting plugin before it is answered 503. @default 5000 */
  holdMs?: number;
  /** How often plugins' health hooks are polled. @default 1000 */
  healthIntervalMs?: number;
  /** The plugins. @default the example's store, users, greeter, stats */
  plugins?: PluginDefinition[];
  /** How long `close()` lets requests in flight finish before it closes their connections. @default 5000 */
  drainMs?: number;
}

export interface HttpService {
  readonly manager: PluginManager;
  readonly server: Server;
  readonly routes: RouteTable;
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** The snapshot after boot. */
  readonly booted: ManagerSnapshot;
  /** Stops accepting, lets requests in flight finish, closes every connection, then stops the plugins. */
  close(): Promise<ManagerSnapshot>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === 'string';
  const payload = text ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': text ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  // A body is JSON, said so: a form or text body would otherwise be read by luck.
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !type.endsWith('+json')) throw new HttpError(415, 'the body must be JSON (content-type: application/json)');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Boots the plugins, collects their routes, then listens. */
export async function startHttpService(options: HttpServiceOptions = {}): Promise<HttpService> {
  const host = options.host ?? '127.0.0.1';
  const holdMs = options.holdMs ?? 5000;
  const drainMs = options.drainMs ?? 5000;
  const logger: Logger = options.logger ?? createPinoLogger({ destination: pino.destination({ fd: 2, sync: true }) });
  const manager = createPluginManager({
    plugins: options.plugins ?? examplePlugins(),
    logger,
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
    health: { intervalMs: options.healthIntervalMs ?? 1000 },
  });
  const hook = manager.defineHook<RoutesArg, PluginRoutes>(ROUTES_HOOK, { mode: 'collect' });
  const routes = new RouteTable({ manager, hook, prefix: API_PREFIX, logger, holdMs });
  routes.attach();
  const booted = await manager.start();
  await routes.settled();

  let inFlight = 0;
  let drained: (() => void) | null = null;
  let closing: Promise<ManagerSnapshot> | null = null;
  // Once the service is closing, an answer closes its connection rather than inviting the next request.
  const reply = (res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}) =>
    send(res, status, payload, closing ? { ...headers, connection: 'close' } : headers);

  async function dispatch(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, signal: AbortSignal) {
    // HEAD is a GET whose body Node leaves out. Any other method is matched as it is.
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (HOST_PATHS.includes(path) && method !== 'GET') {
      return reply(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    }
    if (path === '/') {
      const snapshot = manager.getSnapshot();
      return reply(res, 200, {
        service: 'http-service',
        state: snapshot.state,
        plugins: Object.fromEntries(snapshot.plugins.map((p) => [p.name, p.state])),
        routes: routes.describe(),
      });
    }
    if (path === '/health') {
      const health = manager.health();
      return reply(res, health.status === 'unhealthy' ? 503 : 200, health);
    }
    if (path === '/metrics') {
      return reply(res, 200, manager.metrics(), { 'content-type': PROMETHEUS_CONTENT_TYPE });
    }
    // A path no route has is 404 whatever the method, and one with routes is 405 naming theirs.
    const allowOf = (allow: Method[]) => (allow.includes('GET') ? [...allow, 'HEAD'] : allow).join(', ');
    // Routed before the body is read: a request for no route is 404 (or 405), whatever its body.
    const routed = routes.match(method, path);
    if (routed.kind === 'not-found') return reply(res, 404, { error: 'not found', path });
    if (routed.kind === 'method-not-allowed') return reply(res, 405, { error: 'method not allowed' }, { allow: allowOf(routed.allow) });
    const body = method === 'POST' || method === 'PUT' ? await readJson(req) : undefined;

    for (let attempt = 1; ; attempt++) {
      const match = routes.match(method, path);
      if (match.kind === 'not-found') return reply(res, 404, { error: 'not found', path });
      if (match.kind === 'method-not-allowed') return reply(res, 405, { error: 'method not allowed' }, { allow: allowOf(match.allow) });
      if (!match.serving) {
        // Its plugin is restarting: wait for it, then match again (the fresh handler may differ).
        if (attempt < MAX_ATTEMPTS && (await routes.hold(match.plugin, signal))) continue;
        return reply(res, 503, { error: 'unavailable', plugin: match.plugin }, { 'retry-after': '1' });
      }
      try {
        const answer = await match.route.handler({ method: method as Method, path, params: match.params, query, body, signal });
        return reply(res, answer.status ?? 200, answer.body, answer.headers);
      } catch (error) {
        // Its plugin left running while the handler ran; a request that may be repeated is held and replayed.
        if (isRevoked(error) && IDEMPOTENT.includes(method) && attempt < MAX_ATTEMPTS) continue;
        const code = isPluginFactoryError(error) ? error.code : undefined;
        logger.error({ plugin: match.plugin, path, code, error: error instanceof Error ? error.message : String(error) }, 'route failed');
        return reply(res, 500, { error: 'internal error', plugin: match.plugin, ...(code ? { code } : {}) });
      }
    }
  }

  const server = createServer((req, res) => {
    inFlight += 1;
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
    let url: URL;
    try {
      // Node's parser accepts targets no URL parser does (`//`, `//a:b@/`), and a URL parser
      // reads `//host/path` as another host: a target must be a path, or it is the client's error.
      // A backslash is no character of a request target, and a URL parser reads it as `/`
      // (`/\evil.example/…` would be another host).
      const target = req.url ?? '/';
      if (!target.startsWith('/') || target.startsWith('//') || target.includes('\\')) throw new Error('not a path');
      url = new URL(target, 'http://localhost');
    } catch {
      reply(res, 400, { error: 'the request target is not a valid URL path' });
      return;
    }
    dispatch(req, res, url.pathname, url.searchParams, controller.signal).catch((error: unknown) => {
      // A body refused half-read leaves the rest of it on the connection: it closes after the answer.
      if (error instanceof HttpError) return reply(res, error.status, { error: error.message }, error.status === 413 ? { connection: 'close' } : {});
      if (error instanceof BadPath) return reply(res, 400, { error: error.message });
      // The client went away while it sent its body (or the service closed its connection): no
      // fault of the service, and nobody to answer.
      if (controller.signal.aborted || res.destroyed) {
        logger.debug({ path: url.pathname }, 'the client went away before its request was read');
        return;
      }
      logger.error({ error: error instanceof Error ? error.message : String(error) }, 'request failed');
      reply(res, 500, { error: 'internal error' });
    });
  });
  try {
    await listen(server, options.port ?? 0, host);
  } catch (error) {
    // The port is taken (or not ours to use): the plugins booted for nothing and stop again.
    routes.close();
    await manager.stop();
    throw error;
  }
  const { port } = server.address() as AddressInfo;

  const close = () =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Held requests are answered 503 now, within the drain, not cut off by it.
      routes.close();
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          drained = resolve;
          timer = setTimeout(resolve, drainMs);
        });
        clearTimeout(timer);
      }
      server.closeAllConnections();
      await closed;
      return manager.stop();
    })());

  return { manager, server, routes, url: `http://${host}:${port}/`, booted, close };
}
