/**
 * Waits on a promise that may never settle (a hook or a health check that ignores its signal)
 * share one reaction on it, and a wait given up lets go of its callback.
 */
import { describe, expect, it } from 'vitest';
import { onSettled } from '../../src/settled.ts';

/** A promise whose `then` calls are counted: each is a reaction it holds until it settles. */
function countedPromise() {
  let settle: (ok: boolean) => void = () => undefined;
  const inner = new Promise<void>((resolve, reject) => (settle = (ok) => (ok ? resolve() : reject(new Error('failed')))));
  inner.catch(() => undefined);
  let attached = 0;
  const promise = { then: (a: () => void, b: () => void) => (attached++, inner.then(a, b)) } as unknown as Promise<void>;
  return { promise, attached: () => attached, settle };
}

describe('onSettled', () => {
  it('attaches to the promise once however many waits come and go, and tells only the waits not given up', async () => {
    const { promise, attached, settle } = countedPromise();
    const told: number[] = [];
    for (let n = 0; n < 100; n++) onSettled(promise, () => told.push(n))();
    const kept = [onSettled(promise, () => told.push(100)), onSettled(promise, () => told.push(101))];
    expect(attached()).toBe(1);
    settle(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(told).toEqual([100, 101]);
    expect(kept).toHaveLength(2);
  });

  it('tells of a rejection as of a fulfilment, a wait made after it settled too, and goes on past a waiter that throws', async () => {
    const { promise, settle } = countedPromise();
    const told: string[] = [];
    onSettled(promise, () => {
      throw new Error('waiter failed');
    });
    onSettled(promise, () => told.push('first'));
    settle(false);
    await new Promise((resolve) => setImmediate(resolve));
    onSettled(promise, () => told.push('late'));
    expect(told).toEqual(['first']); // never in the same tick
    await new Promise((resolve) => setImmediate(resolve));
    expect(told).toEqual(['first', 'late']);
  });

  it('the same function given twice is two waits, each given up alone', async () => {
    const { promise, settle } = countedPromise();
    let calls = 0;
    const fn = () => void calls++;
    const giveUp = onSettled(promise, fn);
    onSettled(promise, fn);
    giveUp();
    settle(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(1);
  });
});
