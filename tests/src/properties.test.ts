/**
 * Property-based tests of the runtime behaviour users rely on (DESIGN.md, "Behaviour users rely
 * on"), driven through the public API only.
 *
 * A scenario is a random small dependency DAG (2–7 plugins, each needing up to 2 earlier ones,
 * some of the edges optional), async hooks with small random delays (0–3 ms), optional faults
 * (the k-th call of `start` rejects, the k-th call of `stop` rejects; some plugins retry once),
 * and 1–12 runtime commands on random plugins (start, stop, restart, reload with a fresh module of
 * the same manifest, with or without `keepStopped`, unload, retry, reset). The host boots, runs the commands one after the
 * other, then shuts down.
 *
 * Every scenario runs under the default `isolate` policy and, for the invariants that hold there
 * too, under `abort`.
 *
 * Invariants, each its own property (so that one engine bug does not hide the others), checked
 * after every command and continuously (inside the hooks and in a `subscribe` listener):
 *   dependencies  (1) a plugin is `running` only while every required dependency is `running`
 *                 (on every plugin.changed, from getSnapshot()).
 *   order         (1b) `init`/`start` run only while the required dependencies run; `stop` runs
 *                 only when no dependent (required or optional) is running or stopping.
 *   stopOnce      (2) `stop` is called at most once per successful `start` (per generation).
 *   overlap       (3) no two hooks of one plugin (across its generations) are in flight at once.
 *   recovery      (4b) once the commands have settled and the host is quiet, a plugin resting down
 *                 (created, initialized, stopped) while every dependency it has runs is one a
 *                 `stopPlugin` put there: what a command took down with a dependency came back.
 *   shutdown      (4) after `await manager.stop()` no plugin is running or mid-hook, and no timer
 *                 of the engine is left (after one setImmediate tick).
 *   contract      a command `can()` refuses rejects with INVALID_TRANSITION (PLUGIN_NOT_FOUND
 *                 for an unloaded name); an allowed one resolves or rejects with an error code a
 *                 faulty hook explains (HOOK_FAILED, HOOK_TIMEOUT, DEPENDENCY_FAILED; and
 *                 MISSING_DEPENDENCY when a required dependency has been unloaded).
 *   host          (5) no uncaughtException / unhandledRejection reached the process: checked in
 *                 every run of every property, and once more after the file.
 *
 * A failure throws with the violated invariant and the latest state changes and hook calls;
 * fast-check prints the shrunk scenario (plugins with their edges and faults, then the commands).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLUGIN_COMMANDS, createPluginManager, isPluginFactoryError, silentLogger } from '../../src/index.ts';
import type { ManifestInput, PluginCommand, PluginContext, PluginDefinition, PluginManager } from '../../src/index.ts';

// ── scenario ───────────────────────────────────────────────────────────────

interface PluginSpec {
  name: string;
  /** Required dependencies (earlier plugins). */
  requires: string[];
  /** Optional dependencies (earlier plugins). */
  optional: string[];
  /** The k-th call of `start` (per module instance) rejects; 0: never. */
  startFailsOn: number;
  /** The k-th call of `stop` (per module instance) rejects; 0: never. */
  stopFailsOn: number;
  /** retry.retries in the manifest (backoff 1 ms). */
  retries: number;
  /** Whether the module has a `dispose` hook. */
  dispose: boolean;
  /** Delays (ms) of successive hook calls, cycled. */
  delays: number[];
}

interface Step {
  cmd: PluginCommand;
  name: string;
  /** With overlapping commands: ms after the previous command was issued (not settled). */
  gap: number;
  /** A reload passes `{ keepStopped }` (a plugin stopped by hand stays down). */
  keep: boolean;
}

interface Scenario {
  plugins: PluginSpec[];
  steps: Step[];
}

const MAX_PLUGINS = 7;

/** 0 (no fault) three times in four, else the call (1–3) that fails; shrinks towards 0. */
const faultArb = fc.nat({ max: 11 }).map((n) => Math.max(0, n - 8));

const rawPluginArb = fc.record({
  deps: fc.array(fc.record({ to: fc.nat(), optional: fc.boolean() }), { maxLength: 2 }),
  startFailsOn: faultArb,
  stopFailsOn: faultArb,
  retries: fc.constantFrom(0, 1),
  dispose: fc.boolean(),
  delays: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
});

const nameOf = (index: number) => `p${index}`;

/** The longest pause between overlapping commands (ms); `FC_MAX_GAP=8` spreads them further apart. */
const MAX_GAP_MS = Number(process.env['FC_MAX_GAP'] ?? 3);

/**
 * fast-check shrinks the raw values (a fixed pool of 7 plugin specs of which the first `count`
 * are used; edges and command targets as naturals taken modulo, so every value is a valid DAG) and
 * prints the mapped scenario. Shrinking cannot renumber plugins, so a counterexample may keep a
 * few bystanders: plugins with no fault that no edge or command mentions.
 */
const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    count: fc.integer({ min: 2, max: MAX_PLUGINS }),
    pool: fc.array(rawPluginArb, { minLength: MAX_PLUGINS, maxLength: MAX_PLUGINS }),
    steps: fc.array(fc.record({ cmd: fc.constantFrom(...PLUGIN_COMMANDS), target: fc.nat(), gap: fc.integer({ min: 0, max: MAX_GAP_MS }), keep: fc.boolean() }), {
      minLength: 1,
      maxLength: 12,
    }),
  })
  .map(({ count, pool, steps }): Scenario => {
    const plugins = pool.slice(0, count).map((raw, index): PluginSpec => {
      const requires: string[] = [];
      const optional: string[] = [];
      if (index > 0) {
        for (const dep of raw.deps) {
          const name = nameOf(dep.to % index);
          if (requires.includes(name) || optional.includes(name)) continue;
          (dep.optional ? optional : requires).push(name);
        }
      }
      return {
        name: nameOf(index),
        requires,
        optional,
        startFailsOn: raw.startFailsOn,
        stopFailsOn: raw.stopFailsOn,
        retries: raw.retries,
        dispose: raw.dispose,
        delays: raw.delays,
      };
    });
    const scenario: Scenario = { plugins, steps: steps.map(({ cmd, target, gap, keep }) => ({ cmd, name: nameOf(target % count), gap, keep: cmd === 'reload' && keep })) };
    // What fast-check prints for a counterexample (the plain JSON is one JSON.stringify away).
    Object.defineProperty(scenario, fc.toStringMethod, { value: () => renderScenario(scenario) });
    return scenario;
  });

/** `p1 needs p0, optional p2 | start fails on call 1 | retries 1 | dispose | delays 0,3 ms`. */
function renderScenario(scenario: Scenario): string {
  const plugins = scenario.plugins.map((spec) => {
    const parts = [spec.name];
    if (spec.requires.length > 0) parts[0] += ` needs ${spec.requires.join(', ')}`;
    if (spec.optional.length > 0) parts[0] += `${spec.requires.length > 0 ? ',' : ''} optional ${spec.optional.join(', ')}`;
    if (spec.startFailsOn > 0) parts.push(`start fails on call ${spec.startFailsOn}`);
    if (spec.stopFailsOn > 0) parts.push(`stop fails on call ${spec.stopFailsOn}`);
    if (spec.retries > 0) parts.push(`retries ${spec.retries}`);
    if (spec.dispose) parts.push('dispose');
    parts.push(`delays ${spec.delays.join(',')} ms`);
    return `    ${parts.join(' | ')}`;
  });
  const steps = scenario.steps.map((step, index) => `    ${index + 1}. ${step.cmd} ${step.name}${step.keep ? ' keepStopped' : ''} (+${step.gap} ms when overlapping)`);
  return `\n  plugins:\n${plugins.join('\n')}\n  commands (after manager.start()):\n${steps.join('\n')}\n  then manager.stop()\n`;
}

// ── timers and host errors ─────────────────────────────────────────────────

/** Timers this file creates itself (hook delays, deadlines): not counted against the engine. */
const ownTimers = new Set<NodeJS.Timeout>();

function ownTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    ownTimers.delete(timer);
    fn();
  }, ms);
  ownTimers.add(timer);
  return timer;
}

function clearOwnTimeout(timer: NodeJS.Timeout): void {
  clearTimeout(timer);
  ownTimers.delete(timer);
}

const sleep = (ms: number) => new Promise<void>((resolve) => void ownTimeout(resolve, ms));
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const activeTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Waits (without a timer of its own) until the hook delays of earlier runs have fired. */
async function drainOwnTimers(): Promise<void> {
  const until = performance.now() + 1000;
  while (ownTimers.size > 0 && performance.now() < until) await tick();
}

const hostErrors: string[] = [];
const onUncaught = (error: unknown) => void hostErrors.push(`uncaughtException: ${String(error)}`);
const onUnhandled = (reason: unknown) => void hostErrors.push(`unhandledRejection: ${String(reason)}`);

beforeAll(async () => {
  // The test worker's own start-up timers are still pending when the first test begins; let them
  // run out so that they do not end up in the first run's timer baseline.
  await new Promise<void>((resolve) => setTimeout(resolve, 200));
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
});

afterAll(async () => {
  await tick();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);
  expect(hostErrors).toEqual([]);
});

// ── one run ────────────────────────────────────────────────────────────────

type Invariant = 'contract' | 'dependencies' | 'order' | 'stopOnce' | 'overlap' | 'recovery' | 'shutdown' | 'host';

type Outcome = { ok: true } | { ok: false; error: unknown };

const describeError = (error: unknown) =>
  isPluginFactoryError(error) ? `${error.code}: ${error.message}` : `non-PluginFactoryError ${String(error)}`;

/** Codes an allowed command may reject with when hooks are faulty. */
const FAULT_CODES = new Set(['HOOK_FAILED', 'HOOK_TIMEOUT', 'DEPENDENCY_FAILED']);
/**
 * And with overlapping commands: a later command undid this one (INVALID_TRANSITION), a
 * requirement was unloaded meanwhile (MISSING_DEPENDENCY), or a reload found its plugin unloaded
 * once its module had loaded (PLUGIN_NOT_FOUND).
 */
const OVERLAP_CODES = new Set(['INVALID_TRANSITION', 'MISSING_DEPENDENCY', 'PLUGIN_NOT_FOUND']);

const HOOK_TIMEOUT_MS = 200;
/** A command that has not settled after this long is hung, whatever else happens. */
const HARD_DEADLINE_MS = 3000;
/**
 * A command is also hung when nothing has moved (no state change, no hook running) for this long
 * while it is pending. Hooks here never take more than a few ms, so a healthy command never
 * pauses for longer than a retry backoff (1–2 ms); the checked invariant waits longer than a hook
 * timeout to be sure, the others give up sooner (they only need the host cleaned up).
 */
const QUIET_MS_CHECKED = HOOK_TIMEOUT_MS + 50;
const QUIET_MS_CLEANUP = 30;

/** Where a plugin rests when it is down and not failed. */
const RESTING_DOWN = new Set(['created', 'initialized', 'stopped']);

/** States no plugin may be in once `manager.stop()` has resolved. */
const BUSY_STATES = new Set([
  'running',
  'initializing',
  'starting.waitingForDependencies',
  'starting.hook',
  'stopping',
  'failed.retrying',
  'disposing',
]);

/**
 * Boots a host for `scenario`, runs its commands one by one (or, `overlapping`, each its gap after
 * the previous one was issued, without waiting for it), shuts it down, and throws on the first
 * command (or boot, or shutdown) during which an invariant in `enforce` was violated; the other
 * invariants are not reported.
 */
async function runScenario(
  scenario: Scenario,
  enforce: ReadonlySet<Invariant>,
  overlapping = false,
  failurePolicy: 'isolate' | 'abort' = 'isolate',
): Promise<void> {
  await drainOwnTimers();
  const baselineTimers = activeTimeouts() - ownTimers.size;
  const hostErrorsBefore = hostErrors.length;

  const specs = new Map(scenario.plugins.map((spec) => [spec.name, spec]));
  const dependents = new Map<string, string[]>(scenario.plugins.map((spec) => [spec.name, []]));
  for (const spec of scenario.plugins) {
    for (const dep of [...spec.requires, ...spec.optional]) dependents.get(dep)?.push(spec.name);
  }
  const requiredClosure = (name: string): Set<string> => {
    const out = new Set<string>();
    const stack = [name];
    while (stack.length > 0) {
      for (const dep of specs.get(stack.pop()!)?.requires ?? []) {
        if (out.has(dep)) continue;
        out.add(dep);
        stack.push(dep);
      }
    }
    return out;
  };

  const trace: string[] = [];
  const violations: string[] = [];
  const flag = (invariant: Invariant, message: string) => {
    if (!enforce.has(invariant)) return;
    violations.push(`[${invariant}] ${message}`);
    trace.push(`  !! [${invariant}] ${message}`);
  };
  const throwIfViolated = (where: string) => {
    if (violations.length === 0) return;
    const shown = [...new Set(violations)].slice(0, 4);
    throw new Error(`${where}:\n  ${shown.join('\n  ')}\n  trace (latest last):\n    ${trace.slice(-60).join('\n    ')}`);
  };

  let manager: PluginManager | undefined;
  const states = (): Map<string, string> =>
    new Map((manager?.getSnapshot().plugins ?? []).map((p) => [p.name, p.state] as const));
  const describeState = (state: string | undefined) => (state === undefined ? 'unloaded' : `'${state}'`);

  /** Invariant "dependencies": a plugin runs only while each required dependency runs. */
  const checkRunningOnRunning = (when: string) => {
    const now = states();
    for (const [name, state] of now) {
      if (state !== 'running') continue;
      for (const dep of specs.get(name)?.requires ?? []) {
        const depState = now.get(dep);
        if (depState !== 'running') {
          flag('dependencies', `${name} is running while its required dependency ${dep} is ${describeState(depState)} (${when})`);
        }
      }
    }
  };

  // Hook instrumentation: hooks in flight per plugin name (across generations), last activity.
  const inFlight = new Map<string, string[]>();
  let hooksInFlight = 0;
  let lastActivity = performance.now();
  const touch = () => void (lastActivity = performance.now());
  const generations = new Map<string, number>();

  const makeDefinition = (spec: PluginSpec): PluginDefinition => {
    const generation = (generations.get(spec.name) ?? 0) + 1;
    generations.set(spec.name, generation);
    const label = generation === 1 ? spec.name : `${spec.name}@${generation}`;
    let calls = 0;
    let startCalls = 0;
    let stopCalls = 0;
    /** A start resolved and no stop has been called since (a failed stop counts: it is not re-run). */
    let armed = false;

    const hook =
      (hookName: 'init' | 'start' | 'stop' | 'dispose') =>
      async (ctx: PluginContext): Promise<void> => {
        const id = `${label}.${hookName}`;
        const delay = spec.delays[calls++ % spec.delays.length] ?? 0;
        const busy = inFlight.get(spec.name) ?? [];
        if (busy.length > 0) flag('overlap', `${id} began while ${busy.join(', ')} still ran`);
        busy.push(id);
        inFlight.set(spec.name, busy);
        hooksInFlight++;
        touch();
        trace.push(`  ${id}() attempt ${ctx.attempt}, ${delay} ms`);

        const now = states();
        if (hookName === 'init' || hookName === 'start') {
          for (const dep of spec.requires) {
            const depState = now.get(dep);
            if (depState !== 'running') {
              flag('order', `${id} ran while its required dependency ${dep} was ${describeState(depState)}`);
            }
          }
        }
        if (hookName === 'stop') {
          for (const dependent of dependents.get(spec.name) ?? []) {
            const depState = now.get(dependent);
            if (depState === 'running' || depState === 'stopping') {
              flag('order', `${id} ran while its dependent ${dependent} was ${describeState(depState)}`);
            }
          }
          if (!armed) flag('stopOnce', `${id} was called with no successful start since the last stop`);
          armed = false;
        }

        try {
          await sleep(delay);
          if (hookName === 'start' && ++startCalls === spec.startFailsOn) {
            throw new Error(`${label}: injected start fault (call ${startCalls})`);
          }
          if (hookName === 'stop' && ++stopCalls === spec.stopFailsOn) {
            throw new Error(`${label}: injected stop fault (call ${stopCalls})`);
          }
          if (hookName === 'start') armed = true;
        } finally {
          busy.splice(busy.indexOf(id), 1);
          hooksInFlight--;
          touch();
        }
      };

    const manifest: ManifestInput = {
      name: spec.name,
      version: '1.0.0',
      dependencies: Object.fromEntries(spec.requires.map((dep) => [dep, '^1.0.0'])),
      optionalDependencies: Object.fromEntries(spec.optional.map((dep) => [dep, '^1.0.0'])),
      retry: { retries: spec.retries, backoffMs: 1 },
    };
    const module = {
      init: hook('init'),
      start: hook('start'),
      stop: hook('stop'),
      ...(spec.dispose ? { dispose: hook('dispose') } : {}),
    };
    return { manifest, module };
  };

  /** How `promise` settles, or 'hung' (see HARD_DEADLINE_MS and the quiet periods). */
  const settle = async (promise: Promise<unknown>, quietMs: number): Promise<Outcome | 'hung'> => {
    let outcome: Outcome | undefined;
    const settled = promise.then(
      () => void (outcome = { ok: true }),
      (error: unknown) => void (outcome = { ok: false, error }),
    );
    const since = performance.now();
    touch();
    while (outcome === undefined) {
      await Promise.race([settled, sleep(5)]);
      if (outcome !== undefined) break;
      const now = performance.now();
      if (now - since > HARD_DEADLINE_MS) return 'hung';
      if (hooksInFlight === 0 && now - lastActivity > quietMs) return 'hung';
    }
    return outcome;
  };
  const quietFor = (invariant: Invariant) => (enforce.has(invariant) ? QUIET_MS_CHECKED : QUIET_MS_CLEANUP);

  const issue = (m: PluginManager, step: Step): Promise<unknown> => {
    switch (step.cmd) {
      case 'start':
        return m.startPlugin(step.name);
      case 'stop':
        return m.stopPlugin(step.name);
      case 'restart':
        return m.restartPlugin(step.name);
      case 'reload':
        return m.reloadPlugin(step.name, makeDefinition(specs.get(step.name)!), { keepStopped: step.keep });
      case 'unload':
        return m.unloadPlugin(step.name);
      case 'retry':
        return m.retryPlugin(step.name);
      case 'reset':
        return m.resetPlugin(step.name);
    }
  };

  /** Plugins whose unloadPlugin resolved: none of them may ever show up again. */
  const unloaded = new Set<string>();
  /** Plugins a stopPlugin was accepted for and that have not run since. */
  const stoppedByHand = new Set<string>();

  let stopped = false;
  let stopHung = false;
  try {
    manager = createPluginManager({
      logger: silentLogger,
      hookTimeoutMs: HOOK_TIMEOUT_MS,
      failurePolicy,
      plugins: scenario.plugins.map(makeDefinition),
    });
    const m = manager;
    m.subscribe((change) => {
      touch();
      if (change.type === 'plugin.changed') {
        trace.push(`${change.name}: ${change.previous} -> ${change.state}`);
        if (unloaded.has(change.name)) flag('contract', `${change.name} became '${change.state}' after its unload resolved`);
        if (change.state === 'running') stoppedByHand.delete(change.name);
        checkRunningOnRunning(`when ${change.name} became '${change.state}'`);
      } else {
        trace.push(`manager: ${change.previous} -> ${change.state}`);
      }
    });

    trace.push('> manager.start()');
    const boot = await settle(m.start(), quietFor('contract'));
    if (boot === 'hung') flag('contract', 'manager.start() did not settle');
    else if (!boot.ok) flag('contract', `manager.start() rejected under failurePolicy isolate: ${describeError(boot.error)}`);
    if (boot === 'hung') return;
    checkRunningOnRunning('after boot');
    throwIfViolated('after manager.start()');

    /** Issues one command, noting in the trace what `can()` said of it. */
    const begin = (step: Step, what: string, before: Map<string, string>) => {
      const allowed = m.can(step.name, step.cmd);
      trace.push(`> ${what} (state ${describeState(before.get(step.name))}, can=${allowed})`);
      let promise: Promise<unknown>;
      try {
        promise = issue(m, step);
      } catch (error) {
        promise = Promise.reject(error);
        flag('contract', `${what} threw synchronously: ${describeError(error)}`);
      }
      return { allowed, present: before.has(step.name), settled: settle(promise, quietFor('contract')) };
    };
    /** A command can() refused must reject with INVALID_TRANSITION, or PLUGIN_NOT_FOUND once unloaded. */
    const checkRefused = (what: string, present: boolean, outcome: Outcome) => {
      const expected = present ? 'INVALID_TRANSITION' : 'PLUGIN_NOT_FOUND';
      if (outcome.ok) {
        flag('contract', `${what}: can() said false but the command resolved`);
      } else if (!isPluginFactoryError(outcome.error) || outcome.error.code !== expected) {
        flag('contract', `${what}: can() said false; expected ${expected}, got ${describeError(outcome.error)}`);
      }
    };

    if (overlapping) {
      const pending: Array<Promise<void>> = [];
      for (const [index, step] of scenario.steps.entries()) {
        if (index > 0) await sleep(step.gap);
        const what = `command ${index + 1}: ${step.cmd} ${step.name}`;
        const { allowed, present, settled } = begin(step, what, states());
        pending.push(
          settled.then((outcome) => {
            if (outcome === 'hung') return flag('contract', `${what} did not settle`);
            trace.push(`< ${what}: ${outcome.ok ? 'resolved' : `rejected ${describeError(outcome.error)}`}`);
            if (!allowed) {
              checkRefused(what, present, outcome);
            } else if (!outcome.ok) {
              // Besides faulty hooks: a later command may win over this one, or unload a requirement.
              const error = outcome.error;
              const acceptable = isPluginFactoryError(error) && (FAULT_CODES.has(error.code) || OVERLAP_CODES.has(error.code));
              if (!acceptable) flag('contract', `${what}: can() said true but it rejected with ${describeError(error)}`);
            } else if (step.cmd === 'unload') {
              if (states().has(step.name)) flag('contract', `${what} resolved with the plugin still registered`);
              unloaded.add(step.name);
            }
          }),
        );
      }
      await Promise.all(pending);
      checkRunningOnRunning('after the overlapping commands');
      throwIfViolated('after the overlapping commands');
    }

    for (const [index, step] of overlapping ? [] : scenario.steps.entries()) {
      const before = states();
      const byHand = stoppedByHand.has(step.name);
      const what = `step ${index + 1}: ${step.cmd} ${step.name}`;
      const { allowed, present, settled } = begin(step, what, before);
      const outcome = await settled;
      if (outcome === 'hung') {
        flag('contract', `${what} did not settle`);
        throwIfViolated(`during ${what}`);
        return;
      }
      trace.push(`< ${what}: ${outcome.ok ? 'resolved' : `rejected ${describeError(outcome.error)}`}`);

      if (!allowed) {
        checkRefused(what, present, outcome);
      } else if (!outcome.ok) {
        const error = outcome.error;
        // A required dependency (or one of its own) was unloaded: the plugin cannot run.
        const missing = [...requiredClosure(step.name)].some((dep) => !before.has(dep));
        const acceptable =
          isPluginFactoryError(error) && (FAULT_CODES.has(error.code) || (missing && error.code === 'MISSING_DEPENDENCY'));
        if (!acceptable) flag('contract', `${what}: can() said true but it rejected with ${describeError(error)}`);
      }
      // A keepStopped reload of a plugin resting down by hand leaves it down: no command started it.
      if (allowed && outcome.ok && step.cmd === 'reload' && step.keep && byHand && RESTING_DOWN.has(before.get(step.name) ?? '')) {
        const now = states().get(step.name);
        if (now === undefined || !RESTING_DOWN.has(now)) flag('recovery', `${what}: it was stopped by hand, yet the keepStopped reload left it '${now}'`);
      }
      if (allowed && step.cmd === 'stop') stoppedByHand.add(step.name);
      checkRunningOnRunning(`after ${what}`);
      throwIfViolated(`after ${what}`);
    }

    if (!overlapping && enforce.has('recovery')) {
      // Invariant "recovery": once the host is quiet, a plugin resting down (created, initialized,
      // stopped) while every dependency it has runs is one a stopPlugin put there; anything a
      // command only took down with a dependency came back.
      const until = performance.now() + 1000;
      while ((hooksInFlight > 0 || performance.now() - lastActivity < 20) && performance.now() < until) await sleep(5);
      const now = states();
      for (const [name, state] of now) {
        if (!RESTING_DOWN.has(state) || stoppedByHand.has(name)) continue;
        const spec = specs.get(name);
        // A stop of an optional dependency takes its dependents down too, and they rest with it
        // (failed or not) until it starts; an unloaded one lets them come back.
        const held = [...(spec?.requires ?? []), ...(spec?.optional ?? [])].some(
          (dep) => now.has(dep) && now.get(dep) !== 'running',
        ) || (spec?.requires ?? []).some((dep) => !now.has(dep));
        if (!held) flag('recovery', `${name} rests '${state}' with its dependencies up, and no stopPlugin put it there`);
      }
      throwIfViolated('once the commands had settled');
    }

    trace.push('> manager.stop()');
    const shutdown = await settle(m.stop(), quietFor('shutdown'));
    if (shutdown === 'hung') {
      stopHung = true;
      const left = m.getSnapshot().plugins.map((p) => `${p.name} '${p.state}'`);
      flag('shutdown', `manager.stop() did not settle (manager '${m.getSnapshot().state}'; ${left.join(', ')})`);
      throwIfViolated('during manager.stop()');
      return;
    }
    stopped = true;
    if (!shutdown.ok) flag('shutdown', `manager.stop() rejected: ${describeError(shutdown.error)}`);
    await tick();
    for (const plugin of m.getSnapshot().plugins) {
      if (BUSY_STATES.has(plugin.state)) flag('shutdown', `${plugin.name} is '${plugin.state}' after manager.stop()`);
    }
    const leftTimers = activeTimeouts() - ownTimers.size - baselineTimers;
    // Negative means a timer of the test worker that existed at the baseline has run out: not ours.
    if (leftTimers > 0) flag('shutdown', `${leftTimers} engine timer(s) left after manager.stop() and a setImmediate tick`);
    for (const error of hostErrors.slice(hostErrorsBefore)) flag('host', error);
    throwIfViolated('after manager.stop()');
  } finally {
    if (!stopped && manager) {
      // Whatever went wrong, leave nothing running for the next (shrinking) run.
      const m = manager;
      if (!stopHung) await settle(m.stop(), QUIET_MS_CLEANUP);
      m.actor.stop();
      const until = performance.now() + HOOK_TIMEOUT_MS;
      while (hooksInFlight > 0 && performance.now() < until) await tick();
    }
  }
}

// ── properties ─────────────────────────────────────────────────────────────

/**
 * 100 runs of each property take a few seconds. `FC_NUM_RUNS=2000` digs deeper and
 * `FC_MAX_GAP` (above) widens the overlaps; `FC_SEED=<seed> FC_PATH=<path>` replays a failure
 * exactly as fast-check reported it.
 */
const NUM_RUNS = Number(process.env['FC_NUM_RUNS'] ?? 100);
const replay: fc.Parameters<[Scenario]> =
  process.env['FC_SEED'] === undefined
    ? {}
    : { seed: Number(process.env['FC_SEED']), ...(process.env['FC_PATH'] ? { path: process.env['FC_PATH'] } : {}) };

/** One property per invariant, so that an engine bug in one does not hide the others. */
const check =
  (invariant: Invariant, failurePolicy: 'isolate' | 'abort' = 'isolate') =>
  async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, (scenario) => runScenario(scenario, new Set<Invariant>([invariant, 'host']), false, failurePolicy)),
      { numRuns: NUM_RUNS, ...replay },
    );
  };

/** Deeper runs (FC_NUM_RUNS) get time in proportion: a run of the slowest property takes about 60 ms. */
const TIMEOUT_MS = Math.max(120_000, NUM_RUNS * 120);

describe('runtime commands on random plugin graphs (fast-check)', () => {
  it('1. a plugin is running only while every required dependency is running', check('dependencies'), TIMEOUT_MS);

  it('1b. init/start run only while required dependencies run; stop only once dependents are down', check('order'), TIMEOUT_MS);

  it('2. stop is called at most once per successful start', check('stopOnce'), TIMEOUT_MS);

  it('3. no two hooks of one plugin overlap, across reloads', check('overlap'), TIMEOUT_MS);

  it('4. after manager.stop(): nothing running, no timer left', check('shutdown'), TIMEOUT_MS);

  it(
    '4b. once the commands settled, only a plugin stopped by hand rests down while its dependencies run',
    check('recovery'),
    TIMEOUT_MS,
  );

  it(
    'refused commands reject with INVALID_TRANSITION / PLUGIN_NOT_FOUND; allowed ones only fail as faulty hooks explain',
    check('contract'),
    TIMEOUT_MS,
  );

  it(
    'overlapping commands: every one settles, an unload is final, and every invariant above still holds',
    async () => {
      const all = new Set<Invariant>(['contract', 'dependencies', 'order', 'stopOnce', 'overlap', 'shutdown', 'host']);
      await fc.assert(
        fc.asyncProperty(scenarioArb, (scenario) => runScenario(scenario, all, true)),
        { numRuns: NUM_RUNS, ...replay },
      );
    },
    TIMEOUT_MS,
  );

  // 5. (host) is checked in every run of every property above, and once more after the file.
});

/**
 * The same scenarios under the `abort` policy: the first plugin failing for good takes the host
 * down, so boot may reject and commands may end with that failure (the contract and recovery
 * invariants are isolate's); ordering, stop-once, overlap and a clean shutdown still hold.
 */
describe('runtime commands on random plugin graphs, abort policy (fast-check)', () => {
  it('1. a plugin is running only while every required dependency is running', check('dependencies', 'abort'), TIMEOUT_MS);

  it('1b. init/start run only while required dependencies run; stop only once dependents are down', check('order', 'abort'), TIMEOUT_MS);

  it('2. stop is called at most once per successful start', check('stopOnce', 'abort'), TIMEOUT_MS);

  it('3. no two hooks of one plugin overlap, across reloads', check('overlap', 'abort'), TIMEOUT_MS);

  it('4. after manager.stop(): nothing running, no timer left', check('shutdown', 'abort'), TIMEOUT_MS);

  it(
    'overlapping commands: every invariant above still holds',
    async () => {
      const all = new Set<Invariant>(['dependencies', 'order', 'stopOnce', 'overlap', 'shutdown', 'host']);
      await fc.assert(
        fc.asyncProperty(scenarioArb, (scenario) => runScenario(scenario, all, true, 'abort')),
        { numRuns: NUM_RUNS, ...replay },
      );
    },
    TIMEOUT_MS,
  );
});
