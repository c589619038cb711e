/**
 * The options of `createPluginManager`: their type, their checks (each bad value is an
 * `OPTIONS_INVALID` naming it) and their defaults; and the guards that keep a throwing logger or
 * inspection observer from taking the host down.
 */
import type { z } from 'zod';
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { InspectionEvent, Observer } from 'xstate';
import { DEFAULT_RETRY } from '../machines/plugin-lifecycle.ts';
import type { RetryPolicy } from '../machines/plugin-lifecycle.ts';
import type { Clock } from '../machines/plugin-manager.ts';
import type { FailurePolicy } from '../machines/plugin-registry.ts';
import type { PluginDefinition } from './definition.ts';
import { PluginFactoryError, callGuarded, describeThrown } from './errors.ts';
import type { Logger } from './logger.ts';
import { HealthDefaultsSpec, MAX_TIMER_MS, MAX_UNHEALTHY_THRESHOLD, RetrySpec } from './manifest.ts';
import { definedOnly, isOptionsObject, quote, unknownOptions } from './platform/_utils.ts';
import { knownKeysAt, unknownKeyList } from './unknown-keys.ts';
import { DEFAULT_HOOK_TIMEOUT_MS } from './prepare.ts';
import type { HostDefaults } from './prepare.ts';
import { DEFAULT_HEALTH } from './runtime.ts';
import type { HealthDefaults } from './runtime.ts';

/** Every field optional, an explicit `undefined` taken as left out (a value from an unset environment variable, say). */
export type OptionalFields<T> = { [K in keyof T]?: T[K] | undefined };

/** What `createPluginManager` takes; a field given as `undefined` is left out. */
export interface PluginManagerOptions {
  /** In-memory plugin definitions: `{ manifest, module, config? }`. */
  plugins?: PluginDefinition[] | undefined;
  /** Timeout of each hook unless a manifest sets its own. @default 5000 */
  hookTimeoutMs?: number | undefined;
  /** Retry policy of failed init/start hooks unless a manifest sets its own. @default { retries: 0, backoffMs: 100, factor: 2, maxBackoffMs: 5000 } */
  retry?: OptionalFields<RetryPolicy> | undefined;
  /** `isolate`: a failed plugin takes down only its dependents; `abort`: stop everything. @default 'isolate' */
  failurePolicy?: FailurePolicy | undefined;
  /** Any pino-compatible logger. @default pino at level 'info' on stderr */
  logger?: Logger | undefined;
  /** An XState inspection observer (e.g. `@statelyai/inspect`'s `inspector.inspect`). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /** A clock for the actors' timers (tests use XState's `SimulatedClock`). */
  clock?: Clock | undefined;
  /** Folder of `ctx.store` files (one JSON file per plugin). @default in memory, gone with the process */
  dataDir?: string | undefined;
  /** Health polling of plugins with a `health` hook, unless their manifest sets its own. @default { intervalMs: 10000, timeoutMs: 5000, unhealthyThreshold: 3 } */
  health?: OptionalFields<HealthDefaults> | undefined;
}

export function optionsError(message: string): PluginFactoryError {
  return new PluginFactoryError('OPTIONS_INVALID', `createPluginManager: ${message}`);
}

/**
 * The nearest existing part of `path` when it is not a folder (a file where a folder must be),
 * or null: the path is a folder, or can be made one.
 */
export function fileInTheWay(path: string): string | null {
  for (let current = path; ; current = dirname(current)) {
    try {
      return statSync(current).isDirectory() ? null : current;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Not there yet (or under a file): look at its parent. Anything else is the store's to report.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(current) === current) return null;
    }
  }
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['plugins', 'hookTimeoutMs', 'retry', 'failurePolicy', 'logger', 'inspect', 'clock', 'dataDir', 'health']);

/** The options as checked: each read once, so a getter cannot hand over something else later. */
export interface ReadOptions extends HostDefaults {
  policy: FailurePolicy;
  health: HealthDefaults;
  plugins: PluginDefinition[];
  logger: Logger | undefined;
  inspect: PluginManagerOptions['inspect'];
  clock: Clock | undefined;
  dataDir: string | undefined;
}

/** OPTIONS_INVALID for an options block (`retry`, `health`) its spec refused: the fields out of range, the keys it does not take, and what it takes. */
function refusedBlock(block: string, error: z.ZodError, takes: string, spec: z.ZodType): PluginFactoryError {
  const unknown = error.issues.flatMap((issue) => (issue.code === 'unrecognized_keys' ? issue.keys : []));
  const fields = [...new Set(error.issues.filter((issue) => issue.code !== 'unrecognized_keys').map((issue) => issue.path.map(String).join('.')))];
  const problems = [
    ...(fields.length > 0 ? [`${fields.map((field) => (field === '' ? block : `${block}.${field}`)).join(', ')} invalid`] : []),
    ...(unknown.length > 0 ? [`${block} has unknown field${unknown.length === 1 ? '' : 's'} ${unknownKeyList(unknown, knownKeysAt(spec, []), quote)}`] : []),
  ];
  return optionsError(`${problems.join('; ')}; ${block} takes ${takes}`);
}

export function readDefaults(options: PluginManagerOptions): ReadOptions {
  if (!isOptionsObject(options)) throw optionsError('options must be an object');
  const unknown = unknownOptions(options, OPTION_KEYS);
  if (unknown) throw optionsError(unknown);
  const { hookTimeoutMs = DEFAULT_HOOK_TIMEOUT_MS, retry = {}, failurePolicy = 'isolate', plugins, logger, inspect, clock, dataDir, health: healthOption } = options;
  if (!Number.isInteger(hookTimeoutMs) || hookTimeoutMs <= 0) {
    throw optionsError('hookTimeoutMs must be a positive integer');
  }
  if (failurePolicy !== 'isolate' && failurePolicy !== 'abort') {
    throw optionsError("failurePolicy must be 'isolate' or 'abort'");
  }
  // Checked as a manifest's retry is: a number of the right range, or left out (null, '150' or
  // Infinity would otherwise turn the back-off off or into nonsense without a word).
  const checked = RetrySpec.safeParse(retry);
  if (!checked.success) {
    throw refusedBlock('retry', checked.error, `retries (integer 0–1000), backoffMs (0–${MAX_TIMER_MS}), factor (1–1000) and maxBackoffMs (0–${MAX_TIMER_MS}), as numbers`, RetrySpec);
  }
  const given = definedOnly(checked.data);
  const merged: RetryPolicy = { ...DEFAULT_RETRY, ...given };
  if (plugins !== undefined && !Array.isArray(plugins)) throw optionsError('plugins must be an array');
  if (hookTimeoutMs > MAX_TIMER_MS || merged.backoffMs > MAX_TIMER_MS || merged.maxBackoffMs > MAX_TIMER_MS) {
    throw optionsError(`hookTimeoutMs, backoffMs and maxBackoffMs must be at most ${MAX_TIMER_MS} ms`);
  }
  const fn = (value: unknown, key: string) => typeof (value as Record<string, unknown>)[key] === 'function';
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || !['debug', 'info', 'warn', 'error', 'child'].every((k) => fn(logger, k)))) {
    throw optionsError('logger must be pino-compatible: debug, info, warn, error and child functions');
  }
  if (inspect !== undefined && typeof inspect !== 'function' && (typeof inspect !== 'object' || inspect === null || !fn(inspect, 'next'))) {
    throw optionsError('inspect must be a function or an observer with next()');
  }
  if (clock !== undefined && (typeof clock !== 'object' || clock === null || !fn(clock, 'setTimeout') || !fn(clock, 'clearTimeout'))) {
    throw optionsError('clock must have setTimeout and clearTimeout (e.g. XState\'s SimulatedClock)');
  }
  if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir.trim() === '' || dataDir.includes('\0'))) {
    throw optionsError('dataDir must be a non-empty path (without NUL characters)');
  }
  const blocked = dataDir === undefined ? null : fileInTheWay(resolve(dataDir));
  if (blocked !== null) throw optionsError(`dataDir: ${blocked} is not a folder, so no store can be written under it; give a folder path`);
  // Checked as a host file's health block is. Left out: the defaults; null is refused, as for
  // every other option.
  const checkedHealth = HealthDefaultsSpec.safeParse(healthOption === undefined ? {} : healthOption);
  if (!checkedHealth.success) {
    throw refusedBlock('health', checkedHealth.error, `intervalMs and timeoutMs (integers 1–${MAX_TIMER_MS}, ms) and unhealthyThreshold (integer 1–${MAX_UNHEALTHY_THRESHOLD}), as an object`, HealthDefaultsSpec);
  }
  const health = { ...DEFAULT_HEALTH, ...definedOnly(checkedHealth.data) };
  return { hookTimeoutMs, retry: merged, policy: failurePolicy, health, plugins: [...(plugins ?? [])], logger, inspect, clock, dataDir };
}

/** A logger whose failures are swallowed: logging never breaks the host. */
export function guardLogger(logger: Logger): Logger {
  const guard =
    (method: 'debug' | 'info' | 'warn' | 'error'): Logger['debug'] =>
    ((...args: unknown[]) => {
      try {
        (logger[method] as (...a: unknown[]) => void)(...args);
      } catch {
        // a broken logger loses the line, nothing else
      }
    }) as Logger['debug'];
  return {
    debug: guard('debug'),
    info: guard('info'),
    warn: guard('warn'),
    error: guard('error'),
    child(bindings) {
      try {
        return guardLogger(logger.child(bindings));
      } catch {
        return guardLogger(logger);
      }
    },
  };
}

/**
 * An inspection observer whose failures are reported once (their text through `scrub`: it may
 * quote what the events carry) and otherwise ignored.
 */
export function guardInspector(inspect: NonNullable<PluginManagerOptions['inspect']>, logger: Logger, scrub: (text: string) => string = (text) => text) {
  let reported = false;
  const next = typeof inspect === 'function' ? inspect : (event: InspectionEvent) => inspect.next?.(event);
  const failed = (error: unknown) => {
    if (!reported) logger.error({ error: scrub(describeThrown(error)) }, 'the inspect observer threw; its further errors are ignored');
    reported = true;
  };
  return (event: InspectionEvent) => callGuarded(next, event, failed);
}

