import { PluginFactoryError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';

/** The code of what `run` throws; fails the test when it throws nothing or something uncoded. */
export function codeOf(run: () => unknown): ErrorCode {
  try {
    run();
  } catch (error) {
    if (error instanceof PluginFactoryError) return error.code;
    throw new Error(`expected a PluginFactoryError, got ${String(error)}`);
  }
  throw new Error('expected a PluginFactoryError, nothing was thrown');
}

/** The code `promise` rejects with; fails the test when it resolves or rejects uncoded. */
export async function rejectionCode(promise: Promise<unknown>): Promise<ErrorCode> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PluginFactoryError) return error.code;
    throw new Error(`expected a PluginFactoryError, got ${String(error)}`);
  }
  throw new Error('expected a rejection, it resolved');
}

/**
 * Timers driven by hand: `advance(ms)` fires what falls due in order, letting promise callbacks
 * run between timers; `pending` says how many are still set (zero after a clean stop).
 */
export function manualTimers(start = 0) {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const flush = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  return {
    setTimeout(fn: () => void, ms: number): unknown {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(id: unknown): void {
      timers.delete(id as number);
    },
    now: () => now,
    get pending() {
      return timers.size;
    },
    flush,
    async advance(ms: number): Promise<void> {
      const until = now + ms;
      await flush();
      for (;;) {
        let due: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of timers) if (entry[1].at <= until && (!due || entry[1].at < due[1].at)) due = entry;
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await flush();
      }
      now = until;
    },
  };
}
