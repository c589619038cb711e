/**
 * A small, bounded load generator for the example (loopback only): a fixed number of requests, at
 * most `concurrency` at a time, paced to `ratePerSecond`, each under a timeout. Anything but a
 * 2xx answer counts as a failure, by kind. `restartUnderLoad` runs it while plugins restart.
 */
import { Agent, request as httpRequest } from 'node:http';
import type { HttpService } from './service.ts';

export interface LoadRequest {
  method: 'GET' | 'POST';
  /** Relative to the service URL, e.g. `api/users`. */
  path: string;
  body?: unknown;
}

export interface LoadOptions {
  /** The service URL; must be on 127.0.0.1 (or localhost / ::1). */
  url: string;
  requests: number;
  concurrency: number;
  ratePerSecond: number;
  timeoutMs?: number;
  /** Cycled through in order. */
  mix: readonly LoadRequest[];
}

export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface Failure {
  request: LoadRequest;
  kind: 'connection' | 'timeout' | 'status';
  status?: number;
  detail: string;
  atMs: number;
}

export interface LoadReport {
  requests: number;
  ok: number;
  failures: { connection: number; timeout: number; status5xx: number; otherStatus: number; total: number };
  /** The first few failures, for the error message. */
  samples: Failure[];
  byStatus: Record<string, number>;
  durationMs: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MAX_REQUESTS = 10_000;
const MAX_CONCURRENCY = 50;

/** One request; rejects on a connection error or after `timeoutMs` (code `ETIMEDOUT`). */
export function send(url: string, request: LoadRequest, options: { agent?: Agent | false; timeoutMs?: number } = {}): Promise<Answer> {
  const target = new URL(request.path, url);
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      target,
      {
        method: request.method,
        agent: options.agent ?? false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 5000, () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Sends `requests` requests and reports every one that did not get a 2xx answer. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const { url, requests, concurrency, ratePerSecond, timeoutMs = 5000, mix } = options;
  if (!LOOPBACK.has(new URL(url).hostname)) throw new Error(`runLoad: ${url} is not a loopback address`);
  if (!(requests > 0 && requests <= MAX_REQUESTS)) throw new Error(`runLoad: requests must be 1..${MAX_REQUESTS}`);
  if (!(concurrency > 0 && concurrency <= MAX_CONCURRENCY)) throw new Error(`runLoad: concurrency must be 1..${MAX_CONCURRENCY}`);
  if (!(ratePerSecond > 0) || mix.length === 0) throw new Error('runLoad: needs a positive rate and a request mix');

  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const report: LoadReport = {
    requests,
    ok: 0,
    failures: { connection: 0, timeout: 0, status5xx: 0, otherStatus: 0, total: 0 },
    samples: [],
    byStatus: {},
    durationMs: 0,
  };
  const started = performance.now();
  const fail = (failure: Failure) => {
    report.failures.total += 1;
    if (report.samples.length < 10) report.samples.push(failure);
  };
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < requests; i = next++) {
      const due = started + (i * 1000) / ratePerSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const request = mix[i % mix.length]!;
      try {
        const answer = await send(url, request, { agent, timeoutMs });
        report.byStatus[answer.status] = (report.byStatus[answer.status] ?? 0) + 1;
        if (answer.status >= 200 && answer.status < 300) {
          report.ok += 1;
        } else {
          if (answer.status >= 500) report.failures.status5xx += 1;
          else report.failures.otherStatus += 1;
          fail({ request, kind: 'status', status: answer.status, detail: answer.body.slice(0, 200), atMs: performance.now() - started });
        }
      } catch (error) {
        const code = (error as { code?: string }).code;
        const kind = code === 'ETIMEDOUT' ? 'timeout' : 'connection';
        report.failures[kind] += 1;
        fail({ request, kind, detail: `${code ?? ''} ${error instanceof Error ? error.message : String(error)}`, atMs: performance.now() - started });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

/** The example's request mix: every plugin's routes and the host's /health. */
export const EXAMPLE_MIX: readonly LoadRequest[] = [
  { method: 'GET', path: 'api/hello?name=load' },
  { method: 'GET', path: 'api/users' },
  { method: 'GET', path: 'api/users/1' },
  { method: 'POST', path: 'api/users', body: { name: 'load' } },
  { method: 'GET', path: 'api/stats' },
  { method: 'GET', path: 'health' },
];

export interface RestartPlan {
  /** When to send `restartPlugin`, in ms after the load started. */
  atMs: number;
  plugin: string;
}

export interface RestartOutcome {
  plugin: string;
  atMs: number;
  /** How long `restartPlugin` took to settle. */
  tookMs: number;
  /** The plugin's state once it settled. */
  state: string;
}

export interface RestartUnderLoadOptions extends Omit<LoadOptions, 'url' | 'mix'> {
  mix?: readonly LoadRequest[];
  restarts: readonly RestartPlan[];
  /**
   * Makes the restarted plugins' `start` take this long (a host listener before `start`), so the
   * restart window is wide enough for requests to arrive in it, as with a plugin that warms a
   * cache on start. @default 0
   */
  slowStartMs?: number;
}

export interface RestartUnderLoadReport {
  load: LoadReport;
  restarts: RestartOutcome[];
  /** Requests the service held while their plugin was restarting. */
  held: number;
  /** Requests the service answered 503 because their plugin did not come back in time. */
  unavailable: number;
}

/** The scenario of the README and of the test: 500 requests while `users`, then `store`, restart. */
export const EXAMPLE_SCENARIO: RestartUnderLoadOptions = {
  requests: 500,
  concurrency: 20,
  ratePerSecond: 400,
  restarts: [
    { atMs: 250, plugin: 'users' },
    { atMs: 700, plugin: 'store' },
  ],
  slowStartMs: 100,
};

/** Runs the load against `service` and restarts plugins during it, as planned. */
export async function restartUnderLoad(service: HttpService, options: RestartUnderLoadOptions): Promise<RestartUnderLoadReport> {
  const { restarts: plan, slowStartMs = 0, mix = EXAMPLE_MIX, ...load } = options;
  const restarting = new Set<string>();
  const removeListener = service.manager.onBeforeHook('start', async ({ plugin }) => {
    if (slowStartMs > 0 && restarting.has(plugin)) await new Promise((resolve) => setTimeout(resolve, slowStartMs));
  });
  const before = { ...service.routes.stats };
  const started = performance.now();
  const restarted = plan.map(async ({ atMs, plugin }): Promise<RestartOutcome> => {
    await new Promise((resolve) => setTimeout(resolve, atMs));
    const at = performance.now();
    restarting.add(plugin);
    try {
      const settled = await service.manager.restartPlugin(plugin);
      return { plugin, atMs: Math.round(at - started), tookMs: Math.round(performance.now() - at), state: settled.state };
    } finally {
      restarting.delete(plugin);
    }
  });
  try {
    const [report, outcomes] = await Promise.all([runLoad({ ...load, url: service.url, mix }), Promise.all(restarted)]);
    return {
      load: report,
      restarts: outcomes,
      held: service.routes.stats.held - before.held,
      unavailable: service.routes.stats.unavailable - before.unavailable,
    };
  } finally {
    removeListener();
  }
}
