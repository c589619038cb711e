/**
 * Fills the lifecycle chart's slots: validation and hooks, each run as a promise actor. Keeps,
 * per plugin generation, its hooks, config and logger, and makes sure two hooks of one plugin
 * never overlap: a hook abandoned on timeout or cancellation is waited for (at most one hook
 * timeout) before the next one runs.
 */
import { fromPromise } from 'xstate';
import { pluginLifecycle } from '../machines/plugin-lifecycle.ts';
import type { HookInput, HookOutput } from '../machines/plugin-lifecycle.ts';
import { secretValues } from './config.ts';
import type { PluginContext } from './definition.ts';
import { PluginFactoryError, describeThrown } from './errors.ts';
import type { Logger } from './logger.ts';
import { loadModule } from './prepare.ts';
import type { PreparedPlugin } from './prepare.ts';

interface Running {
  plugin: PreparedPlugin;
  /** The plugin's child logger, built on first use, once its config (and secrets) are known. */
  logger: Logger | null;
}

const noop = () => undefined;

export class PluginRuntimes {
  private readonly byKey = new Map<string, Running>();
  /**
   * Per plugin name, across generations (a reload's new module must not start while the old
   * one's abandoned hook still runs): settles when the last hook started settles.
   */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly logger: Logger) {}

  register(plugin: PreparedPlugin): void {
    this.byKey.set(plugin.key, { plugin, logger: null });
  }

  get(key: string): PreparedPlugin | undefined {
    return this.byKey.get(key)?.plugin;
  }

  /** Drops a generation that is no longer used (after a reload or unload). */
  delete(key: string): void {
    this.byKey.delete(key);
  }

  /** The `validate` slot: rejects with every reason the plugin cannot run. */
  async validate(key: string): Promise<void> {
    const running = this.byKey.get(key);
    if (!running) throw new PluginFactoryError('PLUGIN_NOT_FOUND', `no plugin registered under '${key}'`);
    try {
      await loadModule(running.plugin);
    } catch (error) {
      // An invalid plugin's module reference is dropped; only its reasons stay.
      running.plugin.hooks = null;
      throw error;
    }
  }

  /** A hook slot: runs one hook of one plugin with its context and signal. */
  async run(input: HookInput, signal: AbortSignal): Promise<HookOutput> {
    const running = this.byKey.get(input.key);
    const hooks = running?.plugin.hooks;
    const fn = hooks?.[input.hook];
    if (!running || typeof fn !== 'function') return { ms: 0 };
    const plugin = running.plugin;
    const previous = this.pending.get(plugin.name);
    if (previous) await settleWithin(previous, plugin.hookTimeoutMs, signal);
    if (signal.aborted) return { ms: 0 };
    const ctx: PluginContext = {
      name: plugin.name,
      version: plugin.manifest?.version ?? '0.0.0',
      config: plugin.config,
      signal,
      logger: (running.logger ??= scrubbingLogger(
        this.logger.child({ plugin: plugin.name }),
        secretValues(plugin.manifest?.config, plugin.config),
      )),
      hook: input.hook,
      attempt: input.attempt,
    };
    const started = performance.now();
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(fn.call(hooks, ctx));
    } catch (error) {
      result = Promise.reject(error);
    }
    const settled = result.then(noop, noop);
    this.pending.set(plugin.name, settled);
    void settled.then(() => {
      if (this.pending.get(plugin.name) === settled) this.pending.delete(plugin.name);
    });
    try {
      await result;
    } catch (error) {
      throw this.hookError(plugin, input.hook, error);
    }
    return { ms: Math.round((performance.now() - started) * 100) / 100 };
  }

  private hookError(plugin: PreparedPlugin, hook: HookInput['hook'], error: unknown): PluginFactoryError {
    const reason = scrub(describeThrown(error), secretValues(plugin.manifest?.config, plugin.config));
    const hint =
      hook === 'stop'
        ? 'shutdown went on without it; make stop release its resources without throwing'
        : `see the cause; fix the ${hook} hook or raise retry.retries in ${plugin.source}`;
    return new PluginFactoryError('HOOK_FAILED', `plugin '${plugin.name}': ${hook} hook failed: ${reason}; ${hint}`, {
      plugin: plugin.name,
      hook,
      cause: reason,
    });
  }
}

/**
 * A plugin's logger: whatever it logs, a secret config value in the message or in a field is
 * replaced by `[redacted]` before it reaches the host's logger.
 */
function scrubbingLogger(logger: Logger, secrets: readonly string[]): Logger {
  if (secrets.length === 0) return logger;
  const clean = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return scrub(value, secrets);
    if (typeof value === 'number' && secrets.includes(String(value))) return '[redacted]';
    if (value instanceof Error) return scrub(value.message, secrets);
    if (Array.isArray(value)) return depth > 4 ? '[…]' : value.map((item) => clean(item, depth + 1));
    if (value !== null && typeof value === 'object') {
      if (depth > 4) return '[…]';
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[key] = clean(item, depth + 1);
      return out;
    }
    return value;
  };
  const wrap =
    (method: 'debug' | 'info' | 'warn' | 'error'): Logger['debug'] =>
    ((first: unknown, second?: unknown) => {
      if (typeof first === 'string') return logger[method](scrub(first, secrets));
      const fields = clean(first, 0) as Record<string, unknown>;
      return typeof second === 'string' ? logger[method](fields, scrub(second, secrets)) : logger[method](fields);
    }) as Logger['debug'];
  return {
    debug: wrap('debug'),
    info: wrap('info'),
    warn: wrap('warn'),
    error: wrap('error'),
    child: (bindings) => scrubbingLogger(logger.child(clean(bindings, 0) as Record<string, unknown>), secrets),
  };
}

/** Replaces every secret value in `text` by `[redacted]`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out;
}

/** Waits for `promise`, at most `ms`, or until `signal` aborts; leaves no timer behind. */
function settleWithin(promise: Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    void promise.then(done);
  });
}

/** The lifecycle chart with its slots filled by `runtimes`. */
export function provideLifecycle(runtimes: PluginRuntimes) {
  const hook = fromPromise<HookOutput, HookInput>(({ input, signal }) => runtimes.run(input, signal));
  return pluginLifecycle.provide({
    actors: {
      validate: fromPromise<void, { name: string; key: string }>(({ input }) => runtimes.validate(input.key)),
      init: hook,
      start: hook,
      stop: hook,
      dispose: hook,
    },
  });
}
