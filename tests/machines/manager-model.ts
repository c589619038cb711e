/**
 * An event-only model of a manager running a small host:
 *
 *   config ← db ← api ⇠ metrics (optional)      metrics ← config
 *
 * Events are what an embedder does (boot, stop, runtime commands) plus `SETTLE`, "wait until
 * the host has finished what it was doing". The context holds the state each plugin must be in
 * once settled, so the test can compare the real host with it.
 */
import { assign, setup } from 'xstate';

export type Policy = 'isolate' | 'abort';
export type PluginName = 'config' | 'db' | 'api' | 'metrics';
export const PLUGIN_NAMES: PluginName[] = ['config', 'db', 'api', 'metrics'];

export type ManagerModelEvent =
  | { type: 'BOOT' }
  | { type: 'BOOT_DB_FAILS' }
  | { type: 'SETTLE' }
  | { type: 'STOP' }
  | { type: 'RESTART_CONFIG' }
  | { type: 'RESTART_DB_FAILS' }
  | { type: 'STOP_DB' }
  | { type: 'START_DB' }
  | { type: 'RETRY_DB' }
  | { type: 'RESET_DB' }
  | { type: 'RELOAD_DB' }
  | { type: 'RELOAD_DB_KEEP_STOPPED' }
  | { type: 'UNLOAD_API' };

export const MANAGER_MODEL_EVENTS: ManagerModelEvent[] = (
  ['BOOT', 'BOOT_DB_FAILS', 'SETTLE', 'STOP', 'RESTART_CONFIG', 'RESTART_DB_FAILS', 'STOP_DB', 'START_DB', 'RETRY_DB', 'RESET_DB', 'RELOAD_DB', 'RELOAD_DB_KEEP_STOPPED', 'UNLOAD_API'] as const
).map((type) => ({ type }));

/** Expected settled state of each plugin; `removed` once unloaded. */
export type Expected = Record<PluginName, string>;

export interface ManagerModelContext {
  policy: Policy;
  dbFails: boolean;
  plugins: Expected;
}

const all = (state: string): Expected => ({ config: state, db: state, api: state, metrics: state });

/** What a settled shutdown leaves: running plugins stopped, the rest as they were. */
function shutDown(plugins: Expected): Expected {
  const out = { ...plugins };
  for (const name of PLUGIN_NAMES) if (out[name] === 'running') out[name] = 'stopped';
  return out;
}

export const managerModel = setup({
  types: {
    context: {} as ManagerModelContext,
    events: {} as ManagerModelEvent,
    input: {} as { policy: Policy },
  },
  guards: {
    abortsOnFailure: ({ context }) => context.policy === 'abort' && context.dbFails,
    isolates: ({ context }) => context.policy === 'isolate',
    running: ({ context }, params: { name: PluginName }) => context.plugins[params.name] === 'running',
    dbStopped: ({ context }) => context.plugins.db === 'stopped',
    dbDown: ({ context }) => context.plugins.db === 'stopped' || context.plugins.db === 'created',
    dbHalted: ({ context }) => context.plugins.db === 'failed.halted',
    apiPresent: ({ context }) => context.plugins.api !== 'removed',
  },
  actions: {
    /** Sets the expected state of the plugins named (those unloaded stay removed). */
    expect: assign({
      plugins: ({ context }, params: Partial<Expected>) => {
        const next = { ...context.plugins };
        for (const [name, state] of Object.entries(params) as Array<[PluginName, string]>) {
          if (next[name] !== 'removed') next[name] = state;
        }
        return next;
      },
    }),
  },
}).createMachine({
  id: 'managerModel',
  context: ({ input }) => ({ policy: input.policy, dbFails: false, plugins: all('created') }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        BOOT: { target: 'booting', actions: assign({ dbFails: false }) },
        BOOT_DB_FAILS: { target: 'booting', actions: assign({ dbFails: true }) },
        // Stopped before boot: plugins validate, then rest in `created`.
        STOP: 'stopping',
      },
    },
    booting: {
      on: {
        SETTLE: [
          // abort: the failure of db shuts the host down; start() rejects once it is down.
          {
            guard: 'abortsOnFailure',
            target: 'stopped',
            actions: assign({
              plugins: () => ({ config: 'stopped', db: 'failed.halted', api: 'created', metrics: 'at-rest' }),
            }),
          },
          {
            target: 'running',
            actions: assign({
              plugins: ({ context }) =>
                context.dbFails
                  ? { config: 'running', db: 'failed.halted', api: 'failed.blocked', metrics: 'running' }
                  : all('running'),
            }),
          },
        ],
        // Stopped in the same tick as start(): nothing had validated yet, so nothing ran.
        STOP: 'stopping',
      },
    },
    running: {
      on: {
        STOP: 'stopping',
        RESTART_CONFIG: { guard: { type: 'running', params: { name: 'config' } } },
        RESTART_DB_FAILS: {
          guard: { type: 'running', params: { name: 'db' } },
          target: 'dbFailedAtRuntime',
          actions: assign({ dbFails: true }),
        },
        STOP_DB: {
          guard: { type: 'running', params: { name: 'db' } },
          actions: { type: 'expect', params: { db: 'stopped', api: 'stopped' } },
        },
        START_DB: {
          guard: 'dbDown',
          actions: { type: 'expect', params: { db: 'running', api: 'running' } },
        },
        RETRY_DB: {
          guard: 'dbHalted',
          actions: [assign({ dbFails: false }), { type: 'expect', params: { db: 'running', api: 'running' } }],
        },
        // Back to created, then boots like at start; what was blocked on it comes back.
        RESET_DB: {
          guard: 'dbHalted',
          actions: [assign({ dbFails: false }), { type: 'expect', params: { db: 'running', api: 'running' } }],
        },
        RELOAD_DB: {
          guard: { type: 'running', params: { name: 'db' } },
          actions: { type: 'expect', params: { db: 'running' } },
        },
        // Stopped by hand, it stays down through the reload (the new version is not started: it
        // rests in created), and so does what its stop took down.
        RELOAD_DB_KEEP_STOPPED: {
          guard: 'dbStopped',
          actions: { type: 'expect', params: { db: 'created', api: 'stopped' } },
        },
        UNLOAD_API: {
          guard: 'apiPresent',
          actions: { type: 'expect', params: { api: 'removed' } },
        },
      },
    },
    dbFailedAtRuntime: {
      // Under isolate the host keeps running; under abort it shuts down.
      always: [
        {
          guard: 'isolates',
          target: 'running',
          actions: assign({
            plugins: ({ context }) => ({
              ...context.plugins,
              db: 'failed.halted',
              api: context.plugins.api === 'removed' ? 'removed' : 'failed.blocked',
            }),
          }),
        },
        {
          target: 'stopped',
          actions: assign({
            plugins: ({ context }) => ({
              ...shutDown(context.plugins),
              db: 'failed.halted',
              api: context.plugins.api === 'removed' ? 'removed' : 'stopped',
            }),
          }),
        },
      ],
    },
    stopping: {
      on: { SETTLE: { target: 'stopped', actions: assign({ plugins: ({ context }) => shutDown(context.plugins) }) } },
    },
    stopped: { type: 'final' },
  },
});
