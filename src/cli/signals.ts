/**
 * SIGINT/SIGTERM/SIGHUP for `run` and `test`: the first one asks for a clean shutdown, a second
 * one exits at once (130 for SIGINT, 143 for SIGTERM). The same signal repeated within a short
 * window is one Ctrl-C relayed by a parent process (npm, tsx), not a second one. A SIGHUP is the
 * terminal going away, never a request to hurry: once a shutdown is under way it is ignored (a
 * Ctrl-C, then the terminal closed, still runs every stop hook).
 */

import { REPEAT_WINDOW_MS, SHUTDOWN_SIGNALS, claimSignals, forcedExit, survivesHangup } from './process-guard.ts';

export interface SignalHandling {
  /** Removes the handlers: the signals get their default behaviour back. */
  dispose(): void;
  /** The shutdown is over: from now on a signal (a relayed repeat aside) calls `late` instead. */
  over(late: () => void): void;
}

export function onShutdownSignal(
  shutdown: (signal: NodeJS.Signals) => void,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): SignalHandling {
  let first: { signal: NodeJS.Signals; at: number } | null = null;
  let late: (() => void) | null = null;
  const handler = (signal: NodeJS.Signals) => {
    if (first && signal === first.signal && Date.now() - first.at < REPEAT_WINDOW_MS) return;
    if (first && signal === 'SIGHUP') return;
    if (late) return late();
    if (!first) {
      first = { signal, at: Date.now() };
      shutdown(signal);
      return;
    }
    warn(`plugin-factory: ${signal} again, exiting without waiting for the plugins`);
    // Forcing the exit is the point of a second Ctrl-C: plugins may be hanging in stop.
    forcedExit(signal);
  };
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, handler);
  // Shut down by a hangup, the process must still be able to exit without aborting.
  survivesHangup();
  const release = claimSignals();
  return {
    dispose: () => {
      for (const signal of SHUTDOWN_SIGNALS) process.off(signal, handler);
      release();
    },
    over: (then) => {
      late = then;
    },
  };
}
