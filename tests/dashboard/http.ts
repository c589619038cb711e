/**
 * Hosts and clients for the dashboard tests: a booted host with its dashboard on 127.0.0.1,
 * HTTP calls (node:http, so that any Host header can be sent) and an SSE reader.
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { createInspectionHub, createPluginManager, secretsOf, serveDashboard, silentLogger } from '../../src/index.ts';
import type { Dashboard, DashboardOptions, InspectionHub, PluginManager } from '../../src/index.ts';
import { definitions } from './plugins.ts';

export interface TestHost {
  manager: PluginManager;
  hub: InspectionHub;
  dashboard: Dashboard;
  base: string;
  close(): Promise<void>;
}

/** A booted host with its dashboard on 127.0.0.1 (any free port); `noHub` serves it without an inspection hub. */
export async function startHost(options: DashboardOptions & { noHub?: boolean } = {}, plugins = definitions()): Promise<TestHost> {
  const { noHub = false, ...rest } = options;
  const hub = createInspectionHub();
  const manager = createPluginManager({ plugins, logger: silentLogger, inspect: hub.inspect });
  const dashboard = await serveDashboard(manager, { ...(noHub ? {} : { hub }), redact: secretsOf(plugins), ...rest });
  await manager.start();
  return {
    manager,
    hub,
    dashboard,
    base: dashboard.url.replace(/\/$/, ''),
    async close() {
      await manager.stop();
      await dashboard.close();
    },
  };
}

export interface Reply {
  status: number;
  text: string;
  json: { error?: { code: string; message: string } } & Record<string, unknown>;
  headers: IncomingHttpHeaders;
}

/** One HTTP request with node:http (so that any Host header can be sent). */
export function call(url: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let json: Reply['json'] = {};
        try {
          json = JSON.parse(text) as Reply['json'];
        } catch {
          // not JSON (the page, a stylesheet …)
        }
        resolve({ status: res.statusCode ?? 0, text, json, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export const post = (host: TestHost, path: string, token: string | null = host.dashboard.token) =>
  call(`${host.base}${path}`, { method: 'POST', headers: token === null ? {} : { authorization: `Bearer ${token}` } });

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads `/api/events`: every event so far, the raw text, and a way to wait for one. */
export function openEvents(base: string) {
  const controller = new AbortController();
  const events: SseEvent[] = [];
  let raw = '';
  let ended = false;
  const done = (async () => {
    const response = await fetch(`${base}/api/events`, { signal: controller.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      raw += value;
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    }
  })()
    .catch(() => undefined)
    .finally(() => (ended = true));
  return {
    events,
    raw: () => raw,
    ended: () => ended,
    done,
    close: () => controller.abort(),
    async until(test: (events: SseEvent[]) => boolean, ms = 5000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!test(events)) {
        if (Date.now() > deadline) throw new Error(`test: no matching event within ${ms} ms; got ${events.map((e) => e.event).join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

/**
 * Writes `request` as it is on a fresh connection to 127.0.0.1:`port` and resolves with what came
 * back once the server closed the connection: the whole text, and the first response's status,
 * head (lower case) and body.
 */
export function rawRequest(port: number, request: string): Promise<{ text: string; status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ text, status: Number(head.split(' ')[1]), head: head.toLowerCase(), body });
    });
  });
}
