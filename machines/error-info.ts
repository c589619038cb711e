/**
 * Error codes and the plain-JSON error record shared by the charts and the runtime.
 *
 * The charts only ever hold plain data (so snapshots round-trip through JSON); the runtime
 * wraps these records in `PluginFactoryError` instances.
 */

/** Every code the engine raises or reports, with what it means. */
export const ERROR_CODES = Object.freeze({
  MANIFEST_NOT_FOUND: 'no plugin.json, plugin.yaml or plugin.yml in the plugin folder, or the path or npm package given for a plugin cannot be found',
  MANIFEST_INVALID: 'the manifest does not match the schema',
  ENTRY_NOT_FOUND: 'the module named by `main` does not exist',
  ENTRY_OUTSIDE_PLUGIN: '`main` resolves outside the plugin folder',
  MODULE_LOAD_FAILED: 'importing the module, or calling its factory, failed',
  CONTRACT_INVALID: 'the module does not export init, start and stop functions',
  CONFIG_INVALID: 'the config values do not match the manifest field specs',
  DUPLICATE_PLUGIN: 'two plugins share one name',
  MISSING_DEPENDENCY: 'a required dependency is not registered',
  DEPENDENCY_VERSION_MISMATCH: "a dependency's version is outside the declared range",
  DEPENDENCY_CYCLE: 'the dependency graph has a cycle',
  DEPENDENCY_FAILED: 'a required dependency is invalid or failed; from `reloadPlugin`, the new version requires one (the version installed is kept)',
  ENGINE_VERSION_MISMATCH: "the engine's version is outside the plugin's `engine` range",
  HOOK_FAILED: 'a hook threw or rejected',
  HOOK_TIMEOUT: 'a hook did not settle within its timeout',
  INVALID_TRANSITION: 'the lifecycle chart does not allow that command in this state',
  PERMISSION_DENIED: "the plugin did not declare what it tried to use, or tried to publish the host's own plugin.… events",
  OPTIONS_INVALID: 'the options given to the engine are malformed',
  PLUGIN_NOT_FOUND: 'no plugin of that name is registered; from the command line, no plugin at all in the folder or host file given',
  INTERNAL_ERROR: "an engine fault (please report it); the host keeps running, or, when the manager actor itself failed, is 'crashed' and takes no command (stop() still stops the plugins)",
  LIMIT_REACHED: "a bounded resource of the host is full (the dashboard's live streams); try again once one is freed",
  UNCAUGHT_ERROR: "plugin code threw or rejected outside any hook (a timer, a promise nobody awaits) with nothing to catch it: the command line reports it; a thrown one stops the host in order",
  ARGUMENT_INVALID: 'a platform call (events, services, store, host hooks) or a manager method got a malformed argument',
  SCOPE_DISPOSED: 'a plugin used a platform handle after the state that gave it had ended',
  EVENT_HANDLER_FAILED: 'an event handler threw or rejected; the publisher and other handlers went on',
  SERVICE_NOT_FOUND: 'no running plugin provides that service (never provided, or its provider left running)',
  SERVICE_CONFLICT: 'another plugin already provides a service with that id',
  HOST_HOOK_NOT_FOUND: 'no host hook (extension point) of that name is defined',
  HOST_HOOK_FAILED: "a host hook implementation threw or rejected, or a listener after a lifecycle hook did (logged; the hook's outcome stands); a before-listener's veto fails the hook itself with `HOOK_FAILED`",
  HEALTH_INVALID: 'a health hook returned something that is not a health result',
  STORE_VALUE_INVALID: 'a value given to the store is not JSON-serialisable',
  STORE_CORRUPT: "a plugin's store file cannot be read as a store; it is left untouched",
  STORE_IO_FAILED: "reading or writing a plugin's store file failed",
  LIFECYCLE_PATH_DIVERGED: 'test kit: on a lifecycle path, a hook failed or hung where the path expects it to succeed, so the chart left the path',
  HOOK_IGNORED_ABORT: "test kit: a hook whose ctx.signal was aborted (timeout or cancel) did not settle within the grace period",
  HANDLE_LEAKED: "test kit: a handle the plugin's code opened (a timer, a socket, a server, a child process, a worker, a file watcher …) was still open after the plugin was stopped and disposed; files opened with fs.open or fs/promises are not seen",
} as const);

export type ErrorCode = keyof typeof ERROR_CODES;

/** The hooks a plugin module may export. */
export type HookName = 'init' | 'start' | 'stop' | 'dispose' | 'health';

/** A plain-JSON error as it appears in snapshots: `{ code, message, hook?, cause?, path?, plugins? }`. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  hook?: HookName;
  /** The message of the underlying error, when there was one. */
  cause?: string;
  /** Names involved (a cycle, the dependents of a failed plugin …). */
  plugins?: string[];
  /** Path of the offending field (`config.pool`, `dependencies.db` …). */
  path?: string;
}

/** Reads an `ErrorInfo` out of anything thrown: coded errors keep their code, others get `fallback`. */
export function toErrorInfo(error: unknown, fallback: ErrorCode, hook?: HookName): ErrorInfo {
  try {
    return readErrorInfo(error, fallback, hook);
  } catch {
    // A value that throws when read (a hostile getter, a Proxy): the plugin fails, not the actor.
    const info: ErrorInfo = { code: fallback, message: 'a thrown value that cannot be read' };
    if (hook !== undefined) info.hook = hook;
    return info;
  }
}

function readErrorInfo(error: unknown, fallback: ErrorCode, hook?: HookName): ErrorInfo {
  if (isErrorInfo(error)) {
    const info: ErrorInfo = { code: error.code, message: error.message };
    const h = error.hook ?? hook;
    if (h !== undefined) info.hook = h;
    const cause: unknown = (error as { cause?: unknown }).cause;
    if (typeof cause === 'string') info.cause = cause;
    else if (cause instanceof Error) info.cause = messageOf(cause);
    if (Array.isArray(error.plugins)) info.plugins = [...error.plugins];
    if (typeof error.path === 'string') info.path = error.path;
    return info;
  }
  const message: unknown = error instanceof Error ? error.message : String(error);
  const info: ErrorInfo = { code: fallback, message: typeof message === 'string' ? message : String(message) };
  if (hook !== undefined) info.hook = hook;
  return info;
}

/** An error's message, or its name when the message is empty, missing or throws when read. */
function messageOf(error: Error): string {
  try {
    const message: unknown = error.message;
    if (typeof message === 'string' && message !== '') return message;
  } catch {
    // A hostile getter: the placeholder below.
  }
  return 'an error that cannot be read';
}

function isErrorInfo(value: unknown): value is ErrorInfo {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { code?: unknown; message?: unknown };
  return (
    typeof candidate.code === 'string' &&
    Object.hasOwn(ERROR_CODES, candidate.code) &&
    typeof candidate.message === 'string'
  );
}
