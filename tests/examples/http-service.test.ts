/**
 * examples/http-service: plugins contribute routes through the `http.routes` host hook, `/health`
 * aggregates their health, and the server keeps answering — with zero failed requests — while
 * plugins restart under a bounded loopback load.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createConsoleLogger, silentLogger } from '../../src/index.ts';
import type { PluginContext, PluginDefinition, PluginHooks } from '../../src/index.ts';
import { EXAMPLE_SCENARIO, restartUnderLoad, send } from '../../examples/http-service/load.ts';
import type { Answer } from '../../examples/http-service/load.ts';
import { examplePlugins } from '../../examples/http-service/plugins/index.ts';
import { greeterPlugin } from '../../examples/http-service/plugins/greeter.ts';
import { storePlugin } from '../../examples/http-service/plugins/store.ts';
import { RouteTable } from '../../examples/http-service/routes.ts';
import { startHttpService } from '../../examples/http-service/service.ts';
import type { HttpService, HttpServiceOptions } from '../../examples/http-service/service.ts';
import { pluginOf } from '../helpers/host.ts';
import { exitOf, killAll, startProcess, waitFor } from '../helpers/process.ts';

const services: HttpService[] = [];
const dirs: string[] = [];

afterEach(async () => {
  killAll();
  await Promise.all(services.splice(0).map((service) => service.close()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'http-service-'));
  dirs.push(dir);
  return dir;
}

async function start(options: HttpServiceOptions = {}): Promise<HttpService> {
  const service = await startHttpService({ logger: silentLogger, ...options });
  services.push(service);
  return service;
}

const get = (service: HttpService, path: string) => send(service.url, { method: 'GET', path });
const post = (service: HttpService, path: string, body: unknown) => send(service.url, { method: 'POST', path, body });
const json = (answer: Answer): unknown => JSON.parse(answer.body);

/** Loopback sockets and servers open in this process. */
const tcpHandles = () => process.getActiveResourcesInfo().filter((kind) => kind.startsWith('TCP')).length;

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('examples/http-service: restarts under load', () => {
  it('answers 500 requests with zero failures while users, then store (and users with it), restart', async () => {
    const baseline = tcpHandles();
    const service = await start({ dataDir: await tempDir() });
    expect(service.booted.plugins.map((p) => p.state)).toEqual(['running', 'running', 'running', 'running']);
    expect((await post(service, 'api/users', { name: 'first' })).status).toBe(201);

    const report = await restartUnderLoad(service, EXAMPLE_SCENARIO);

    expect(report.load.samples).toEqual([]);
    expect(report.load.failures).toEqual({ connection: 0, timeout: 0, status5xx: 0, otherStatus: 0, total: 0 });
    expect(report.load.ok).toBe(500);
    expect(report.restarts.map((r) => [r.plugin, r.state])).toEqual([
      ['users', 'running'],
      ['store', 'running'],
    ]);
    // Requests did arrive while a plugin was down, and every one of them was served after it came back.
    expect(report.held).toBeGreaterThan(0);
    expect(report.unavailable).toBe(0);

    // The restarted plugins run and their routes answer again, with every record written under load.
    expect(pluginOf(service.manager, 'users').state).toBe('running');
    expect(pluginOf(service.manager, 'store').state).toBe('running');
    const created = report.load.byStatus['201'] ?? 0;
    expect(created).toBeGreaterThan(0);
    const users = await get(service, 'api/users');
    expect(users.status).toBe(200);
    expect((json(users) as { users: unknown[] }).users).toHaveLength(1 + created);
    expect((await get(service, 'api/users/1')).status).toBe(200);
    expect(service.routes.describe()['users']?.serving).toBe(true);

    const final = await service.close();
    expect(final.plugins.every((p) => p.state === 'stopped')).toBe(true);
    expect(service.server.listening).toBe(false);
    expect(await eventually(async () => tcpHandles(), (n) => n <= baseline)).toBe(baseline);
  }, 30_000);

  it('fails requests during the same kind of restart when nothing holds them (holdMs 0)', async () => {
    const service = await start({ holdMs: 0 });
    expect((await post(service, 'api/users', { name: 'first' })).status).toBe(201);
    const report = await restartUnderLoad(service, {
      requests: 200,
      concurrency: 10,
      ratePerSecond: 400,
      restarts: [{ atMs: 100, plugin: 'users' }],
      slowStartMs: 150,
    });
    expect(report.restarts[0]?.state).toBe('running');
    expect(report.load.failures.status5xx).toBeGreaterThan(0);
    expect(report.unavailable).toBe(report.load.failures.status5xx);
    expect(report.load.samples.every((s) => s.status === 503 && s.request.path.startsWith('api/users'))).toBe(true);
  }, 30_000);

  it('holds a request for a stopped plugin until it runs again, then answers from its fresh routes', async () => {
    const service = await start();
    await service.manager.stopPlugin('greeter');
    const pending = get(service, 'api/hello/held');
    expect(await eventually(async () => service.routes.stats.held, (held) => held === 1)).toBe(1);
    expect(pluginOf(service.manager, 'greeter').state).toBe('stopped');
    await service.manager.startPlugin('greeter');
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(json(answer)).toEqual({ message: 'Hello, held!' });
  });

  it('answers at once, 503, for a plugin that failed for good (failed.halted), and a request already waiting too', async () => {
    let starts = 0;
    const hooks = greeterPlugin.module as PluginHooks;
    const flaky: PluginDefinition = {
      ...greeterPlugin,
      module: { ...hooks, start: async (ctx: PluginContext) => (++starts > 1 ? Promise.reject(new Error('down for good')) : hooks.start(ctx)) },
    };
    const service = await start({ holdMs: 60_000, plugins: examplePlugins().map((plugin) => (plugin === greeterPlugin ? flaky : plugin)) });
    await service.manager.stopPlugin('greeter');
    const waiting = get(service, 'api/hello');
    expect(await eventually(async () => service.routes.stats.held, (held) => held === 1)).toBe(1);
    await service.manager.startPlugin('greeter').catch(() => undefined);
    expect(pluginOf(service.manager, 'greeter').state).toBe('failed.halted');
    const [early, late] = await Promise.all([waiting, get(service, 'api/hello')]);
    expect([early.status, late.status, late.headers['retry-after']]).toEqual([503, 503, '1']);
  });

  it('answers at once, 503, for a plugin blocked by one that failed for good', async () => {
    let starts = 0;
    // The store's module is a factory: its hooks are made when the host calls it.
    const factory = storePlugin.module as (...args: unknown[]) => PluginHooks;
    const flaky: PluginDefinition = {
      ...storePlugin,
      module: (...args: unknown[]) => {
        const hooks = factory(...args);
        return { ...hooks, start: async (ctx: PluginContext) => (++starts > 1 ? Promise.reject(new Error('down for good')) : hooks.start(ctx)) };
      },
    };
    const service = await start({ holdMs: 60_000, plugins: examplePlugins().map((plugin) => (plugin === storePlugin ? flaky : plugin)) });
    await service.manager.restartPlugin('store').catch(() => undefined);
    expect([pluginOf(service.manager, 'store').state, pluginOf(service.manager, 'users').state]).toEqual(['failed.halted', 'failed.blocked']);
    const answer = await get(service, 'api/users');
    expect(answer.status).toBe(503);
  });

  it('answers at once, 503, for a plugin blocked by one that was unloaded', async () => {
    const service = await start({ holdMs: 60_000 });
    await service.manager.unloadPlugin('store');
    expect(pluginOf(service.manager, 'users').state).toBe('failed.blocked');
    expect((await get(service, 'api/users')).status).toBe(503);
  });

  it('answers 503 with retry-after when the plugin does not come back within holdMs', async () => {
    const service = await start({ holdMs: 50 });
    await service.manager.stopPlugin('greeter');
    const answer = await get(service, 'api/hello');
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(json(answer)).toMatchObject({ plugin: 'greeter' });
  });
});

describe('examples/http-service: routes from plugins', () => {
  it('serves each plugin route under /api and the host routes /, /health, /metrics', async () => {
    const service = await start();
    expect(json(await get(service, 'api/hello/ada'))).toEqual({ message: 'Hello, ada!' });
    expect(json(await get(service, 'api/hello?name=bob'))).toEqual({ message: 'Hello, bob!' });
    const created = await post(service, 'api/users', { name: 'ann' });
    expect(created.status).toBe(201);
    expect(created.headers['location']).toBe('/api/users/1');
    expect(json(await get(service, 'api/users/1'))).toMatchObject({ id: 1, name: 'ann' });
    // stats counts what the others published on the event bus.
    const stats = await eventually(
      async () => json(await get(service, 'api/stats')) as { greetings: number; usersCreated: number },
      (s) => s.greetings === 2 && s.usersCreated === 1,
    );
    expect(stats).toMatchObject({ greetings: 2, usersCreated: 1 });

    const index = json(await get(service, '')) as { plugins: Record<string, string>; routes: Record<string, { routes: string[] }> };
    expect(index.plugins).toEqual({ store: 'running', users: 'running', greeter: 'running', stats: 'running' });
    expect(index.routes['users']?.routes).toEqual(['GET /api/users', 'GET /api/users/:id', 'POST /api/users']);
    expect(index.routes['store']).toBeUndefined();

    const metrics = await get(service, 'metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toContain('plugin_factory_plugin_up{plugin="users"} 1');
  });

  it('once its route table is closed (the service is closing), a route answers 503 and a hold gives up at once', async () => {
    const service = await start();
    expect((await get(service, 'api/users')).status).toBe(200);
    service.routes.close();
    expect(service.routes.describe()['users']?.serving).toBe(false);
    expect(await service.routes.hold('users', new AbortController().signal)).toBe(false);
    const answer = await get(service, 'api/users');
    expect([answer.status, json(answer)]).toEqual([503, { error: 'unavailable', plugin: 'users' }]);
  });

  it('a route collection still running when the table closes does not make a route serve again', async () => {
    let release: (routes: unknown) => void = () => undefined;
    let listener: (change: unknown) => void = () => undefined;
    const manager = {
      getSnapshot: () => ({ plugins: [{ name: 'users', state: 'created' }] }),
      subscribe: (fn: (change: unknown) => void) => {
        listener = fn;
        return { unsubscribe() {} };
      },
      callHook: () => new Promise((resolve) => (release = resolve)),
    };
    const table = new RouteTable({ manager, hook: {}, prefix: '/api', logger: silentLogger, holdMs: 1000 } as unknown as ConstructorParameters<typeof RouteTable>[0]);
    table.attach();
    listener({ type: 'plugin.changed', name: 'users', state: 'running' }); // a collection begins
    await new Promise((resolve) => setTimeout(resolve, 0));
    table.close();
    release([{ plugin: 'users', routes: [{ method: 'GET', path: '/users', handler: () => ({ body: [] }) }] }]);
    await table.settled();
    expect(table.serving('users')).toBe(false);
  });

  it('answers 404, 405 with allow, 400 and 413 without reaching a plugin', async () => {
    const service = await start();
    expect((await get(service, 'api/nothing')).status).toBe(404);
    const wrong = await send(service.url, { method: 'POST', path: 'api/hello' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('GET, HEAD');
    expect((await post(service, 'api/users', { name: '' })).status).toBe(400);
    expect((await get(service, 'api/users/zero')).status).toBe(400);
    for (const id of ['1.0', '0x1', '01', '+1', '%201', '9007199254740993']) expect([id, (await get(service, `api/users/${id}`)).status]).toEqual([id, 400]);
    expect((await get(service, 'api/users/1000000000000000')).status).toBe(404);
    expect((await get(service, 'api/users/99')).status).toBe(404);
    expect((await post(service, 'api/users', { name: 'x'.repeat(70 * 1024) })).status).toBe(413);
  });

  it('answers a request target no URL parser takes, and a bad percent-escape, with 400, and serves on', async () => {
    const service = await start();
    const port = Number(new URL(service.url).port);
    for (const target of ['//', '//a:b@/', '//evil.example/api/hello/ada', '/\\evil.example/api/hello/ada', '/\\/api/users', '/api/hello/%E0%A4%A']) {
      const head = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
        let text = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        socket.on('error', reject);
        socket.on('close', () => resolve(text.split('\r\n')[0]!));
      });
      expect([target, head]).toEqual([target, 'HTTP/1.1 400 Bad Request']);
    }
    expect((await get(service, 'api/hello/ada')).status).toBe(200);
  });

  it('routes before it reads a body: no route is 404 and a wrong method 405, whatever the body; host routes take GET and HEAD', async () => {
    const service = await start();
    const raw = (method: string, path: string, body?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(new URL(path, service.url), { method, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
    expect(await raw('POST', 'no/such/route', '{not json')).toBe(404);
    expect(await raw('PUT', 'api/users', '{not json')).toBe(405);
    expect(await raw('POST', 'health')).toBe(405);
    expect(await raw('HEAD', 'health')).toBe(200);
    expect(await raw('HEAD', 'metrics')).toBe(200);
    // HEAD is a plugin's GET route too; any other method is 404 where no route is, 405 where one is.
    expect(await raw('HEAD', 'api/hello/ada')).toBe(200);
    expect(await raw('PATCH', 'api/nowhere')).toBe(404);
    expect(await raw('OPTIONS', 'api/users')).toBe(405);
    // A body is JSON, said so: text or a form is 415, whatever it holds.
    const typed = (type: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(new URL('api/users', service.url), { method: 'POST', agent: false, headers: { 'content-type': type } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('{"name":"typed"}');
      });
    expect([await typed('text/plain'), await typed('application/x-www-form-urlencoded'), await typed('application/json; charset=utf-8')]).toEqual([415, 415, 201]);
  });

  it('a client that goes away while it sends its body is no error of the service', async () => {
    const lines: string[] = [];
    const service = await start({ logger: createConsoleLogger({ level: 'debug', write: (line) => lines.push(line) }) });
    const port = Number(new URL(service.url).port);
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":');
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
    });
    await eventually(async () => lines, (got) => got.some((line) => line.includes('went away')));
    expect(lines.filter((line) => /^error\b/i.test(line))).toEqual([]);
    expect((await get(service, 'api/hello')).status).toBe(200);
  });

  it('a 405 names the methods of that path, and a body refused as too large closes its connection', async () => {
    const service = await start();
    const allowed = await new Promise<[number | undefined, string | undefined]>((resolve, reject) => {
      const req = httpRequest(new URL('api/users', service.url), { method: 'PATCH', agent: false }, (res) => {
        res.resume();
        resolve([res.statusCode, res.headers['allow']]);
      });
      req.on('error', reject);
      req.end();
    });
    expect(allowed).toEqual([405, 'GET, POST, HEAD']);
    const port = Number(new URL(service.url).port);
    // A 10 MiB body, then a second request on the same connection: the 413 closes it instead of
    // leaving the second one unanswered behind the rest of the body.
    const closed = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n`);
        socket.write(Buffer.alloc(256 * 1024, 0x20));
      });
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      socket.on('error', () => resolve(text));
      socket.on('close', () => resolve(text));
      setTimeout(() => reject(new Error(`the connection stayed open: ${text.split('\r\n')[0]}`)), 5000).unref();
    });
    expect(closed.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    expect(closed).toMatch(/^connection: close$/im);
  });

  it('holds requests during a reload, as during a restart (the routes of a plugin being reloaded do not go)', async () => {
    const service = await start({ holdMs: 5000 });
    const next = examplePlugins().find((plugin) => plugin.manifest.name === 'greeter')!;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const hooks = next.module as { init: (ctx: unknown) => unknown };
    const slow = { ...next, module: { ...hooks, init: async (ctx: unknown) => (await gate, hooks.init(ctx)) } } as PluginDefinition;
    const reloading = service.manager.reloadPlugin('greeter', slow);
    await eventually(async () => pluginOf(service.manager, 'greeter').state, (state) => state === 'initializing');
    const pending = get(service, 'api/hello/held');
    expect(await eventually(async () => service.routes.stats.held, (held) => held === 1)).toBe(1);
    release();
    await reloading;
    const answer = await pending;
    expect([answer.status, json(answer)]).toEqual([200, { message: 'Hello, held!' }]);
  });

  it('at shutdown, a held request is answered 503 within the drain, not cut off', async () => {
    const service = await startHttpService({ logger: silentLogger, holdMs: 5000, drainMs: 200 });
    await service.manager.stopPlugin('greeter');
    const pending = get(service, 'api/hello');
    await eventually(async () => service.routes.stats.held, (held) => held === 1);
    const closing = service.close();
    const answer = await pending;
    expect(answer.status).toBe(503);
    expect((await closing).plugins.every((p) => p.state === 'stopped')).toBe(true);
  });

  it('at shutdown, an answer on a kept-alive connection says the connection closes', async () => {
    const service = await startHttpService({ logger: silentLogger, holdMs: 5000, drainMs: 200 });
    await service.manager.stopPlugin('greeter');
    const port = Number(new URL(service.url).port);
    let text = '';
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    await eventually(async () => service.routes.stats.held, (held) => held === 1);
    const closing = service.close();
    await eventually(async () => text, (got) => got.includes('\r\n\r\n'));
    socket.destroy();
    await closing;
    expect(text.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(text).toMatch(/^connection: close$/im);
  });

  it('a port already in use rejects with EADDRINUSE after stopping the plugins it booted', async () => {
    const first = await start();
    const stops: string[] = [];
    const plugins = examplePlugins().map((plugin) => {
      const hooks = plugin.module as { stop: (ctx: unknown) => unknown };
      return { ...plugin, module: { ...hooks, stop: (ctx: unknown) => (stops.push(String(plugin.manifest.name)), hooks.stop(ctx)) } } as PluginDefinition;
    });
    await expect(startHttpService({ logger: silentLogger, port: Number(new URL(first.url).port), plugins })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(stops.length).toBeGreaterThan(0);
  });

  it('drops the routes of an unloaded plugin at once (404, not held)', async () => {
    const service = await start({ holdMs: 5000 });
    await service.manager.unloadPlugin('greeter');
    const started = performance.now();
    expect((await get(service, 'api/hello')).status).toBe(404);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(service.routes.describe()['greeter']).toBeUndefined();
  });

  it('a user whose write failed is not kept: the POST fails and the list does not show it, and the next one takes its id', async () => {
    const dataDir = await tempDir();
    const service = await start({ dataDir });
    expect((await post(service, 'api/users', { name: 'first' })).status).toBe(201);
    // The store's file becomes a folder holding a file: the next write cannot replace it.
    const file = join(dataDir, 'store.json');
    await rm(file);
    await mkdir(file);
    await writeFile(join(file, 'in-the-way'), '');
    expect((await post(service, 'api/users', { name: 'lost' })).status).toBe(500);
    expect((json(await get(service, 'api/users')) as { users: Array<{ id: number; name: string }> }).users.map(({ id, name }) => [id, name])).toEqual([[1, 'first']]);
    await rm(file, { recursive: true });
    expect(json(await post(service, 'api/users', { name: 'second' }))).toMatchObject({ id: 2, name: 'second' });
  });

  it('keeps users and stats data in ctx.store across a restart of the whole host', async () => {
    const dataDir = await tempDir();
    const first = await start({ dataDir });
    await post(first, 'api/users', { name: 'kept' });
    await get(first, 'api/hello');
    await eventually(async () => json(await get(first, 'api/stats')) as { greetings: number }, (s) => s.greetings === 1);
    await first.close();

    const second = await start({ dataDir });
    expect(json(await get(second, 'api/users'))).toMatchObject({ users: [{ id: 1, name: 'kept' }] });
    expect(json(await get(second, 'api/stats'))).toMatchObject({ greetings: 1, usersCreated: 1 });
  });
});

describe('examples/http-service: /health', () => {
  /** A plugin whose health the test sets. */
  function probe(): { definition: PluginDefinition; set(status: string): void } {
    let status = 'healthy';
    return {
      definition: {
        manifest: { name: 'probe', version: '1.0.0' },
        module: { init() {}, start() {}, stop() {}, health: () => ({ status, components: { dial: status } }) },
      },
      set: (next) => (status = next),
    };
  }
  type Health = { status: string; plugins: Record<string, { status: string; components?: Record<string, { status: string }> } | null> };
  const health = async (service: HttpService) => {
    const answer = await get(service, 'health');
    return { code: answer.status, body: json(answer) as Health };
  };

  it('aggregates the running plugins: worst status wins, 200 unless unhealthy, 503 then', async () => {
    const dial = probe();
    const service = await start({ plugins: [...examplePlugins(), dial.definition], healthIntervalMs: 20 });

    const healthy = await eventually(() => health(service), (h) => h.body.plugins['probe'] != null && h.body.plugins['users'] != null);
    expect(healthy.code).toBe(200);
    expect(healthy.body.status).toBe('healthy');
    expect(healthy.body.plugins['store']?.components?.['persistence']?.status).toBe('healthy');
    expect(healthy.body.plugins['users']?.components?.['records']?.status).toBe('healthy');
    expect(healthy.body.plugins['stats']?.status).toBe('healthy');
    expect(healthy.body.plugins['greeter']).toBeNull(); // no health hook

    dial.set('degraded');
    const degraded = await eventually(() => health(service), (h) => h.body.status !== 'healthy');
    expect(degraded.code).toBe(200);
    expect(degraded.body.status).toBe('degraded');
    expect(degraded.body.plugins['probe']?.components?.['dial']?.status).toBe('degraded');

    dial.set('unhealthy');
    const unhealthy = await eventually(() => health(service), (h) => h.body.status === 'unhealthy');
    expect(unhealthy.code).toBe(503);
    expect(unhealthy.body.plugins['probe']?.status).toBe('unhealthy');
    expect(unhealthy.body.plugins['users']?.status).toBe('healthy');
  });

  it('leaves a stopped plugin out of the aggregate', async () => {
    const dial = probe();
    dial.set('unhealthy');
    const service = await start({ plugins: [...examplePlugins(), dial.definition], healthIntervalMs: 20 });
    expect((await eventually(() => health(service), (h) => h.code === 503)).code).toBe(503);
    await service.manager.stopPlugin('probe');
    const after = await health(service);
    expect(after.code).toBe(200);
    expect(after.body.plugins['probe']).toBeUndefined();
  });
});

describe('examples/http-service: main.ts, as the README runs it', () => {
  it('a PORT that is not written in digits is refused (exit 2) before anything boots', async () => {
    for (const port of ['0x50', ' 80', '1e3', '65536']) {
      const run = startProcess('node', ['--import', 'tsx', 'examples/http-service/main.ts'], { PORT: port, DATA_DIR: ':memory:', LOG_LEVEL: 'warn' });
      const { code } = await exitOf(run, 20_000);
      expect([port, code]).toEqual([port, 2]);
      expect(run.out()).not.toContain('listening on');
    }
  });

  it('a SIGINT during boot stops every plugin once they are up and exits 0', async () => {
    const run = startProcess('node', ['--import', 'tsx', '--import', './tests/fixtures/process/signal-during-boot.mjs', 'examples/http-service/main.ts'], {
      PORT: '0',
      DATA_DIR: ':memory:',
      LOG_LEVEL: 'warn',
    });
    const { code } = await exitOf(run, 20_000);
    expect(code, run.err()).toBe(0);
    expect(run.out()).toContain('stopped: store=stopped users=stopped greeter=stopped stats=stopped');
    expect(run.out()).not.toContain('listening on');
    expect(run.err()).not.toContain('open handles');
  });


  it('prints its URL, serves, and stops every plugin and exits 0 on SIGINT; data survives the next run', async () => {
    const dataDir = await tempDir();
    const run = () => startProcess('npx', ['tsx', 'examples/http-service/main.ts'], { PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn' });

    const first = run();
    const [, url] = await waitFor(first, /^http-service listening on (http:\/\/127\.0\.0\.1:\d+\/)$/m, { ms: 20_000 });
    const [, pid] = await waitFor(first, /kill -INT (\d+) /);
    expect((await send(url!, { method: 'GET', path: 'health' })).status).toBe(200);
    expect((await send(url!, { method: 'POST', path: 'api/users', body: { name: 'disk' } })).status).toBe(201);
    process.kill(Number(pid), 'SIGINT');
    const { code } = await exitOf(first, 20_000);
    expect(code, first.err()).toBe(0);
    expect(first.out()).toContain('stopped: store=stopped users=stopped greeter=stopped stats=stopped');
    expect(first.err()).not.toContain('open handles');

    const second = run();
    const [, again] = await waitFor(second, /^http-service listening on (http:\/\/127\.0\.0\.1:\d+\/)$/m, { ms: 20_000 });
    const [, pid2] = await waitFor(second, /kill -INT (\d+) /);
    expect(JSON.parse((await send(again!, { method: 'GET', path: 'api/users/1' })).body)).toMatchObject({ name: 'disk' });
    process.kill(Number(pid2), 'SIGTERM');
    expect((await exitOf(second, 20_000)).code).toBe(0);
  }, 60_000);
});
