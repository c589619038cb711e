/**
 * Waiting for a promise that may never settle: a hook or a health check that ignores its aborted
 * signal. Every `then` on such a promise stays attached to it for as long as it lives, with all
 * its callback holds (a timer, a signal, a whole health poller); a plugin retried or restarted
 * for days adds one per attempt. Waits on one promise share a single reaction here instead, and
 * a wait given up lets go of its callback.
 * @internal
 */
const waiting = new WeakMap<PromiseLike<unknown>, Set<() => void>>();

/**
 * Calls `fn` once `promise` settles, fulfilled or rejected (never in the same tick); the function
 * returned gives the wait up, and `fn` is then not called.
 */
export function onSettled(promise: PromiseLike<unknown>, fn: () => void): () => void {
  let waiters = waiting.get(promise);
  if (!waiters) {
    const fresh = new Set<() => void>();
    waiters = fresh;
    waiting.set(promise, fresh);
    const settle = () => {
      if (waiting.get(promise) === fresh) waiting.delete(promise);
      for (const waiter of fresh) {
        try {
          waiter();
        } catch {
          // One waiter's failure keeps no other from being told.
        }
      }
      fresh.clear();
    };
    promise.then(settle, settle);
  }
  const set = waiters;
  // A wrapper of its own: the same function given twice is two waits, each given up alone.
  const waiter = () => fn();
  set.add(waiter);
  return () => void set.delete(waiter);
}

/** Settles as `promise` does, or rejects as soon as `signal` aborts, whichever comes first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    void promise.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
