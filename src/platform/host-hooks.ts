/**
 * Host hooks (extension points): the embedding application defines a hook, plugins implement it,
 * the application calls it. Implementations run one after another (each awaited, unless it is
 * removed while it runs: its plugin stopped) in dependency order: the boot order handed to `setOrder`, refined by the `before` / `after` plugin names an
 * implementation asks for. Plugins missing from the boot order come last, in the order they
 * implemented.
 *
 * Modes, for `call(hook, arg)`:
 * - `collect`: every implementation gets `arg`; resolves with their results, `undefined` left out.
 * - `first`: implementations get `arg` until one returns something other than `undefined`;
 *   resolves with that (or `undefined`).
 * - `series`: a pipeline; each implementation gets the previous one's result (the first gets
 *   `arg`) and may return a new value (`undefined` keeps the value); resolves with the last value.
 *
 * An implementation that throws or rejects makes `call` reject with `HOST_HOOK_FAILED` naming
 * the plugin; the ones after it do not run.
 */
import { PluginFactoryError, describeThrown } from '../errors.ts';
import { argumentError, assertPluginName, disposedError, isDottedName, isOptionsObject, isPluginName, quote, readArgument, unknownArgumentOptions } from './_utils.ts';
import { ImplementationGraph } from './host-hook-order.ts';
import type { Implementation } from './host-hook-order.ts';

const IMPLEMENT_OPTIONS: ReadonlySet<string> = new Set(['before', 'after']);
const DEFINE_OPTIONS: ReadonlySet<string> = new Set(['mode']);

/** How `call` combines the implementations' results (see the file comment). */
export type HostHookMode = 'collect' | 'first' | 'series';
export const HOST_HOOK_MODES: readonly HostHookMode[] = ['collect', 'first', 'series'];

declare const HOOK_TYPE: unique symbol;

/** A defined hook; its type parameters type `implement` and `call`. */
export interface HostHookRef<Mode extends HostHookMode = HostHookMode, Arg = unknown, Result = unknown> {
  readonly name: string;
  readonly mode: Mode;
  /** Carries the types for the checker; never set at run time. */
  readonly [HOOK_TYPE]?: (arg: Arg) => Result;
}

/** What `call` resolves with, by mode. */
export type HostHookResult<Mode extends HostHookMode, Result> = Mode extends 'collect'
  ? Result[]
  : Mode extends 'first'
    ? Result | undefined
    : Result;

/** A plugin's implementation of a host hook; `undefined` means "nothing from me". */
export type HostHookFn<Arg, Result> = (arg: Arg) => Result | undefined | Promise<Result | undefined>;

/** Ordering requests, by plugin name; names without an implementation are ignored. */
export interface ImplementOptions {
  /** Plugins whose implementations must run after this one. */
  before?: readonly string[] | undefined;
  /** Plugins whose implementations must run before this one. */
  after?: readonly string[] | undefined;
}

/** One plugin's view: `ctx.hooks`. */
export interface HostHookScope {
  readonly name: string;
  /**
   * Adds an implementation until the returned function is called or the scope is disposed.
   * @throws `HOST_HOOK_NOT_FOUND` for an undefined hook, `DEPENDENCY_CYCLE` when before/after
   * contradict the other implementations, `ARGUMENT_INVALID`, `SCOPE_DISPOSED`.
   */
  implement<Mode extends HostHookMode, Arg, Result>(
    hook: HostHookRef<Mode, Arg, Result>,
    fn: HostHookFn<Arg, Result>,
    options?: ImplementOptions,
  ): () => void;
  implement(hook: string, fn: HostHookFn<unknown, unknown>, options?: ImplementOptions): () => void;
  /** Removes every implementation of this scope. */
  dispose(): void;
  readonly disposed: boolean;
}

/** The host hook registry: one per manager. */
export interface HostHooks {
  /**
   * Defines a hook. Defining it again with the same mode returns the same hook.
   * @throws `ARGUMENT_INVALID` for a name that is not dotted lower case, a mode that is not one of
   * `collect`/`first`/`series`, or a second definition with another mode.
   * @example
   * ```ts
   * const routes = hooks.define<{ prefix: string }, Route>('http.routes', { mode: 'collect' });
   * const all: Route[] = await hooks.call(routes, { prefix: '/api' });
   * ```
   */
  define<Arg = unknown, Result = unknown>(name: string, options: { mode: 'collect' }): HostHookRef<'collect', Arg, Result>;
  define<Arg = unknown, Result = unknown>(name: string, options: { mode: 'first' }): HostHookRef<'first', Arg, Result>;
  define<Value = unknown>(name: string, options: { mode: 'series' }): HostHookRef<'series', Value, Value>;
  has(name: string): boolean;
  /** The boot order (plugin names, dependencies first); implementations follow it. */
  setOrder(order: readonly string[]): void;
  scope(plugin: string): HostHookScope;
  /** @throws `HOST_HOOK_NOT_FOUND`; rejects with `HOST_HOOK_FAILED` when an implementation fails. */
  call<Mode extends HostHookMode, Arg, Result>(hook: HostHookRef<Mode, Arg, Result>, arg: Arg): Promise<HostHookResult<Mode, Result>>;
  call(hook: string, arg?: unknown): Promise<unknown>;
  /** The plugins implementing `hook`, in call order (one entry per implementation). */
  implementers(hook: HostHookRef<HostHookMode, never> | string): string[];
}

interface HookState {
  ref: HostHookRef;
  /** The implementations and their call order (made when the hook is called after a change). */
  implementations: ImplementationGraph;
}

/** Creates the host hook registry; the runtime makes one per manager and a scope per plugin state. */
export interface HostHooksOptions {
  /** Applied to the message of a failed implementation, with its plugin's name (scrub secret config values). */
  redact?: (text: string, plugin: string) => string;
}

export function createHostHooks(options: HostHooksOptions = {}): HostHooks {
  const redact = options.redact ?? ((text: string) => text);
  const hooks = new Map<string, HookState>();
  let rank = new Map<string, number>();
  let seq = 0;

  const stateOf = (hook: unknown, plugin?: string): HookState => {
    const options = plugin ? { plugin } : {};
    const name = typeof hook === 'string' ? hook : typeof hook === 'object' && hook !== null ? readArgument(hook, 'name', 'the host hook', options) : undefined;
    if (typeof name !== 'string') {
      throw argumentError(`${plugin ? `plugin '${plugin}': ` : ''}a host hook is named by a string or a ref from defineHook, got ${quote(hook)}`, options);
    }
    const state = hooks.get(name);
    if (!state) {
      throw new PluginFactoryError(
        'HOST_HOOK_NOT_FOUND',
        `${plugin ? `plugin '${plugin}': ` : ''}no host hook named ${quote(name ?? hook)} is defined; the host defines hooks before plugins start (check the name)`,
        plugin ? { plugin } : {},
      );
    }
    return state;
  };
  const orderOf = (state: HookState) => state.implementations.order(rank);

  const invoke = async (state: HookState, impl: Implementation, arg: unknown): Promise<unknown> => {
    // One removed while it runs (its plugin left `running`) is not waited for: the call goes on
    // without it, as it skips one removed before its turn (a hung one would hold it for ever).
    // The waiter lives as long as this call only: nothing of a settled call stays behind.
    let done: (() => void) | null = null;
    try {
      // Called as a plain function: as a method, it would get the engine's record as `this`, and
      // could rename the plugin its failure is reported for, or take itself out of later calls.
      const fn = impl.fn;
      const result: unknown = fn(arg);
      const thenable = (typeof result === 'object' || typeof result === 'function') && result !== null && typeof (result as { then?: unknown }).then === 'function';
      if (!thenable) return result; // settled already: nothing to wait for
      const removed = new Promise<undefined>((resolve) => (done = () => resolve(undefined)));
      (impl.waiting ??= new Set()).add(done!);
      const outcome = await Promise.race([Promise.resolve(result).then((value) => ({ value })), removed]);
      return outcome === undefined ? undefined : outcome.value;
    } catch (error) {
      // The cause is the scrubbed text, not the thrown value: its message may quote a secret.
      const reason = redact(describeThrown(error), impl.plugin);
      throw new PluginFactoryError(
        'HOST_HOOK_FAILED',
        `plugin '${impl.plugin}': its implementation of host hook '${state.ref.name}' failed: ${reason}; fix the implementation (the hooks after it did not run)`,
        { plugin: impl.plugin, cause: reason },
      );
    } finally {
      if (done) impl.waiting?.delete(done);
    }
  };

  const list = (value: unknown, field: string, plugin: string): string[] => {
    if (value === undefined) return [];
    const refused = () => argumentError(`plugin '${plugin}': ${field} must be a list of plugin names`, { plugin });
    let names: unknown[];
    try {
      // Copied once: a revoked Proxy or a throwing element getter is a bad argument, and a list
      // that changes while it is read is checked as it was read.
      if (!Array.isArray(value)) throw refused();
      names = [...(value as unknown[])];
    } catch {
      throw refused();
    }
    if (!names.every(isPluginName)) throw refused();
    return names as string[];
  };

  return {
    define(name: string, options: { mode: HostHookMode }) {
      if (!isDottedName(name)) throw argumentError(`hooks.define: ${quote(name)} is not a hook name; use dotted lower case such as 'http.routes'`);
      const given = typeof options === 'object' && options !== null;
      const what = `hooks.define('${name}'): the options`;
      const mode = (given ? readArgument(options, 'mode', what) : undefined) as HostHookMode;
      const unknown = given ? unknownArgumentOptions(options, DEFINE_OPTIONS, what) : null;
      if (unknown) throw argumentError(`hooks.define('${name}'): ${unknown}`);
      if (!HOST_HOOK_MODES.includes(mode)) throw argumentError(`hooks.define('${name}'): mode must be one of ${HOST_HOOK_MODES.join(', ')}, got ${quote(mode)}`);
      const existing = hooks.get(name);
      if (existing) {
        if (existing.ref.mode !== mode) throw argumentError(`hooks.define('${name}'): already defined with mode '${existing.ref.mode}'`);
        return existing.ref as never;
      }
      const ref: HostHookRef = Object.freeze({ name, mode });
      hooks.set(name, { ref, implementations: new ImplementationGraph() });
      return ref as never;
    },
    has: (name) => hooks.has(name),
    setOrder(order) {
      if (!Array.isArray(order) || !order.every((n) => typeof n === 'string')) throw argumentError('hooks.setOrder needs a list of plugin names');
      rank = new Map(order.map((name, index) => [name, index])); // a new rank: every order is made again
    },
    scope(plugin) {
      assertPluginName(plugin, 'hooks.scope');
      const own = new Set<[HookState, Implementation]>();
      let disposed = false;
      const remove = (entry: [HookState, Implementation]) => {
        const [state, impl] = entry;
        impl.active = false;
        for (const done of impl.waiting ?? []) done();
        state.implementations.remove(impl);
        own.delete(entry);
      };
      return {
        name: plugin,
        get disposed() {
          return disposed;
        },
        implement(hook: unknown, fn: HostHookFn<unknown, unknown>, options: ImplementOptions = {}) {
          if (disposed) throw disposedError(plugin, 'ctx.hooks.implement was called');
          const state = stateOf(hook, plugin);
          if (typeof fn !== 'function') throw argumentError(`plugin '${plugin}': the implementation of '${state.ref.name}' must be a function`, { plugin });
          if (!isOptionsObject(options)) {
            throw argumentError(`plugin '${plugin}': the options of '${state.ref.name}' must be an object such as { before: ['x'] }`, { plugin });
          }
          // A typo (`afer`) would drop the order it asks for without a word.
          const unknown = unknownArgumentOptions(options, IMPLEMENT_OPTIONS, `plugin '${plugin}': the options of '${state.ref.name}'`, { plugin });
          if (unknown) throw argumentError(`plugin '${plugin}': the options of '${state.ref.name}': ${unknown}`, { plugin });
          const impl: Implementation = {
            plugin,
            fn,
            before: list(readArgument(options, 'before', `plugin '${plugin}': the options of '${state.ref.name}'`, { plugin }), 'before', plugin),
            after: list(readArgument(options, 'after', `plugin '${plugin}': the options of '${state.ref.name}'`, { plugin }), 'after', plugin),
            seq: seq++,
            active: true,
          };
          // Another plugin this one must run both before and after is a cycle in itself, whatever
          // that plugin ever implements; any other closes in the graph.
          const both = state.implementations.contradiction(impl);
          const cycle = both === null ? state.implementations.add(impl) : [plugin, both, plugin];
          if (cycle) {
            throw new PluginFactoryError(
              'DEPENDENCY_CYCLE',
              `plugin '${plugin}': its before/after for host hook '${state.ref.name}' make a cycle: ${cycle.join(' -> ')}; drop one of them`,
              { plugin, plugins: cycle },
            );
          }
          const entry: [HookState, Implementation] = [state, impl];
          own.add(entry);
          return () => {
            if (own.has(entry)) remove(entry);
          };
        },
        dispose() {
          disposed = true;
          for (const entry of [...own]) remove(entry);
        },
      };
    },
    async call(hook: unknown, arg?: unknown): Promise<never> {
      const state = stateOf(hook);
      const impls = orderOf(state);
      let value = arg;
      const results: unknown[] = [];
      for (const impl of impls) {
        if (!impl.active) continue;
        const result = await invoke(state, impl, state.ref.mode === 'series' ? value : arg);
        if (result === undefined) continue;
        if (state.ref.mode === 'first') return result as never;
        if (state.ref.mode === 'collect') results.push(result);
        else value = result;
      }
      return (state.ref.mode === 'collect' ? results : state.ref.mode === 'first' ? undefined : value) as never;
    },
    implementers: (hook) => orderOf(stateOf(hook)).map((impl) => impl.plugin),
  };
}
