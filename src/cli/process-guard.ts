/**
 * The command line owns its process, and plugin code must neither end it nor crash it from
 * outside a hook, where no try/catch of the engine can reach:
 * - `process.exit()` called while a command runs throws instead: inside a hook the hook fails
 *   (HOOK_FAILED), at import the module does (MODULE_LOAD_FAILED), anywhere else it is a stray
 *   error as below. The command line ends the process itself with `exitProcess`.
 * - An exception nobody catches, or a rejection nobody handles (a plugin's timer, a promise it
 *   never awaits), is handed to the command (which makes it an UNCAUGHT_ERROR, see
 *   stray-errors.ts) instead of ending the process with a stack trace and no plugin stopped.
 */
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { isatty } from 'node:tty';
import { PluginFactoryError, describeThrown, thrownCode } from '../errors.ts';

/**
 * The signals that end a command: Ctrl-C, a service manager's stop, and the terminal going away
 * (a closed terminal or SSH session), which would otherwise kill the host with no plugin stopped.
 */
export const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number];

/** The exit code of a command a signal ended: 128 + its number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? constants.signals.SIGTERM);
}

/**
 * Lets the process exit normally once its terminal hung up. As it exits, Node restores the
 * terminal settings of each standard stream that was a terminal when it started; on one that hung
 * up, Node 20 fails an assertion and aborts (nodejs/node#51519), after the shutdown went well.
 * A standard stream that was a terminal and is no longer one is closed just before, so that the
 * exit skips it. Once per process.
 */
export function survivesHangup(): void {
  if (terminals !== null) return;
  terminals = [0, 1, 2].filter((fd) => isatty(fd));
  if (terminals.length === 0) return;
  process.on('exit', () => {
    for (const fd of terminals ?? []) {
      if (isatty(fd)) continue;
      try {
        closeSync(fd);
      } catch {
        // Closed already: nothing for the exit to restore.
      }
    }
  });
}
let terminals: number[] | null = null;

/** Node's own `process.exit`, for the command line's deliberate exits. */
export const exitProcess: (code?: number) => never = process.exit.bind(process);

let lastWords: ((signal: NodeJS.Signals) => void) | null = null;

/**
 * What the command says when a signal ends it at once (a second Ctrl-C, or one before it handles
 * signals itself, while its plugins load): a `--json` command's document, say. Until the returned
 * function is called.
 */
export function onForcedExit(say: (signal: NodeJS.Signals) => void): () => void {
  lastWords = say;
  return () => {
    if (lastWords === say) lastWords = null;
  };
}

/** Ends the process as `signal` does, after the command's last words. */
export function forcedExit(signal: NodeJS.Signals): never {
  try {
    lastWords?.(signal);
  } catch {
    // Exiting is the point: nothing said is no reason to stay.
  }
  return exitProcess(signalExitCode(signal));
}

export interface StrayError {
  /** A thrown exception (the process state is unknown after one), or an unhandled rejection. */
  thrown: boolean;
  error: unknown;
}

let handler: ((stray: StrayError) => void) | null = null;
const pending: StrayError[] = [];

/**
 * Installs the guard for the rest of the process (the command line's entry does, once). Stray
 * errors wait until the command hands them a handler, and those left unhandled when it ends
 * are `unhandledStrays()`.
 */
export function guardProcess(): void {
  survivesHangup();
  process.exit = ((code?: number | string | null) => {
    throw new Error(`process.exit(${code ?? ''}) was called: plugin code may not end the host's process (fail the hook instead)`);
  }) as typeof process.exit;
  const deliver = (stray: StrayError) => (handler ? handler(stray) : pending.push(stray));
  process.on('uncaughtException', (error) => deliver({ thrown: true, error }));
  process.on('unhandledRejection', (reason) => deliver({ thrown: false, error: reason }));
  // Ctrl-C ends a command at once, as it would without the guard, unless the command handles
  // signals itself (`run` stops its plugins first). Listening also keeps a loader's own signal
  // handler (tsx exits when nobody else listens) from calling the guarded exit.
  // The same signal again within REPEAT_WINDOW_MS is one Ctrl-C relayed by a parent (npm, tsx),
  // also when it comes just after the command let go of the signals.
  let last: { signal: NodeJS.Signals; at: number } | null = null;
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      const now = Date.now();
      const repeat = last !== null && last.signal === signal && now - last.at < REPEAT_WINDOW_MS;
      if (!repeat) last = { signal, at: now };
      if (signalsClaimed === 0 && !repeat) forcedExit(signal);
    });
  }
}

/** A repeat of the same signal within this window is one signal relayed by a parent process. */
export const REPEAT_WINDOW_MS = 300;

let signalsClaimed = 0;

/** The command handles the shutdown signals itself until the returned function is called. */
export function claimSignals(): () => void {
  signalsClaimed += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    signalsClaimed -= 1;
  };
}

/** From now on stray errors go to `onStray`, those that came before first. */
export function handleStrayErrors(onStray: (stray: StrayError) => void): void {
  handler = onStray;
  for (const stray of pending.splice(0)) onStray(stray);
}

/** The stray errors no command handled. */
export function unhandledStrays(): StrayError[] {
  return pending.splice(0);
}

/** The UNCAUGHT_ERROR of a stray error, `plugin` and `scrub` given when they are known. */
export function strayError(stray: StrayError, plugin?: string, scrub: (text: string) => string = (text) => text): PluginFactoryError {
  const what = stray.thrown ? 'an exception nobody caught' : 'a promise rejection nobody handled';
  const thrown = scrub(describeThrown(stray.error));
  const message = `${plugin === undefined ? '' : `plugin '${plugin}': `}${what}, outside any hook: ${thrown}`;
  // Its cause is what was thrown as it may be shown: its text and code, scrubbed, not the value
  // itself (which may hold a secret anywhere).
  const code = thrownCode(stray.error);
  const cause = Object.assign(new Error(thrown), code === undefined ? {} : { code: scrub(code) });
  // Its stack, for --verbose, is the one of what was thrown (where the plugin threw it), scrubbed.
  try {
    const stack: unknown = stray.error instanceof Error ? stray.error.stack : undefined;
    cause.stack = typeof stack === 'string' ? scrub(stack) : `Error: ${thrown}`;
  } catch {
    cause.stack = `Error: ${thrown}`;
  }
  return new PluginFactoryError('UNCAUGHT_ERROR', message, plugin === undefined ? { cause } : { plugin, cause });
}
