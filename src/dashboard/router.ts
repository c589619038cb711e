/**
 * The dashboard's route table. A route is a method, a path pattern (`/api/plugins/:name/:command`)
 * and a handler; `control` routes need the token. Adding an endpoint (a `/metrics`, say) is one
 * more entry in the table `serveDashboard` builds.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redact } from '../inspection/redact.ts';
import { checkHostHeader, checkToken, lingerOnUnreadBody, markEndless, requestError, sendError, untilTurn } from './http.ts';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Decoded `:name` segments of the pattern. */
  params: Record<string, string>;
}

export interface Route {
  method: 'GET' | 'POST';
  /** `/api/snapshot`, or with `:param` segments. */
  path: string;
  /** Control routes need `Authorization: Bearer <token>`; reads need nothing. */
  control?: boolean;
  /** A GET of it opens an answer that does not end by itself (a live stream). */
  stream?: boolean;
  handle(context: RequestContext): void | Promise<void>;
}

export interface RouterOptions {
  token: string;
  /** Refuse requests whose Host is not a loopback name. */
  loopbackOnly: boolean;
  redact: Redact;
}

type Matcher = (path: string) => Record<string, string> | null;

function compile(pattern: string): Matcher {
  const parts = pattern.split('/');
  return (path) => {
    const segments = path.split('/');
    if (segments.length !== parts.length) return null;
    const params: Record<string, string> = {};
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const segment = segments[i]!;
      if (part.startsWith(':')) {
        if (segment === '') return null;
        try {
          params[part.slice(1)] = decodeURIComponent(segment);
        } catch {
          // Not echoed: a redacted echo would tell anyone whether a guessed string is a secret.
          throw requestError('a path segment is not valid percent-encoding');
        }
      } else if (part !== segment) {
        return null;
      }
    }
    return params;
  };
}

/** A request target as a URL, or null when it is none. Appended, not resolved: `//evil.com/api/snapshot` is a path here, not a host name. */
function urlOf(target: string): URL | null {
  try {
    return new URL(`http://dashboard${target}`);
  } catch {
    return null;
  }
}

/** The path a target is routed on (`/api/./events` and `/api\events` are `/api/events`), or null. */
const pathOf = (target: string): string | null => (target.startsWith('/') ? (urlOf(target)?.pathname ?? null) : null);

/** The request handler over a route table. Every refusal is a coded JSON error. */
export function createRouter(routes: readonly Route[], options: RouterOptions) {
  const table = routes.map((route) => ({ route, match: compile(route.path) }));
  const streams = table.filter(({ route }) => route.stream === true);
  const opensStream = (target: string | undefined) => {
    const path = pathOf(target ?? '/');
    if (path === null) return false;
    return streams.some(({ match }) => {
      try {
        return match(path) !== null;
      } catch {
        return false;
      }
    });
  };
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Whatever comes of the request (a refusal, a read, a command that reads its body or finds it
    // too large), what is left of the body when the answer is sent is lingered on, not read for ever.
    lingerOnUnreadBody(req, res);
    // A stream's answer never ends: marked as it arrives, before the requests parsed behind it in
    // the same chunk count against it.
    if (req.method === 'GET' && opensStream(req.url)) markEndless(res);
    // A request pipelined behind another answer is looked at only when its own answer can follow
    // (behind a live stream, never): an answer built early would be held in memory until then, and
    // one chunk of pipelined reads would make the host build and hold a snapshot for each. Past
    // the limits of http.ts's untilTurn, the connection is closed.
    if (!(await untilTurn(req, res))) return;
    try {
      checkHostHeader(req, options.loopbackOnly);
      const target = req.url ?? '/';
      // An absolute-form target (`GET http://elsewhere/…`) is for proxies, and its host would
      // outrank the Host header just checked.
      if (!target.startsWith('/')) throw requestError('the request target must be a path (this is no proxy)');
      const url = urlOf(target);
      if (url === null) throw requestError('the request path is not a valid URL path');
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const found = table.flatMap(({ route, match }) => {
        const params = match(url.pathname);
        return params ? [{ route, params }] : [];
      });
      if (found.length === 0) {
        // The path is not echoed: a redacted echo would tell anyone, without a token, whether a
        // string they guessed is one of the host's secrets.
        sendError(res, requestError('no route for this path; see docs/dashboard.md'), options.redact, 404);
        return;
      }
      const hit = found.find(({ route }) => route.method === method);
      if (!hit) {
        const allowed = new Set<string>(found.map(({ route }) => route.method));
        if (allowed.has('GET')) allowed.add('HEAD');
        res.setHeader('allow', [...allowed].join(', '));
        sendError(res, requestError(`${req.method} is not allowed on this path (allowed: ${[...allowed].join(', ')})`), options.redact, 405);
        return;
      }
      if (hit.route.control) checkToken(req, options.token);
      await hit.route.handle({ req, res, url, params: hit.params });
    } catch (error) {
      markEndless(res, false); // a refused stream request is answered, and ends
      sendError(res, error, options.redact);
    }
  };
}
