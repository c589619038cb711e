/** Thrown values that break whoever reads them carelessly, shared by the fault tests. */

/** An Error whose `message` getter throws the error itself: reading it anywhere throws again. */
export function selfThrowing(): Error {
  const error = new Error('unreadable');
  Object.defineProperty(error, 'message', {
    get() {
      throw error;
    },
  });
  return error;
}

/** A prototype-less object holding itself: no toString, and JSON.stringify throws. */
export function cyclic(): Record<string, unknown> {
  const value = Object.create(null) as Record<string, unknown>;
  value['self'] = value;
  return value;
}
