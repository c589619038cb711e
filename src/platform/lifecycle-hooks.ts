/**
 * Pre/post listeners the host puts around every plugin lifecycle hook (init, start, stop,
 * dispose). The runtime wraps each hook call in `runAround`.
 *
 * - Before-listeners run in registration order, each awaited, before the hook. One that throws
 *   or rejects vetoes the hook: it does not run and `runAround` rejects with a `HOST_HOOK_FAILED`
 *   veto, which the runtime treats as the hook failing: the plugin is left with the hook's
 *   `HOOK_FAILED`, the veto as its cause.
 * - After-listeners run after the hook settled (or was vetoed), with the outcome: in registration
 *   order, each awaited, and called in the order the hooks settled. `runAround` does not wait
 *   for them: it settles as the hook did, so a slow listener never makes a hook late (nor times
 *   it out). One that throws is reported through `onError` as `HOST_HOOK_FAILED` and changes
 *   nothing. `settled()` waits for those still running.
 */
import { PluginFactoryError, describeThrown } from '../errors.ts';
import { createConsoleLogger } from '../logger.ts';
import type { Logger } from '../logger.ts';
import { argumentError, assertPluginName, quote, realTimers } from './_utils.ts';

/** The plugin hooks listeners can surround. */
export const LIFECYCLE_HOOKS = ['init', 'start', 'stop', 'dispose'] as const;
export type LifecycleHookName = (typeof LIFECYCLE_HOOKS)[number];

/** What a before-listener is told. */
export interface AroundInfo {
  plugin: string;
  hook: LifecycleHookName;
}

/** What an after-listener is told: the outcome too. */
export interface AfterInfo extends AroundInfo {
  /** Whether the hook resolved in time. */
  ok: boolean;
  /**
   * Why not: what it threw (the engine's `HOOK_FAILED`, scrubbed of secrets, as the snapshot
   * shows it), the veto, `HOOK_TIMEOUT` for a hook the engine stopped waiting for, or an
   * `AbortError` for one cancelled (its plugin was stopped, or the host).
   */
  error?: unknown;
  durationMs: number;
}

/** How the runtime tells `runAround` more than the hook's own promise says. */
export interface AroundOptions {
  /**
   * Settles with the reason when the engine stops waiting for the call (it timed out, or was
   * cancelled) before it settled: the after-listeners are told then, and not again.
   */
  ended?: Promise<unknown>;
  /** What after-listeners are told of a hook that threw (default: what it threw). */
  failure?: (error: unknown) => unknown;
  /**
   * Called with the veto, when a before-listener throws, before the after-listeners are told of
   * it: the caller takes the outcome first, as it does a settled hook's.
   */
  vetoed?: (veto: PluginFactoryError) => void;
}

export type BeforeListener = (info: AroundInfo) => unknown;
export type AfterListener = (info: AfterInfo) => unknown;

/** Options of `createLifecycleHooks`. */
export interface LifecycleHooksOptions {
  /** Failed after-listeners (default: `logger.error`). */
  onError?: (error: PluginFactoryError) => void;
  /** @default stderr */
  logger?: Logger;
  /** Milliseconds, for `durationMs`. @default performance.now */
  now?: () => number;
}

/** Listeners around plugin lifecycle hooks: one registry per manager. */
export interface LifecycleHooks {
  /** Runs `fn` before `hook` (or every hook, `'*'`) of every plugin; returns its remover. */
  onBefore(hook: LifecycleHookName | '*', fn: BeforeListener): () => void;
  /** Runs `fn` after `hook` (or every hook, `'*'`) settled; returns its remover. */
  onAfter(hook: LifecycleHookName | '*', fn: AfterListener): () => void;
  /** Runs `run` between the listeners; settles as `run` does, or rejects with a veto. */
  runAround<T>(plugin: string, hook: LifecycleHookName, run: () => T | PromiseLike<T>, options?: AroundOptions): Promise<T>;
  /** Listeners registered now. */
  listenerCount(): number;
  /** Resolves once every after-listener called so far has settled. */
  settled(): Promise<void>;
  /**
   * The after-listeners whose one is running its synchronous part now (one that calls
   * `manager.stop()`) are not waited for by `settled()`: they would wait for the very stop that
   * waits for them.
   */
  letGoOfCaller(): void;
}

/** The after-listeners told of one hook's outcome, run one after the other. */
interface AfterChain {
  letGo: boolean;
  done: Promise<void> | null;
}

interface Listener<F> {
  hook: LifecycleHookName | '*';
  fn: F;
  /** Its remover ran: not called any more, also by a dispatch already under way. */
  removed: boolean;
}

/** @example `lifecycle.onAfter('start', ({ plugin, durationMs }) => log.info({ plugin, durationMs }, 'started'))` */
export function createLifecycleHooks(options: LifecycleHooksOptions = {}): LifecycleHooks {
  const before: Array<Listener<BeforeListener>> = [];
  const after: Array<Listener<AfterListener>> = [];
  const now = options.now ?? (() => (typeof performance === 'undefined' ? realTimers.now() : performance.now()));
  const logger = options.logger ?? createConsoleLogger();
  const report = (error: PluginFactoryError) => {
    try {
      if (options.onError) options.onError(error);
      else logger.error({ plugin: error.plugin, code: error.code }, error.message);
    } catch {
      // A failing reporter changes nothing either.
    }
  };

  const add = <F>(list: Array<Listener<F>>, hook: unknown, fn: F, which: string): (() => void) => {
    if (hook !== '*' && !LIFECYCLE_HOOKS.includes(hook as LifecycleHookName)) {
      throw argumentError(`${which}: ${quote(hook)} is not a lifecycle hook; use one of ${LIFECYCLE_HOOKS.join(', ')} or '*'`);
    }
    if (typeof fn !== 'function') throw argumentError(`${which}: the listener must be a function`);
    const listener: Listener<F> = { hook: hook as LifecycleHookName | '*', fn, removed: false };
    list.push(listener);
    return () => {
      listener.removed = true;
      const index = list.indexOf(listener);
      if (index >= 0) list.splice(index, 1);
    };
  };
  const matching = <F>(list: Array<Listener<F>>, hook: LifecycleHookName) => list.filter((l) => l.hook === '*' || l.hook === hook);

  // After-listeners run off the hooks' own path; what still runs is kept for settled().
  const inFlight = new Set<Promise<void>>();
  /** The chain whose listener runs its synchronous part now, if any. */
  let calling: AfterChain | null = null;
  const queueAfter = (info: AfterInfo, listeners: Array<Listener<AfterListener>>) => {
    if (listeners.length === 0) return;
    const chain: AfterChain = { letGo: false, done: null };
    const done = runAfter(info, listeners, chain);
    chain.done = done;
    if (chain.letGo) return;
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };
  const runAfter = async (info: AfterInfo, listeners: Array<Listener<AfterListener>>, chain: AfterChain) => {
    for (const { fn, removed } of listeners) {
      if (removed) continue;
      try {
        const outer = calling;
        calling = chain;
        let pending: unknown;
        try {
          pending = fn(info);
        } finally {
          calling = outer;
        }
        await pending;
      } catch (error) {
        report(
          new PluginFactoryError('HOST_HOOK_FAILED', `plugin '${info.plugin}': a listener after its ${info.hook} hook failed: ${describeThrown(error)}; the hook's outcome stands`, {
            plugin: info.plugin,
            hook: info.hook,
            cause: error,
          }),
        );
      }
    }
  };

  return {
    onBefore: (hook, fn) => add(before, hook, fn, 'onBefore'),
    onAfter: (hook, fn) => add(after, hook, fn, 'onAfter'),
    async runAround(plugin, hook, run, options = {}) {
      assertPluginName(plugin, 'runAround');
      if (!LIFECYCLE_HOOKS.includes(hook)) throw argumentError(`runAround: ${quote(hook)} is not a lifecycle hook`);
      const info: AroundInfo = { plugin, hook };
      const afterListeners = matching(after, hook);
      // One outcome per call: the first of the hook settling and the engine giving up on it.
      let told = false;
      let hookStarted: number | null = null;
      const tell = (ok: boolean, error?: unknown) => {
        if (told) return;
        told = true;
        const durationMs = hookStarted === null ? 0 : now() - hookStarted;
        queueAfter(ok ? { ...info, ok, durationMs } : { ...info, ok, error, durationMs }, afterListeners);
      };
      void options.ended?.then((reason) => tell(false, reason));
      for (const listener of matching(before, hook)) {
        if (listener.removed) continue;
        try {
          const fn = listener.fn; // not as a method: the engine's record is no `this` for it
          await fn({ ...info });
        } catch (cause) {
          const veto = new PluginFactoryError(
            'HOST_HOOK_FAILED',
            `plugin '${plugin}': a host listener before its ${hook} hook failed, so the hook did not run: ${describeThrown(cause)}`,
            { plugin, hook, cause },
          );
          try {
            options.vetoed?.(veto);
          } catch {
            // The caller's bookkeeping changes nothing of the veto.
          }
          tell(false, veto);
          throw veto;
        }
      }
      hookStarted = now();
      try {
        const result = await run();
        tell(true);
        return result;
      } catch (error) {
        tell(false, options.failure ? options.failure(error) : error);
        throw error;
      }
    },
    listenerCount: () => before.length + after.length,
    settled: () => Promise.all(inFlight).then(() => undefined),
    letGoOfCaller() {
      if (!calling) return;
      calling.letGo = true;
      if (calling.done) inFlight.delete(calling.done);
    },
  };
}
