/**
 * `PluginFactoryError`: the one error class the engine raises or reports, with a `code`.
 */
import { ERROR_CODES } from '../machines/error-info.ts';
import type { ErrorCode, ErrorInfo, HookName } from '../machines/error-info.ts';

export { ERROR_CODES };
export type { ErrorCode, ErrorInfo, HookName };

export interface PluginFactoryErrorOptions {
  cause?: unknown;
  /** The plugin concerned. */
  plugin?: string;
  hook?: HookName;
  /** Path of the offending field (`config.pool`, `dependencies.db` …). */
  path?: string;
  /** Plugins involved (a cycle, the dependency that failed …). */
  plugins?: string[];
}

/**
 * Every error the engine raises or reports. Assert on `code`, not on the message.
 *
 * @example
 * ```ts
 * try { await manager.stopPlugin('db'); }
 * catch (error) { if (error instanceof PluginFactoryError && error.code === 'INVALID_TRANSITION') … }
 * ```
 */
export class PluginFactoryError extends Error {
  override readonly name = 'PluginFactoryError';
  readonly code: ErrorCode;
  readonly plugin: string | undefined;
  readonly hook: HookName | undefined;
  readonly path: string | undefined;
  readonly plugins: string[] | undefined;

  constructor(code: ErrorCode, message: string, options: PluginFactoryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.plugin = options.plugin;
    this.hook = options.hook;
    this.path = options.path;
    this.plugins = options.plugins;
  }

  /** The plain-JSON form used in snapshots: `{ code, message, hook?, cause?, path?, plugins? }`. */
  toJSON(): ErrorInfo {
    const info: ErrorInfo = { code: this.code, message: this.message };
    if (this.hook !== undefined) info.hook = this.hook;
    if (this.cause !== undefined) info.cause = describeThrown(this.cause);
    if (this.plugins !== undefined) info.plugins = [...this.plugins];
    if (this.path !== undefined) info.path = this.path;
    return info;
  }

  /** Rebuilds an error from its snapshot form. */
  static fromInfo(info: ErrorInfo, plugin?: string): PluginFactoryError {
    const options: PluginFactoryErrorOptions = {};
    if (plugin !== undefined) options.plugin = plugin;
    if (info.hook !== undefined) options.hook = info.hook;
    if (info.cause !== undefined) options.cause = info.cause;
    if (info.path !== undefined) options.path = info.path;
    if (info.plugins !== undefined) options.plugins = info.plugins;
    return new PluginFactoryError(info.code, info.message, options);
  }
}

export function isPluginFactoryError(value: unknown): value is PluginFactoryError {
  return value instanceof PluginFactoryError;
}

/** The string `code` of anything thrown, or undefined; never throws (a getter, a Proxy trap). */
export function thrownCode(value: unknown): string | undefined {
  try {
    const code = typeof value === 'object' && value !== null ? (value as { code?: unknown }).code : undefined;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A short, single-line description of anything thrown. It never throws itself: a plugin may
 * throw a value whose `message` getter throws, a Proxy, or a cyclic object without a prototype.
 */
export function describeThrown(value: unknown): string {
  try {
    if (value instanceof Error) {
      const message: unknown = value.message;
      if (typeof message === 'string' && message !== '') return message;
      const name: unknown = value.name;
      return typeof name === 'string' && name !== '' ? name : 'Error';
    }
    if (typeof value === 'string') return value;
    try {
      const json = JSON.stringify(value);
      if (json !== undefined) return json;
    } catch {
      // Cyclic, or a getter that throws: String() below.
    }
    return String(value);
  } catch {
    return 'a thrown value that cannot be read';
  }
}

/**
 * Calls a consumer's callback (a listener, an observer) so that nothing it does reaches the
 * caller: a throw, and the rejection of a promise it returns (an async callback), go to
 * `onError`. An unhandled rejection would otherwise end the process, stop hooks unrun.
 */
export function callGuarded<T>(fn: (value: T) => unknown, value: T, onError: (error: unknown) => void): void {
  let result: unknown;
  try {
    result = fn(value);
    if ((typeof result !== 'object' && typeof result !== 'function') || result === null) return;
    if (typeof (result as { then?: unknown }).then !== 'function') return;
  } catch (error) {
    onError(error);
    return;
  }
  Promise.resolve(result).then(undefined, onError);
}
