/**
 * An event-only model of the plugin lifecycle. It has no invokes and no timers, so xstate/graph
 * can walk it; each model event stands for one thing that can happen to a real lifecycle actor
 * (a command, a hook settling, a timer firing). The engine's own model-based tests and the test
 * kit plugin authors get (`plugin-factory/testing`) both drive the real chart with these events
 * and check that it is where the model says after every step.
 */
import { assign, setup } from 'xstate';

export const MODEL_RETRIES = 1;

export type ModelEvent =
  | { type: 'VALID' }
  | { type: 'INVALID' }
  | { type: 'INIT' }
  | { type: 'INIT_OK' }
  | { type: 'INIT_FAIL' }
  | { type: 'INIT_TIMEOUT' }
  | { type: 'START' }
  | { type: 'START_WAITING' }
  | { type: 'DEP_READY' }
  | { type: 'START_OK' }
  | { type: 'START_FAIL' }
  | { type: 'START_TIMEOUT' }
  | { type: 'STOP' }
  | { type: 'STOP_OK' }
  | { type: 'STOP_FAIL' }
  | { type: 'STOP_TIMEOUT' }
  | { type: 'BACKOFF_ELAPSED' }
  | { type: 'RETRY' }
  | { type: 'RESET' }
  | { type: 'DEP_FAILED' }
  | { type: 'DEPS_RESTORED' }
  | { type: 'DISPOSE' }
  | { type: 'DISPOSE_OK' }
  | { type: 'DISPOSE_FAIL' }
  | { type: 'DISPOSE_TIMEOUT' }
  | { type: 'HEALTHY' }
  | { type: 'DEGRADED' }
  | { type: 'UNHEALTHY' };

/** Every event of the model, once each (frozen: the kit walks with it). */
export const MODEL_EVENTS: readonly ModelEvent[] = Object.freeze(
  ([
    'VALID', 'INVALID', 'INIT', 'INIT_OK', 'INIT_FAIL', 'INIT_TIMEOUT', 'START', 'START_WAITING', 'DEP_READY',
    'START_OK', 'START_FAIL', 'START_TIMEOUT', 'STOP', 'STOP_OK', 'STOP_FAIL', 'STOP_TIMEOUT', 'BACKOFF_ELAPSED',
    'RETRY', 'RESET', 'DEP_FAILED', 'DEPS_RESTORED', 'DISPOSE', 'DISPOSE_OK', 'DISPOSE_FAIL', 'DISPOSE_TIMEOUT',
    'HEALTHY', 'DEGRADED', 'UNHEALTHY',
  ] as const).map((type) => Object.freeze({ type }) as ModelEvent),
);

type Hook = 'init' | 'start' | 'stop' | 'dispose' | null;
type Resting = 'created' | 'initialized' | 'stopped';
type Code = 'HOOK_FAILED' | 'HOOK_TIMEOUT' | 'DEPENDENCY_FAILED' | 'CONTRACT_INVALID' | null;

export interface ModelContext {
  attempts: number;
  hook: Hook;
  resumeTo: Resting;
  code: Code;
}

export const lifecycleModel = setup({
  types: { context: {} as ModelContext, events: {} as ModelEvent },
  guards: {
    canRetry: ({ context }) =>
      (context.hook === 'init' || context.hook === 'start') && context.attempts <= MODEL_RETRIES,
    hookInit: ({ context }) => context.hook === 'init',
    hookStart: ({ context }) => context.hook === 'start',
    resumeInitialized: ({ context }) => context.resumeTo === 'initialized',
    resumeStopped: ({ context }) => context.resumeTo === 'stopped',
  },
  actions: {
    command: assign({ attempts: 0, code: null }),
    enterInit: assign({ hook: 'init' as const, attempts: ({ context }) => context.attempts + 1 }),
    enterStart: assign({ hook: 'start' as const, attempts: ({ context }) => context.attempts + 1 }),
    enterStop: assign({ hook: 'stop' as const, attempts: 1 }),
    enterDispose: assign({ hook: 'dispose' as const }),
    succeed: assign({ code: null }),
    block: assign({ code: 'DEPENDENCY_FAILED' as const, hook: null }),
    clear: assign({ code: null, hook: null, attempts: 0 }),
    cancel: assign({ code: null }),
    fail: assign({ code: (_, params: { code: Code }) => params.code }),
  },
}).createMachine({
  id: 'model',
  context: { attempts: 0, hook: null, resumeTo: 'created', code: null },
  initial: 'validating',
  states: {
    validating: { on: { VALID: 'created', INVALID: { target: 'invalid', actions: { type: 'fail', params: { code: 'CONTRACT_INVALID' } } } } },
    invalid: { type: 'final' },
    created: {
      on: {
        INIT: { target: 'initializing', actions: ['command', assign({ resumeTo: 'created' })] },
        DISPOSE: 'disposing',
        DEP_FAILED: { target: 'failed.blocked', actions: [assign({ resumeTo: 'created' }), 'block'] },
      },
    },
    initializing: {
      entry: 'enterInit',
      on: {
        INIT_OK: { target: 'initialized', actions: 'succeed' },
        INIT_FAIL: { target: 'failed', actions: { type: 'fail', params: { code: 'HOOK_FAILED' } } },
        INIT_TIMEOUT: { target: 'failed', actions: { type: 'fail', params: { code: 'HOOK_TIMEOUT' } } },
        // A cancel: at rest, the failure a retry was running for over.
        STOP: { target: 'created', actions: 'cancel' },
      },
    },
    initialized: {
      on: {
        START: { target: 'starting.hook', actions: ['command', assign({ resumeTo: 'initialized' })] },
        START_WAITING: {
          target: 'starting.waitingForDependencies',
          actions: ['command', assign({ resumeTo: 'initialized' })],
        },
        DISPOSE: 'disposing',
        DEP_FAILED: { target: 'failed.blocked', actions: [assign({ resumeTo: 'initialized' }), 'block'] },
      },
    },
    starting: {
      initial: 'waitingForDependencies',
      on: { STOP: [{ guard: 'resumeStopped', target: 'stopped', actions: 'cancel' }, { target: 'initialized', actions: 'cancel' }] },
      states: {
        waitingForDependencies: {
          on: {
            DEP_READY: 'hook',
            DEP_FAILED: { target: '#model.failed.blocked', actions: 'block' },
          },
        },
        hook: {
          entry: 'enterStart',
          on: {
            START_OK: { target: '#model.running', actions: 'succeed' },
            START_FAIL: { target: '#model.failed', actions: { type: 'fail', params: { code: 'HOOK_FAILED' } } },
            START_TIMEOUT: { target: '#model.failed', actions: { type: 'fail', params: { code: 'HOOK_TIMEOUT' } } },
          },
        },
      },
    },
    running: {
      initial: 'healthy',
      on: {
        STOP: { target: 'stopping', actions: 'command' },
        HEALTHY: '.healthy',
        DEGRADED: '.degraded',
        UNHEALTHY: '.unhealthy',
      },
      states: { healthy: {}, degraded: {}, unhealthy: {} },
    },
    stopping: {
      entry: 'enterStop',
      on: {
        STOP_OK: { target: 'stopped', actions: 'succeed' },
        STOP_FAIL: { target: 'failed', actions: { type: 'fail', params: { code: 'HOOK_FAILED' } } },
        STOP_TIMEOUT: { target: 'failed', actions: { type: 'fail', params: { code: 'HOOK_TIMEOUT' } } },
      },
    },
    stopped: {
      on: {
        START: { target: 'starting.hook', actions: ['command', assign({ resumeTo: 'stopped' })] },
        START_WAITING: {
          target: 'starting.waitingForDependencies',
          actions: ['command', assign({ resumeTo: 'stopped' })],
        },
        INIT: { target: 'initializing', actions: ['command', assign({ resumeTo: 'created' })] },
        DISPOSE: 'disposing',
        DEP_FAILED: { target: 'failed.blocked', actions: [assign({ resumeTo: 'stopped' }), 'block'] },
      },
    },
    failed: {
      initial: 'deciding',
      on: { RESET: { target: 'created', actions: 'clear' }, DISPOSE: 'disposing' },
      states: {
        deciding: { always: [{ guard: 'canRetry', target: 'retrying' }, { target: 'halted' }] },
        retrying: {
          on: {
            BACKOFF_ELAPSED: [{ guard: 'hookInit', target: '#model.initializing' }, { target: '#model.starting.hook' }],
            STOP: 'halted',
            DEP_FAILED: { target: 'blocked', actions: 'block' },
          },
        },
        halted: {
          on: {
            RETRY: [
              { guard: 'hookInit', target: '#model.initializing', actions: 'command' },
              { guard: 'hookStart', target: '#model.starting.hook', actions: 'command' },
            ],
            DEP_FAILED: { target: 'blocked', actions: 'block' },
          },
        },
        blocked: {
          on: {
            DEP_FAILED: { actions: 'block' },
            DEPS_RESTORED: [
              { guard: 'resumeInitialized', target: '#model.initialized', actions: 'clear' },
              { guard: 'resumeStopped', target: '#model.stopped', actions: 'clear' },
              { target: '#model.created', actions: 'clear' },
            ],
          },
        },
      },
    },
    disposing: {
      entry: 'enterDispose',
      on: { DISPOSE_OK: 'disposed', DISPOSE_FAIL: 'disposed', DISPOSE_TIMEOUT: 'disposed' },
    },
    disposed: { type: 'final' },
  },
});
