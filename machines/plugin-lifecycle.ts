/**
 * The lifecycle statechart every plugin actor is spawned from.
 *
 * The seed contract is kept exactly: created → init → initialized → start → running → stop →
 * stopped, stopped → start → running and stopped → init → initialized. Around it the chart adds
 * what a production host needs: validation, hooks that run under a timeout,
 * cancellation, failure with retry and backoff, blocking on a failed dependency, and disposal.
 *
 * The chart performs no I/O. Its side effects are named slots that the runtime fills with
 * `pluginLifecycle.provide(...)`:
 * - action `runValidate`, entered in `validating`: checks the plugin and answers with
 *   `validate.done` or `validate.failed`;
 * - action `runHook` (params: the hook), entered in every hook state: runs the hook under
 *   `hookTimeoutMs` and answers with `hook.done`, `hook.failed` or `hook.timeout`;
 * - action `cancelHook`, on leaving a hook state: clears the timeout, and a hook still running
 *   (abandoned by a timeout or a cancelling `plugin.stop`) gets its `ctx.signal` aborted and is
 *   never answered for;
 * - actions `enterService` / `leaveService`, on entering and leaving `running`: the runtime
 *   starts and stops the plugin's health checks and ends what it registered for its service
 *   (subscriptions, services, host-hook implementations); health checks answer with
 *   `health.healthy`, `health.degraded` or `health.unhealthy`;
 * - delay `retryBackoff` (read from context).
 * The hook is a fire-and-answer action, not an invoked actor: one plugin's hook costs one
 * event, where an invoked promise actor plus an `after` timer cost a child actor, a scheduled
 * event and their cancellation (3× the time per plugin at 10,000 plugins; see bench/).
 * The defaults below answer at once, so the chart runs as it is in any XState tool.
 */
import { assign, setup } from 'xstate';
import type { AnyStateNode, SnapshotFrom, StateValue } from 'xstate';
import { toErrorInfo } from './error-info.ts';
import type { ErrorInfo, HookName } from './error-info.ts';

/** One health check as the chart records it (plain JSON). */
export interface HealthRecord {
  status: 'healthy' | 'degraded' | 'unhealthy';
  components?: Record<string, { status: 'healthy' | 'degraded' | 'unhealthy'; message?: string }>;
  message?: string;
  error?: ErrorInfo;
  checkedAt: number;
  durationMs: number;
}

/** How a failed `init` or `start` is tried again. Total calls = 1 + retries. */
export interface RetryPolicy {
  retries: number;
  backoffMs: number;
  factor: number;
  maxBackoffMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({ retries: 0, backoffMs: 100, factor: 2, maxBackoffMs: 5000 });

export interface LifecycleInput {
  name: string;
  /** Which implementation the runtime runs for this actor's hooks (defaults to `name`; a reload gets a new key). */
  key?: string;
  hookTimeoutMs: number;
  retry: RetryPolicy;
  /** Where the plugin's settings live (e.g. `plugins/db/plugin.json`), named in hints. */
  source?: string;
}

/** Where a cancelled start or a restored dependency returns the plugin to. */
export type RestingState = 'created' | 'initialized' | 'stopped';

export interface HookTimings {
  initMs?: number;
  startMs?: number;
  stopMs?: number;
  disposeMs?: number;
}

export interface LifecycleContext {
  name: string;
  key: string;
  hookTimeoutMs: number;
  retry: RetryPolicy;
  source: string | undefined;
  /** Calls of the current hook so far (1 on a first-try success). */
  attempts: number;
  /** The hook running now, or the one that failed. */
  hook: HookName | null;
  error: ErrorInfo | null;
  /** Every reason validation failed (empty unless the plugin is invalid). */
  errors: ErrorInfo[];
  /** Required dependencies a `starting` plugin still waits for. */
  waitingFor: string[];
  resumeTo: RestingState;
  timings: HookTimings;
  /** The last health check while `running` (null before the first, and outside `running`). */
  health: HealthRecord | null;
}

/** The `runHook` action's params: which hook to run. */
export interface HookParams {
  hook: Exclude<HookName, 'health'>;
}

/** What the runtime answers a hook or validation with (see the `runHook` slot). */
export type HookAnswer =
  | { type: 'hook.done'; ms: number }
  | { type: 'hook.failed'; error: unknown }
  /** `waitingForPrevious`: the hook was never called, waiting for an abandoned call (of that hook) to settle. */
  | { type: 'hook.timeout'; waitingForPrevious?: HookName; inBeforeListeners?: boolean }
  | { type: 'validate.done' }
  | { type: 'validate.failed'; error: unknown }
  | { type: 'health.healthy' | 'health.degraded' | 'health.unhealthy'; report: HealthRecord };

export type LifecycleEvent =
  | HookAnswer
  | { type: 'plugin.init' }
  | { type: 'plugin.start'; waitingFor?: string[] }
  | { type: 'plugin.stop' }
  | { type: 'plugin.retry' }
  | { type: 'plugin.reset' }
  | { type: 'plugin.dispose' }
  | { type: 'plugin.dependency.ready'; dependency: string }
  | { type: 'plugin.dependency.failed'; dependency: string; code?: 'DEPENDENCY_FAILED' | 'MISSING_DEPENDENCY' }
  | { type: 'plugin.dependencies.restored' };

/** Lifecycle command events, as the API names them. */
export type LifecycleCommand = Exclude<LifecycleEvent, HookAnswer>['type'];

/** Backoff before retry number `attempts` (1-based): backoffMs · factor^(attempts−1), capped. */
export function backoffDelay(retry: RetryPolicy, attempts: number): number {
  const raw = retry.backoffMs * Math.pow(retry.factor, Math.max(0, attempts - 1));
  return Math.min(retry.maxBackoffMs, raw);
}

/** The state each hook runs in, named in timeout messages. */
const HOOK_STATES: Record<HookName, string> = {
  init: 'initializing',
  start: 'starting',
  stop: 'stopping',
  dispose: 'disposing',
  health: 'running',
};

function timeoutError(context: LifecycleContext, state: string, waitingForPrevious?: HookName, inBeforeListeners = false): ErrorInfo {
  const hook = context.hook ?? 'init';
  if (inBeforeListeners) {
    // The host's own listeners took the time: the plugin's hook was never called.
    return {
      code: 'HOOK_TIMEOUT',
      hook,
      message:
        `plugin '${context.name}': ${hook} hook was not called within ${context.hookTimeoutMs} ms (state ${state}): ` +
        `the host's before-listeners (onBeforeHook) had not finished, and they count against the hook's time; make them finish sooner`,
      cause: `the before-listeners of ${hook} had not finished`,
    };
  }
  const where = context.source ?? `the manifest of '${context.name}'`;
  if (waitingForPrevious) {
    // Two calls of one plugin never overlap: this one waited for an abandoned call that never
    // settled, maybe of an earlier version of the plugin (a reload does not end it).
    const previous = waitingForPrevious;
    return {
      code: 'HOOK_TIMEOUT',
      hook,
      message:
        `plugin '${context.name}': ${hook} hook was not called within ${context.hookTimeoutMs} ms (state ${state}): ` +
        `an abandoned ${previous} call of the plugin (this version or an earlier one) has not settled, and no hook of it runs until it does; ` +
        `make ${previous} settle when ctx.signal aborts`,
      cause: `an abandoned ${previous} call has not settled`,
    };
  }
  return {
    code: 'HOOK_TIMEOUT',
    hook,
    message:
      `plugin '${context.name}': ${hook} hook did not finish within ${context.hookTimeoutMs} ms ` +
      `(state ${state}); raise hookTimeoutMs in ${where} or make ${hook} resolve`,
  };
}

const TIMING_KEYS = ['initMs', 'startMs', 'stopMs', 'disposeMs'] as const;

/**
 * The timings with one hook's duration replaced. Built key by key in one order, so that every
 * plugin's timings share one object shape (a spread with a computed key makes a new shape per
 * object, about 200 bytes each at 10,000 plugins).
 */
function withTiming(timings: HookTimings, key: keyof HookTimings, ms: number): HookTimings {
  const next: HookTimings = {};
  for (const name of TIMING_KEYS) {
    const value = name === key ? ms : timings[name];
    if (value !== undefined) next[name] = value;
  }
  return next;
}

function initialContext(input: LifecycleInput): LifecycleContext {
  return {
    name: input.name,
    key: input.key ?? input.name,
    hookTimeoutMs: input.hookTimeoutMs,
    retry: input.retry,
    source: input.source,
    attempts: 0,
    hook: null,
    error: null,
    errors: [],
    waitingFor: [],
    resumeTo: 'created',
    timings: {},
    health: null,
  };
}

function validationErrors(error: unknown): ErrorInfo[] {
  const list = (error as { errors?: unknown } | null)?.errors;
  if (Array.isArray(list) && list.length > 0) return list.map((e) => toErrorInfo(e, 'CONTRACT_INVALID'));
  return [toErrorInfo(error, 'CONTRACT_INVALID')];
}

export const pluginLifecycle = setup({
  types: {
    context: {} as LifecycleContext,
    input: {} as LifecycleInput,
    events: {} as LifecycleEvent,
  },
  delays: {
    retryBackoff: ({ context }) => backoffDelay(context.retry, context.attempts),
  },
  guards: {
    canRetry: ({ context }) =>
      (context.hook === 'init' || context.hook === 'start') && context.attempts <= context.retry.retries,
    failedInInit: ({ context }) => context.hook === 'init',
    failedInStart: ({ context }) => context.hook === 'start',
    dependenciesReady: ({ context }) => context.waitingFor.length === 0,
    resumesInitialized: ({ context }) => context.resumeTo === 'initialized',
    resumesStopped: ({ context }) => context.resumeTo === 'stopped',
  },
  actions: {
    // Slots (see the header): the defaults answer at once.
    runValidate: ({ self }) => self.send({ type: 'validate.done' }),
    runHook: ({ self }, _params: HookParams) => self.send({ type: 'hook.done', ms: 0 }),
    cancelHook: () => undefined,
    enterService: () => undefined,
    leaveService: () => undefined,
    clearHealth: assign(() => ({ health: null })),
    recordHealth: assign(({ event }) => ({
      health: 'report' in event && event.type.startsWith('health.') ? event.report : null,
    })),
    /** A new command: a fresh attempt count and no stale error. */
    beginCommand: assign(() => ({ attempts: 0, error: null })),
    /** plugin.init: a new command, remembering where a cancel returns to. */
    beginInitCommand: assign((_, params: { resumeTo: RestingState }) => ({ attempts: 0, error: null, resumeTo: params.resumeTo })),
    /** plugin.start: a new command, remembering where a cancel returns to and what it waits for. */
    beginStartCommand: assign(({ event }, params: { resumeTo: RestingState }) => ({
      attempts: 0,
      error: null,
      resumeTo: params.resumeTo,
      waitingFor: event.type === 'plugin.start' ? [...(event.waitingFor ?? [])] : [],
    })),
    beginInit: assign(({ context }) => ({ hook: 'init' as const, attempts: context.attempts + 1 })),
    beginStart: assign(({ context }) => ({ hook: 'start' as const, attempts: context.attempts + 1 })),
    /** plugin.stop: a new command with its one call (a failed stop is not retried). */
    beginStop: assign(() => ({ hook: 'stop' as const, attempts: 1, error: null })),
    beginDispose: assign(() => ({ hook: 'dispose' as const })),
    hookSucceeded: assign(({ context, event }) => ({
      error: null,
      timings: withTiming(context.timings, `${context.hook ?? 'init'}Ms` as keyof HookTimings, event.type === 'hook.done' ? event.ms : 0),
    })),
    hookFailed: assign(({ context, event }) => ({
      error: toErrorInfo(event.type === 'hook.failed' ? event.error : undefined, 'HOOK_FAILED', context.hook ?? undefined),
    })),
    hookTimedOut: assign(({ context, event }) => ({
      error:
        event.type === 'hook.timeout'
          ? timeoutError(context, HOOK_STATES[context.hook ?? 'init'], event.waitingForPrevious, event.inBeforeListeners === true)
          : timeoutError(context, HOOK_STATES[context.hook ?? 'init']),
    })),
    dependencyReady: assign(({ context, event }) => ({
      waitingFor:
        event.type === 'plugin.dependency.ready'
          ? context.waitingFor.filter((name) => name !== event.dependency)
          : context.waitingFor,
    })),
    blockOnDependency: assign(({ context, event }) => {
      const dependency = event.type === 'plugin.dependency.failed' ? event.dependency : '?';
      const code = event.type === 'plugin.dependency.failed' ? (event.code ?? 'DEPENDENCY_FAILED') : 'DEPENDENCY_FAILED';
      // An unloaded dependency cannot come back into this host: the fix is on this plugin's side.
      const message =
        code === 'MISSING_DEPENDENCY'
          ? `plugin '${context.name}': required dependency '${dependency}' is not registered; ` +
            `reload '${context.name}' with a version that does not need it, or unload '${context.name}'`
          : `plugin '${context.name}': required dependency '${dependency}' is invalid or failed; ` +
            `fix or retry '${dependency}' and '${context.name}' comes back by itself`;
      const error: ErrorInfo = {
        code,
        message,
        plugins: [dependency],
      };
      return { error, hook: null, waitingFor: [] };
    }),
    clearFailure: assign(() => ({ error: null, hook: null, attempts: 0, waitingFor: [] })),
    /** A cancel: the failure an automatic retry was running for is over (attempts stay counted). */
    clearError: assign(() => ({ error: null })),
    recordInvalid: assign(({ event }) => {
      const errors = validationErrors(event.type === 'validate.failed' ? event.error : undefined);
      return { errors, error: errors[0] ?? null };
    }),
  },
}).createMachine({
  id: 'plugin',
  context: ({ input }) => initialContext(input),
  initial: 'validating',
  states: {
    validating: {
      description: 'Manifest, module contract and config are being checked.',
      entry: 'runValidate',
      on: {
        'validate.done': { target: 'created' },
        'validate.failed': { target: 'invalid', actions: 'recordInvalid' },
      },
    },
    invalid: {
      description: 'Validation failed; the module is dropped and the reasons stay visible.',
      type: 'final',
    },
    created: {
      description: 'Valid, not yet initialised.',
      on: {
        'plugin.init': { target: 'initializing', actions: { type: 'beginInitCommand', params: { resumeTo: 'created' } } },
        'plugin.dispose': { target: 'disposing' },
        'plugin.dependency.failed': {
          target: 'failed.blocked',
          actions: [assign(() => ({ resumeTo: 'created' as const })), 'blockOnDependency'],
        },
      },
    },
    initializing: {
      description: 'The init hook runs under a timeout; plugin.stop cancels it through its AbortSignal.',
      entry: ['beginInit', { type: 'runHook', params: { hook: 'init' } }],
      exit: 'cancelHook',
      on: {
        'hook.done': { target: 'initialized', actions: 'hookSucceeded' },
        'hook.failed': { target: 'failed', actions: 'hookFailed' },
        'hook.timeout': { target: 'failed', actions: 'hookTimedOut' },
        // A cancel: at rest again, with nothing failed (an automatic retry's last failure is over).
        'plugin.stop': { target: 'created', actions: 'clearError' },
      },
    },
    initialized: {
      description: 'init succeeded; ready to start.',
      on: {
        'plugin.start': {
          target: 'starting',
          actions: { type: 'beginStartCommand', params: { resumeTo: 'initialized' } },
        },
        'plugin.dispose': { target: 'disposing' },
        'plugin.dependency.failed': {
          target: 'failed.blocked',
          actions: [assign(() => ({ resumeTo: 'initialized' as const })), 'blockOnDependency'],
        },
      },
    },
    starting: {
      description: 'Waits for required dependencies to run, then runs the start hook under a timeout.',
      initial: 'waitingForDependencies',
      on: {
        'plugin.stop': [
          { guard: 'resumesStopped', target: 'stopped', actions: 'clearError' },
          { target: 'initialized', actions: 'clearError' },
        ],
      },
      states: {
        waitingForDependencies: {
          always: { guard: 'dependenciesReady', target: 'hook' },
          on: {
            'plugin.dependency.ready': { actions: 'dependencyReady' },
            'plugin.dependency.failed': { target: '#plugin.failed.blocked', actions: 'blockOnDependency' },
          },
        },
        hook: {
          entry: ['beginStart', { type: 'runHook', params: { hook: 'start' } }],
          exit: 'cancelHook',
          on: {
            'hook.done': { target: '#plugin.running', actions: 'hookSucceeded' },
            'hook.failed': { target: '#plugin.failed', actions: 'hookFailed' },
            'hook.timeout': { target: '#plugin.failed', actions: 'hookTimedOut' },
          },
        },
      },
    },
    running: {
      description:
        'start succeeded; the plugin is in service. Its health checks (when it has a health hook) move it ' +
        'between healthy, degraded and unhealthy; it starts out healthy.',
      entry: 'enterService',
      exit: ['leaveService', 'clearHealth'],
      initial: 'healthy',
      on: {
        'plugin.stop': { target: 'stopping' },
        'health.healthy': { target: '.healthy', actions: 'recordHealth' },
        'health.degraded': { target: '.degraded', actions: 'recordHealth' },
        'health.unhealthy': { target: '.unhealthy', actions: 'recordHealth' },
      },
      states: {
        healthy: {},
        degraded: { description: 'The last check said degraded: in service, with a problem.' },
        unhealthy: { description: 'The last check failed or said unhealthy; enough in a row can restart the plugin.' },
      },
    },
    stopping: {
      description: 'The stop hook runs under a timeout; a failure is reported and never blocks shutdown.',
      entry: ['beginStop', { type: 'runHook', params: { hook: 'stop' } }],
      exit: 'cancelHook',
      on: {
        'hook.done': { target: 'stopped', actions: 'hookSucceeded' },
        'hook.failed': { target: 'failed', actions: 'hookFailed' },
        'hook.timeout': { target: 'failed', actions: 'hookTimedOut' },
      },
    },
    stopped: {
      description: 'The seed STOPPED: start and init are allowed from here.',
      on: {
        'plugin.start': {
          target: 'starting',
          actions: { type: 'beginStartCommand', params: { resumeTo: 'stopped' } },
        },
        'plugin.init': { target: 'initializing', actions: { type: 'beginInitCommand', params: { resumeTo: 'created' } } },
        'plugin.dispose': { target: 'disposing' },
        'plugin.dependency.failed': {
          target: 'failed.blocked',
          actions: [assign(() => ({ resumeTo: 'stopped' as const })), 'blockOnDependency'],
        },
      },
    },
    failed: {
      description: 'A hook threw, rejected or timed out, or a required dependency failed.',
      initial: 'deciding',
      on: {
        'plugin.reset': { target: 'created', actions: 'clearFailure' },
        'plugin.dispose': { target: 'disposing' },
      },
      states: {
        deciding: {
          always: [{ guard: 'canRetry', target: 'retrying' }, { target: 'halted' }],
        },
        retrying: {
          description: 'Waiting out the backoff before the failed hook runs again.',
          after: {
            retryBackoff: [
              { guard: 'failedInInit', target: '#plugin.initializing' },
              { target: '#plugin.starting.hook' },
            ],
          },
          on: {
            'plugin.stop': { target: 'halted' },
            'plugin.dependency.failed': { target: 'blocked', actions: 'blockOnDependency' },
          },
        },
        halted: {
          description:
            'The retry budget is spent; stays failed until plugin.retry (a failed init or start) or plugin.reset. ' +
            'A failed stop is not retried: stop runs at most once per successful start.',
          on: {
            'plugin.retry': [
              { guard: 'failedInInit', target: '#plugin.initializing', actions: 'beginCommand' },
              { guard: 'failedInStart', target: '#plugin.starting.hook', actions: 'beginCommand' },
            ],
            // A retry asked for while a required dependency is dead: blocked on it instead, and
            // back (to where its last command began) once the dependency runs again.
            'plugin.dependency.failed': { target: 'blocked', actions: 'blockOnDependency' },
          },
        },
        blocked: {
          description: 'A required dependency is out of service (DEPENDENCY_FAILED or MISSING_DEPENDENCY).',
          on: {
            // The reason can change while blocked: a failed dependency that is then unloaded is missing.
            'plugin.dependency.failed': { actions: 'blockOnDependency' },
            'plugin.dependencies.restored': [
              { guard: 'resumesInitialized', target: '#plugin.initialized', actions: 'clearFailure' },
              { guard: 'resumesStopped', target: '#plugin.stopped', actions: 'clearFailure' },
              { target: '#plugin.created', actions: 'clearFailure' },
            ],
          },
        },
      },
    },
    disposing: {
      description: 'The optional dispose hook runs under a timeout; disposal completes whatever it does.',
      entry: ['beginDispose', { type: 'runHook', params: { hook: 'dispose' } }],
      exit: 'cancelHook',
      on: {
        'hook.done': { target: 'disposed', actions: 'hookSucceeded' },
        'hook.failed': { target: 'disposed', actions: 'hookFailed' },
        'hook.timeout': { target: 'disposed', actions: 'hookTimedOut' },
      },
    },
    disposed: {
      description: 'Unloaded; resources released.',
      type: 'final',
    },
  },
});

export type PluginLifecycleLogic = typeof pluginLifecycle;
export type PluginLifecycleSnapshot = SnapshotFrom<typeof pluginLifecycle>;

/** Top-level state names, as they appear in snapshots. */
export const LIFECYCLE_STATES = Object.freeze([
  'validating',
  'invalid',
  'created',
  'initializing',
  'initialized',
  'starting',
  'running',
  'stopping',
  'stopped',
  'failed',
  'disposing',
  'disposed',
] as const);
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];

/**
 * The lifecycle state as the engine and snapshots name it: the dotted path, except that the health
 * substates of `running` are all `running` (health is reported on its own).
 */
export function lifecyclePath(value: unknown): string {
  const path = stateToPath(value);
  return path.startsWith('running.') ? 'running' : path;
}

/** A state value as a dotted path: `running`, `failed.retrying`, `starting.waitingForDependencies`. */
export function stateToPath(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [key, child] = Object.entries(value)[0] ?? ['?', undefined];
    const rest = stateToPath(child);
    return rest ? `${key}.${rest}` : key;
  }
  return '';
}

/**
 * Hidden-class anchors, for V8. XState copies the context on every `assign` with
 * `Object.assign({}, context, update)`, which builds the copy key by key from the hidden class
 * of `{}`; it builds a compound state's value (`{ starting: 'hook' }`) the same way on every
 * step, and `withTiming` builds timings so. V8 links only about 1,500 first keys from that
 * class. A process that builds more objects with distinct first keys (thousands of manifests
 * whose `dependencies` name different plugins) fills it; from then on, a shape whose link is
 * missing (the garbage collector drops links no live object uses) gets a new hidden class for
 * every object built: each step allocates classes, and every read of a context or value goes
 * megamorphic. A 10,000-plugin boot took 1.7–1.9 times as long in a third to two thirds of the
 * runs without the context anchor, and about 10 % longer in every run without the value ones.
 * One live object of each shape, made when this module loads, keeps those links for good. For
 * the same reason the chart's `assign`s return object literals rather than take a property
 * map, which XState builds into an update key by key from `{}`.
 */
export const SHAPE_ANCHORS: readonly object[] = (() => {
  const input: LifecycleInput = { name: '', hookTimeoutMs: 0, retry: DEFAULT_RETRY };
  const anchors: object[] = [
    Object.assign({}, initialContext(input)),
    TIMING_KEYS.reduce<HookTimings>((timings, key) => withTiming(timings, key, 0), {}),
  ];
  // The value of every state inside a compound one: XState builds { running: 'healthy' } from `{}`.
  const valueOf = (path: string[]): StateValue => (path.length === 1 ? path[0]! : { [path[0]!]: valueOf(path.slice(1)) });
  const visit = (node: AnyStateNode) => {
    const children = Object.values(node.states) as AnyStateNode[];
    if (children.length === 0 && node.path.length > 1) {
      anchors.push(pluginLifecycle.resolveState({ value: valueOf(node.path), context: initialContext(input) }).value as object);
    }
    for (const child of children) visit(child);
  };
  visit(pluginLifecycle.root);
  return anchors;
})();
