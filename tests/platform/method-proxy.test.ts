/**
 * The proxy under service handles and the test kit's stand-ins, in the kit's 'impl' mode: every
 * call of the implementation, or of a function read from it, runs through `invoke`, bound copies
 * included, however `bind`, `call` and `apply` are reached.
 */
import { describe, expect, it } from 'vitest';
import { methodProxy } from '../../src/platform/method-proxy.ts';

describe("method proxy, 'impl' mode", () => {
  it('runs every call through invoke: direct, bound, and through a bind, call or apply read off and called on nothing', () => {
    const impl = Object.assign(function (this: unknown, n = 0) {
      return n;
    }, { twice: (n: number) => n * 2 });
    let invoked = 0;
    const proxy = methodProxy(impl, { self: 'impl', invoke: (call) => (invoked++, call()) });
    const runs = (use: () => unknown) => {
      invoked = 0;
      use();
      return invoked;
    };
    expect(runs(() => proxy(1))).toBe(1);
    expect(runs(() => proxy.twice(2))).toBe(1);
    const bound = proxy.bind(null, 3);
    expect(runs(() => bound())).toBe(1);
    // Read off and called on nothing (as a destructuring caller would).
    const { bind, call, apply } = proxy as unknown as Record<'bind' | 'call' | 'apply', (...args: unknown[]) => unknown>;
    const detached = bind(null, 4) as () => unknown;
    // The detached bind runs through invoke itself, and so does the copy it made.
    expect(runs(() => detached())).toBe(1);
    expect([runs(() => call(null, 5)), runs(() => apply(null, [6]))]).toEqual([2, 2]);
  });
});
