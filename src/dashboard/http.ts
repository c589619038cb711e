/**
 * HTTP plumbing of the dashboard: JSON and error responses (every refusal carries an error
 * `code`), the control token, and the Host check that keeps other web sites out of a server
 * bound to loopback.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { PluginFactoryError, describeThrown, isPluginFactoryError } from '../errors.ts';
import type { Redact } from '../inspection/redact.ts';
import { hostIsLoopback } from './listen.ts';
import type { ErrorBody } from './wire.ts';

/** Headers every response carries: no sniffing, no framing, only our own scripts and styles. */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
} as const;

/** The HTTP status each error code answers with. */
export function statusOf(code: string): number {
  switch (code) {
    case 'PERMISSION_DENIED':
      return 401;
    case 'PLUGIN_NOT_FOUND':
      return 404;
    case 'INVALID_TRANSITION':
      return 409;
    case 'OPTIONS_INVALID':
      return 400;
    case 'INTERNAL_ERROR':
      return 500;
    case 'LIMIT_REACHED':
      return 503;
    default:
      // The command ran and the plugin failed (a hook, a dependency, a bad reload).
      return 422;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const json = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    'cache-control': 'no-store',
  });
  res.end(json);
}

/** Answers with `{ error: { code, message } }`; anything that is not a PluginFactoryError is an INTERNAL_ERROR. */
export function sendError(res: ServerResponse, error: unknown, redact: Redact, status?: number): void {
  const coded = isPluginFactoryError(error)
    ? error
    : new PluginFactoryError('INTERNAL_ERROR', `dashboard: unexpected failure: ${describeThrown(error)}`);
  const body: ErrorBody = { error: { code: coded.code, message: redact(coded.message) } };
  if (coded.hook !== undefined) body.error.hook = coded.hook;
  const headers: Record<string, string> = coded.code === 'PERMISSION_DENIED' ? { 'www-authenticate': 'Bearer' } : {};
  for (const [key, value] of Object.entries(headers)) if (!res.headersSent) res.setHeader(key, value);
  sendJson(res, status ?? statusOf(coded.code), body);
}

/** Parser errors that have a status of their own, as Node answers them (400 otherwise). */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'the request headers are too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'the chunk extensions are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request took too long to arrive'],
};

/**
 * For the server's `clientError`: a request Node's parser refuses (headers too large, a bad
 * Content-Length, a space in the path) gets a coded JSON answer with the security headers, as
 * every other refusal does, instead of Node's bare one; then the connection closes.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // A response still owed to an earlier request on this connection (a command running when a
  // bad request came in behind it) goes out first; the refusal follows it, then the connection
  // closes. A stream cannot be answered into: it ends with the connection. A request whose own
  // body is malformed is answered now: its handler would wait for that body for good.
  const owed = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (owed && !owed.writableEnded) {
    if (owed.headersSent) {
      socket.destroy();
      return;
    }
    if (owed.req.complete) {
      owed.once('finish', () => answerClientError(error, socket));
      return;
    }
  }
  const [status, message] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'the request is not valid HTTP'];
  answerRaw(socket, status, message);
}

/**
 * A CONNECT request (no handler answers it, and Node would drop the connection without a word):
 * a coded 405, then the connection closes. Node hands such a socket over without its own error
 * listener and stops tracking it, so it gets one here (a client reset would otherwise be an
 * uncaught error that takes the host down) and is destroyed once the answer is written (a client
 * keeping its side open would otherwise hold the server's close forever).
 */
export function answerConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  if (socket.writable) answerRaw(socket, 405, 'CONNECT is not allowed here', () => socket.destroy());
  else socket.destroy();
}

/** Writes a coded JSON refusal straight to `socket`, with the security headers, and ends it. */
function answerRaw(socket: Duplex, status: number, message: string, written?: () => void): void {
  const body = `${JSON.stringify({ error: { code: 'OPTIONS_INVALID', message: `dashboard: ${message}` } })}\n`;
  const headers: Record<string, string | number> = {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    connection: 'close',
  };
  const head = Object.entries(headers).map(([key, value]) => `${key}: ${value}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`, written);
}

export function requestError(message: string): PluginFactoryError {
  return new PluginFactoryError('OPTIONS_INVALID', `dashboard: ${message}`);
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Checks `Authorization: Bearer <token>` in constant time; throws PERMISSION_DENIED otherwise. */
export function checkToken(req: IncomingMessage, token: string): void {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match && timingSafeEqual(digest(match[1]!), digest(token))) return;
  throw new PluginFactoryError(
    'PERMISSION_DENIED',
    match
      ? 'dashboard: the control token is wrong; use the token printed when the dashboard started'
      : 'dashboard: control requests need the header "Authorization: Bearer <token>", with the token printed when the dashboard started',
  );
}

/**
 * A server on loopback answers only requests addressed to a loopback name: a web page elsewhere
 * that points its own host name at 127.0.0.1 (DNS rebinding) is refused.
 */
export function checkHostHeader(req: IncomingMessage, loopbackOnly: boolean): void {
  if (!loopbackOnly) {
    // Node's own refusal of this (an empty 400) is turned off so that it is answered coded here.
    if (req.headers.host === undefined && req.httpVersion === '1.1') throw requestError('HTTP/1.1 requests need a Host header');
    return;
  }
  if (hostIsLoopback(req.headers.host)) return;
  // The Host is not echoed: a redacted echo would tell anyone whether a guessed string is a secret.
  throw new PluginFactoryError('PERMISSION_DENIED', 'dashboard: requests must address 127.0.0.1 or localhost in their Host header');
}

/** Requests one connection may have waiting behind a live stream; one more closes the connection. */
export const MAX_WAITING_PER_CONNECTION = 64;

/**
 * Requests one connection may have waiting behind answers that end; one more closes the
 * connection. Node parses a whole chunk at once, so a client pipelining hundreds of requests in
 * one write has them all waiting before the first is answered.
 */
export const MAX_PILED_PER_CONNECTION = 512;

/** Per connection, the requests waiting for their turn: one `close` listener each, whatever their number. */
const waitingOn = new WeakMap<Duplex, Set<(turn: boolean) => void>>();

/** Answers that do not end by themselves (live streams): nothing behind them gets its turn. */
const endlessAnswers = new WeakSet<ServerResponse>();

/**
 * Marks `res` as an answer that does not end by itself (a live stream), or takes the mark off
 * (`endless: false`, a stream request answered with a refusal). Marked when its request arrives,
 * before the requests parsed behind it in the same chunk count against it.
 */
export function markEndless(res: ServerResponse, endless = true): void {
  if (endless) endlessAnswers.add(res);
  else endlessAnswers.delete(res);
}

/**
 * Called as a live stream starts on `res`: marks it endless and, when more requests wait behind
 * it than MAX_WAITING_PER_CONNECTION (they arrived while an answer that ends held the connection,
 * and counted against the larger limit), closes the connection. False then: nothing is sent.
 */
export function beginEndless(req: IncomingMessage, res: ServerResponse): boolean {
  markEndless(res);
  const waiting = waitingOn.get(req.socket);
  if (waiting && waiting.size > MAX_WAITING_PER_CONNECTION) {
    req.socket.destroy();
    return false;
  }
  return true;
}

/**
 * Resolves true once `res` can be sent: at once, or for a request pipelined behind another
 * answer on its connection, when that answer is done. False when the connection goes first
 * (behind a live stream it always does). Waiting writes nothing, so nothing slows a client's
 * pipelining down, and each waiting request holds memory: a connection with more than
 * MAX_WAITING_PER_CONNECTION requests waiting behind a live stream, or more than
 * MAX_PILED_PER_CONNECTION behind answers that end, is closed.
 */
export function untilTurn(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (res.socket) return Promise.resolve(true);
  const connection = req.socket;
  if (connection.destroyed) return Promise.resolve(false);
  let waiting = waitingOn.get(connection);
  if (!waiting) {
    const all = new Set<(turn: boolean) => void>();
    waitingOn.set(connection, all);
    connection.once('close', () => {
      waitingOn.delete(connection);
      for (const settle of [...all]) settle(false);
    });
    waiting = all;
  }
  const owed = (connection as { _httpMessage?: ServerResponse | null })._httpMessage;
  const limit = !owed || endlessAnswers.has(owed) ? MAX_WAITING_PER_CONNECTION : MAX_PILED_PER_CONNECTION;
  if (waiting.size >= limit) {
    connection.destroy();
    return Promise.resolve(false);
  }
  const queue = waiting;
  return new Promise((resolve) => {
    const settle = (turn: boolean) => {
      queue.delete(settle);
      res.off('socket', onSocket);
      resolve(turn);
    };
    const onSocket = () => settle(true);
    queue.add(settle);
    res.once('socket', onSocket);
  });
}

/** How long a body nobody reads is still taken in (and thrown away) once the answer is sent. */
export const LINGER_MS = 1000;

/**
 * For a request whose body nobody will read (a refusal, a read, a body over the limit): once the
 * answer is sent, what the client still sends is read and thrown away for LINGER_MS at most, then
 * the connection is closed. Closed at once, the bytes still unread would reset the connection,
 * and a client still sending could lose the answer; read for as long as the client sends, anyone
 * without a token could keep the host reading gigabytes. A body that ends in time leaves the
 * connection as it was.
 */
export function lingerOnUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!hasBody || req.complete) return;
  res.once('finish', () => {
    if (req.complete) return;
    const socket = req.socket;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    const done = () => clearTimeout(timer);
    req.once('end', done);
    socket.once('close', done);
    req.resume();
  });
}

/**
 * Reads and discards a request body, refusing one larger than `limit` bytes: the rest of it is
 * then only lingered on (the router calls lingerOnUnreadBody for every request), never waited for.
 */
export function drainBody(req: IncomingMessage, res: ServerResponse, limit = 4096): Promise<void> {
  const tooLarge = () => requestError(`the request body is larger than ${limit} bytes; commands take no body`);
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  // A client that waits to be told to send its body is told so only now, past the Host, token
  // and size checks.
  if (req.headers.expect?.toLowerCase() === '100-continue' && !res.headersSent) res.writeContinue();
  return new Promise((resolve, reject) => {
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return;
      req.off('data', onData);
      req.resume();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.on('end', () => resolve());
    req.on('error', reject);
  });
}
