/**
 * The plugin authors' kit: every lifecycle path of the model, walked by the real lifecycle chart
 * and runtime with the author's own hooks. Time runs on a simulated clock (timeouts and back-off
 * are steps of the path); the hooks run for real, except where a path asks for a failure, which
 * the kit injects. After every step the chart must be where the model says; a hook whose signal
 * was aborted must settle soon after; once the path is over and the plugin stopped and disposed,
 * no handle it opened may stay open.
 */
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import type { AsyncHook } from 'node:async_hooks';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { SimulatedClock, createActor, getInitialSnapshot, getNextSnapshot } from 'xstate';
import { stateToPath } from '../../machines/plugin-lifecycle.ts';
import type { LifecycleEvent, RetryPolicy } from '../../machines/plugin-lifecycle.ts';
import type { PluginContext, PluginDefinition, PluginHooks } from '../definition.ts';
import { PluginFactoryError, describeThrown, thrownCode } from '../errors.ts';
import { scrubError } from '../platform/logging.ts';
import type { ErrorInfo, HookName } from '../errors.ts';
import type { LogFields, Logger } from '../logger.ts';
import { PluginPlatform } from '../plugin-platform.ts';
import { HOST_HOOK_MODES, createHostHooks } from '../platform/host-hooks.ts';
import type { HostHookMode } from '../platform/host-hooks.ts';
import { methodProxy } from '../platform/method-proxy.ts';
import { isOptionsObject, quote, unknownOptions } from '../platform/_utils.ts';
import { createServiceRegistry } from '../platform/services.ts';
import type { ServiceRef } from '../platform/services.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, loadModule, prepareDefinition } from '../prepare.ts';
import { MAX_TIMER_MS } from '../manifest.ts';
import type { PreparedPlugin } from '../prepare.ts';
import { PluginRuntimes, provideLifecycle } from '../runtime.ts';
import { MODEL_EVENTS, MODEL_RETRIES, lifecycleModel } from './lifecycle-model.ts';
import type { ModelEvent } from './lifecycle-model.ts';
import { pathEvents, simplePaths, transitionPaths } from './paths.ts';
import type { ModelEventType, ModelSnapshot, PathCover } from './paths.ts';

/** Simulated: a timeout step moves the clock by exactly this much. */
const HOOK_TIMEOUT_MS = 1000;
/** Timers in real time, for the factory's time limit. */
const REAL_CLOCK = {
  setTimeout: (fn: (...args: unknown[]) => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (id: unknown) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

const RETRY: RetryPolicy = { retries: MODEL_RETRIES, backoffMs: 100, factor: 2, maxBackoffMs: 400 };
/** Real ms each wait of the clean-up after a failed path takes at most: it must not multiply a hang. */
const LENIENT_MS = 100;

/** A service a dependency of the plugin would provide, given by the test instead. */
export interface StandInService {
  /** The dependency (plugin name) that provides it; the plugin must declare it among its dependencies. */
  provider: string;
  ref: ServiceRef<unknown>;
  impl: unknown;
}

/** A typed `StandInService`: `standIn('db', PoolService, fakePool)`. */
export function standIn<T>(provider: string, ref: ServiceRef<T>, impl: T): StandInService {
  return { provider, ref: ref as ServiceRef<unknown>, impl };
}

export interface LifecyclePathsOptions {
  /** Config values; they replace the definition's `config`. */
  config?: Record<string, unknown> | undefined;
  /** Services of the plugin's dependencies, provided for it while it runs. */
  services?: StandInService[] | undefined;
  /** Host hooks (extension points) the host defines, which the plugin implements: refs or `{ name, mode }`. */
  hostHooks?: ReadonlyArray<{ name: string; mode: HostHookMode }> | undefined;
  /**
   * `transitions` (default): one path per transition of the model. `simple`: every path that
   * visits no state twice, fewer and shorter, with no restart, re-init or cancel mid-hook.
   */
  cover?: PathCover | undefined;
  /** Real ms the kit waits for a hook the path expects to succeed; never more than the plugin's own `hookTimeoutMs`. @default 2000 */
  hookLimitMs?: number | undefined;
  /** The host's hook timeout, for a plugin whose manifest sets none: it bounds the module's factory, in real ms, as the engine does. @default 5000 */
  hookTimeoutMs?: number | undefined;
  /** Real ms a hook has to settle once its `ctx.signal` is aborted (timeout, cancel). @default 500 */
  abortGraceMs?: number | undefined;
  /** Check that every handle (timer, socket, server, child process, worker, file watcher …; not files opened with fs.open or fs/promises) the plugin's code opened is closed after the path. @default true */
  checkHandles?: boolean | undefined;
  /** Called after every step with where the chart is: for assertions of your own. */
  onStep?: ((step: PathStep) => void | Promise<void>) | undefined;
}

export interface PathStep {
  /** The model event just applied (`INIT`, `START_FAIL`, `BACKOFF_ELAPSED` …). */
  event: ModelEventType;
  /** The chart's state as a dotted path, and the model's. */
  state: string;
  expected: string;
  attempts: number;
  error: ErrorInfo | null;
}

export interface PathReport {
  name: string;
  /** How often each of the plugin's hooks ran, its teardown included (an injected failure does not run it). */
  calls: Record<'init' | 'start' | 'stop' | 'dispose', number>;
  /** What the plugin and the engine logged. */
  logs: Array<{ level: string; message: string; fields: LogFields }>;
  /**
   * Set when the path cannot happen to this plugin: it asks for a timeout or a cancel of a hook
   * that settles at once. The walk stopped there; the teardown and the handle check still ran.
   */
  skipped?: string;
}

export interface LifecyclePath {
  /** The path's events joined with ` → `, e.g. `VALID → INIT → INIT_FAIL → BACKOFF_ELAPSED → INIT_OK`. */
  name: string;
  events: ModelEventType[];
  /**
   * Walks the path; rejects with `LIFECYCLE_PATH_DIVERGED`, `HOOK_IGNORED_ABORT` or
   * `HANDLE_LEAKED` (or the plugin's own validation error, such as `CONFIG_INVALID`).
   */
  run(): Promise<PathReport>;
}

type StepHook = 'init' | 'start' | 'stop' | 'dispose';
const STEP_HOOKS: readonly StepHook[] = ['init', 'start', 'stop', 'dispose'];
const HEALTH_EVENTS: readonly ModelEventType[] = ['HEALTHY', 'DEGRADED', 'UNHEALTHY'];
const DEPENDENCY_EVENTS: readonly ModelEventType[] = ['START_WAITING', 'DEP_READY', 'DEP_FAILED', 'DEPS_RESTORED'];
const DISPOSE_FAULTS: readonly ModelEventType[] = ['DISPOSE_FAIL', 'DISPOSE_TIMEOUT'];

/**
 * The lifecycle paths of one plugin, to walk one by one (a plain-object module keeps its state
 * from one path to the next).
 *
 * @example
 * ```ts
 * import { lifecyclePaths } from 'plugin-factory/testing';
 * const paths = lifecyclePaths({ manifest, module: hooks, config: { port: 0 } });
 * it.for(paths.map((p) => [p.name, p] as const))('%s', async ([, path], { skip }) => {
 *   const report = await path.run();
 *   skip(report.skipped !== undefined, report.skipped);
 * });
 * ```
 */
export function lifecyclePaths(definition: PluginDefinition, options: LifecyclePathsOptions = {}): LifecyclePath[] {
  // A folder's path is the likely mistake: said at once, not by every path rejecting as it runs.
  if (typeof definition !== 'object' || definition === null) {
    throw new PluginFactoryError(
      'ARGUMENT_INVALID',
      `lifecyclePaths: the definition must be an object { manifest, module }, not ${quote(definition)}; for a plugin folder, pass await loadPluginFolder(dir)`,
    );
  }
  // What throws while options or the definition are read (a getter, a revoked Proxy) is the
  // caller's argument, coded, not a crash from inside the kit.
  const settings = guarded(() => readOptions(options), 'OPTIONS_INVALID', 'the options');
  const probe = guarded(() => prepare(definition, settings), 'ARGUMENT_INVALID', 'the definition');
  const dependencies = [...probe.requires, ...probe.optional];
  for (const service of settings.services) {
    if (!dependencies.includes(service.provider)) {
      throw invalid(
        `services: '${service.provider}' provides '${service.ref.id}' but is not among the dependencies of '${probe.name}' (${dependencies.join(', ') || 'none'})`,
      );
    }
  }
  const hasDispose = mayDispose(probe.definition);
  // The engine blocks a plugin only for a required dependency.
  const dependent = probe.requires.length > 0;
  const types = MODEL_EVENTS.map((event) => event.type).filter(
    (type) =>
      type !== 'INVALID' &&
      !HEALTH_EVENTS.includes(type) &&
      (dependent || !DEPENDENCY_EVENTS.includes(type)) &&
      (hasDispose || !DISPOSE_FAULTS.includes(type)),
  );
  const paths = settings.cover === 'simple' ? simplePaths(types) : transitionPaths(types);
  return paths.map((path) => {
    const events = pathEvents(path);
    const name = events.join(' → ');
    return { name, events, run: () => walk(definition, settings, name, events).catch(named) };
  });
}

/**
 * What a path's author can do about a service or host hook the plugin asked for and did not get:
 * the host's advice in the message (a provider, a dependency) is not the test's.
 */
function standInHint(cause: unknown): string {
  const code = thrownCode(cause);
  if (code === 'SERVICE_NOT_FOUND') return '; in a test, give it with lifecyclePaths(definition, { services: [standIn(provider, ref, impl)] })';
  if (code === 'HOST_HOOK_NOT_FOUND') return '; in a test, give it with lifecyclePaths(definition, { hostHooks: [{ name, mode }] })';
  return '';
}

/**
 * A path's failure as a test runner shows it: runners print an error's name and message, so the
 * code goes in the name, `PluginFactoryError [HANDLE_LEAKED]`, as Node names its own coded errors.
 */
function named(error: unknown): never {
  if (error instanceof PluginFactoryError) {
    Object.defineProperty(error, 'name', { value: `PluginFactoryError [${error.code}]`, configurable: true, writable: true });
  }
  throw error;
}

/**
 * Whether the module may have a dispose hook: a factory's is known only once it has run, and one
 * that cannot be read is counted as there (each path's validation reports CONTRACT_INVALID).
 */
function mayDispose(definition: PluginDefinition): boolean {
  try {
    const module = definition.module;
    return typeof module === 'object' && module !== null ? typeof (module as { dispose?: unknown }).dispose === 'function' : true;
  } catch {
    return true;
  }
}

interface Settings {
  config: Record<string, unknown> | undefined;
  services: StandInService[];
  hostHooks: ReadonlyArray<{ name: string; mode: HostHookMode }>;
  cover: PathCover;
  hookLimitMs: number;
  hookTimeoutMs: number;
  abortGraceMs: number;
  checkHandles: boolean;
  onStep: ((step: PathStep) => void | Promise<void>) | undefined;
}

/** The options lifecyclePaths takes: any other key is a typo (`hookLimitMS`) that must not go unseen. */
const OPTION_KEYS: ReadonlySet<string> = new Set(['config', 'services', 'hostHooks', 'cover', 'hookLimitMs', 'hookTimeoutMs', 'abortGraceMs', 'checkHandles', 'onStep']);

function guarded<T>(read: () => T, code: 'OPTIONS_INVALID' | 'ARGUMENT_INVALID', what: string): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof PluginFactoryError) throw error;
    throw new PluginFactoryError(code, `lifecyclePaths: ${what} cannot be read (a getter or a Proxy trap threw)`, { cause: error });
  }
}

function readOptions(options: LifecyclePathsOptions): Settings {
  if (!isOptionsObject(options)) throw invalid('options must be an object');
  const unknown = unknownOptions(options, OPTION_KEYS);
  if (unknown) throw invalid(unknown);
  // null is no value: as a typo it must not pass for "the default".
  for (const [key, value] of Object.entries(options)) if (value === null) throw invalid(`${key} is null; leave it out for the default`);
  const limit = (key: 'hookLimitMs' | 'hookTimeoutMs' | 'abortGraceMs', fallback: number) => {
    const value = options[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS) throw invalid(`${key} must be a positive integer of ms (at most ${MAX_TIMER_MS})`);
    return value;
  };
  const cover = options.cover ?? 'transitions';
  if (cover !== 'transitions' && cover !== 'simple') throw invalid("cover must be 'transitions' or 'simple'");
  const services = options.services ?? [];
  if (!Array.isArray(services) || services.some((s) => typeof s?.provider !== 'string' || typeof s.ref?.id !== 'string')) {
    throw invalid('services must be a list of { provider, ref, impl } (made with standIn)');
  }
  const hostHooks = options.hostHooks ?? [];
  if (!Array.isArray(hostHooks) || hostHooks.some((h) => typeof h?.name !== 'string' || !HOST_HOOK_MODES.includes(h.mode))) {
    throw invalid(`hostHooks must be a list of { name, mode } with mode one of ${HOST_HOOK_MODES.join(', ')}`);
  }
  try {
    const trial = createServiceRegistry();
    for (const service of services) trial.scope({ name: service.provider, dependencies: [], canProvide: true }).provide(service.ref, service.impl);
  } catch (error) {
    throw new PluginFactoryError('OPTIONS_INVALID', `lifecyclePaths: services: ${describeThrown(error)}`, { path: 'options', cause: error });
  }
  try {
    const trial = createHostHooks();
    for (const hook of hostHooks) trial.define(hook.name, { mode: hook.mode as 'collect' });
  } catch (error) {
    throw new PluginFactoryError('OPTIONS_INVALID', `lifecyclePaths: hostHooks: ${describeThrown(error)}`, { path: 'options', cause: error });
  }
  if (options.config !== undefined && (typeof options.config !== 'object' || options.config === null || Array.isArray(options.config))) {
    throw invalid('config must be an object');
  }
  if (options.onStep !== undefined && typeof options.onStep !== 'function') throw invalid('onStep must be a function');
  if (options.checkHandles !== undefined && typeof options.checkHandles !== 'boolean') throw invalid('checkHandles must be true or false');
  return {
    config: options.config,
    services,
    hostHooks,
    cover,
    hookLimitMs: limit('hookLimitMs', 2000),
    hookTimeoutMs: limit('hookTimeoutMs', DEFAULT_HOOK_TIMEOUT_MS),
    abortGraceMs: limit('abortGraceMs', 500),
    checkHandles: options.checkHandles ?? true,
    onStep: options.onStep,
  };
}

function invalid(message: string): PluginFactoryError {
  return new PluginFactoryError('OPTIONS_INVALID', `lifecyclePaths: ${message}`, { path: 'options' });
}

function prepare(definition: PluginDefinition, settings: Settings): PreparedPlugin {
  const given = settings.config === undefined ? definition : { ...definition, config: settings.config };
  // Real ms for the factory (the host's limit); the hooks' limits run on the simulated clock.
  return prepareDefinition(given, 0, { hookTimeoutMs: settings.hookTimeoutMs, retry: RETRY });
}

/** One call of a hook, held by the kit until the path says how it ends. */
interface Call {
  hook: StepHook;
  ctx: PluginContext;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** The real hook's result, once the kit has called it. */
  result: Promise<unknown> | null;
}

type Outcome = { kind: 'done' } | { kind: 'failed'; error: unknown } | { kind: 'pending' };

async function walk(definition: PluginDefinition, settings: Settings, name: string, events: readonly ModelEventType[]): Promise<PathReport> {
  const report: PathReport = { name, calls: { init: 0, start: 0, stop: 0, dispose: 0 }, logs: [] };
  const logger = recordingLogger(report.logs, {});
  const clock = new SimulatedClock();
  const platform = new PluginPlatform({ logger });
  const runtimes = new PluginRuntimes(logger, clock, platform);
  const plugin = prepare(definition, settings);
  // A hook slower than the plugin's own time limit times out in a host: the kit does not wait longer.
  const hookLimitMs = Math.min(settings.hookLimitMs, plugin.hookTimeoutMs);
  const overLimit = (hook: StepHook) =>
    hookLimitMs < settings.hookLimitMs ? `${hook} did not settle within the plugin's hookTimeoutMs (${hookLimitMs} ms)` : `${hook} did not settle within ${hookLimitMs} ms (hookLimitMs)`;
  const token: WalkToken = { plugin: plugin.name, path: name };
  /** Runs `fn` as the plugin's code. */
  /** Runs `fn` as the plugin's code, as `hook`'s when given (what it opens is named after it). */
  const asPlugin = <T>(fn: () => T, hook?: string): T => pluginCode.run(token, hook === undefined ? fn : () => hookCode.run(hook, fn));
  const label = `plugin '${plugin.name}', path ${name}`;
  for (const service of settings.services) {
    platform.services.scope({ name: service.provider, dependencies: [], canProvide: true }).provide(service.ref, asTest(service.impl));
  }
  for (const hook of settings.hostHooks) platform.hooks.define(hook.name, { mode: hook.mode as 'collect' });
  runtimes.register(plugin);
  const dependency = plugin.requires[0] ?? 'dependency';
  const actor = createActor(provideLifecycle(runtimes), {
    clock,
    input: { name: plugin.name, key: plugin.key, hookTimeoutMs: HOOK_TIMEOUT_MS, retry: RETRY },
  });
  const faults: unknown[] = [];
  actor.subscribe({ error: (error) => faults.push(error) });

  const calls = new Map<StepHook, Call>();
  let lenient = false;
  /** Why the path cannot happen to this plugin, once the walk found out. */
  let skipped: string | null = null;
  let real: PluginHooks | null = null;
  const gate = (hook: StepHook) => (ctx: PluginContext) => {
    return new Promise<void>((resolve, reject) => calls.set(hook, { hook, ctx, resolve, reject, result: null }));
  };
  const begin = (call: Call): Promise<unknown> => {
    if (call.result) return call.result;
    const fn = real?.[call.hook];
    if (typeof fn === 'function') report.calls[call.hook] += 1;
    try {
      // As the engine: a required hook that is no longer a function fails; a missing dispose is done.
      if (typeof fn !== 'function' && call.hook !== 'dispose') throw new Error(`the ${call.hook} hook is no longer a function (it was when the plugin was validated)`);
      call.result = Promise.resolve(typeof fn === 'function' ? asPlugin(() => fn.call(real, call.ctx), call.hook) : undefined);
    } catch (error) {
      call.result = Promise.reject(error);
    }
    call.result.catch(() => undefined); // a rejection is read through outcome(); never unhandled
    return call.result;
  };
  const send = (event: LifecycleEvent) => actor.send(event);
  const state = () => stateToPath(actor.getSnapshot().value);
  const diverged = (message: string, cause?: unknown) =>
    new PluginFactoryError('LIFECYCLE_PATH_DIVERGED', `${label}: ${message}${standInHint(cause)}`, { plugin: plugin.name, cause });

  /** The call the chart has made of `hook`; a hook waits for an abandoned one before it is called. */
  const callOf = async (hook: StepHook, step: string): Promise<Call> => {
    const found = await until(() => calls.get(hook), lenient ? LENIENT_MS : settings.abortGraceMs);
    if (found) {
      calls.delete(hook);
      return found;
    }
    throw new PluginFactoryError(
      'HOOK_IGNORED_ABORT',
      `${label}: at ${step}, ${hook} was not called within ${settings.abortGraceMs} ms: an earlier hook whose signal was aborted has not settled`,
      { plugin: plugin.name, hook },
    );
  };
  /**
   * A hook over the kit's limit is given up on as the engine gives up on a hook: its time runs out
   * and ctx.signal is aborted, so that it stops what it is doing rather than open something after
   * the path has ended.
   */
  const giveUp = async (call: Call) => {
    // Its abort listeners run as that hook's code: what they open is its.
    asPlugin(() => clock.increment(HOOK_TIMEOUT_MS), call.hook);
    await outcomeWithin(begin(call), settings.abortGraceMs);
  };
  /** The real hook runs; the path expects it to succeed. Once the path has failed (`lenient`), it may not. */
  const succeed = async (call: Call, step: string) => {
    const outcome = await outcomeWithin(begin(call), lenient ? LENIENT_MS : hookLimitMs);
    if (outcome.kind === 'done') return call.resolve();
    if (outcome.kind === 'pending') await giveUp(call);
    call.reject(outcome.kind === 'failed' ? outcome.error : injected(call.hook));
    if (lenient) return;
    if (outcome.kind === 'failed') throw diverged(`at ${step}, ${call.hook} failed: ${describeThrown(outcome.error)}`, outcome.error);
    throw diverged(`at ${step}, ${overLimit(call.hook)}`);
  };
  /**
   * A timeout or a cancel (`act`) reaches a hook only while it is under way. One that settles
   * without waiting for the event loop (a sync hook, or one that awaits only what is already
   * there) is done before any timer or command could come: for this plugin the path cannot
   * happen, and it ends here, skipped. One that waits for the event loop (a timer, I/O) is
   * interrupted while it waits, before any timer or I/O callback has run: the same verdict on
   * every run, however fast the I/O.
   */
  const interrupt = async (call: Call, step: string, act: () => void) => {
    let settled = false;
    const result = begin(call);
    void result.then(() => (settled = true), () => (settled = true));
    await untilLoopTurn();
    if (settled) {
      skipped = `at ${step}, ${call.hook} had already settled: a ${step.includes('TIMEOUT') ? 'timeout' : 'cancel'} cannot reach it`;
      return result.then(call.resolve, call.reject);
    }
    act();
    return abandoned(call, step);
  };
  /** The hook's signal was just aborted (timeout or cancel): it must settle soon. */
  const abandoned = async (call: Call, step: string) => {
    const outcome = await outcomeWithin(begin(call), lenient ? LENIENT_MS : settings.abortGraceMs);
    // What the engine sees of it: the call it abandoned settles, so the next hook may run.
    if (outcome.kind === 'done') return call.resolve();
    if (outcome.kind === 'failed') return call.reject(outcome.error);
    // Given up on: the engine would let the next hook run after a hook timeout; so does the clean-up.
    call.reject(injected(call.hook));
    throw new PluginFactoryError(
      'HOOK_IGNORED_ABORT',
      `${label}: at ${step}, ${call.hook} did not settle within ${settings.abortGraceMs} ms of its ctx.signal being aborted`,
      { plugin: plugin.name, hook: call.hook },
    );
  };

  const drive = async (event: ModelEventType, step: string) => {
    switch (event) {
      case 'VALID': {
        // A factory gets the engine's limit (the plugin's hook timeout), as with a real host.
        await until(() => (state() === 'validating' ? undefined : true), plugin.hookTimeoutMs + settings.hookLimitMs);
        const snapshot = actor.getSnapshot();
        if (state() !== 'created') {
          const error = snapshot.context.error;
          if (error) throw new PluginFactoryError(error.code, `path ${name}: ${error.message}`, { plugin: plugin.name, cause: error.cause });
          throw diverged(`validation did not settle within ${plugin.hookTimeoutMs + settings.hookLimitMs} ms`);
        }
        // The kit holds every hook call; the real ones run when the path says.
        real = plugin.hooks;
        // A factory's hooks are known only now: without a dispose, no dispose can fail or time out.
        if (typeof real?.dispose !== 'function' && events.some((e) => DISPOSE_FAULTS.includes(e))) {
          skipped = `the module has no dispose hook (its factory returned none): a dispose cannot fail or time out`;
        }
        const held: Record<string, unknown> = {};
        for (const hook of STEP_HOOKS) held[hook] = gate(hook);
        const health = real?.health;
        if (typeof health === 'function') held['health'] = (ctx: PluginContext) => asPlugin(() => health.call(real, ctx), 'health');
        plugin.hooks = held as unknown as PluginHooks;
        return;
      }
      case 'INIT': return send({ type: 'plugin.init' });
      case 'START': return send({ type: 'plugin.start', waitingFor: [] });
      case 'START_WAITING': return send({ type: 'plugin.start', waitingFor: [dependency] });
      case 'DEP_READY': return send({ type: 'plugin.dependency.ready', dependency });
      case 'DEP_FAILED': return send({ type: 'plugin.dependency.failed', dependency });
      case 'DEPS_RESTORED': return send({ type: 'plugin.dependencies.restored' });
      case 'RETRY': return send({ type: 'plugin.retry' });
      case 'RESET': return send({ type: 'plugin.reset' });
      case 'DISPOSE': return send({ type: 'plugin.dispose' });
      case 'BACKOFF_ELAPSED': return clock.increment(RETRY.maxBackoffMs);
      case 'STOP': {
        // A stop while init or start runs cancels it: the real hook is under way when it comes.
        const current = state();
        const hook = current === 'initializing' ? 'init' : current === 'starting.hook' ? 'start' : null;
        if (!hook) return send({ type: 'plugin.stop' });
        return interrupt(await callOf(hook, step), step, () => asPlugin(() => send({ type: 'plugin.stop' }), hook));
      }
      case 'INIT_OK': return succeed(await callOf('init', step), step);
      case 'START_OK': return succeed(await callOf('start', step), step);
      case 'STOP_OK': return succeed(await callOf('stop', step), step);
      case 'DISPOSE_OK': return succeed(await callOf('dispose', step), step);
      case 'INIT_FAIL':
      case 'START_FAIL': {
        // As if the hook failed at once (its dependency refused): the real one does not run.
        const call = await callOf(event === 'INIT_FAIL' ? 'init' : 'start', step);
        return call.reject(injected(call.hook));
      }
      case 'STOP_FAIL':
      case 'DISPOSE_FAIL': {
        // As if it failed at its very end: the real one runs (and releases what it releases).
        const call = await callOf(event === 'STOP_FAIL' ? 'stop' : 'dispose', step);
        const outcome = await outcomeWithin(begin(call), hookLimitMs);
        if (outcome.kind === 'pending') {
          await giveUp(call);
          call.reject(injected(call.hook));
          throw diverged(`at ${step}, ${overLimit(call.hook)}`);
        }
        return call.reject(outcome.kind === 'failed' ? outcome.error : injected(call.hook));
      }
      case 'INIT_TIMEOUT':
      case 'START_TIMEOUT':
      case 'STOP_TIMEOUT':
      case 'DISPOSE_TIMEOUT': {
        // The real hook is under way when its time runs out.
        const hook = ({ INIT_TIMEOUT: 'init', START_TIMEOUT: 'start', STOP_TIMEOUT: 'stop', DISPOSE_TIMEOUT: 'dispose' } as const)[event];
        // Its abort listeners run as the plugin's code: what they open is the plugin's.
        return interrupt(await callOf(hook, step), step, () => asPlugin(() => clock.increment(HOOK_TIMEOUT_MS), hook));
      }
      default:
        throw diverged(`the kit cannot drive ${event}`);
    }
  };

  // Made last before the walk, whose every way out ends it.
  const watch = settings.checkHandles ? new HandleWatch(token) : null;
  try {
    // Validation: a factory module is called here, bounded in real time (the engine's default), not
    // on the simulated clock, which would never let a hanging factory time out.
    asPlugin(() => void loadModule(plugin, { clock: REAL_CLOCK, signal: new AbortController().signal }).catch(() => undefined), 'its factory');
    asPlugin(() => actor.start());

    let model: ModelSnapshot = getInitialSnapshot(lifecycleModel);
    for (const [index, event] of events.entries()) {
      const step = `step ${index + 1} (${event})`;
      model = getNextSnapshot(lifecycleModel, model, { type: event } as ModelEvent);
      await drive(event, step);
      await settle();
      if (skipped !== null) break;
      const expected = stateToPath(model.value);
      const snapshot = actor.getSnapshot();
      const actual = stateToPath(snapshot.value);
      await settings.onStep?.({ event, state: actual, expected, attempts: snapshot.context.attempts, error: snapshot.context.error ?? null });
      if (!sameState(actual, expected)) {
        const error = snapshot.context.error;
        const why = error ? ` (${error.code}: ${error.message})` : '';
        throw diverged(`after ${step} the chart is in '${actual}', the path expects '${expected}'${why}`, error);
      }
    }
    await teardown();
    if (faults.length > 0) throw diverged(`the lifecycle actor failed: ${describeThrown(faults[0])}`, faults[0]);
  } catch (error) {
    // The path failed: the plugin is still stopped and disposed as well as it can be, so that
    // what it holds (module state, handles) does not fail the next path too.
    lenient = true;
    await teardown().catch(() => undefined);
    watch?.stop(); // what it left open is closed, unread: the error says what failed first
    // What the plugin threw may quote its config: scrubbed of its secrets, as the engine's are.
    throw scrubError(error, runtimes.redactorFor(plugin.name));
  } finally {
    actor.stop();
    runtimes.cancelAll();
  }
  if (skipped !== null) report.skipped = skipped;
  if (watch) {
    const leaked = await watch.leaked(settings.abortGraceMs);
    if (leaked.length > 0) {
      throw new PluginFactoryError(
        'HANDLE_LEAKED',
        `${label}: still open after the plugin was stopped and disposed: ${leaked.join(', ')}`,
        { plugin: plugin.name },
      );
    }
  }
  return report;

  /** Finishes, stops and disposes the plugin from wherever the path left it; its hooks must succeed. */
  async function teardown(): Promise<void> {
    for (let round = 0; round < 6; round++) {
      const current = state();
      if (current === 'disposed' || current === 'invalid') return;
      const step = `teardown from '${current}'`;
      // A hook under way is let finish: the last hook of a path runs for real too.
      if (current === 'initializing') {
        await succeed(await callOf('init', step), step);
      } else if (current === 'starting.hook') {
        await succeed(await callOf('start', step), step);
      } else if (current === 'starting.waitingForDependencies') {
        await drive('STOP', step);
      } else if (current.startsWith('running')) {
        send({ type: 'plugin.stop' });
        await succeed(await callOf('stop', step), step);
      } else if (current === 'stopping') {
        await succeed(await callOf('stop', step), step);
      } else if (current === 'disposing') {
        await succeed(await callOf('dispose', step), step);
      } else {
        send({ type: 'plugin.dispose' });
        await settle();
        if (state() === 'disposing') await succeed(await callOf('dispose', step), step);
      }
      await settle();
    }
    throw diverged(`teardown did not reach 'disposed' (the chart is in '${state()}')`);
  }
}

/** `running.healthy` and `running.degraded` are both the model's `running` (health is not walked). */
function sameState(actual: string, expected: string): boolean {
  if (actual === expected) return true;
  return actual.startsWith('running') && expected.startsWith('running');
}


/** A stand-in whose methods run as the test's code, not the plugin's: what they open is the test's. */
function asTest<T>(impl: T): T {
  if ((typeof impl !== 'object' && typeof impl !== 'function') || impl === null) return impl;
  return methodProxy(impl as T & object, { invoke: (call) => pluginCode.exit(call), self: 'impl' });
}

function injected(hook: HookName): Error {
  return new Error(`${hook} failed (a failure injected by the lifecycle path)`);
}

/** Lets the chart and the runtime take every step that is due (microtasks and immediates). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Polls `probe` on immediates, then on short timers, until it answers or `ms` pass. */
async function until<T>(probe: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (let i = 0; ; i++) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() >= end) return undefined;
    await new Promise<void>((resolve) => (i < 20 ? setImmediate(resolve) : setTimeout(resolve, 5)));
  }
}

async function outcomeWithin(result: Promise<unknown>, ms: number): Promise<Outcome> {
  let outcome: Outcome = { kind: 'pending' };
  void result.then(
    () => (outcome = { kind: 'done' }),
    (error: unknown) => (outcome = { kind: 'failed', error }),
  );
  await until(() => (outcome.kind === 'pending' ? undefined : true), ms);
  return outcome;
}

/**
 * Kinds of async resource that hold the process open (or a file) until closed. Requests in flight
 * end by themselves (below); lazily made singletons (the DNS channel) are the runtime's, not the plugin's.
 */
const HANDLE_KINDS = new Set([
  'Timeout', 'Immediate', 'TCPSERVERWRAP', 'TCPWRAP', 'PIPESERVERWRAP', 'PIPEWRAP', 'UDPWRAP', 'PROCESSWRAP',
  'FSEVENTWRAP', 'STATWATCHER', 'SIGNALWRAP', 'TTYWRAP', 'FILEHANDLE', 'WORKER', 'MESSAGEPORT',
]);

/**
 * Requests in flight (file system, DNS, crypto, a socket's connect or write): each ends by itself,
 * but what its callback or the code awaiting it opens next is the plugin's too, however late.
 */
const REQUEST_KINDS = new Set([
  'FSREQCALLBACK', 'FSREQPROMISE', 'FILEHANDLECLOSEREQ', 'GETADDRINFOREQWRAP', 'GETNAMEINFOREQWRAP', 'QUERYWRAP',
  'PBKDF2REQUEST', 'RANDOMBYTESREQUEST', 'SCRYPTREQUEST', 'KEYGENREQUEST', 'HKDFREQUEST', 'SIGNREQUEST',
  'VERIFYREQUEST', 'HASHREQUEST', 'CIPHERREQUEST', 'DERIVEBITSREQUEST', 'CHECKPRIMEREQUEST', 'RANDOMPRIMEREQUEST',
  'CONNECTWRAP', 'WRITEWRAP', 'SHUTDOWNWRAP',
]);

/** How long a stopped watch goes on closing what the plugin's requests still in flight open. */
const DRAIN_LIMIT_MS = 60_000;

/**
 * Whether a timer counts: an unref'd one-shot (such as the one behind `AbortSignal.timeout`) keeps
 * nothing open and ends by itself; an interval runs code for good, unref'd or not.
 */
function holdsOpen(timer: object): boolean {
  const t = timer as { hasRef?: () => boolean; _repeat?: unknown };
  return typeof t.hasRef !== 'function' || t.hasRef() || t._repeat != null;
}

/** Whose code runs: the plugin, and the path that ran it (a timer it set keeps it, however late it fires). */
interface WalkToken {
  readonly plugin: string;
  readonly path: string;
}

/** Which code runs as the plugin: what its hooks (and their callbacks, however late) open is its. */
const pluginCode = new AsyncLocalStorage<WalkToken>();

/** Which of the plugin's hooks runs (and its callbacks, however late): where a leaked handle was opened. */
const hookCode = new AsyncLocalStorage<string>();

/**
 * The plugin and path whose code is running now, if any: what an exception nobody caught, or a
 * rejection nobody handled, came from (Node reports both in the async context they arose in).
 * @internal for the `test` command
 */
export function walkRunningNow(): WalkToken | undefined {
  return pluginCode.getStore();
}

/**
 * Rounds of process.nextTick `untilLoopTurn` waits: each runs every promise job queued meanwhile,
 * so only work that hops through nextTick again and again (some streams do) needs more than one.
 */
const QUEUE_ROUNDS = 64;

/**
 * Resolves once the promise jobs and nextTick callbacks queued now, and those they queue, have
 * run (up to QUEUE_ROUNDS hops between the two), and before any timer, I/O or setImmediate
 * callback can: Node runs neither until both queues are empty.
 */
async function untilLoopTurn(): Promise<void> {
  for (let round = 0; round < QUEUE_ROUNDS; round++) await new Promise<void>((resolve) => process.nextTick(resolve));
}

/** The handles the plugin's code opened and has not closed, by async id. */
class HandleWatch {
  private readonly open = new Map<number, { kind: string; resource: object; hook: string | undefined }>();
  /** The plugin's requests in flight, by async id. */
  private readonly requests = new Set<number>();
  private readonly hook: AsyncHook;
  /** Stopped while requests were in flight: what they lead to opening is closed as it opens. */
  private draining: { limit: NodeJS.Timeout } | null = null;

  constructor(readonly token: object) {
    this.hook = createHook({
      init: (id, kind, trigger, resource) => {
        // A connection a server of the plugin accepted is made outside any async context (by
        // the server's native callback): it is the plugin's as its server is.
        if (pluginCode.getStore() !== token && !this.acceptedBy(trigger, kind)) return;
        if (REQUEST_KINDS.has(kind)) this.requests.add(id);
        else if (!HANDLE_KINDS.has(kind)) return;
        // Closed once the code that opens it has made it whole (its owner is set after this).
        else if (this.draining) pluginCode.exit(() => setImmediate(() => release(kind, resource)));
        // An accepted connection was opened where its server was.
        else this.open.set(id, { kind, resource, hook: hookCode.getStore() ?? this.open.get(trigger)?.hook });
      },
      destroy: (id) => {
        this.open.delete(id);
        if (this.requests.delete(id) && this.requests.size === 0 && this.draining) this.endDrain();
      },
    }).enable();
  }

  /** Whether `trigger` is a server the plugin opened, and `kind` a connection it accepts. */
  private acceptedBy(trigger: number, kind: string): boolean {
    const server = this.open.get(trigger)?.kind;
    return (server === 'TCPSERVERWRAP' && kind === 'TCPWRAP') || (server === 'PIPESERVERWRAP' && kind === 'PIPEWRAP');
  }

  /**
   * What is still open, waiting up to `ms` for closes under way and for requests in flight (what
   * they lead to opening counts too). Only what counts is waited for: an unref'd one-shot timer
   * (the one behind `AbortSignal.timeout`) would hold every path for the whole wait. What is
   * found is then closed (see `stop`).
   */
  async leaked(ms: number): Promise<string[]> {
    const end = Date.now() + ms;
    while ((this.counted().length > 0 || this.requests.size > 0) && Date.now() < end) await new Promise<void>((resolve) => setTimeout(resolve, 10));
    const counts = new Map<string, number>();
    for (const { kind, hook } of this.counted()) {
      const what = hook === undefined ? kind : `${kind} opened in ${hook}`;
      counts.set(what, (counts.get(what) ?? 0) + 1);
    }
    // A file watched again with fs.watchFile after an earlier path leaked it: Node hands out the
    // watcher the kit stopped then, with no new handle, and only its listeners tell.
    for (const watcher of stoppedStatWatchers) {
      if (watcher.listenerCount('change') === 0) continue;
      counts.set('STATWATCHER', (counts.get('STATWATCHER') ?? 0) + 1);
      watcher.removeAllListeners('change');
    }
    this.stop();
    return [...counts].map(([kind, count]) => `${kind} ×${count}`);
  }

  /** The handles still open that count as held. */
  private counted(): Array<{ kind: string; resource: object; hook: string | undefined }> {
    return [...this.open.values()].filter(({ kind, resource }) =>
      kind === 'Timeout' ? holdsOpen(resource) : kind === 'Immediate' ? !(resource as { _destroyed?: boolean })._destroyed : true,
    );
  }

  /**
   * Ends the watch and closes what the plugin left open, so that a leak fails its own path only:
   * an interval left running would throw into later tests, a server left listening would make
   * the next path's listen fail with `EADDRINUSE`.
   */
  stop(): void {
    for (const { kind, resource } of this.counted()) release(kind, resource);
    this.open.clear();
    if (this.draining) return;
    // A hook given up on may still be awaiting a request, and open a server once it is done: the
    // watch goes on closing what the plugin opens until its requests are over (or for a minute),
    // so that it does not make the next path fail (EADDRINUSE).
    if (this.requests.size > 0) this.draining = { limit: setTimeout(() => this.endDrain(), DRAIN_LIMIT_MS).unref() };
    else this.hook.disable();
  }

  private endDrain(): void {
    if (this.draining) clearTimeout(this.draining.limit);
    this.draining = null;
    this.requests.clear();
    this.hook.disable();
  }
}

/** What closes a handle, tried in this order on its owner: a socket is destroyed, a worker stopped … */
const CLOSERS = ['destroy', 'terminate', 'kill', 'stopThread', 'close', 'stop'] as const;

/**
 * Closes a handle through the object that owns it (the `net.Server` of a `TCPSERVERWRAP`, the
 * `ChildProcess` of a `PROCESSWRAP` …), or itself (a timer, a message port): closing the bare
 * handle under an owner would leave the owner believing it is open. A signal listener or a TTY
 * is left as it is (closing it would let the signal kill the process); it was reported all the same.
 */
function release(kind: string, resource: object): void {
  if (kind === 'SIGNALWRAP' || kind === 'TTYWRAP') return;
  // A setImmediate that schedules itself again: the one pending ends the loop.
  if (kind === 'Immediate') return clearImmediate(resource as NodeJS.Immediate);
  const ownerKey = Object.getOwnPropertySymbols(resource).find((symbol) => symbol.description === 'owner_symbol');
  const owner = (ownerKey === undefined ? resource : (resource as Record<symbol, unknown>)[ownerKey]) ?? resource;
  if (typeof owner !== 'object') return;
  if (kind === 'STATWATCHER') forgetListeners(owner);
  const methods = owner as Record<string, unknown>;
  const closer = CLOSERS.find((name) => typeof methods[name] === 'function');
  if (closer === undefined) return;
  try {
    const result = (methods[closer] as () => unknown).call(owner);
    if (result instanceof Promise) result.catch(() => undefined);
  } catch {
    // Closed already, or half-closed by the plugin: nothing left to release.
  }
  if (kind === 'PROCESSWRAP' && closer === 'kill') killForGood(owner as ChildProcess);
}

/**
 * The fs.watchFile watchers the kit stopped. Node keeps one per file in a map of its own and
 * hands it out again to the next fs.watchFile of that file, with no new handle: a later path
 * that leaks it again is seen by the listeners it adds.
 */
const stoppedStatWatchers = new Set<EventEmitter>();

/** The listeners of a leaked fs.watchFile watcher go (the watcher itself is stopped as other handles are). */
function forgetListeners(watcher: object): void {
  if (!(watcher instanceof EventEmitter)) return;
  watcher.removeAllListeners('change');
  stoppedStatWatchers.add(watcher);
}

/** Ms a child process has to end once sent SIGTERM before it gets SIGKILL. */
const KILL_GRACE_MS = 1000;

/** A child process that ignores SIGTERM (a shell trapping it) is killed with SIGKILL once the grace is over. */
function killForGood(child: ChildProcess): void {
  if (typeof child.once !== 'function') return;
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, KILL_GRACE_MS);
  child.once('exit', () => clearTimeout(timer));
}

function recordingLogger(logs: PathReport['logs'], bindings: LogFields): Logger {
  const at =
    (level: string) =>
    (first: string | LogFields, second?: string): void => {
      const fields = typeof first === 'string' ? { ...bindings } : { ...bindings, ...first };
      logs.push({ level, message: typeof first === 'string' ? first : (second ?? ''), fields });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(logs, { ...bindings, ...more }),
  };
}
