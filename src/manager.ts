/**
 * `createPluginManager`: the embeddable API over the manager chart.
 */
import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import { lifecyclePath, stateToPath } from '../machines/plugin-lifecycle.ts';
import type { LifecycleEvent, PluginLifecycleLogic, PluginLifecycleSnapshot } from '../machines/plugin-lifecycle.ts';
import { pluginManager } from '../machines/plugin-manager.ts';
import type { Clock, ManagerEvent, ManagerInput, PluginManagerLogic } from '../machines/plugin-manager.ts';

export type { Clock, PluginManagerOptions };
import type { PluginRecord, PluginRef, PluginRegistry } from '../machines/plugin-registry.ts';
import type { PluginDefinition } from './definition.ts';
import { PluginFactoryError, callGuarded, describeThrown, isPluginFactoryError } from './errors.ts';
import { scrubError } from './platform/logging.ts';
import type { ErrorCode } from './errors.ts';
import type { Logger } from './logger.ts';
import type { HealthStatus } from './platform/health-result.ts';
import { guardInspector, guardLogger, readDefaults } from './manager-options.ts';
import type { PluginManagerOptions } from './manager-options.ts';
import { ValidationFailure, checkGraph, loadModule, prepareDefinition, toEntry } from './prepare.ts';
import type { PreparedPlugin } from './prepare.ts';
import { PluginRuntimes, provideLifecycle, scrubProblems } from './runtime.ts';
import { managerPlatform, publishChange } from './manager-platform.ts';
import type { ManagerPlatform } from './manager-platform.ts';
import { PluginPlatform } from './plugin-platform.ts';
import pino from 'pino';
import { createPinoLogger } from './platform/logging.ts';
import { isOptionsObject, quote, readArgument, unknownArgumentOptions } from './platform/_utils.ts';
import { bootOrder } from '../machines/dependency-graph.ts';
import { pluginSnapshot } from './snapshot.ts';
import { untilAborted } from './settled.ts';
import type { ManagerSnapshot, PluginSnapshot } from './snapshot.ts';

/** Runtime commands for one plugin. */
export const PLUGIN_COMMANDS = Object.freeze(['start', 'stop', 'restart', 'reload', 'unload', 'retry', 'reset'] as const);
export type PluginCommand = (typeof PLUGIN_COMMANDS)[number];

/** What `subscribe` listeners receive. */
export type ManagerChange =
  | { type: 'plugin.changed'; name: string; state: string; previous: string }
  /**
   * A running plugin's health changed (its status, or a component's). Its state stays `running`
   * (`state` and `previous` say so, as every change has them); `health` is the new status.
   */
  | { type: 'plugin.health'; name: string; state: 'running'; previous: 'running'; health: HealthStatus; previousHealth: HealthStatus }
  | { type: 'manager.changed'; state: string; previous: string };

export interface Subscription {
  unsubscribe(): void;
}

/** What `ReloadOptions` may hold: a key not in it (a typo) is refused. */
const RELOAD_OPTION_KEYS: ReadonlySet<string> = new Set(['keepStopped']);

export interface ReloadOptions {
  /**
   * A plugin at rest because it was stopped by hand (not one held down by a stopped dependency)
   * stays stopped: the new version is installed and waits for a start. For reloads nobody asked
   * to start, such as a file watcher's.
   */
  keepStopped?: boolean | undefined;
}

export interface PluginManager extends ManagerPlatform {
  /** Boots every plugin in dependency order; resolves once boot has settled (failed plugins included). */
  start(): Promise<ManagerSnapshot>;
  /** Shuts down in reverse dependency order; resolves after every stop hook finished or timed out. */
  stop(): Promise<ManagerSnapshot>;
  /** The plain-JSON snapshot of the host. */
  getSnapshot(): ManagerSnapshot;
  /** Called on every plugin or manager state change. */
  subscribe(listener: (change: ManagerChange) => void): Subscription;
  startPlugin(name: string): Promise<PluginSnapshot>;
  stopPlugin(name: string): Promise<PluginSnapshot>;
  restartPlugin(name: string): Promise<PluginSnapshot>;
  /**
   * Swaps in a new version of a plugin. It boots unless a stop came after the reload was asked;
   * with `keepStopped`, a plugin stopped by hand also stays stopped (the new version waits for a start).
   */
  reloadPlugin(name: string, definition: PluginDefinition, options?: ReloadOptions): Promise<PluginSnapshot>;
  unloadPlugin(name: string): Promise<void>;
  /** Runs a failed plugin's failed hook again with a fresh retry budget. */
  retryPlugin(name: string): Promise<PluginSnapshot>;
  /** Clears a failed plugin back to `created` and boots it again. */
  resetPlugin(name: string): Promise<PluginSnapshot>;
  /** Whether the chart allows `command` for `name` right now. */
  can(name: string, command: PluginCommand): boolean;
  /** The underlying XState actor of the manager chart, for your own inspection. */
  readonly actor: Actor<PluginManagerLogic>;
}

type Pending = { resolve: () => void; reject: (error: unknown) => void; name: string; command: PluginCommand };

/** What the dashboard needs of a manager beyond its public API. */
interface ManagerInternals {
  /**
   * Listeners told when a restart or reload of a plugin has settled, its dependents back too: the
   * commands it takes change then with no state change of its own. Kept out of `subscribe`,
   * whose changes each carry a state.
   */
  settled: Set<(name: string) => void>;
  /** `reloadPlugin` with the new definition still to be loaded, inside the reload. */
  reloadFrom(name: string, load: () => unknown, options?: ReloadOptions): Promise<PluginSnapshot>;
  /** One plugin's snapshot (null when none is registered under that name), without the whole host's. */
  pluginSnapshot(name: string): PluginSnapshot | null;
  /** The host's state, as `getSnapshot().state`. */
  hostState(): string;
}

const internals = new WeakMap<PluginManager, ManagerInternals>();

/** Calls `listener(name)` whenever a restart or reload of a plugin of `manager` settles; returns the unsubscribe. */
export function onCommandSettled(manager: PluginManager, listener: (name: string) => void): () => void {
  const set = internals.get(manager)?.settled;
  if (!set) return () => undefined;
  set.add(listener);
  return () => void set.delete(listener);
}

/**
 * The host's state and the snapshots of the plugins named, each null when none is registered
 * under that name: for a view that follows a few changes of a large host, at the cost of those
 * plugins only, not of `getSnapshot()`.
 */
export function snapshotsOf(manager: PluginManager, names: Iterable<string>): { state: string; plugins: Map<string, PluginSnapshot | null> } {
  const inner = internals.get(manager);
  const plugins = new Map<string, PluginSnapshot | null>();
  if (!inner) {
    const snapshot = manager.getSnapshot();
    const byName = new Map(snapshot.plugins.map((plugin) => [plugin.name, plugin]));
    for (const name of names) plugins.set(name, byName.get(name) ?? null);
    return { state: snapshot.state, plugins };
  }
  for (const name of names) plugins.set(name, inner.pluginSnapshot(name));
  return { state: inner.hostState(), plugins };
}

/**
 * Reloads `name` with the definition `load` gives, loaded as part of the reload: a command accepted
 * while it loads comes later and wins, as for the module a reload imports (a stop: the new version
 * is installed at rest). `load` runs only once the reload is accepted.
 */
export async function reloadFrom(manager: PluginManager, name: string, load: () => unknown, options?: ReloadOptions): Promise<PluginSnapshot> {
  const inner = internals.get(manager);
  if (inner) return inner.reloadFrom(name, load, options);
  return manager.reloadPlugin(name, (await load()) as PluginDefinition, options);
}

/** The lifecycle states in which a hook runs: a plugin leaves them by itself (the hook's timeout holds). */
const HOOK_STATES: ReadonlySet<string> = new Set(['initializing', 'starting.hook', 'stopping', 'disposing']);

const COMMAND_EVENTS: Record<Exclude<PluginCommand, 'reload'>, ManagerEvent['type']> = {
  start: 'command.start',
  stop: 'command.stop',
  restart: 'command.restart',
  unload: 'command.unload',
  retry: 'command.retry',
  reset: 'command.reset',
};

/**
 * The defaults and the plugin list, read once. Read here, outside `createPluginManager`: a
 * closure there that refers to `options` would keep it, and with it every original definition
 * and module, for the manager's life (an unloaded or reloaded plugin's module never freed).
 */
function readOptions(options: PluginManagerOptions) {
  // Options that throw when read (a getter, a Proxy trap) are malformed options, not a crash.
  const readable = <T>(what: string, read: () => T): T => {
    try {
      return read();
    } catch (error) {
      if (isPluginFactoryError(error)) throw error;
      throw new PluginFactoryError('OPTIONS_INVALID', `${what} cannot be read: ${describeThrown(error)}`, { cause: error });
    }
  };
  return readable('the options', () => readDefaults(options));
}

/**
 * Creates a plugin host from in-memory definitions. Every plugin gets a lifecycle actor at once
 * (it validates straight away); nothing runs until `start()`.
 *
 * @example
 * ```ts
 * const manager = createPluginManager({
 *   plugins: [{ manifest: { name: 'db', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } }],
 * });
 * await manager.start();
 * manager.getSnapshot().plugins[0].state; // 'running'
 * await manager.stop();
 * ```
 */
export function createPluginManager(options: PluginManagerOptions = {}): PluginManager {
  // The definitions are not kept with the defaults: an unloaded plugin's module must be let go of.
  const { plugins: definitions, logger: givenLogger, inspect, clock, dataDir, ...defaults } = readOptions(options);
  // A throwing logger or inspector must not take the host down: both are guarded.
  const logger = guardLogger(givenLogger ?? createPinoLogger({ destination: pino.destination({ fd: 2, sync: true }) }));
  const platform = new PluginPlatform({ logger, dataDir });
  const runtimes = new PluginRuntimes(logger, clock, platform, defaults.health);
  const prepared = definitions.map((definition, index) => prepareDefinition(definition, index, defaults));
  const seen = new Set<string>();
  for (const plugin of prepared) {
    if (seen.has(plugin.name)) {
      throw new PluginFactoryError(
        'DUPLICATE_PLUGIN',
        `plugin '${plugin.name}' is defined twice; plugin names must be unique in a manager (rename or remove one)`,
        { plugin: plugin.name },
      );
    }
    seen.add(plugin.name);
  }
  checkGraph(prepared);
  for (const plugin of prepared) runtimes.register(plugin);
  const current = new Map<string, PreparedPlugin>(prepared.map((p) => [p.name, p]));
  // Host hooks are called in dependency order: again after a reload changes the graph. (An unload
  // leaves the others' order valid: it stays, rather than cost the whole graph per unload.)
  const orderHostHooks = () =>
    platform.hooks.setOrder(bootOrder([...current.values()].map((p) => ({ name: p.name, requires: p.requires, optional: p.optional }))));
  orderHostHooks();
  const generations = new Map<string, number>();

  const machine = pluginManager.provide({ actors: { plugin: provideLifecycle(runtimes) } });
  const input: ManagerInput = { plugins: prepared.map(toEntry), failurePolicy: defaults.policy };
  const actorOptions: Parameters<typeof createActor<PluginManagerLogic>>[1] = { input };
  /** Text of the host's own code (a listener, an observer) that failed, scrubbed of every plugin's secrets. */
  const scrub = (text: string) => runtimes.redactorFor().text(text);
  if (inspect) actorOptions.inspect = input.inspect = guardInspector(inspect, logger, scrub);
  if (clock) actorOptions.clock = input.clock = clock;
  const actor = createActor(machine, actorOptions);
  const registry = (): PluginRegistry<PluginRef> => actor.getSnapshot().context.registry;

  /** One entry per subscribe() call: one function subscribed twice is two subscriptions, ended apart. */
  const listeners = new Set<{ listener: (change: ManagerChange) => void }>();
  const settled = new Set<(name: string) => void>();
  /** Plugins whose unhealthy streak asked for a restart they could not take yet. */
  const unhealthyWaiting = new Set<string>();
  /** Restarts the waiting plugins (`only`: that one) that can take it now and are still unhealthy. */
  const restartWhenPossible = (only?: string) => {
    for (const name of only === undefined ? [...unhealthyWaiting] : unhealthyWaiting.has(only) ? [only] : []) {
      const record = registry().get(name);
      const plugin = record ? pluginSnapshot(record, runtimes, registered) : null;
      if (plugin?.state !== 'running' || plugin.health?.status !== 'unhealthy') unhealthyWaiting.delete(name);
      else if (manager.can(name, 'restart')) runtimes.onUnhealthy(name);
    }
  };
  const pending = new Map<number, Pending>();
  let nextOp = 1;
  let managerState = 'idle';
  let fault: unknown = null;
  const stateWaiters: Array<{ until: (state: string) => boolean; resolve: (state: string) => void; reject: (e: unknown) => void }> = [];

  const listenerFailed = (error: unknown) => logger.error({ error: scrub(describeThrown(error)) }, 'a subscribe() listener threw; the host goes on');
  // The listeners as the change began: one added meanwhile (a listener subscribing itself again)
  // waits for the next change, or a notification could never end; one removed is not called.
  const notify = (change: ManagerChange) => {
    if (listeners.size === 0) return; // most hosts: no copy made on every change of every plugin
    for (const entry of Array.from(listeners)) if (listeners.has(entry)) callGuarded(entry.listener, change, listenerFailed);
  };

  actor.on('plugin.changed', (event) => {
    const code = logTransition(logger, event.name, event.state, () => registry().get(event.name));
    try {
      publishChange(platform, event.name, event.state, event.previous, code);
    } catch (error) {
      logger.error({ plugin: event.name, error: scrub(describeThrown(error)) }, 'recording a plugin change failed; the host goes on');
    }
    if (event.state === 'removed') {
      callGuarded(forget, event.name, (error) =>
        logger.error({ plugin: event.name, error: scrub(describeThrown(error)) }, 'releasing an unloaded plugin failed; the host goes on'),
      );
    }
    notify({ type: 'plugin.changed', name: event.name, state: event.state, previous: event.previous });
  });
  /**
   * What the host kept of an unloaded plugin goes as it leaves the registry: its unload may
   * still wait for what it brings back, and may yet reject (the host stopping meanwhile).
   */
  const forget = (name: string) => {
    const key = current.get(name)?.key;
    current.delete(name);
    lastWant.delete(name);
    unhealthyWaiting.delete(name);
    generations.delete(name);
    platform.metrics.remove(name);
    if (key !== undefined) runtimes.delete(key); // last: the only step that runs plugin-facing teardown
  };
  actor.on('command.settled', (event) => {
    const waiter = pending.get(event.op);
    const cause = registry().abortCause;
    // A command that ends as the abort policy takes the host down fails with the cause, once
    // nothing runs any more (below).
    if (!waiter || (cause && managerState !== 'stopped')) return;
    pending.delete(event.op);
    if (cause) waiter.reject(abortError(cause));
    else waiter.resolve();
    if (!cause && (waiter.command === 'restart' || waiter.command === 'reload') && registry().get(waiter.name)) {
      for (const listener of Array.from(settled)) callGuarded(listener, waiter.name, listenerFailed);
    }
  });
  actor.subscribe({
    next: (snapshot) => {
      const state = stateToPath(snapshot.value);
      if (state === managerState) return;
      const previous = managerState;
      managerState = state;
      // Waiters first, with the state they waited for: a listener below may move the host on
      // at once (stop() on 'running'), and start() must still see that boot finished.
      for (const waiter of [...stateWaiters]) {
        if (!waiter.until(state)) continue;
        stateWaiters.splice(stateWaiters.indexOf(waiter), 1);
        waiter.resolve(state);
      }
      notify({ type: 'manager.changed', state, previous });
      if (state === 'running') restartWhenPossible();
      const cause = snapshot.context.registry.abortCause;
      // The host is shutting down: commands in flight end here, at once for a stop(), and with
      // the failure under the abort policy once nothing runs any more, as start() rejects then.
      if (state !== 'running' && pending.size > 0 && (!cause || state === 'stopped')) {
        const error = cause
          ? abortError(cause)
          : new PluginFactoryError('INVALID_TRANSITION', `the host left 'running' (now '${state}') before the command finished`);
        for (const [op, waiter] of pending) {
          pending.delete(op);
          waiter.reject(error);
        }
      }
    },
    error: (error) => failed(error),
    // Stopped before its final state: from outside, through `manager.actor`.
    complete: () => {
      if (actor.getSnapshot().status !== 'done') failed(new Error('the manager actor was stopped from outside the manager (manager.actor.stop())'));
    },
  });
  /**
   * The manager actor failed (an engine fault) or was stopped from outside: nothing drives the
   * plugins any more. The host is `crashed`: every waiter and command gets INTERNAL_ERROR, none is
   * accepted any more, and stop() brings the plugins down itself (see stopAfterFault).
   */
  const failed = (error: unknown) => {
    if (fault) return;
    fault = error;
    logger.error({ error: scrub(describeThrown(error)) }, 'the manager actor failed; the host takes no command any more (stop() stops the plugins)');
    const wrapped = faultError();
    for (const waiter of stateWaiters.splice(0)) waiter.reject(wrapped);
    for (const [op, waiter] of pending) {
      pending.delete(op);
      waiter.reject(wrapped);
    }
    const previous = managerState;
    managerState = 'crashed';
    notify({ type: 'manager.changed', state: managerState, previous });
  };
  const faultError = () =>
    scrubError(
      new PluginFactoryError('INTERNAL_ERROR', `plugin manager failed: ${describeThrown(fault)}; the host takes no command any more`, { cause: fault }),
      runtimes.redactorFor(),
    ) as PluginFactoryError;
  /** Resolves once the plugin actor is out of its hook states (or over): its hook's timeout still holds. */
  const outOfHook = (ref: Actor<PluginLifecycleLogic>) =>
    new Promise<void>((resolve) => {
      const resting = () => ref.getSnapshot().status !== 'active' || !HOOK_STATES.has(lifecyclePath(ref.getSnapshot().value));
      if (resting()) return resolve();
      const watch = ref.subscribe({ next: () => resting() && done(), error: () => done(), complete: () => done() });
      const done = () => {
        watch.unsubscribe();
        resolve();
      };
    });
  /**
   * stop() once the manager has failed: dependents first (the boot order reversed), each plugin
   * is let finish a hook under way (a stop or unload it was in, say), then stopped if it takes a
   * stop, and awaited until that hook is over too; then every plugin actor is stopped, so that
   * nothing is left behind.
   */
  let faultStop: Promise<void> | null = null;
  const stopAfterFault = () =>
    (faultStop ??= (async () => {
      runtimes.closeLoads();
      const order = bootOrder([...current.values()].map((p) => ({ name: p.name, requires: p.requires, optional: p.optional }))).reverse();
      for (const name of order) {
        const ref = registry().get(name)?.ref as Actor<PluginLifecycleLogic> | null | undefined;
        if (!ref) continue;
        await outOfHook(ref);
        if (ref.getSnapshot().status !== 'active' || !ref.getSnapshot().can({ type: 'plugin.stop' })) continue;
        ref.send({ type: 'plugin.stop' });
        await outOfHook(ref);
      }
      for (const record of registry().records.values()) (record.ref as Actor<PluginLifecycleLogic> | null)?.stop();
      runtimes.cancelAll();
      await platform.settle(defaults.hookTimeoutMs);
    })());
  actor.start();

  /** Resolves with the first state `until` accepts. */
  const waitForState = (until: (state: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      if (fault) return reject(faultError());
      if (until(managerState)) return resolve(managerState);
      stateWaiters.push({ until, resolve, reject });
    });

  const registered = (name: string) => registry().get(name) !== undefined;
  const getSnapshot = (): ManagerSnapshot => {
    const plugins: PluginSnapshot[] = [];
    for (const record of registry().records.values()) plugins.push(pluginSnapshot(record, runtimes, registered));
    return { state: managerState, plugins };
  };

  const recordOf = (name: string): PluginRecord<PluginRef> => {
    if (typeof name !== 'string') {
      throw new PluginFactoryError('ARGUMENT_INVALID', `a plugin name is a string, not ${quote(name)}`);
    }
    const record = registry().get(name);
    if (!record) {
      throw new PluginFactoryError('PLUGIN_NOT_FOUND', `no plugin named ${quote(name)} is registered; check the name`, name.length > 214 ? {} : { plugin: name });
    }
    return record;
  };

  const lifecycleSnapshot = (record: PluginRecord<PluginRef>) =>
    (record.ref as unknown as { getSnapshot(): PluginLifecycleSnapshot } | null)?.getSnapshot() ?? null;

  /**
   * Reloads under way, by plugin name (from accepted until settled; the running version is
   * untouched while the new module loads): `landed` settles once the reload has settled (its new
   * version running, or not, or the reload refused); `waitsOn`, the reloads it waits for now. A
   * dependent's reload requiring one that is dead waits for it before it looks for dead
   * requirements, unless that one waits for it, directly or through others: no two reloads
   * ever wait for each other.
   */
  const landing = new Map<string, { landed: Promise<void>; waitsOn: ReadonlySet<string> }>();
  /** Whether the reload of `from` waits, directly or through others, for the reload of `to`. */
  const waitsFor = (from: string, to: string): boolean => {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const at = stack.pop()!;
      if (at === to) return true;
      if (seen.has(at)) continue;
      seen.add(at);
      stack.push(...(landing.get(at)?.waitsOn ?? []));
    }
    return false;
  };
  /**
   * A restart, reload or unload of the plugin is under way: it takes no other command until that
   * ends. A reload still loading its module counts only against another reload (the first one
   * checks again once loaded, so an unload meanwhile wins).
   */
  const inTransition = (record: PluginRecord<PluginRef>, command: PluginCommand) =>
    registry().transitionOf(record) !== null || (command === 'reload' && landing.has(record.name));

  /**
   * `ownReload`: the check a reload repeats after loading its module. Any state passes then (a
   * stop still running, a start under way): the registry brings the plugin to rest before the
   * swap, and a command accepted meanwhile wins (see reloadNow).
   */
  const allowed = (record: PluginRecord<PluginRef>, command: PluginCommand, ownReload = false): boolean => {
    if (managerState !== 'running' || record.crash) return false;
    if (ownReload ? registry().transitionOf(record) !== null : inTransition(record, command)) return false;
    const snapshot = lifecycleSnapshot(record);
    if (!snapshot) return false;
    if (ownReload) return true;
    const accepts = (type: LifecycleEvent['type']) =>
      snapshot.status === 'active' && snapshot.can({ type } as LifecycleEvent);
    switch (command) {
      case 'start':
        return accepts('plugin.start') || accepts('plugin.init');
      case 'stop':
        return accepts('plugin.stop');
      case 'restart':
        return snapshot.matches('running') && accepts('plugin.stop');
      case 'retry':
        return accepts('plugin.retry');
      case 'reset':
        return accepts('plugin.reset');
      case 'unload':
      case 'reload':
        return snapshot.status === 'done' || accepts('plugin.dispose') || snapshot.matches('running');
    }
  };

  /** `ownReload`: the refusal of a reload that has loaded its module (its own mark aside). */
  const refuse = (record: PluginRecord<PluginRef>, command: PluginCommand, ownReload = false): PluginFactoryError => {
    if (fault) return faultError();
    if (managerState !== 'running') {
      return new PluginFactoryError(
        'INVALID_TRANSITION',
        `plugin '${record.name}': cannot ${command} while the host is '${managerState}'; runtime commands need a running host (await manager.start())`,
        { plugin: record.name },
      );
    }
    if (ownReload ? registry().transitionOf(record) !== null : inTransition(record, command)) {
      const kind = registry().transitionOf(record) ?? 'reload'; // or only loading its new module
      const what = kind === 'unload' ? 'an unload' : kind === 'reload' ? 'a reload' : 'a restart';
      return new PluginFactoryError(
        'INVALID_TRANSITION',
        `plugin '${record.name}': cannot ${command} while ${what} of it is in progress; await it first`,
        { plugin: record.name },
      );
    }
    const state = pluginSnapshot(record, runtimes, registered).state;
    const possible = PLUGIN_COMMANDS.filter((c) => allowed(record, c));
    return new PluginFactoryError(
      'INVALID_TRANSITION',
      `plugin '${record.name}': cannot ${command} in state '${state}'; the lifecycle chart allows ${possible.length ? possible.join(', ') : 'no command'} here`,
      { plugin: record.name },
    );
  };

  /** Sends a command and resolves when every plugin it touched has settled. */
  const runCommand = (name: string, command: PluginCommand, send: (op: number) => ManagerEvent) =>
    new Promise<PluginSnapshot | null>((resolve, reject) => {
      if (fault) {
        reject(faultError());
        return;
      }
      if (managerState !== 'running') {
        // The host left 'running' while the command was being prepared (code a reload reads, such as a
        // config getter of the new definition, called stop()).
        reject(
          new PluginFactoryError('INVALID_TRANSITION', `plugin '${name}': cannot ${command} while the host is '${managerState}'`, {
            plugin: name,
          }),
        );
        return;
      }
      const op = nextOp++;
      pending.set(op, {
        resolve: () => {
          const record = registry().get(name);
          resolve(record ? pluginSnapshot(record, runtimes, registered) : null);
        },
        reject,
        name,
        command,
      });
      actor.send(send(op));
    });

  const expectState = (snapshot: PluginSnapshot | null, name: string, ok: (state: string) => boolean) => {
    if (snapshot && ok(snapshot.state)) return snapshot;
    if (snapshot?.error) throw PluginFactoryError.fromInfo(snapshot.error, name);
    throw new PluginFactoryError(
      'INVALID_TRANSITION',
      `plugin '${name}': the command ended in state '${snapshot?.state ?? 'removed'}'`,
      { plugin: name },
    );
  };

  /**
   * Per plugin, the last accepted command that wants it down (stop) or up (any other), numbered:
   * a reload that was loading its module meanwhile follows the later one.
   */
  let commandCount = 0;
  const lastWant = new Map<string, { seq: number; down: boolean }>();

  const simple = async (name: string, command: Exclude<PluginCommand, 'reload'>) => {
    const record = recordOf(name);
    if (!allowed(record, command)) throw refuse(record, command);
    lastWant.set(name, { seq: ++commandCount, down: command === 'stop' });
    return runCommand(name, command, (op) => ({ type: COMMAND_EVENTS[command], name, op }) as ManagerEvent);
  };

  const isRunning = (state: string) => state === 'running';
  const isAtRest = (state: string) => state === 'stopped' || state === 'initialized' || state === 'created';

  const checkDefinition = (name: string, definition: unknown): PluginDefinition => {
    if (typeof definition !== 'object' || definition === null) {
      throw new PluginFactoryError('ARGUMENT_INVALID', `reloadPlugin: plugin '${name}': the new definition must be an object { manifest, module }, not ${quote(definition)}`, { plugin: name });
    }
    return definition as PluginDefinition;
  };

  /**
   * The new definition is `given`, or else what `load` gives, loaded as part of the reload
   * (reloadFrom): a command accepted meanwhile comes later.
   */
  const reloadWith = async (name: string, given: { definition: unknown } | { load: () => unknown }, options: ReloadOptions = {}): Promise<PluginSnapshot> => {
    if (!isOptionsObject(options)) {
      throw new PluginFactoryError('ARGUMENT_INVALID', `reloadPlugin: options must be an object such as { keepStopped: true }, not ${quote(options)}`);
    }
    // Read once, before anything changes: a getter that throws is a bad argument, not a fault.
    const unknown = unknownArgumentOptions(options, RELOAD_OPTION_KEYS, 'reloadPlugin: the options');
    if (unknown) throw new PluginFactoryError('ARGUMENT_INVALID', `reloadPlugin: ${unknown}`);
    const keepStopped = readArgument(options, 'keepStopped', 'reloadPlugin: the options');
    if (keepStopped !== undefined && typeof keepStopped !== 'boolean') {
      throw new PluginFactoryError('ARGUMENT_INVALID', `reloadPlugin: keepStopped must be true or false, not ${quote(keepStopped)}`);
    }
    const record = recordOf(name);
    if ('definition' in given) checkDefinition(name, given.definition);
    if (!allowed(record, 'reload')) throw refuse(record, 'reload');
    let land = () => undefined as void;
    const landed = new Promise<void>((resolve) => (land = resolve));
    const entry = { landed, waitsOn: new Set<string>() as ReadonlySet<string> };
    landing.set(name, entry);
    try {
      const begun = commandCount;
      const definition = checkDefinition(name, 'definition' in given ? given.definition : await given.load());
      return await reloadNow(name, definition, keepStopped === true, begun, entry);
    } finally {
      landing.delete(name);
      land();
    }
  };

  /** `begun`: the command count when the reload was accepted; a command since then wins. `entry`: this reload's in `landing`. */
  const reloadNow = async (name: string, definition: PluginDefinition, keepStopped: boolean, begun: number, entry: { waitsOn: ReadonlySet<string> }): Promise<PluginSnapshot> => {
    const generation = (generations.get(name) ?? 1) + 1;
    // One that names no plugin (no manifest, or one that cannot be read) is told its own problem.
    const next = prepareDefinition(definition, 0, defaults, name);
    if (next.name !== name) {
      throw new PluginFactoryError(
        'MANIFEST_INVALID',
        `plugin '${name}': the new definition is named '${next.name}'; a reload keeps the name`,
        { plugin: name, path: 'name' },
      );
    }
    next.key = `${name}@${generation}`;
    const checkAgainstCurrent = () => {
      // A plugin being unloaded is missing already: a version needing it would only block on it,
      // and its own ranges and edges are about to go. (One removed is forgotten at once.)
      const others: PreparedPlugin[] = [];
      const leaving = new Set<string>();
      for (const p of current.values()) {
        if (p.name === name) continue;
        const record = registry().get(p.name);
        if (record !== undefined && record.want !== 'gone') others.push(p);
        else leaving.add(p.name);
      }
      const invalid = new Set(others.filter((p) => registry().get(p.name)?.state === 'invalid').map((p) => p.name));
      checkGraph([next], others, invalid, leaving);
    };
    checkAgainstCurrent();
    // Everything is checked before the running version is touched: a bad reload leaves it up.
    let problems = next.errors;
    if (problems.length === 0) {
      try {
        await loadModule(next, runtimes.loadLimits);
      } catch (error) {
        problems = error instanceof ValidationFailure ? error.errors : [internalError(error)];
      }
    }
    // A factory given up because the host is stopping: the reload is refused for that, as when
    // the host stops after the module loaded.
    if (problems.length > 0 && runtimes.loadLimits.signal.aborted) throw refuse(recordOf(name), 'reload');
    // What its factory or import threw may quote a secret: the new config's as well as the host's.
    if (problems.length > 0) throw scrubProblems(problems[0]!, runtimes.redactorWith(name, next));
    // A dead requirement whose own reload is under way (a failed plugin being fixed, both files
    // edited at once under run --watch) may run again once that reload settles: waited for, and
    // everything below is checked after that, so a fix that does not run leaves this reload
    // refused and the version installed up. (One that is not dead is not waited for: of two
    // reloads, the one checked first still goes first.) A host stopping ends the wait.
    try {
      for (;;) {
        const stopping = runtimes.loadLimits.signal;
        if (stopping.aborted) throw refuse(recordOf(name), 'reload');
        const deps = next.requires.filter((dep) => landing.has(dep) && registry().get(dep)?.dead === true && !waitsFor(dep, name));
        if (deps.length === 0) break;
        entry.waitsOn = new Set(deps);
        await untilAborted(Promise.all(deps.map((dep) => landing.get(dep)!.landed)), stopping).catch(() => undefined); // aborted: refused above
      }
    } finally {
      entry.waitsOn = new Set();
    }
    // The module load awaited: the plugin may have changed meanwhile (stopped with a requirement,
    // failed, unloaded, or the host stopping); it must still take a reload. Its own reload does
    // not stand in the way (it stays marked until it settled: no other reload of it meanwhile),
    // nor a state a command accepted meanwhile left it in.
    const record = recordOf(name);
    if (!allowed(record, 'reload', true)) throw refuse(record, 'reload', true);
    // Another reload may have changed the graph meanwhile (a cycle or a version range through
    // both): checked again against what is registered now, with no await until it is installed.
    checkAgainstCurrent();
    if (next.errors.length > 0) throw scrubProblems(next.errors[0]!, runtimes.redactorWith(name, next));
    // A stop accepted while the module loaded (and not followed by a start) came after this
    // reload, and wins: the new version is installed without starting.
    const last = lastWant.get(name);
    const stoppedSince = last !== undefined && last.seq > begun && last.down;
    // Stopped by hand: wanted down by itself, not held down by a dependency it will come back with.
    const stoppedByHand = keepStopped && record.want === 'stopped' && record.heldBy === null;
    const start = !(stoppedSince || stoppedByHand);
    // A requirement that is dead (invalid, failed for good, blocked) would block a new version
    // that is to start: the version installed would be taken down for it, its dependents with it.
    // One out of service itself has nothing to lose: it is replaced, and blocks until that
    // requirement runs; so has one that is to stay stopped. (A requirement being reloaded is not
    // dead: its dependents wait for its new version.)
    if (start && !record.dead) {
      const dead = next.requires.find((dep) => registry().get(dep)?.dead === true);
      if (dead !== undefined) {
        throw new PluginFactoryError(
          'DEPENDENCY_FAILED',
          `plugin '${name}': the new version requires '${dead}', which is invalid or failed; fix or retry '${dead}' first, or reload '${name}' without it`,
          { plugin: name, plugins: [dead], path: `dependencies.${dead}` },
        );
      }
    }
    generations.set(name, generation);
    const previous = current.get(name);
    runtimes.register(next);
    current.set(name, next);
    const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((dep, i) => dep === b[i]);
    if (!previous || !same(previous.requires, next.requires) || !same(previous.optional, next.optional)) orderHostHooks();
    const snapshot = await runCommand(name, 'reload', (op) => ({ type: 'command.reload', entry: toEntry(next), op, start }));
    if (previous) runtimes.delete(previous.key);
    // Running, or at rest when a requirement is stopped (it starts with it); failed rejects.
    return expectState(snapshot, name, (state) => isRunning(state) || isAtRest(state));
  };

  const hostSide = managerPlatform(platform, () => getSnapshot());
  const manager: PluginManager = {
    ...hostSide,
    actor,
    async start() {
      if (managerState === 'stopping' || managerState === 'stopped') {
        throw new PluginFactoryError('INVALID_TRANSITION', `the host is '${managerState}'; a manager runs once: create a new one`);
      }
      if (managerState === 'idle') actor.send({ type: 'manager.start' });
      const booted = await waitForState((state) => state !== 'idle' && state !== 'booting');
      const cause = registry().abortCause;
      if (cause) {
        await waitForState((state) => state === 'stopped');
        throw abortError(cause);
      }
      if (booted !== 'running') {
        throw new PluginFactoryError('INVALID_TRANSITION', `the host is '${managerState}': stop() was called before boot finished`);
      }
      return getSnapshot();
    },
    async stop() {
      platform.letGoOfCaller();
      if (!fault) {
        if (managerState !== 'stopped' && managerState !== 'stopping') actor.send({ type: 'manager.stop' });
        runtimes.closeLoads(); // a factory still running (a plugin validating, a reload) is given up now
        try {
          await waitForState((state) => state === 'stopped');
        } catch (error) {
          if (!fault) throw error;
        }
      }
      // The manager failed before or during this stop: the plugins are stopped without it.
      if (fault) {
        await stopAfterFault();
        hostSide.events.dispose();
        throw faultError();
      }
      runtimes.cancelAll();
      await platform.settle(defaults.hookTimeoutMs);
      // The host's own subscriptions end with it: a handler that keeps publishing to itself
      // would otherwise go on after stop(), and keep the process alive.
      hostSide.events.dispose();
      return getSnapshot();
    },
    getSnapshot,
    subscribe(listener) {
      if (typeof listener !== 'function') throw new PluginFactoryError('ARGUMENT_INVALID', 'subscribe: the listener must be a function');
      const entry = { listener };
      listeners.add(entry);
      return { unsubscribe: () => void listeners.delete(entry) };
    },
    async startPlugin(name) {
      return expectState(await simple(name, 'start'), name, isRunning);
    },
    async stopPlugin(name) {
      // A plugin waiting to retry a failed hook stops retrying: it rests failed (halted), which is
      // what the stop asked for, not a failure of the stop.
      const retrying = lifecycleSnapshot(recordOf(name))?.matches({ failed: 'retrying' }) === true;
      return expectState(await simple(name, 'stop'), name, (state) => isAtRest(state) || (retrying && state === 'failed.halted'));
    },
    async restartPlugin(name) {
      return expectState(await simple(name, 'restart'), name, isRunning);
    },
    async retryPlugin(name) {
      return expectState(await simple(name, 'retry'), name, isRunning);
    },
    async resetPlugin(name) {
      return expectState(await simple(name, 'reset'), name, (state) => isRunning(state) || isAtRest(state));
    },
    async unloadPlugin(name) {
      await simple(name, 'unload');
      if (registered(name)) {
        throw new PluginFactoryError('INVALID_TRANSITION', `plugin '${name}': the unload ended with the plugin still registered`, { plugin: name });
      }
    },
    reloadPlugin: (name, definition, options) => reloadWith(name, { definition }, options),
    can(name, command) {
      const record = typeof name === 'string' ? registry().get(name) : undefined;
      if (record === undefined || !(PLUGIN_COMMANDS as readonly string[]).includes(command)) return false;
      return allowed(record, command);
    },
  };
  internals.set(manager, {
    settled,
    reloadFrom: (name, load, options) => reloadWith(name, { load }, options),
    pluginSnapshot: (name) => {
      const record = registry().get(name);
      return record ? pluginSnapshot(record, runtimes, registered) : null;
    },
    hostState: () => managerState,
  });
  // A plugin whose manifest asks for it is restarted after a streak of unhealthy checks. One that
  // cannot take a restart then (the host still booting, a restart or reload of it not settled)
  // is restarted once it can, if it is still running unhealthy: the streak is told only once.
  runtimes.onUnhealthy = (name) => {
    if (!manager.can(name, 'restart')) {
      unhealthyWaiting.add(name);
      return;
    }
    unhealthyWaiting.delete(name);
    logger.warn({ plugin: name }, 'unhealthy too many checks in a row: restarting it');
    manager.restartPlugin(name).catch((error: unknown) => logger.error({ plugin: name, error: scrub(describeThrown(error)) }, 'restart after unhealthy checks failed'));
  };
  runtimes.onHealth = (name, health, previousHealth) => notify({ type: 'plugin.health', name, state: 'running', previous: 'running', health, previousHealth });
  settled.add((name) => restartWhenPossible(name));
  return manager;
}

/** The error of a host taken down by the abort policy: the failure that caused it. */
function abortError(cause: NonNullable<PluginRegistry['abortCause']>): PluginFactoryError {
  return cause.error
    ? PluginFactoryError.fromInfo(cause.error, cause.name)
    : new PluginFactoryError('DEPENDENCY_FAILED', `plugin '${cause.name}' failed; failure policy 'abort' stopped the host`, {
        plugin: cause.name,
      });
}

function internalError(error: unknown): PluginFactoryError {
  return new PluginFactoryError('INTERNAL_ERROR', `unexpected failure: ${describeThrown(error)}`, { cause: error });
}

/** Logs a plugin's change of state; for a state out of service, returns the code of the error that put it there. */
function logTransition(logger: Logger, name: string, state: string, record: () => PluginRecord<PluginRef> | undefined): ErrorCode | undefined {
  if (state === 'invalid' || state.startsWith('failed') || state === 'crashed') {
    const found = record();
    const snapshot = (found?.ref as unknown as { getSnapshot?: () => PluginLifecycleSnapshot } | null)?.getSnapshot?.();
    const error = found?.crash ?? snapshot?.context.error;
    const level = state === 'failed.retrying' ? 'warn' : 'error';
    logger[level]({ plugin: name, state, code: error?.code }, error?.message ?? `entered ${state}`);
    return error?.code;
  }
  logger.debug({ plugin: name }, state);
  return undefined;
}
