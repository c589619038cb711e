import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, expectTypeOf, it } from 'vitest';
import fc from 'fast-check';
import { createHostHooks } from '../../src/platform/index.ts';
import { PluginFactoryError } from '../../src/errors.ts';
import { codeOf, rejectionCode } from './helpers.ts';

interface Route {
  path: string;
}

describe('host hooks', () => {
  it('collect: every implementation, in boot order, undefined results left out', async () => {
    const hooks = createHostHooks();
    const routes = hooks.define<{ prefix: string }, Route>('http.routes', { mode: 'collect' });
    hooks.setOrder(['config', 'db', 'api']);
    hooks.scope('api').implement(routes, ({ prefix }) => ({ path: `${prefix}/api` }));
    hooks.scope('config').implement(routes, () => undefined);
    hooks.scope('db').implement(routes, async ({ prefix }) => ({ path: `${prefix}/db` }));
    const all = await hooks.call(routes, { prefix: '/v1' });
    expectTypeOf(all).toEqualTypeOf<Route[]>();
    expect(all).toEqual([{ path: '/v1/db' }, { path: '/v1/api' }]);
    expect(hooks.implementers('http.routes')).toEqual(['config', 'db', 'api']);
  });

  it('first: stops at the first result that is not undefined', async () => {
    const hooks = createHostHooks();
    const resolve = hooks.define<string, number>('auth.resolve', { mode: 'first' });
    hooks.setOrder(['a', 'b', 'c']);
    const calls: string[] = [];
    for (const [name, answer] of [['a', undefined], ['b', 2], ['c', 3]] as const) {
      hooks.scope(name).implement(resolve, () => {
        calls.push(name);
        return answer;
      });
    }
    const result = await hooks.call(resolve, 'token');
    expectTypeOf(result).toEqualTypeOf<number | undefined>();
    expect(result).toBe(2);
    expect(calls).toEqual(['a', 'b']);
    expect(await hooks.call(hooks.define('none', { mode: 'first' }), 'token')).toBeUndefined();
  });

  it('series: each implementation gets the previous value; undefined keeps it', async () => {
    const hooks = createHostHooks();
    const config = hooks.define<{ items: string[] }>('app.config', { mode: 'series' });
    hooks.setOrder(['a', 'b', 'c']);
    hooks.scope('c').implement(config, async (value) => ({ items: [...value.items, 'c'] }));
    hooks.scope('b').implement(config, () => undefined);
    hooks.scope('a').implement(config, (value) => ({ items: [...value.items, 'a'] }));
    const result = await hooks.call(config, { items: [] });
    expectTypeOf(result).toEqualTypeOf<{ items: string[] }>();
    expect(result).toEqual({ items: ['a', 'c'] });
  });

  it('before/after refine the boot order; plugins outside it come last, in the order they implemented', () => {
    const hooks = createHostHooks();
    hooks.define('h', { mode: 'collect' });
    hooks.setOrder(['a', 'b', 'c']);
    hooks.scope('late').implement('h', () => 1);
    hooks.scope('c').implement('h', () => 1, { before: ['a'] });
    hooks.scope('b').implement('h', () => 1);
    hooks.scope('a').implement('h', () => 1);
    hooks.scope('x').implement('h', () => 1, { after: ['late'] });
    hooks.scope('early').implement('h', () => 1, { before: ['b', 'nobody'] });
    expect(hooks.implementers('h')).toEqual(['c', 'a', 'early', 'b', 'late', 'x']);
    hooks.setOrder(['b', 'a', 'c']);
    expect(hooks.implementers('h')).toEqual(['early', 'b', 'c', 'a', 'late', 'x']);
  });

  it('a plugin implementing a hook thousands of times (a route each) keeps registration order, among constraints of others', async () => {
    const hooks = createHostHooks();
    hooks.define('routes', { mode: 'collect' });
    hooks.setOrder(['auth', 'api']);
    const api = hooks.scope('api');
    for (let i = 0; i < 3000; i++) api.implement('routes', () => `api ${i}`);
    hooks.scope('auth').implement('routes', () => 'auth', { after: ['api'] });
    for (let i = 0; i < 1000; i++) hooks.scope(`p${i}`).implement('routes', () => `p${i}`);
    const results = (await hooks.call('routes', undefined)) as string[];
    expect(results.slice(0, 3)).toEqual(['api 0', 'api 1', 'api 2']);
    expect(results[2999]).toBe('api 2999');
    expect(results[3000]).toBe('auth');
    expect(results).toHaveLength(4001);
    // A cycle through the many is still refused.
    expect(codeOf(() => api.implement('routes', () => 'late', { after: ['auth'] }))).toBe('DEPENDENCY_CYCLE');
  });

  it('refuses an implementation whose before/after make a cycle, and keeps the others', () => {
    const hooks = createHostHooks();
    hooks.define('h', { mode: 'collect' });
    hooks.scope('a').implement('h', () => 1, { before: ['b'] });
    hooks.scope('b').implement('h', () => 1, { before: ['c'] });
    let error: unknown;
    try {
      hooks.scope('c').implement('h', () => 1, { before: ['a'] });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(PluginFactoryError);
    expect((error as PluginFactoryError).code).toBe('DEPENDENCY_CYCLE');
    expect((error as PluginFactoryError).plugins).toEqual(expect.arrayContaining(['a', 'b', 'c']));
    expect(hooks.implementers('h')).toEqual(['a', 'b']);
  });

  it('refuses at once one that names another plugin both before and after, before that plugin implements anything', () => {
    const hooks = createHostHooks();
    hooks.define('h', { mode: 'collect' });
    const refused = (options: { before?: string[]; after?: string[] }) => {
      try {
        hooks.scope('a').implement('h', () => 1, options);
      } catch (thrown) {
        return [(thrown as PluginFactoryError).code, (thrown as PluginFactoryError).plugins];
      }
      return null;
    };
    expect(refused({ before: ['b'], after: ['b'] })).toEqual(['DEPENDENCY_CYCLE', ['a', 'b', 'a']]);
    expect(refused({ before: ['c', 'b'], after: ['b'] })).toEqual(['DEPENDENCY_CYCLE', ['a', 'b', 'a']]);
    expect(hooks.implementers('h')).toEqual([]);
    // Across two of its implementations: the first runs after b, the second (after the first)
    // before b.
    expect(refused({ after: ['b'] })).toBeNull();
    expect(refused({ before: ['b'] })).toEqual(['DEPENDENCY_CYCLE', ['a', 'b', 'a']]);
    // The other way round is no contradiction: before b, then after b.
    expect(refused({ before: ['c'] })).toBeNull();
    expect(hooks.implementers('h')).toEqual(['a', 'a']);
    // b implementing later is not blamed for a's contradiction.
    hooks.scope('b').implement('h', () => 2);
    expect(hooks.implementers('h')).toEqual(['b', 'a', 'a']);
  });

  it('names just the cycle, not the implementations merely behind it', () => {
    const hooks = createHostHooks();
    hooks.define('h', { mode: 'collect' });
    hooks.scope('a').implement('h', () => 1, { before: ['b'] });
    hooks.scope('x').implement('h', () => 1, { after: ['b'] });
    hooks.scope('y').implement('h', () => 1, { after: ['x'] });
    let error: PluginFactoryError | undefined;
    try {
      hooks.scope('b').implement('h', () => 1, { before: ['a'] });
    } catch (thrown) {
      error = thrown as PluginFactoryError;
    }
    expect(error?.code).toBe('DEPENDENCY_CYCLE');
    expect(error?.plugins).toHaveLength(3);
    expect(new Set(error?.plugins)).toEqual(new Set(['a', 'b']));
    expect(error?.plugins?.[0]).toBe(error?.plugins?.at(-1));
  });

  it('rejects with HOST_HOOK_FAILED naming the plugin when an implementation fails; later ones do not run', async () => {
    const hooks = createHostHooks();
    hooks.define('h', { mode: 'collect' });
    hooks.setOrder(['a', 'b', 'c']);
    let cRan = false;
    hooks.scope('a').implement('h', () => 1);
    hooks.scope('b').implement('h', async () => Promise.reject(new Error('boom')));
    hooks.scope('c').implement('h', () => {
      cRan = true;
    });
    const failure = await hooks.call('h').catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'HOST_HOOK_FAILED', plugin: 'b' });
    expect(cRan).toBe(false);
  });

  it("an implementation is called without the engine's record as `this`: it cannot rename the plugin its failure names, nor take itself out of later calls", async () => {
    const hooks = createHostHooks();
    const routes = hooks.define<void, string>('h', { mode: 'collect' });
    hooks.setOrder(['good', 'evil']);
    const seen: unknown[] = [];
    hooks.scope('good').implement(routes, () => 'good');
    hooks.scope('evil').implement(routes, function (this: unknown) {
      seen.push(this);
      return 'evil';
    });
    expect(await hooks.call(routes, undefined)).toEqual(['good', 'evil']);
    expect(seen).toEqual([undefined]);
    const forged = hooks.define<void, string>('forged', { mode: 'collect' });
    hooks.scope('good').implement(forged, () => 'good');
    hooks.scope('evil').implement(forged, function (this: { plugin?: string } | undefined) {
      if (this) this.plugin = 'good';
      throw new Error('who did this?');
    });
    const error = await hooks.call(forged, undefined).then(() => null, (caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'HOST_HOOK_FAILED', plugin: 'evil' });
  });

  it('unknown hooks are refused with HOST_HOOK_NOT_FOUND', async () => {
    const hooks = createHostHooks();
    expect(codeOf(() => hooks.scope('a').implement('nope', () => 1))).toBe('HOST_HOOK_NOT_FOUND');
    expect(await rejectionCode(hooks.call('nope'))).toBe('HOST_HOOK_NOT_FOUND');
    expect(codeOf(() => hooks.implementers('nope'))).toBe('HOST_HOOK_NOT_FOUND');
  });

  it('dispose removes every implementation of the scope; an unimplement function removes one', async () => {
    const hooks = createHostHooks();
    const routes = hooks.define<void, string>('r', { mode: 'collect' });
    const other = hooks.define('o', { mode: 'collect' });
    const db = hooks.scope('db');
    db.implement(routes, () => 'db');
    db.implement(other, () => 'db');
    const off = hooks.scope('api').implement(routes, () => 'api');
    expect(await hooks.call(routes, undefined)).toEqual(['db', 'api']);
    db.dispose();
    expect(hooks.implementers(routes)).toEqual(['api']);
    expect(hooks.implementers(other)).toEqual([]);
    expect(codeOf(() => db.implement(routes, () => 'again'))).toBe('SCOPE_DISPOSED');
    off();
    off();
    expect(await hooks.call(routes, undefined)).toEqual([]);
  });

  it('an implementation that hangs is let go of when it is removed (its plugin stopped): the call goes on without it', async () => {
    const hooks = createHostHooks();
    const routes = hooks.define<void, string>('r', { mode: 'collect' });
    hooks.setOrder(['a', 'b']);
    const a = hooks.scope('a');
    a.implement(routes, () => new Promise<string>(() => undefined));
    hooks.scope('b').implement(routes, () => 'b');
    const call = hooks.call(routes, undefined);
    let outcome: unknown = 'pending';
    void call.then((value) => (outcome = value));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(outcome).toBe('pending');
    a.dispose();
    expect(await call).toEqual(['b']);
  });

  it('an implementation removed while a call is under way is skipped', async () => {
    const hooks = createHostHooks();
    hooks.define('h', { mode: 'collect' });
    hooks.setOrder(['a', 'b']);
    const b = hooks.scope('b');
    hooks.scope('a').implement('h', () => {
      b.dispose();
      return 'a';
    });
    b.implement('h', () => 'b');
    expect(await hooks.call('h')).toEqual(['a']);
  });

  it('define is idempotent for one mode and refuses bad names, modes and arguments', () => {
    const hooks = createHostHooks();
    const a = hooks.define('h', { mode: 'first' });
    expect(hooks.define('h', { mode: 'first' })).toBe(a);
    expect(hooks.has('h')).toBe(true);
    expect(codeOf(() => hooks.define('h', { mode: 'collect' }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.define('Bad Name', { mode: 'first' }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.define('x', { mode: 'parallel' } as unknown as { mode: 'first' }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.scope('a').implement('h', 'fn' as unknown as () => 1))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.scope('a').implement('h', () => 1, { before: ['Not A Plugin'] }))).toBe('ARGUMENT_INVALID');
    // A before/after list that cannot even be read: a revoked Proxy, an element getter that throws.
    const revoked = Proxy.revocable([], {});
    revoked.revoke();
    const throwing: string[] = [];
    Object.defineProperty(throwing, 0, { get: () => { throw new Error('getter'); }, enumerable: true });
    expect(codeOf(() => hooks.scope('a').implement('h', () => 1, { before: revoked.proxy as string[] }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.scope('a').implement('h', () => 1, { after: throwing }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.scope('a').implement('h', () => 1, null as unknown as {}))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.scope('a').implement('h', () => 1, 'after' as unknown as {}))).toBe('ARGUMENT_INVALID');
    // A misspelt option would drop the order it asks for, or the setting, without a word.
    expect(codeOf(() => hooks.scope('a').implement('h', () => 1, { afer: ['b'] } as unknown as {}))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.define('y', { mode: 'first', tiemout: 5 } as unknown as { mode: 'first' }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.scope('a').implement('h', () => 1, new Proxy({}, { ownKeys: () => { throw new Error('trap'); } })))).toBe('ARGUMENT_INVALID');
    expect(hooks.has('y')).toBe(false);
    expect(codeOf(() => hooks.scope('../a'))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.setOrder('a' as unknown as string[]))).toBe('ARGUMENT_INVALID');
    // Not a name at all, and arguments whose getters or traps throw: coded, never the raw error.
    const boom = () => {
      throw new Error('trap');
    };
    expect(codeOf(() => hooks.scope('a').implement(123 as unknown as string, () => 1))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.scope('a').implement(new Proxy({}, { get: boom }) as unknown as string, () => 1))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.scope('a').implement('h', () => 1, { get before(): string[] { return boom(); } }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => hooks.define('y', { get mode(): 'first' { return boom(); } }))).toBe('ARGUMENT_INVALID');
  });
});

describe('host hook order, kept between calls', () => {
  it('lets go of an implementation added and removed between two calls (a plugin restarting while nobody calls the hook)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const hooks = createHostHooks();
    const ref = hooks.define('h', { mode: 'collect' });
    hooks.setOrder(['a', 'b']);
    hooks.scope('a').implement(ref, () => 'a');
    expect(await hooks.call(ref, undefined)).toEqual(['a']); // the order is now kept
    const held: Array<WeakRef<object>> = [];
    // In a function of its own: a suspended async frame may keep its last values alive.
    const restart = () => {
      const scope = hooks.scope('b');
      const fn = () => 'b';
      held.push(new WeakRef(fn));
      scope.implement(ref, fn);
      scope.dispose();
    };
    for (let n = 0; n < 3; n++) restart();
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(held.map((weak) => weak.deref() !== undefined)).toEqual([false, false, false]);
    expect(await hooks.call(ref, undefined)).toEqual(['a']);
  });
});

/**
 * The call order and the cycle check against a plain reference, on random hosts: every pair of
 * implementations compared, every path followed. Implementations come and go in any order.
 */
describe('host hook order, against a reference', () => {
  interface Step {
    plugin: string;
    before: string[];
    after: string[];
    /** Removes the implementation added at this index of the accepted ones, instead of adding. */
    remove: number | null;
    /** The order is asked for before this step (changes between two asks are made in one pass). */
    ask: boolean;
  }
  interface Impl {
    plugin: string;
    before: string[];
    after: string[];
    seq: number;
  }
  const runsBefore = (a: Impl, b: Impl) =>
    a !== b && (a.plugin === b.plugin ? a.seq < b.seq : a.before.includes(b.plugin) || b.after.includes(a.plugin));
  const reaches = (impls: Impl[], from: Impl, to: Impl): boolean => {
    const seen = new Set<Impl>();
    const walk = (node: Impl): boolean =>
      impls.some((next) => runsBefore(node, next) && (next === to || (!seen.has(next) && (seen.add(next), walk(next)))));
    return walk(from);
  };
  /** Closest to the boot order the constraints allow: each goes as early as the earliest one it must precede. */
  const referenceOrder = (impls: Impl[], rank: Map<string, number>): string[] => {
    type Key = [number, number];
    const own = (i: Impl): Key => [rank.get(i.plugin) ?? Number.MAX_SAFE_INTEGER, i.seq];
    const less = (a: Key, b: Key) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
    const effective = new Map(
      impls.map((i) => [i, impls.filter((j) => j === i || reaches(impls, i, j)).map(own).reduce((best, key) => (less(key, best) ? key : best))]),
    );
    const left = [...impls];
    const order: string[] = [];
    while (left.length > 0) {
      const ready = left.filter((i) => !left.some((j) => runsBefore(j, i)));
      const next = ready.reduce((best, i) => {
        const [ei, eb] = [effective.get(i)!, effective.get(best)!];
        return less(ei, eb) || (!less(eb, ei) && less(own(i), own(best))) ? i : best;
      });
      left.splice(left.indexOf(next), 1);
      order.push(next.plugin);
    }
    return order;
  };

  it('is the reference order, and refuses exactly the implementations that close a cycle', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd');
    const step = fc.record({
      plugin: name,
      before: fc.array(name, { maxLength: 2 }),
      after: fc.array(name, { maxLength: 2 }),
      remove: fc.option(fc.nat(12), { freq: 4 }),
      ask: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 20 }), fc.shuffledSubarray(['a', 'b', 'c', 'd']), (steps: Step[], boot) => {
        const hooks = createHostHooks();
        hooks.define('h', { mode: 'collect' });
        hooks.setOrder(boot);
        const rank = new Map(boot.map((plugin, index) => [plugin, index]));
        const accepted: Array<{ impl: Impl; unimplement: () => void }> = [];
        let seq = 0;
        const inOrder = () => referenceOrder(accepted.map((a) => a.impl).sort((x, y) => x.seq - y.seq), rank);
        for (const { plugin, before, after, remove, ask } of steps) {
          // Asked between steps: the order kept across changes must stay the one made afresh.
          if (ask) expect(hooks.implementers('h')).toEqual(inOrder());
          if (remove !== null) {
            const gone = accepted.splice(remove % Math.max(accepted.length, 1), 1)[0];
            gone?.unimplement();
            continue;
          }
          const impl: Impl = { plugin, before, after, seq: seq++ };
          const impls = [...accepted.map((a) => a.impl), impl];
          // Another plugin this one must run both before and after (after: in this implementation
          // or an earlier one of its plugin) is a cycle even before that plugin implements.
          const ownAfter = new Set([...after, ...accepted.filter((a) => a.impl.plugin === plugin).flatMap((a) => a.impl.after)]);
          const cycle = reaches(impls, impl, impl) || before.some((other) => other !== plugin && ownAfter.has(other));
          let code: string | null = null;
          let unimplement: () => void = () => undefined;
          try {
            unimplement = hooks.scope(plugin).implement('h', () => plugin, { before, after });
          } catch (error) {
            code = (error as PluginFactoryError).code;
          }
          expect(code).toBe(cycle ? 'DEPENDENCY_CYCLE' : null);
          if (!cycle) accepted.push({ impl, unimplement });
        }
        expect(hooks.implementers('h')).toEqual(inOrder());
      }),
      { numRuns: 1000 },
    );
  });
});
