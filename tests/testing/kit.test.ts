/**
 * The plugin authors' kit (`plugin-factory/testing`): a well-behaved plugin walks every path; each
 * kind of plugin bug the kit is for is caught with its code; bad input is refused with a code.
 */
import { createServer } from 'node:http';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Server } from 'node:http';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, unwatchFile, watchFile } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/time.ts';
import { PluginFactoryError, defineService, loadPluginFolder } from '../../src/index.ts';
import type { PluginContext, PluginDefinition } from '../../src/index.ts';
import { lifecyclePaths, standIn } from '../../src/testing/index.ts';
import { RecordsService, examplePlugins, routesHook } from '../../examples/http-service/plugins/index.ts';
import type { Records, StoredRecord } from '../../examples/http-service/plugins/index.ts';
import type { LifecyclePath, LifecyclePathsOptions, PathStep } from '../../src/testing/index.ts';

const manifest = { name: 'subject', version: '1.0.0' };

async function codeOf(run: Promise<unknown>): Promise<string | undefined> {
  try {
    await run;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? 'no code';
  }
}

/** Runs every path; answers the code each failing path rejected with, by path name. */
async function failures(paths: LifecyclePath[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of paths) {
    const code = await codeOf(path.run());
    if (code !== undefined) out.set(path.name, code);
  }
  return out;
}

const named = (paths: LifecyclePath[], name: string): LifecyclePath => {
  const path = paths.find((p) => p.name === name);
  if (!path) throw new Error(`no path ${name}`);
  return path;
};

/** A wait of a few ms, as a connect takes; it ends early, rejecting, when `signal` aborts. */
function latency(signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, 5);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/** A plugin that listens in start, closes in stop, and closes when start is abandoned. */
function webPlugin() {
  let server: Server | null = null;
  return {
    init() {},
    async start(ctx: PluginContext) {
      await latency(ctx.signal);
      const s = createServer();
      server = s;
      await new Promise<void>((resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          s.close();
          reject(ctx.signal.reason);
        }, { once: true });
        s.listen(0, '127.0.0.1', () => resolve());
      });
    },
    async stop() {
      const s = server;
      server = null;
      if (s) await new Promise((resolve) => s.close(resolve));
    },
    dispose() {},
  };
}

describe('a well-behaved plugin', () => {
  it('walks every transition path, with its real hooks, and leaves no handle open', async () => {
    const paths = lifecyclePaths({ manifest, module: webPlugin() });
    // Every transition of the model but validation failure, health and dependencies.
    expect(paths.length).toBeGreaterThan(150);
    expect(paths.some((p) => p.events.includes('INVALID') || p.events.includes('HEALTHY') || p.events.includes('DEP_FAILED'))).toBe(false);
    expect([...(await failures(paths))]).toEqual([]);
  });

  it('reports how often each hook ran, the teardown included', async () => {
    const paths = lifecyclePaths({ manifest, module: webPlugin() });
    const report = await named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run();
    expect(report.calls).toEqual({ init: 1, start: 1, stop: 1, dispose: 1 });
    // A failed start injected by the path does not run the real hook; its retry does.
    const retried = await named(paths, 'VALID → INIT → INIT_OK → START → START_FAIL → BACKOFF_ELAPSED → START_OK').run();
    expect(retried.calls).toEqual({ init: 1, start: 1, stop: 1, dispose: 1 });
    // A timed-out start did run, and so does its retry.
    const timedOut = await named(paths, 'VALID → INIT → INIT_OK → START → START_TIMEOUT → BACKOFF_ELAPSED').run();
    expect(timedOut.calls).toEqual({ init: 1, start: 2, stop: 1, dispose: 1 });
    // No dispose hook, no dispose call.
    const bare = lifecyclePaths({ manifest, module: { init() {}, start() {}, stop() {} } });
    expect((await named(bare, 'VALID → INIT → INIT_OK').run()).calls).toEqual({ init: 1, start: 0, stop: 0, dispose: 0 });
  });

  it('passes every step to onStep, with the chart state, the model state and the attempt', async () => {
    const steps: PathStep[] = [];
    const paths = lifecyclePaths({ manifest, module: webPlugin() }, { onStep: (step) => void steps.push(step) });
    await named(paths, 'VALID → INIT → INIT_OK → START → START_TIMEOUT → BACKOFF_ELAPSED').run();
    expect(steps.map((s) => [s.event, s.state, s.expected, s.attempts, s.error?.code ?? null])).toEqual([
      ['VALID', 'created', 'created', 0, null],
      ['INIT', 'initializing', 'initializing', 1, null],
      ['INIT_OK', 'initialized', 'initialized', 1, null],
      ['START', 'starting.hook', 'starting.hook', 1, null],
      ['START_TIMEOUT', 'failed.retrying', 'failed.retrying', 1, 'HOOK_TIMEOUT'],
      ['BACKOFF_ELAPSED', 'starting.hook', 'starting.hook', 2, 'HOOK_TIMEOUT'],
    ]);
  });

  it('gives a factory module a fresh instance on every path', async () => {
    let made = 0;
    const factory = () => {
      made += 1;
      return webPlugin();
    };
    const paths = lifecyclePaths({ manifest, module: factory });
    await named(paths, 'VALID → INIT').run();
    await named(paths, 'VALID → INIT').run();
    expect(made).toBeGreaterThanOrEqual(2);
  });

  it("a factory module's dispose fault paths are skipped once its factory shows no dispose hook, not passed", async () => {
    const plain = { init() {}, start() {}, stop() {} };
    const paths = lifecyclePaths({ manifest, module: () => plain }, { cover: 'simple' });
    const faults = paths.filter((path) => path.events.some((event) => event === 'DISPOSE_FAIL' || event === 'DISPOSE_TIMEOUT'));
    expect(faults.length).toBeGreaterThan(0);
    for (const path of faults) {
      const report = await path.run();
      expect([report.skipped, report.calls.dispose]).toEqual([expect.stringMatching(/no dispose hook/), 0]);
    }
    // The others are walked as for the object itself.
    const others = paths.filter((path) => !faults.includes(path));
    expect(others.map((path) => path.name)).toEqual(lifecyclePaths({ manifest, module: plain }, { cover: 'simple' }).map((path) => path.name));
  });

  it('a module or dispose that throws when read gives paths that fail with CONTRACT_INVALID, not a throw of lifecyclePaths', async () => {
    const throwing = (): never => {
      throw new Error('getter exploded');
    };
    const withDispose = Object.defineProperty({ init() {}, start() {}, stop() {} }, 'dispose', { get: throwing, enumerable: true });
    const unreadable = Object.defineProperty({ manifest }, 'module', { get: throwing, enumerable: true }) as unknown as PluginDefinition;
    for (const definition of [{ manifest, module: withDispose }, unreadable]) {
      const paths = lifecyclePaths(definition);
      expect(paths.length).toBeGreaterThan(0);
      expect(await codeOf(paths[0]!.run())).toBe('CONTRACT_INVALID');
    }
  });

  it('a required hook gone from the module after validation fails the path, as the engine fails it', async () => {
    const module: Record<string, unknown> = {
      init() {},
      start() {
        delete module['stop'];
      },
      stop() {},
    };
    const path = named(lifecyclePaths({ manifest, module }), 'VALID → INIT → INIT_OK → START → START_OK → STOP → STOP_OK');
    expect(await codeOf(path.run())).toBe('LIFECYCLE_PATH_DIVERGED');
  });

  it('walks more paths with cover: simple than a plugin needs, all of them passing', async () => {
    const paths = lifecyclePaths({ manifest, module: webPlugin() }, { cover: 'simple' });
    expect(paths.length).toBeGreaterThan(30);
    expect(paths.filter((path) => path.events.length === 0)).toEqual([]); // none that drives nothing
    expect([...(await failures(paths))]).toEqual([]);
  });
});

describe('paths that cannot happen to a plugin', () => {
  /** The docs' clock plugin: sync hooks, a timer opened in start and closed in stop. */
  const clock = () => {
    let timer: NodeJS.Timeout | undefined;
    return {
      init() {},
      start() {
        timer = setInterval(() => undefined, 1000);
      },
      stop() {
        clearInterval(timer);
      },
    };
  };

  it('a timeout or cancel of a hook that settles at once is skipped, with the reason, not failed', async () => {
    const paths = lifecyclePaths({ manifest, module: clock });
    const timedOut = await named(paths, 'VALID → INIT → INIT_OK → START → START_TIMEOUT → BACKOFF_ELAPSED').run();
    expect(timedOut.skipped).toMatch(/START_TIMEOUT/);
    // The walk stopped there: start ran once, and the teardown stopped it.
    expect(timedOut.calls).toEqual({ init: 1, start: 1, stop: 1, dispose: 0 });
    expect((await named(paths, 'VALID → INIT → STOP').run()).skipped).toMatch(/STOP/);
    expect((await named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run()).skipped).toBeUndefined();
  });

  it('a hook that waits for I/O, however fast, is interrupted while it waits: its timeouts and cancels are walked on every run, none skipped', async () => {
    // Its start leaks an interval when its signal was aborted: a bug on those paths only.
    const leaky = {
      init() {},
      async start(ctx: PluginContext) {
        await stat('.');
        if (ctx.signal.aborted) setInterval(() => undefined, 1000);
      },
      stop() {},
    };
    const paths = lifecyclePaths({ manifest, module: leaky }, { cover: 'simple' }).filter((path) => /START → (START_TIMEOUT|STOP)/.test(path.name));
    expect(paths.length).toBeGreaterThan(3);
    const codes: Array<string | undefined> = [];
    for (const path of paths) codes.push(await codeOf(path.run()));
    expect(codes).toEqual(paths.map(() => 'HANDLE_LEAKED'));
  });

  it('so a plugin with sync hooks passes every path (its start cannot time out and leak a timer)', async () => {
    expect([...(await failures(lifecyclePaths({ manifest, module: clock })))]).toEqual([]);
  });
});

describe('plugin bugs the kit catches', () => {
  it('a timer started in start and never cleared: HANDLE_LEAKED', async () => {
    let timer: NodeJS.Timeout | undefined;
    const leaky = {
      init() {},
      start() {
        timer = setInterval(() => undefined, 60_000);
      },
      stop() {}, // forgets clearInterval
    };
    try {
      const paths = lifecyclePaths({ manifest, module: leaky }, { abortGraceMs: 50 });
      expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBe('HANDLE_LEAKED');
      clearInterval(timer);
      // A path that never starts it leaks nothing.
      expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK').run())).toBeUndefined();
      // Nor is it checked with checkHandles: false.
      const unchecked = lifecyclePaths({ manifest, module: leaky }, { checkHandles: false });
      expect(await codeOf(named(unchecked, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBeUndefined();
    } finally {
      clearInterval(timer);
    }
  });

  it('a setImmediate loop never stopped: HANDLE_LEAKED, and the kit ends it; a one-shot setImmediate in a hook is no leak', async () => {
    let ticks = 0;
    const looping = {
      init() {},
      start() {
        const tick = () => {
          ticks++;
          setImmediate(tick);
        };
        setImmediate(tick);
      },
      stop() {},
    };
    const paths = lifecyclePaths({ manifest, module: looping }, { abortGraceMs: 50 });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBe('HANDLE_LEAKED');
    const after = ticks;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(ticks).toBe(after);
    const once = {
      init() {},
      start: () => new Promise<void>((resolve) => setImmediate(resolve)),
      stop() {
        setImmediate(() => undefined);
      },
    };
    expect(await codeOf(named(lifecyclePaths({ manifest, module: once }), 'VALID → INIT → INIT_OK → START → START_OK').run())).toBeUndefined();
  });

  it('a child process left running is HANDLE_LEAKED and killed, with SIGKILL when it ignores SIGTERM', { timeout: 15_000 }, async () => {
    let child: ChildProcess | undefined;
    const spawner = {
      init() {},
      start() {
        child = spawn('sh', ['-c', 'trap "" TERM; echo ready; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
        return new Promise<void>((resolve) => child!.stdout!.once('data', () => resolve()));
      },
      stop() {}, // forgets it
    };
    const paths = lifecyclePaths({ manifest, module: spawner }, { abortGraceMs: 50 });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBe('HANDLE_LEAKED');
    const exited = child!.exitCode !== null || child!.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child!.once('exit', resolve));
    await exited;
    expect(child!.signalCode).toBe('SIGKILL');
  });

  it('a server never closed: HANDLE_LEAKED; a handle opened by other code meanwhile is not counted', async () => {
    const servers: Server[] = [];
    const unclosed = {
      init() {},
      async start() {
        const server = createServer();
        servers.push(server);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      },
      stop() {}, // forgets server.close()
    };
    try {
      const paths = lifecyclePaths({ manifest, module: unclosed }, { abortGraceMs: 50 });
      expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBe('HANDLE_LEAKED');
    } finally {
      for (const server of servers) server.close();
    }
    // The test's own timer, opened while a path runs, is not the plugin's.
    let own: NodeJS.Timeout | undefined;
    const paths = lifecyclePaths({ manifest, module: webPlugin() }, { onStep: () => void (own ??= setInterval(() => undefined, 60_000)) });
    try {
      expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBeUndefined();
      expect(own).toBeDefined();
    } finally {
      clearInterval(own);
    }
  });

  it('a path that fails for a service the plugin did not get names the option that gives one (standIn), with the code as its cause', async () => {
    const Missing = defineService<{ ping(): string }>('missing.service');
    const needy = { init() {}, start(ctx: PluginContext) { ctx.services.get(Missing).ping(); }, stop() {} };
    const failure = await named(lifecyclePaths({ manifest, module: needy }), 'VALID → INIT → INIT_OK → START → START_OK').run().catch((error: unknown) => error);
    expect([(failure as PluginFactoryError).code, ((failure as PluginFactoryError).cause as { code?: string }).code]).toEqual(['LIFECYCLE_PATH_DIVERGED', 'SERVICE_NOT_FOUND']);
    expect((failure as Error).message).toContain('standIn(');
  });

  it('a failing path rejects with a PluginFactoryError whose name carries its code, as a test runner prints it', async () => {
    const leaky = { init() {}, start() { setInterval(() => undefined, 60_000); }, stop() {} };
    const failure = await named(lifecyclePaths({ manifest, module: leaky }, { abortGraceMs: 50 }), 'VALID → INIT → INIT_OK → START → START_OK').run().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PluginFactoryError);
    expect([(failure as PluginFactoryError).code, (failure as Error).name]).toEqual(['HANDLE_LEAKED', 'PluginFactoryError [HANDLE_LEAKED]']);
    // It names the hook that opened what was left open, from its abort listener too.
    expect((failure as Error).message).toContain('Timeout opened in start ×1');
    const onAbort = {
      init() {},
      start: (ctx: PluginContext) =>
        new Promise<void>((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            setInterval(() => undefined, 60_000); // opened as it gives up, never cleared
            reject(new Error('aborted'));
          });
        }),
      stop() {},
    };
    const late = await named(lifecyclePaths({ manifest, module: onAbort }, { abortGraceMs: 50 }), 'VALID → INIT → INIT_OK → START → START_TIMEOUT')
      .run()
      .catch((error: unknown) => error);
    expect([(late as PluginFactoryError).code, (late as Error).message.includes('Timeout opened in start ×1')]).toEqual(['HANDLE_LEAKED', true]);
  });

  it("a connection the plugin's server accepted and never closed is the plugin's leak (closing the server leaves it open); one it closes is not", async () => {
    const plugin = (closesConnections: boolean) => {
      let server: NetServer | null = null;
      const accepted = new Set<Socket>();
      return {
        init() {},
        async start() {
          server = createNetServer((socket) => {
            accepted.add(socket);
            socket.on('close', () => accepted.delete(socket));
          });
          await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
        },
        stop() {
          if (closesConnections) for (const socket of accepted) socket.destroy();
          // Not awaited: its callback waits for every connection to end.
          server!.close();
        },
        port: () => (server!.address() as AddressInfo).port,
      };
    };
    for (const closes of [false, true]) {
      const module = plugin(closes);
      const clients: Socket[] = [];
      // The test connects while the plugin runs, and keeps its end open.
      const onStep = async ({ state }: PathStep) => {
        if (!state.startsWith('running') || clients.length > 0) return;
        const client = netConnect(module.port(), '127.0.0.1');
        client.on('error', () => undefined);
        clients.push(client);
        await new Promise<void>((resolve) => client.once('connect', () => resolve()));
        await until(() => true); // the server has taken it by the next turn
      };
      try {
        const paths = lifecyclePaths({ manifest, module: { init: module.init, start: module.start, stop: module.stop } }, { onStep, abortGraceMs: 50 });
        expect([closes, await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())]).toEqual([closes, closes ? undefined : 'HANDLE_LEAKED']);
      } finally {
        for (const client of clients) client.destroy();
      }
    }
  });

  it('what a leaky plugin left open is closed after its path: the next path fails with its own leak, not EADDRINUSE', async () => {
    const port = await freePort();
    const ticks = { count: 0 };
    const servers: Server[] = [];
    const leaky = {
      init() {},
      async start() {
        setInterval(() => void ticks.count++, 5); // never cleared
        const server = createServer();
        servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => resolve());
        });
      },
      stop() {}, // forgets both
    };
    try {
      const paths = lifecyclePaths({ manifest, module: leaky }, { abortGraceMs: 20 });
      const started = 'VALID → INIT → INIT_OK → START → START_OK';
      expect(await codeOf(named(paths, started).run())).toBe('HANDLE_LEAKED');
      // Same port again: the first path's server was closed, so this start listens and leaks in turn.
      expect(await codeOf(named(paths, started).run())).toBe('HANDLE_LEAKED');
      expect(servers.map((server) => server.listening)).toEqual([false, false]);
      // The intervals were cleared too: no tick after the walk.
      const seen = ticks.count;
      await new Promise((resolve) => setTimeout(resolve, 40));
      expect(ticks.count).toBe(seen);
    } finally {
      for (const server of servers) server.close();
    }
  });

  it('a file watched with fs.watchFile and never unwatched fails every path that leaks it, though Node hands out the same watcher again', async () => {
    const file = fileURLToPath(import.meta.url);
    const listeners: Array<() => void> = [];
    const watcher = {
      init() {},
      start() {
        const listener = () => undefined;
        listeners.push(listener);
        watchFile(file, { interval: 60_000 }, listener); // never unwatched
      },
      stop() {},
    };
    try {
      const paths = lifecyclePaths({ manifest, module: watcher }, { abortGraceMs: 20 });
      const started = 'VALID → INIT → INIT_OK → START → START_OK';
      expect(await codeOf(named(paths, started).run())).toBe('HANDLE_LEAKED');
      // The second path's watchFile gets the watcher the kit stopped: no new handle, a leak all the same.
      expect(await codeOf(named(paths, started).run())).toBe('HANDLE_LEAKED');
      expect(listeners).toHaveLength(2);
    } finally {
      unwatchFile(file);
    }
  });

  it('a path that fails for another reason closes what the plugin left open as well', async () => {
    const ticks = { count: 0 };
    const broken = {
      init() {
        setInterval(() => void ticks.count++, 5);
        throw new Error('no config');
      },
      start() {},
      stop() {},
    };
    const paths = lifecyclePaths({ manifest, module: broken }, { abortGraceMs: 20 });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK').run())).toBe('LIFECYCLE_PATH_DIVERGED');
    const seen = ticks.count;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(ticks.count).toBe(seen);
  });

  it('a resource closed in stop and not reopened in start: a restart diverges', async () => {
    let pool: { open: boolean } | null = null;
    const closesInStop = {
      init() {
        pool = { open: true };
      },
      start() {
        if (!pool?.open) throw new Error('pool is closed');
      },
      stop() {
        if (pool) pool.open = false;
      },
    };
    const paths = lifecyclePaths({ manifest, module: closesInStop });
    const found = await failures(paths);
    expect(found.get('VALID → INIT → INIT_OK → START → START_OK → STOP → STOP_OK → START → START_OK')).toBe('LIFECYCLE_PATH_DIVERGED');
    // Stopped → init → start opens it again: that path passes.
    expect(found.has('VALID → INIT → INIT_OK → START → START_OK → STOP → STOP_OK → INIT')).toBe(false);
    // The divergence carries the plugin's own error.
    const error = await named(paths, 'VALID → INIT → INIT_OK → START → START_OK → STOP → STOP_OK → START → START_OK')
      .run()
      .catch((e: unknown) => e as Error);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('init that cannot run twice: re-init from stopped diverges', async () => {
    let opened = false;
    const once = {
      init() {
        if (opened) throw new Error('already initialised');
        opened = true;
      },
      start() {},
      stop() {},
      dispose() {
        opened = false;
      },
    };
    const paths = lifecyclePaths({ manifest, module: once });
    // The path ends as init is called again; the kit's teardown lets it finish.
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK → STOP → STOP_OK → INIT').run())).toBe(
      'LIFECYCLE_PATH_DIVERGED',
    );
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBeUndefined();
  });

  it('a hook that goes on after its signal is aborted: HOOK_IGNORED_ABORT', async () => {
    const slow = {
      init: () => new Promise<void>((resolve) => setTimeout(resolve, 300)), // ignores ctx.signal
      start() {},
      stop() {},
    };
    const paths = lifecyclePaths({ manifest, module: slow }, { abortGraceMs: 50 });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_TIMEOUT').run())).toBe('HOOK_IGNORED_ABORT');
    expect(await codeOf(named(paths, 'VALID → INIT → STOP').run())).toBe('HOOK_IGNORED_ABORT');
    // Given no abort, it does its work: that path passes.
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK').run())).toBeUndefined();
  });

  it('a hook that never settles where the path expects success: LIFECYCLE_PATH_DIVERGED', async () => {
    const stuck = { init: () => new Promise(() => undefined), start() {}, stop() {} };
    const paths = lifecyclePaths({ manifest, module: stuck }, { hookLimitMs: 50, abortGraceMs: 50 });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK').run())).toBe('LIFECYCLE_PATH_DIVERGED');
  });

  it("a failure quoting the plugin's secrets (long and short) is scrubbed of them, its cause too", async () => {
    const secretManifest = {
      name: 'secretive',
      version: '1.0.0',
      config: { url: { type: 'string', required: true, secret: true }, pin: { type: 'string', secret: true, default: '4821' } },
    } as const;
    const leaky = {
      async init(ctx: PluginContext) {
        const { url, pin } = ctx.config as { url: string; pin: string };
        await new Promise((resolve) => setTimeout(resolve, 1));
        throw new Error(`cannot reach ${url} with pin ${pin}`);
      },
      start() {},
      stop() {},
    };
    const paths = lifecyclePaths({ manifest: secretManifest, module: leaky, config: { url: 'postgres://u:hunter2pass@db' } }, { checkHandles: false });
    const error = (await named(paths, 'VALID → INIT → INIT_OK').run().catch((e: unknown) => e)) as { code: string; message: string; cause?: { message: string } };
    expect(error.code).toBe('LIFECYCLE_PATH_DIVERGED');
    expect(error.message).toContain('[redacted]');
    for (const text of [error.message, error.cause?.message ?? '']) {
      expect(text).not.toContain('hunter2pass');
      expect(text).not.toContain('4821');
    }
  });

  it("what a secretive plugin throws is scrubbed in its code too, and a code that cannot be read leaves the kit's own error", async () => {
    const secretManifest = { name: 'secretive', version: '1.0.0', config: { token: { type: 'string', required: true, secret: true } } } as const;
    const throwing = (code: () => unknown) => ({
      init() {},
      start() {
        throw Object.defineProperty(new Error('bad start'), 'code', { get: code });
      },
      stop() {},
    });
    const run = (module: object) =>
      named(lifecyclePaths({ manifest: secretManifest, module, config: { token: 'tok-hunter2' } }, { checkHandles: false }), 'VALID → INIT → INIT_OK → START → START_OK')
        .run()
        .catch((e: unknown) => e) as Promise<{ code: string; cause?: { code?: string } }>;
    const quoted = await run(throwing(() => 'LOGIN_tok-hunter2'));
    expect([quoted.code, quoted.cause?.code]).toEqual(['LIFECYCLE_PATH_DIVERGED', 'LOGIN_[redacted]']);
    const unreadable = await run(
      throwing(() => {
        throw new Error('code getter exploded');
      }),
    );
    expect([unreadable.code, unreadable.cause?.code]).toEqual(['LIFECYCLE_PATH_DIVERGED', undefined]);
  });

  /** A plugin whose start waits `wait(signal)`, then listens on `port`; stop closes it. */
  function listening(port: number, wait: (signal: AbortSignal) => Promise<unknown>) {
    let server = null as Server | null;
    const module = {
      init() {},
      async start(ctx: PluginContext) {
        await wait(ctx.signal);
        const s = createServer();
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(port, '127.0.0.1', () => resolve());
        });
        server = s;
      },
      async stop() {
        const s = server;
        server = null;
        if (s) await new Promise((resolve) => s.close(resolve));
      },
    };
    return { module, server: () => server };
  }

  it('a hook given up on after hookLimitMs has its signal aborted, so what it would open late does not fail the next path', async () => {
    const slow = listening(await freePort(), (signal) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, 150);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason);
        }, { once: true });
      }),
    );
    const path = 'VALID → INIT → INIT_OK → START → START_OK';
    expect(await codeOf(named(lifecyclePaths({ manifest, module: slow.module }, { hookLimitMs: 100 }), path).run())).toBe('LIFECYCLE_PATH_DIVERGED');
    await new Promise((resolve) => setTimeout(resolve, 200)); // when the abandoned start would have listened
    expect(slow.server()).toBeNull();
    expect(await codeOf(named(lifecyclePaths({ manifest, module: slow.module }), path).run())).toBeUndefined();
  });

  it.each(['STOP_FAIL', 'DISPOSE_FAIL'] as const)('a stop or dispose over hookLimitMs at a %s step has its signal aborted before the path diverges', async (last) => {
    const aborted: string[] = [];
    const slow = (hook: string) => (ctx: PluginContext) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        ctx.signal.addEventListener('abort', () => {
          aborted.push(hook);
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    const module = { init() {}, start() {}, stop: slow('stop'), dispose: slow('dispose') };
    const path = lifecyclePaths({ manifest, module }, { hookLimitMs: 100 }).find((p) => p.events.at(-1) === last);
    expect(await codeOf(path!.run())).toBe('LIFECYCLE_PATH_DIVERGED');
    // The kit's clean-up after the path may abort a later hook too (the dispose after a stop).
    expect(aborted[0]).toBe(last === 'STOP_FAIL' ? 'stop' : 'dispose');
  });

  it("a hook slower than the plugin's own hookTimeoutMs diverges, as it times out in a host, though hookLimitMs is longer", async () => {
    const slowStart = (ms: number) => ({
      init() {},
      start: (ctx: PluginContext) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(ctx.signal.reason);
          }, { once: true });
        }),
      stop() {},
    });
    const path = 'VALID → INIT → INIT_OK → START → START_OK';
    const strict = { ...manifest, hookTimeoutMs: 100 };
    expect(await codeOf(named(lifecyclePaths({ manifest: strict, module: slowStart(300) }), path).run())).toBe('LIFECYCLE_PATH_DIVERGED');
    // The host default (hookTimeoutMs option) caps it the same way for a manifest without one.
    expect(await codeOf(named(lifecyclePaths({ manifest, module: slowStart(300) }, { hookTimeoutMs: 100 }), path).run())).toBe('LIFECYCLE_PATH_DIVERGED');
    expect(await codeOf(named(lifecyclePaths({ manifest: { ...manifest, hookTimeoutMs: 1000 }, module: slowStart(300) }), path).run())).toBeUndefined();
  });

  it('a hook given up on that ignores its signal and awaits file reads: the server it opens after them is closed, and the next path passes', async () => {
    const here = fileURLToPath(import.meta.url);
    let finished = false;
    const deaf = listening(await freePort(), async () => {
      // Requests, not handles: the kit sees no timer it could clear.
      const begun = Date.now();
      while (Date.now() - begun < 300) await stat(here);
    });
    const start = deaf.module.start;
    deaf.module.start = async (ctx: PluginContext) => {
      try {
        await start(ctx);
      } finally {
        finished = true;
      }
    };
    const path = 'VALID → INIT → INIT_OK → START → START_OK';
    expect(await codeOf(named(lifecyclePaths({ manifest, module: deaf.module }, { hookLimitMs: 50, abortGraceMs: 50 }), path).run())).toBe('LIFECYCLE_PATH_DIVERGED');
    await until(() => finished, 5000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await codeOf(named(lifecyclePaths({ manifest, module: deaf.module }), path).run())).toBeUndefined();
  });

  it('a handle opened once file reads begun in start (and not awaited) are done is a leak, though stop ran before it opened', async () => {
    const here = fileURLToPath(import.meta.url);
    let timer: NodeJS.Timeout | null = null;
    let ticks = 0;
    const module = {
      init() {},
      start() {
        void (async () => {
          const begun = Date.now();
          while (Date.now() - begun < 150) await stat(here);
          timer = setInterval(() => void ticks++, 20);
        })();
      },
      stop() {
        if (timer) clearInterval(timer);
        timer = null;
      },
    };
    const paths = lifecyclePaths({ manifest, module });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBe('HANDLE_LEAKED');
    // The kit closed it.
    const before = ticks;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ticks).toBe(before);
  });

  it('start that leaves its server open when abandoned: the retry diverges or leaks', async () => {
    // Its wait ignores the signal.
    const deaf = listening(await freePort(), () => new Promise((resolve) => setTimeout(resolve, 5)));
    const paths = lifecyclePaths({ manifest, module: deaf.module });
    const code = await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_TIMEOUT → BACKOFF_ELAPSED → START_OK').run());
    // The second listen on the same port fails (EADDRINUSE).
    expect(code).toBe('LIFECYCLE_PATH_DIVERGED');
    deaf.server()?.close();
  });
});

describe('what the plugin needs from its dependencies', () => {
  const Pool = defineService<{ query(sql: string): string }>('db.pool');
  const consumer = {
    init() {},
    start(ctx: PluginContext) {
      if (ctx.services.get(Pool).query('select 1') !== 'ok') throw new Error('bad answer');
    },
    stop() {},
  };
  const definition: PluginDefinition = { manifest: { ...manifest, dependencies: { db: '*' } }, module: consumer };

  it('a frozen stand-in satisfies it as well', async () => {
    const paths = lifecyclePaths(definition, { services: [standIn('db', Pool, Object.freeze({ query: () => 'ok' }))] });
    expect([...(await failures(paths))]).toEqual([]);
  });

  it('standIn services satisfy it, and the dependency paths are walked', async () => {
    const paths = lifecyclePaths(definition, { services: [standIn('db', Pool, { query: () => 'ok' })] });
    expect(paths.some((p) => p.events.includes('START_WAITING'))).toBe(true);
    expect(paths.some((p) => p.events.includes('DEP_FAILED'))).toBe(true);
    expect([...(await failures(paths))]).toEqual([]);
  });

  it('without them its start fails: the path diverges with SERVICE_NOT_FOUND as the cause', async () => {
    const paths = lifecyclePaths(definition);
    const error = (await named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run().catch((e: unknown) => e)) as {
      code: string;
      cause?: { code?: string };
    };
    expect(error.code).toBe('LIFECYCLE_PATH_DIVERGED');
    expect(error.cause?.code).toBe('SERVICE_NOT_FOUND');
  });
});

describe('what the kit charges to the plugin, and what not', () => {
  it('a timer opened in an abort listener is the plugin\'s: HANDLE_LEAKED', async () => {
    const timers: NodeJS.Timeout[] = [];
    const listener = {
      init() {},
      async start(ctx: PluginContext) {
        ctx.signal.addEventListener('abort', () => void timers.push(setInterval(() => undefined, 60_000)), { once: true });
        await latency(ctx.signal);
      },
      stop() {},
    };
    try {
      const paths = lifecyclePaths({ manifest, module: listener }, { abortGraceMs: 50 });
      expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_TIMEOUT').run())).toBe('HANDLE_LEAKED');
      expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → STOP').run())).toBe('HANDLE_LEAKED');
    } finally {
      for (const timer of timers) clearInterval(timer);
    }
  });

  // Not waited for: with a minute's grace, a path that waited for the timer would take it all.
  it('an AbortSignal.timeout, or a timer a stand-in service opens, is not, nor waited for', { timeout: 8000 }, async () => {
    const Pool = defineService<{ query(): string }>('db.pool');
    let reaper: NodeJS.Timeout | undefined;
    const fakePool = {
      query() {
        reaper ??= setInterval(() => undefined, 60_000); // a pool's reaper, opened on first use
        return 'ok';
      },
    };
    const careful = {
      async init(ctx: PluginContext) {
        const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(600_000)]);
        await latency(signal);
      },
      start(ctx: PluginContext) {
        ctx.services.get(Pool).query();
      },
      stop() {},
    };
    try {
      const paths = lifecyclePaths(
        { manifest: { ...manifest, dependencies: { db: '*' } }, module: careful },
        { services: [standIn('db', Pool, fakePool)], abortGraceMs: 60_000 },
      );
      expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBeUndefined();
      expect(reaper).toBeDefined();
    } finally {
      clearInterval(reaper);
    }
  });

  it('a path given up on still disposes the plugin, so the next path starts clean', async () => {
    let server: Server | null = null;
    let disposed = 0;
    const deafStart = {
      init() {},
      async start() {
        await new Promise((resolve) => setTimeout(resolve, 200)); // ignores its signal
        if (server) throw new Error('already listening');
        server = createServer();
      },
      stop() {
        server = null;
      },
      dispose() {
        disposed += 1;
        server = null;
      },
    };
    const paths = lifecyclePaths({ manifest, module: deafStart }, { abortGraceMs: 20 });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_TIMEOUT').run())).toBe('HOOK_IGNORED_ABORT');
    expect(disposed).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 250)); // the abandoned start ends
    server = null;
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK → START → START_OK').run())).toBeUndefined();
  });

  it('a module factory gets the engine\'s real time limit, not the simulated one', async () => {
    const slowFactory = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1200));
      return { init() {}, start() {}, stop() {} };
    };
    expect(await codeOf(named(lifecyclePaths({ manifest, module: slowFactory }), 'VALID → INIT').run())).toBeUndefined();
    // Longer than the kit waits for a hook: the factory is bounded as the engine bounds it.
    expect(await codeOf(named(lifecyclePaths({ manifest, module: slowFactory }, { hookLimitMs: 500 }), 'VALID → INIT').run())).toBeUndefined();
    // One that never settles is the plugin's own failure, as in a host.
    const hanging = () => new Promise<never>(() => undefined);
    expect(await codeOf(named(lifecyclePaths({ manifest: { ...manifest, hookTimeoutMs: 300 }, module: hanging }), 'VALID → INIT').run())).toBe('MODULE_LOAD_FAILED');
    // The host's hookTimeoutMs bounds it when the manifest sets none.
    expect(await codeOf(named(lifecyclePaths({ manifest, module: slowFactory }, { hookTimeoutMs: 300 }), 'VALID → INIT').run())).toBe('MODULE_LOAD_FAILED');
  });

  it('an async onStep that rejects fails the path with its error', async () => {
    const paths = lifecyclePaths({ manifest, module: webPlugin() }, {
      onStep: async (step) => {
        if (step.event === 'INIT_OK') throw Object.assign(new Error('my assertion'), { code: 'MINE' });
      },
    });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK').run())).toBe('MINE');
  });

  it.each([
    ['throws', () => {
      throw new Error('init broke');
    }],
    ['hangs', () => new Promise<void>(() => undefined)],
  ])('an onStep that throws while init is under way fails the path with its error, and the plugin is still disposed when init %s', async (_how, init) => {
    let disposed = 0;
    const module = { init, start() {}, stop() {}, dispose: () => void disposed++ };
    const paths = lifecyclePaths({ manifest, module }, {
      abortGraceMs: 50,
      onStep: (step) => {
        if (step.event === 'INIT') throw Object.assign(new Error('my assertion'), { code: 'MINE' });
      },
    });
    expect(await codeOf(named(paths, 'VALID → INIT → INIT_OK').run())).toBe('MINE');
    expect(disposed).toBe(1);
  });

  it('optional dependencies alone do not make dependency-failure paths', () => {
    const paths = lifecyclePaths({ manifest: { ...manifest, optionalDependencies: { metrics: '*' } }, module: webPlugin() });
    expect(paths.some((p) => p.events.includes('DEP_FAILED') || p.events.includes('START_WAITING'))).toBe(false);
  });
});

describe('host hooks the plugin implements', () => {
  const implementer = {
    init() {},
    start(ctx: PluginContext) {
      ctx.hooks.implement('http.routes', () => [{ path: '/hello' }]);
    },
    stop() {},
  };

  it('are defined for it with hostHooks, as the host would', async () => {
    const paths = lifecyclePaths({ manifest, module: implementer }, { hostHooks: [{ name: 'http.routes', mode: 'collect' }] });
    expect([...(await failures(paths))]).toEqual([]);
  });

  it('without them its start fails with HOST_HOOK_NOT_FOUND as the cause', async () => {
    const error = (await named(lifecyclePaths({ manifest, module: implementer }), 'VALID → INIT → INIT_OK → START → START_OK')
      .run()
      .catch((e: unknown) => e)) as { code: string; cause?: { code?: string } };
    expect(error.code).toBe('LIFECYCLE_PATH_DIVERGED');
    expect(error.cause?.code).toBe('HOST_HOOK_NOT_FOUND');
  });
});

describe('bad input', () => {
  it('a plugin that does not validate rejects with its own code on every path', async () => {
    const typed: PluginDefinition = { manifest: { ...manifest, config: { port: { type: 'integer', required: true } } }, module: webPlugin() };
    const paths = lifecyclePaths(typed, { config: { port: 'eighty' } });
    expect(await codeOf(paths[0]!.run())).toBe('CONFIG_INVALID');
    const broken = lifecyclePaths({ manifest, module: { init() {} } });
    expect(await codeOf(broken[0]!.run())).toBe('CONTRACT_INVALID');
  });

  it.each<[string, LifecyclePathsOptions]>([
    ['cover', { cover: 'all' as never }],
    ['hookLimitMs', { hookLimitMs: -1 }],
    ['abortGraceMs', { abortGraceMs: 1.5 }],
    ['hookTimeoutMs', { hookTimeoutMs: 0 }],
    ['services', { services: [{ provider: 'db' } as never] }],
    ['config', { config: [] as never }],
    ['onStep', { onStep: 'log' as never }],
    ['checkHandles', { checkHandles: 'yes' as never }],
    ['hostHooks mode', { hostHooks: [{ name: 'http.routes', mode: 'all' as never }] }],
    ['hostHooks name', { hostHooks: [{ name: 'Not A Name', mode: 'collect' }] }],
    ['services of a plugin it does not depend on', { services: [standIn('db', defineService<number>('db.n'), 1)] }],
    ['services provided twice', { services: [standIn('db', defineService<number>('db.n'), 1), standIn('cache', defineService<number>('db.n'), 2)] }],
    ['a service id that is not one', { services: [{ provider: 'db', ref: { id: 'Not An Id' }, impl: {} } as never] }],
    ['option (a typo)', { hookLimitMS: 100 } as never],
    ['cover null', { cover: null as never }],
    ['services null', { services: null as never }],
  ])('malformed %s: OPTIONS_INVALID', (_name, options) => {
    const dependent = { manifest: { ...manifest, dependencies: { db: '*', cache: '*' } }, module: webPlugin() };
    expect(() => lifecyclePaths(_name.startsWith('services p') || _name.startsWith('a service') ? dependent : { manifest, module: webPlugin() }, options)).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
  });

  it.each([['a folder path', 'plugins/http'], ['null', null], ['a number', 42]])('a definition that is %s: ARGUMENT_INVALID at once, no path made', (_name, definition) => {
    expect(() => lifecyclePaths(definition as never)).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }));
  });
});

describe('the plugins shipped with the project', () => {
  const folders = readdirSync(new URL('../../plugins/', import.meta.url), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== 'broken')
    .map((entry) => entry.name);

  // As docs/testing.md shows it: one test per path, a path that cannot happen to it skipped.
  describe('http, one test per path', async () => {
    const paths = lifecyclePaths(await loadPluginFolder(new URL('../../plugins/http', import.meta.url).pathname));
    it.for(paths.map((path) => [path.name, path] as const))('%s', async ([, path], { skip }) => {
      const report = await path.run();
      skip(report.skipped !== undefined, report.skipped);
    });
  });

  it.each(folders)('%s walks every transition path', async (name) => {
    const definition = await loadPluginFolder(new URL(`../../plugins/${name}`, import.meta.url).pathname);
    expect([...(await failures(lifecyclePaths(definition)))]).toEqual([]);
  });

  it.each(examplePlugins().map((definition) => [definition.manifest.name, definition] as const))(
    'the http-service example plugin %s walks every transition path',
    async (_name, definition) => {
      // A stand-in store for the plugins that depend on it.
      const rows: StoredRecord[] = [];
      const stand: Records = {
        insert: async (_collection, fields) => {
          const record = { ...fields, id: rows.length + 1 } as StoredRecord;
          rows.push(record);
          return record;
        },
        get: async (_collection, id) => rows.find((row) => row.id === id),
        list: async () => [...rows],
        count: async () => rows.length,
      };
      const services = (definition.manifest.dependencies ?? {})['store'] ? [standIn('store', RecordsService, stand)] : [];
      expect([...(await failures(lifecyclePaths(definition, { services, hostHooks: [routesHook] })))]).toEqual([]);
    },
  );
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
