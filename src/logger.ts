/**
 * The logging interface the engine and plugins write to: any pino-compatible logger fits
 * (`debug/info/warn/error(obj?, msg)` plus `child(bindings)`).
 */
import { PluginFactoryError } from './errors.ts';
import { printable } from './printable.ts';

export type LogFields = Record<string, unknown>;

export interface LogFn {
  (message: string): void;
  (fields: LogFields, message?: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: LogFields): Logger;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A small logger writing one line per entry to stderr: `level [plugin] message {fields}`, control
 * characters of the message written as `\u001b` and the like.
 * @default level 'info'
 */
export function createConsoleLogger(
  options: { level?: LogLevel | undefined; write?: ((line: string) => void) | undefined; bindings?: LogFields | undefined } = {},
): Logger {
  if (typeof options !== 'object' || options === null) throw new PluginFactoryError('OPTIONS_INVALID', 'createConsoleLogger: options must be an object such as { level: \'debug\' }');
  const { level = 'info', write: given, bindings = {} } = options;
  // A level typo ('warning') would otherwise log everything, debug included.
  if (!(LOG_LEVELS as readonly unknown[]).includes(level)) {
    throw new PluginFactoryError('OPTIONS_INVALID', `createConsoleLogger: level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  if (given !== undefined && typeof given !== 'function') throw new PluginFactoryError('OPTIONS_INVALID', 'createConsoleLogger: write must be a function taking a line');
  if (typeof bindings !== 'object' || bindings === null) throw new PluginFactoryError('OPTIONS_INVALID', 'createConsoleLogger: bindings must be an object of fields');
  const threshold = LOG_LEVELS.indexOf(level);
  const write = given ?? ((line: string) => process.stderr.write(`${line}\n`));
  const make =
    (level: Exclude<LogLevel, 'silent'>): LogFn =>
    (first: string | LogFields, second?: string) => {
      if (LOG_LEVELS.indexOf(level) < threshold) return;
      const fields = typeof first === 'string' ? {} : first;
      const message = typeof first === 'string' ? first : (second ?? '');
      const merged = { ...bindings, ...fields };
      const plugin = typeof merged['plugin'] === 'string' ? `[${printable(merged['plugin'])}] ` : '';
      delete merged['plugin'];
      const extra = Object.keys(merged).length > 0 ? ` ${safeJson(merged)}` : '';
      // One entry, one line: a message quoting a plugin's error text may hold line breaks and
      // terminal escapes.
      write(`${level.padEnd(5)} ${plugin}${printable(String(message))}${extra}`);
    };
  return {
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    child: (more) => createConsoleLogger({ ...options, bindings: { ...bindings, ...more } }),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = createConsoleLogger({ level: 'silent' });

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return '[unserialisable]';
  }
}
