// A real node:http server on 127.0.0.1: GET / answers a small JSON status, GET /health "ok".
// It listens in start and closes every socket in stop, so nothing outlives the plugin.
import { createServer } from 'node:http';

const HOST = '127.0.0.1';

let server = null;
let address = null;
let startedAt = 0;
let requests = 0;

/** The URL the server listens on while the plugin runs, else null (the demo prints it). */
export function url() {
  return address;
}

function send(res, status, body) {
  const json = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

function handler(name, version) {
  return (req, res) => {
    requests += 1;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, { error: 'method not allowed' });
    }
    let path;
    try {
      const target = req.url ?? '/';
      if (!target.startsWith('/') || target.startsWith('//')) throw new Error('not a path');
      path = new URL(target, `http://${HOST}`).pathname;
    } catch {
      // Node's parser accepts targets no URL parser does (`//`): the client's error, not a crash.
      return send(res, 400, { error: 'the request target is not a valid URL path' });
    }
    if (path === '/') {
      return send(res, 200, {
        plugin: name,
        version,
        status: 'running',
        uptimeMs: Math.round(performance.now() - startedAt),
        requests,
      });
    }
    if (path === '/health') return send(res, 200, { status: 'ok' });
    return send(res, 404, { error: 'not found', path });
  };
}

/** Listens on HOST:port; rejects on a listen error or when `signal` aborts (closing the server). */
function listen(instance, port, signal) {
  return new Promise((resolve, reject) => {
    const settle = (error) => {
      instance.off('listening', onListening);
      instance.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onListening = () => settle();
    const onError = (error) => settle(error);
    const onAbort = () => {
      instance.close();
      settle(signal.reason);
    };
    if (signal.aborted) return onAbort();
    instance.once('listening', onListening);
    instance.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    instance.listen(port, HOST);
  });
}

/** Stops accepting, closes every connection (keep-alive ones too) and waits for the close. */
function close(instance, signal) {
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    instance.close(done);
    instance.closeAllConnections();
    // Everything is already closed; on abort just stop waiting for the callback.
    signal.addEventListener('abort', done, { once: true });
  });
}

export default {
  init(ctx) {
    requests = 0;
    ctx.logger.info(`will listen on ${HOST}:${ctx.config.port || '<random port>'}`);
  },
  async start(ctx) {
    const instance = createServer(handler(ctx.name, ctx.version));
    await listen(instance, ctx.config.port, ctx.signal);
    server = instance;
    startedAt = performance.now();
    const { port } = instance.address();
    address = `http://${HOST}:${port}/`;
    ctx.logger.info(`listening on ${address}`);
  },
  async stop(ctx) {
    const instance = server;
    server = null;
    address = null;
    if (!instance) return;
    await close(instance, ctx.signal);
    ctx.logger.info(`closed after ${requests} requests`);
  },
  async dispose(ctx) {
    if (server) await close(server, ctx.signal);
    server = null;
    address = null;
  },
  health() {
    return server !== null ? { status: 'healthy', message: `listening on ${address}` } : { status: 'unhealthy', message: 'not listening' };
  },
};
