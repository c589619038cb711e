/**
 * Logging: pino as the default host logger, and the child logger each plugin gets as
 * `ctx.logger`. Any pino-compatible logger works as the host logger (the `Logger` interface of
 * src/logger.ts: `debug/info/warn/error(fields?, message)` and `child(bindings)`).
 *
 * A plugin logger binds `plugin: <name>` once and adds `state: <current state>` to every line
 * (read at the moment of logging, so a line logged from a timer while stopping says `stopping`);
 * `state` is reserved: a field of that name given by the plugin is replaced. Every secret value
 * (see `secretValues` in src/config.ts) is replaced by `[redacted]` in the message, in field
 * values at any depth, in errors' messages and stacks, and in child bindings.
 */
import pino from 'pino';
import type { LogFields, Logger } from '../logger.ts';
import { argumentError, assertPluginName } from './_utils.ts';

/** What `createPinoLogger` returns: a full pino logger (it fits `Logger`). */
export type PinoLogger = pino.Logger;

/** pino options, plus where to write. */
export interface PinoLoggerOptions extends pino.LoggerOptions {
  /** Where lines go. @default stdout */
  destination?: pino.DestinationStream;
}

/**
 * The default host logger: pino, at level `info` unless told otherwise.
 * @example `createPluginManager({ logger: createPinoLogger({ level: 'debug' }) })`
 */
export function createPinoLogger(options: PinoLoggerOptions = {}): PinoLogger {
  const { destination, ...pinoOptions } = options;
  const settings: pino.LoggerOptions = { level: 'info', ...pinoOptions };
  return destination === undefined ? pino(settings) : pino(settings, destination);
}

/** Options of `pluginLogger`. */
export interface PluginLoggerOptions {
  name: string;
  /** The plugin's current state (`running`, `failed.retrying` …), read for every line. */
  getState: () => string;
  /**
   * Values to redact, e.g. `secretValues(manifest.config, config)` from src/config.ts; or a
   * function answering them, read for every line (a host whose plugins change).
   */
  secrets?: readonly string[] | (() => readonly string[]);
}

/** What a secret value is replaced with. */
export const REDACTED = '[redacted]';
const MAX_DEPTH = 6;
type Method = 'debug' | 'info' | 'warn' | 'error';

/** Replaces every secret in `text` (longest first, so a secret holding another goes whole). */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join(REDACTED);
  return out;
}

/** A copy of `value` with secrets redacted (errors stay errors: message, stack, cause and fields redacted). */
export function redactValue(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') return redactText(value, secrets);
  if (typeof value === 'number' || typeof value === 'bigint') return secrets.includes(String(value)) ? REDACTED : value;
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (value instanceof Error) {
    // Still an Error, so pino's err serializer keeps treating it as one.
    const copy = new Error(redactText(value.message, secrets));
    copy.name = value.name;
    if (value.stack === undefined) delete copy.stack;
    else copy.stack = redactText(value.stack, secrets);
    if (value.cause !== undefined) copy.cause = redactValue(value.cause, secrets, depth + 1);
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(copy, redactText(key, secrets), { value: redactValue(item, secrets, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return copy;
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    Object.defineProperty(out, redactText(key, secrets), { value: redactValue(item, secrets, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function wrap(logger: Logger, getState: () => string, secretsNow: () => readonly string[]): Logger {
  const state = () => {
    try {
      return String(getState());
    } catch {
      return 'unknown';
    }
  };
  const method = (name: Method) =>
    ((first: unknown, second?: unknown) => {
      const secrets = secretsNow();
      if (typeof first === 'string') return logger[name]({ state: state() }, redactText(first, secrets));
      if (first instanceof Error) {
        // As pino does with an error alone: under `err`, its message as the message.
        const message = typeof second === 'string' ? second : first.message;
        return logger[name]({ err: redactValue(first, secrets), state: state() }, redactText(message, secrets));
      }
      const given = first === undefined || first === null ? {} : redactValue(first, secrets);
      const fields: LogFields = typeof given === 'object' && given !== null && !Array.isArray(given) ? { ...(given as LogFields) } : { value: given };
      // The line's plugin and state are the engine's: a field cannot claim another plugin's name.
      delete fields['plugin'];
      fields['state'] = state();
      return typeof second === 'string' ? logger[name](fields, redactText(second, secrets)) : logger[name](fields);
    }) as Logger[Method];
  return {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    child: (bindings) => {
      const given = redactValue(bindings ?? {}, secretsNow());
      const own: LogFields = typeof given === 'object' && given !== null && !Array.isArray(given) ? { ...(given as LogFields) } : {};
      delete own['plugin'];
      delete own['state'];
      return wrap(logger.child(own), getState, secretsNow);
    },
  };
}

/**
 * A plugin's logger: a child of `host` carrying the plugin's name and, on every line, its state;
 * secret values redacted.
 * @throws `ARGUMENT_INVALID` for a bad name, host logger, `getState` or `secrets`
 * @example
 * ```ts
 * const logger = pluginLogger(host, { name: 'db', getState: () => actor.getSnapshot().value, secrets });
 * logger.info({ pool: 5 }, 'connected'); // {"plugin":"db","state":"starting","pool":5,"msg":"connected"}
 * ```
 */
export function pluginLogger(host: Logger, options: PluginLoggerOptions): Logger {
  assertPluginName(options?.name, 'pluginLogger');
  const methods: Array<keyof Logger> = ['debug', 'info', 'warn', 'error', 'child'];
  if (typeof host !== 'object' || host === null || !methods.every((m) => typeof host[m] === 'function')) {
    throw argumentError(`pluginLogger: plugin '${options.name}': the host logger must have debug, info, warn, error and child (any pino-compatible logger)`);
  }
  if (typeof options.getState !== 'function') throw argumentError(`pluginLogger: plugin '${options.name}': getState must be a function`);
  const given = options.secrets ?? [];
  const name = options.name;
  const check = (secrets: unknown): readonly string[] => {
    if (!Array.isArray(secrets) || !secrets.every((s) => typeof s === 'string')) {
      throw argumentError(`pluginLogger: plugin '${name}': secrets must be a list of strings, or a function answering one`);
    }
    return [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  };
  if (typeof given !== 'function') {
    const sorted = check(given);
    return wrap(host.child({ plugin: name }), options.getState, () => sorted);
  }
  // Sorted again only when the function answers a new list; a list it cannot give redacts nothing
  // more than the last one did (a log line must not throw).
  let last: unknown = null;
  let sorted: readonly string[] = [];
  const now = () => {
    try {
      const current = given();
      if (current !== last) {
        sorted = check(current);
        last = current;
      }
    } catch {
      // Keep the last good list.
    }
    return sorted;
  };
  return wrap(host.child({ plugin: name }), options.getState, now);
}
