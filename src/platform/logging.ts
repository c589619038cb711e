/**
 * Logging: pino as the default host logger, and the child logger each plugin gets as
 * `ctx.logger`. Any pino-compatible logger works as the host logger (the `Logger` interface of
 * src/logger.ts: `debug/info/warn/error(fields?, message)` and `child(bindings)`).
 *
 * A plugin logger binds `plugin: <name>` once and adds `state: <current state>` to every line
 * (read at the moment of logging, so a line logged from a timer while stopping says `stopping`);
 * `state` is reserved: a field of that name given by the plugin is replaced. Every secret value
 * (see `secretValues` in src/config.ts) is replaced by `[redacted]` in the message, in field
 * values (deeper than MAX_DEPTH: `[…]`), in errors' messages and stacks, and in child bindings.
 */
import type { EventEmitter } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import pino from 'pino';
import { PluginFactoryError, describeThrown, thrownCode } from '../errors.ts';
import type { PluginFactoryErrorOptions } from '../errors.ts';
import { setOwn } from '../json-data.ts';
import type { LogFields, Logger } from '../logger.ts';
import { argumentError, assertPluginName, isOptionsObject, quote } from './_utils.ts';
import { REDACTED, isRedactor, redactorOf } from './secrets.ts';
import type { Redactor } from './secrets.ts';

export { REDACTED };

/** What `createPinoLogger` returns: a full pino logger (it fits `Logger`). */
export type PinoLogger = pino.Logger;

/** pino options, plus where to write. */
export interface PinoLoggerOptions extends Omit<pino.LoggerOptions, 'level'> {
  /** pino's level; undefined (an unset environment variable) is the default. @default 'info' */
  level?: pino.LevelWithSilentOrString | undefined;
  /** Where lines go: a stream, or a file path (opened at once, appended to). @default stdout */
  destination?: pino.DestinationStream | string | undefined;
}

/**
 * The default host logger: pino, at level `info` unless told otherwise.
 * @example `createPluginManager({ logger: createPinoLogger({ level: 'debug' }) })`
 */
export function createPinoLogger(options: PinoLoggerOptions = {}): PinoLogger {
  if (!isOptionsObject(options)) throw new PluginFactoryError('OPTIONS_INVALID', 'createPinoLogger: options must be an object such as { level: \'debug\' }');
  const { destination, ...pinoOptions } = options;
  // A level given as undefined (an unset environment variable) is the default. pino's other
  // options are passed as given: for some, undefined means something (`base: undefined`, no pid).
  const settings: pino.LoggerOptions = { ...pinoOptions, level: pinoOptions.level ?? 'info' };
  const opened = typeof destination === 'string' ? openDestination(destination) : null;
  const target = opened ?? (destination as pino.DestinationStream | undefined);
  let logger: PinoLogger;
  try {
    logger = target === undefined ? pino(settings) : pino(settings, target);
  } catch (error) {
    if (opened) closeSync(opened.fd);
    // pino refuses an unknown level (`'verbose'`) or clashing custom levels with a plain Error.
    throw new PluginFactoryError('OPTIONS_INVALID', `createPinoLogger: ${describeThrown(error)}`, { cause: error });
  }
  if (target !== undefined) tellFailures(target, opened !== null);
  return logger;
}

/**
 * A file path is opened now, so one that cannot be is refused here (pino would open it later and
 * emit the failure as an 'error' event nobody listens to, which ends the process).
 */
function openDestination(path: string): pino.DestinationStream & { fd: number } {
  let fd: number;
  try {
    fd = openSync(path, 'a');
  } catch (error) {
    throw new PluginFactoryError('OPTIONS_INVALID', `createPinoLogger: the destination ${quote(path)} cannot be opened for writing (${describeThrown(error)})`, { cause: error });
  }
  return Object.assign(pino.destination({ fd }), { fd });
}

/** Streams already given the listener below: loggers sharing one (process.stdout) add it once. */
const told = new WeakSet<object>();

/**
 * A destination's failure (a folder missing, a full disk) is said on stderr, once: a log that
 * cannot be written must not take the host down. (pino's own listener on its destinations emits
 * every error but a broken pipe again, so their listener count says nothing.) A file this module
 * opened (`own`) writes nothing more after a failure: its buffer would be written again and again
 * at exit, and the process would never end.
 */
function tellFailures(destination: unknown, own: boolean): void {
  const stream = destination as Partial<EventEmitter> | null;
  if (typeof stream !== 'object' || stream === null || typeof stream.on !== 'function' || told.has(stream)) return;
  told.add(stream);
  let said = false;
  stream.on('error', (error: unknown) => {
    if (own) {
      const sink = stream as { write(line: string): boolean; flushSync?(): void; flush?(cb?: (error?: Error) => void): void };
      sink.write = () => true;
      sink.flushSync = () => undefined;
      sink.flush = (cb) => cb?.();
    }
    if (said) return;
    said = true;
    process.stderr.write(`plugin-factory: the log destination failed, log lines are lost: ${describeThrown(error)}\n`);
  });
}

/** Options of `pluginLogger`. */
export interface PluginLoggerOptions {
  name: string;
  /** The plugin's current state (`running`, `failed.retrying` …), read for every line. */
  getState: () => string;
  /**
   * Values to redact, e.g. `secretValues(manifest.config, config)` from src/config.ts; or a
   * function answering them, read for every line (a host whose plugins change); or a `Redactor`
   * (src/platform/secrets.ts) the caller keeps up to date.
   */
  secrets?: readonly string[] | (() => readonly string[]) | Redactor;
}

const MAX_DEPTH = 6;
type Method = 'debug' | 'info' | 'warn' | 'error';

const toRedactor = (secrets: readonly string[] | Redactor): Redactor => (isRedactor(secrets) ? secrets : redactorOf(secrets));

/** Replaces every secret in `text` (where two start at one place, the longer goes whole). */
export function redactText(text: string, secrets: readonly string[] | Redactor): string {
  return toRedactor(secrets).text(text);
}

/** A copy of `value` with secrets redacted (errors stay errors: message, stack, cause and fields redacted). */
export function redactValue(value: unknown, secrets: readonly string[] | Redactor, depth = 0): unknown {
  const redactor = toRedactor(secrets);
  return redactor.empty ? value : redactIn(value, redactor, depth);
}

/**
 * A PluginFactoryError with its message, stack and cause scrubbed by `redactor` (the cause a
 * scrubbed copy, still an Error with its name, code and fields), or the error itself when there
 * was nothing to scrub. Anything but a PluginFactoryError is returned as it is.
 */
export function scrubError(error: unknown, redactor: Redactor): unknown {
  if (!(error instanceof PluginFactoryError) || redactor.empty) return error;
  const message = redactor.text(error.message);
  const stack = error.stack === undefined ? undefined : redactor.text(error.stack);
  const cause = error.cause === undefined ? undefined : scrubbedCopy(error.cause, redactor);
  // Its code (an error's may be a getter, or not enumerable) is kept, scrubbed.
  const code = thrownCode(error.cause);
  const scrubbedCode = code === undefined ? undefined : redactor.text(code);
  if (cause instanceof Error && scrubbedCode !== undefined) setOwn(cause, 'code', scrubbedCode);
  if (message === error.message && stack === error.stack && scrubbedCode === code && (cause === undefined || unchanged(error.cause, cause))) return error;
  const options: PluginFactoryErrorOptions = {};
  if (error.plugin !== undefined) options.plugin = error.plugin;
  if (error.hook !== undefined) options.hook = error.hook;
  if (error.path !== undefined) options.path = error.path;
  if (error.plugins !== undefined) options.plugins = [...error.plugins];
  if (cause !== undefined) options.cause = cause;
  const copy = new PluginFactoryError(error.code, message, options);
  if (stack === undefined) delete copy.stack;
  else copy.stack = stack;
  return copy;
}

/**
 * A scrubbed copy of anything thrown; what cannot be read (a Proxy whose traps throw, a getter
 * that throws) becomes a plain error with the scrubbed description of it.
 */
export function scrubbedCopy(value: unknown, redactor: Redactor): unknown {
  try {
    return redactIn(value, redactor, 0);
  } catch {
    return new Error(redactor.text(describeThrown(value)));
  }
}

/**
 * Whether a scrubbed copy says what the original said (compared as JSON text, stacks and
 * messages included); never for an error with a getter of its own.
 */
function unchanged(original: unknown, copy: unknown): boolean {
  const text = (value: unknown): string | null => {
    try {
      if (!(value instanceof Error)) return JSON.stringify(value);
      // A getter (a `code` that throws when read, say) is not handed on: the copy it is.
      if (Object.values(Object.getOwnPropertyDescriptors(value)).some((descriptor) => descriptor.get !== undefined)) return null;
      const fields: Record<string, unknown> = { ...value, name: value.name, code: thrownCode(value), message: value.message, stack: value.stack, cause: text(value.cause) };
      return JSON.stringify(Object.keys(fields).sort().map((key) => [key, fields[key]]));
    } catch {
      return null;
    }
  };
  const before = text(original);
  return before !== null && before === text(copy);
}

function redactIn(value: unknown, secrets: Redactor, depth: number): unknown {
  if (typeof value === 'string') return secrets.text(value);
  if (typeof value === 'number' || typeof value === 'bigint') return secrets.has(String(value)) ? REDACTED : value;
  if (typeof value === 'symbol') {
    // A logger that prints it writes its description.
    const description = value.description;
    return description === undefined || secrets.text(description) === description ? value : Symbol(secrets.text(description));
  }
  if (typeof value !== 'object' || value === null) return value;
  // A plain date is kept as it is, unless what JSON writes for it holds a secret (a year that is a
  // PIN); one of a subclass, or with properties of its own (a `toJSON`, a `toISOString` that its
  // JSON calls), goes the way of any object with a `toJSON`, below.
  if (value instanceof Date && Object.getPrototypeOf(value) === Date.prototype && Reflect.ownKeys(value).length === 0) {
    if (Number.isNaN(value.getTime())) return value;
    const text = value.toISOString();
    const scrubbed = secrets.text(text);
    return scrubbed === text ? value : scrubbed;
  }
  if (depth >= MAX_DEPTH) return '[…]';
  if (value instanceof Error) {
    // Still an Error, so pino's err serializer keeps treating it as one.
    const copy = new Error(secrets.text(value.message));
    // Its class's name may come from a getter or the prototype, and quote anything.
    copy.name = secrets.text(String(value.name));
    if (value.stack === undefined) delete copy.stack;
    else copy.stack = secrets.text(value.stack);
    if (value.cause !== undefined) copy.cause = redactIn(value.cause, secrets, depth + 1);
    copyFields(value, copy, secrets, depth);
    return copy;
  }
  if (Array.isArray(value)) return value.map((item) => redactIn(item, secrets, depth + 1));
  // What JSON would write for it, scrubbed: left to the logger, a `toJSON` (own or inherited)
  // would be called on the copy and write what it returns unscrubbed.
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    let json: unknown;
    try {
      json = toJSON.call(value);
    } catch {
      return '[unserialisable]';
    }
    return redactIn(json, secrets, depth + 1);
  }
  // A boxed primitive (`new String(secret)`) is written as the primitive, as JSON writes it; its
  // own entries would spell a string out one character at a time, each too short to be found.
  const primitive = unboxed(value);
  if (primitive !== value) return redactIn(primitive, secrets, depth + 1);
  const out: Record<string, unknown> = {};
  copyFields(value, out, secrets, depth);
  return out;
}

/** The primitive inside a String, Number, Boolean or BigInt object; anything else as it is. */
function unboxed(value: object): unknown {
  try {
    if (value instanceof String) return String.prototype.valueOf.call(value);
    if (value instanceof Number) return Number.prototype.valueOf.call(value);
    if (value instanceof Boolean) return Boolean.prototype.valueOf.call(value);
    if (value instanceof BigInt) return BigInt.prototype.valueOf.call(value);
  } catch {
    // Only looks like one (a Proxy of a String, an object given its prototype): read as an object.
  }
  return value;
}

/** Copies `from`'s own enumerable fields, scrubbed, onto `to`; functions (an own `toJSON`) are data no log line holds. */
function copyFields(from: object, to: object, secrets: Redactor, depth: number): void {
  for (const [key, item] of Object.entries(from)) {
    if (typeof item === 'function') continue;
    setOwn(to, secrets.text(key), redactIn(item, secrets, depth + 1));
  }
}

function wrap(logger: Logger, getState: () => string, secretsNow: () => Redactor): Logger {
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
      if (typeof first === 'string') return logger[name]({ state: state() }, secrets.text(first));
      // What a plugin logs may throw when read (a getter, a revoked Proxy): the line says so
      // rather than throwing at the plugin (a log line must not throw).
      let fields: LogFields;
      try {
        if (first instanceof Error) {
          // As pino does with an error alone: under `err`, its message as the message.
          const message = typeof second === 'string' ? second : first.message;
          return logger[name]({ err: redactValue(first, secrets), state: state() }, secrets.text(message));
        }
        const given = first === undefined || first === null ? {} : redactValue(first, secrets);
        fields = typeof given === 'object' && given !== null && !Array.isArray(given) ? { ...(given as LogFields) } : { value: given };
      } catch {
        fields = { fields: '[unreadable]' };
      }
      // The line's plugin and state are the engine's: a field cannot claim another plugin's name.
      delete fields['plugin'];
      fields['state'] = state();
      return typeof second === 'string' ? logger[name](fields, secrets.text(second)) : logger[name](fields);
    }) as Logger[Method];
  return {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    child: (bindings) => {
      let own: LogFields;
      try {
        const given = redactValue(bindings ?? {}, secretsNow());
        own = typeof given === 'object' && given !== null && !Array.isArray(given) ? { ...(given as LogFields) } : {};
      } catch {
        own = {}; // bindings that cannot be read bind nothing
      }
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
  const check = (secrets: unknown): Redactor => {
    if (!Array.isArray(secrets) || !secrets.every((s) => typeof s === 'string')) {
      throw argumentError(`pluginLogger: plugin '${name}': secrets must be a list of strings, a function answering one, or a redactor`);
    }
    return redactorOf(secrets);
  };
  if (isRedactor(given)) return wrap(host.child({ plugin: name }), options.getState, () => given);
  if (typeof given !== 'function') {
    const redactor = check(given);
    return wrap(host.child({ plugin: name }), options.getState, () => redactor);
  }
  // Built again only when the function answers a new list; a list it cannot give redacts nothing
  // more than the last one did (a log line must not throw).
  let last: unknown = null;
  let redactor = redactorOf([]);
  const now = () => {
    try {
      const current = given();
      if (current !== last) {
        redactor = check(current);
        last = current;
      }
    } catch {
      // Keep the last good list.
    }
    return redactor;
  };
  return wrap(host.child({ plugin: name }), options.getState, now);
}
