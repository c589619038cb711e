import { describe, expect, expectTypeOf, it } from 'vitest';
import { createServiceRegistry, defineService } from '../../src/platform/index.ts';
import type { ServiceRef, ServiceType } from '../../src/platform/index.ts';
import { codeOf } from './helpers.ts';

interface Pool {
  query(sql: string): Promise<string[]>;
  readonly size: number;
}

const PoolService = defineService<Pool>('db.pool');

class Counter {
  #count = 0;
  increment(): number {
    return ++this.#count;
  }
  get count(): number {
    return this.#count;
  }
}

function setup() {
  const registry = createServiceRegistry();
  const db = registry.scope({ name: 'db' });
  const api = registry.scope({ name: 'api', dependencies: ['db'] });
  return { registry, db, api };
}

describe('service types', () => {
  it('a consumer gets the provider type from the ref, without casts', () => {
    const { db, api } = setup();
    const pool: Pool = { query: async (sql) => [sql], size: 2 };
    db.provide(PoolService, pool);
    const got = api.get(PoolService);
    expectTypeOf(got).toEqualTypeOf<Pool>();
    expectTypeOf(api.find(PoolService)).toEqualTypeOf<Pool | undefined>();
    expectTypeOf<ServiceType<typeof PoolService>>().toEqualTypeOf<Pool>();
    expectTypeOf(defineService<number>('n')).toEqualTypeOf<ServiceRef<number>>();
    // @ts-expect-error the implementation must match the ref's type
    expect(() => db.provide(defineService<Pool>('db.other'), { query: 1 })).not.toThrow();
    expect(got.size).toBe(2);
  });
});

describe('service registry', () => {
  it('hands a dependent a working handle: methods, getters, private fields, built-ins', async () => {
    const { db, api } = setup();
    db.provide(PoolService, { query: async (sql) => [sql.toUpperCase()], size: 3 });
    const CounterService = defineService<Counter>('db.counter');
    db.provide(CounterService, new Counter());
    const MapService = defineService<Map<string, number>>('db.map');
    db.provide(MapService, new Map([['a', 1]]));

    const pool = api.get(PoolService);
    expect(await pool.query('select')).toEqual(['SELECT']);
    expect(pool.size).toBe(3);
    const counter = api.get(CounterService);
    expect(counter.increment()).toBe(1);
    expect(counter.count).toBe(1);
    const map = api.get(MapService);
    expect(map.get('a')).toBe(1);
    expect(map.size).toBe(1);
    expect(api.get(PoolService)).toBe(pool);
  });

  it('refuses a plugin that did not declare the provider as a dependency', () => {
    const { registry, db } = setup();
    db.provide(PoolService, { query: async () => [], size: 0 });
    const stranger = registry.scope({ name: 'stranger', dependencies: ['config'] });
    expect(codeOf(() => stranger.get(PoolService))).toBe('PERMISSION_DENIED');
    expect(codeOf(() => stranger.find(PoolService))).toBe('PERMISSION_DENIED');
    expect(db.get(PoolService).size).toBe(0);
  });

  it('reports a missing service, and find returns undefined for it', () => {
    const { api } = setup();
    expect(codeOf(() => api.get(PoolService))).toBe('SERVICE_NOT_FOUND');
    expect(api.find(PoolService)).toBeUndefined();
  });

  it('refuses a second provider of one id until the first is disposed', () => {
    const { registry, db } = setup();
    db.provide(PoolService, { query: async () => [], size: 0 });
    const other = registry.scope({ name: 'other' });
    expect(codeOf(() => other.provide(PoolService, { query: async () => [], size: 1 }))).toBe('SERVICE_CONFLICT');
    expect(codeOf(() => db.provide(defineService<Pool>('db.pool'), { query: async () => [], size: 1 }))).toBe('SERVICE_CONFLICT');
    db.dispose();
    other.provide(PoolService, { query: async () => [], size: 1 });
    expect(registry.providerOf(PoolService)).toBe('other');
  });

  it('withdraws services when the provider scope is disposed, and revokes handles already given out', () => {
    const { registry, db, api } = setup();
    db.provide(PoolService, { query: async () => [], size: 0 });
    const Fn = defineService<(x: number) => number>('db.double');
    db.provide(Fn, (x) => x * 2);
    const pool = api.get(PoolService);
    const query = pool.query;
    const double = api.get(Fn);
    expect(double(2)).toBe(4);
    expect(registry.list()).toEqual([
      { id: 'db.pool', provider: 'db' },
      { id: 'db.double', provider: 'db' },
    ]);

    db.dispose();
    expect(registry.list()).toEqual([]);
    expect(registry.providerOf('db.pool')).toBeUndefined();
    expect(codeOf(() => pool.size)).toBe('SERVICE_NOT_FOUND');
    expect(codeOf(() => query('x'))).toBe('SERVICE_NOT_FOUND');
    expect(codeOf(() => double(1))).toBe('SERVICE_NOT_FOUND');
    expect(codeOf(() => Object.keys(pool))).toBe('SERVICE_NOT_FOUND');
    expect(codeOf(() => api.get(PoolService))).toBe('SERVICE_NOT_FOUND');
    expect(codeOf(() => db.provide(PoolService, { query: async () => [], size: 0 }))).toBe('SCOPE_DISPOSED');
  });

  it('after the provider restarts, old handles stay revoked and get returns the new implementation', () => {
    const { registry, db, api } = setup();
    db.provide(PoolService, { query: async () => [], size: 1 });
    const old = api.get(PoolService);
    db.dispose();
    registry.scope({ name: 'db' }).provide(PoolService, { query: async () => [], size: 2 });
    expect(codeOf(() => old.size)).toBe('SERVICE_NOT_FOUND');
    expect(api.get(PoolService).size).toBe(2);
  });

  it("revokes a consumer's handles when the consumer's own scope is disposed", () => {
    const { db, api } = setup();
    db.provide(PoolService, { query: async () => [], size: 1 });
    const pool = api.get(PoolService);
    api.dispose();
    expect(api.disposed).toBe(true);
    expect(codeOf(() => pool.size)).toBe('SCOPE_DISPOSED');
    expect(codeOf(() => api.get(PoolService))).toBe('SCOPE_DISPOSED');
    expect(db.get(PoolService).size).toBe(1);
  });

  it('refuses provide from a scope that may not provide', () => {
    const registry = createServiceRegistry();
    const init = registry.scope({ name: 'db', canProvide: false });
    expect(codeOf(() => init.provide(PoolService, { query: async () => [], size: 0 }))).toBe('PERMISSION_DENIED');
    expect(registry.list()).toEqual([]);
  });

  it('returns primitives as they are and copes with frozen implementations', () => {
    const { db, api } = setup();
    const Url = defineService<string>('db.url');
    db.provide(Url, 'postgres://localhost');
    expect(api.get(Url)).toBe('postgres://localhost');
    const Frozen = defineService<{ hello(): string }>('db.frozen');
    db.provide(Frozen, Object.freeze({ hello: () => 'hi' }));
    const frozen = api.get(Frozen);
    expect(frozen.hello()).toBe('hi');
    expect(Object.keys(frozen)).toEqual(['hello']);
    // A method kept from a frozen implementation is revoked with the handle, as any other.
    const hello = frozen.hello;
    const described = Object.getOwnPropertyDescriptor(frozen, 'hello')?.value as () => string;
    expect(described()).toBe('hi');
    db.dispose();
    expect(codeOf(() => hello())).toBe('SERVICE_NOT_FOUND');
    expect(codeOf(() => described())).toBe('SERVICE_NOT_FOUND');
  });

  it('a frozen function service: callable, constructible if it is, its methods revoked with the handle too', () => {
    const { db, api } = setup();
    const Fn = defineService<(() => string) & { ping(): string }>('db.fn');
    db.provide(Fn, Object.freeze(Object.assign(() => 'called', { ping: () => 'pong' })));
    const handle = api.get(Fn);
    expect([handle(), handle.ping()]).toEqual(['called', 'pong']);
    const ping = handle.ping;
    const described = Object.getOwnPropertyDescriptor(handle, 'ping')?.value as () => string;
    const Made = defineService<typeof Counter>('db.class');
    db.provide(Made, Object.freeze(Counter));
    const made = new (api.get(Made))();
    expect([made instanceof Counter, made.increment()]).toEqual([true, 1]);
    db.dispose();
    for (const kept of [() => handle(), () => ping(), () => described()]) expect(codeOf(kept)).toBe('SERVICE_NOT_FOUND');
  });

  it('classes, old-style constructors and functions with properties inside a service work through the handle, and are revoked with it', () => {
    const { db, api } = setup();
    class Client {
      static made = 0;
      static create(url: string) {
        this.made++;
        return new this(url);
      }
      constructor(readonly url: string) {}
      ping() {
        return `pong ${this.url}`;
      }
    }
    function Legacy(this: { x: number }, x: number) {
      this.x = x;
    }
    Legacy.prototype.get = function (this: { x: number }) {
      return this.x;
    };
    const debug = Object.assign((message: string) => `debug: ${message}`, { enabled: true });
    const impl = { Client, Legacy: Legacy as unknown as new (x: number) => { get(): number }, debug, make: (url: string) => new Client(url) };
    const Api = defineService<typeof impl>('db.api');
    db.provide(Api, impl);
    const handle = api.get(Api);
    const client = new handle.Client('x');
    expect([client instanceof Client, client.ping()]).toEqual([true, 'pong x']);
    expect(handle.make('y') instanceof handle.Client).toBe(true);
    expect(handle.Client.create('z').ping()).toBe('pong z');
    expect([Client.made, handle.Client.made, handle.Client.name]).toEqual([1, 1, 'Client']);
    expect(new handle.Legacy(3).get()).toBe(3);
    expect([handle.debug.enabled, handle.debug('hi')]).toEqual([true, 'debug: hi']);
    const { Client: Kept, debug: keptDebug } = handle;
    db.dispose();
    for (const kept of [() => new Kept('x'), () => Kept.create('x'), () => keptDebug('x'), () => keptDebug.enabled]) expect(codeOf(kept)).toBe('SERVICE_NOT_FOUND');
  });

  it("a function service's bind, call and apply stay behind the handle: a bound copy is revoked with it", () => {
    const { db, api } = setup();
    const Fn = defineService<(n: number) => string>('db.fn');
    db.provide(Fn, (n: number) => `db says ${n}`);
    const handle = api.get(Fn);
    const bound = handle.bind(null, 1);
    const call = handle.call;
    expect([bound(), handle.call(null, 2), handle.apply(null, [3]), call.call(handle, null, 4)]).toEqual(['db says 1', 'db says 2', 'db says 3', 'db says 4']);
    db.dispose();
    for (const kept of [() => bound(), () => call.call(handle, null, 5), () => handle.apply(null, [6])]) expect(codeOf(kept)).toBe('SERVICE_NOT_FOUND');
  });

  it('a handle cannot be frozen, nor take a non-configurable property (ARGUMENT_INVALID): the implementation can', () => {
    const { db, api } = setup();
    const Obj = defineService<{ hello(): string }>('db.obj');
    const impl = { hello: () => 'hi' };
    db.provide(Obj, impl);
    const handle = api.get(Obj);
    expect(codeOf(() => Object.freeze(handle))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => Object.preventExtensions(handle))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => Object.defineProperty(handle, 'tag', { value: 'api', configurable: false }))).toBe('ARGUMENT_INVALID');
    expect(Object.getOwnPropertyDescriptor(impl, 'tag')).toBeUndefined(); // refused before it was touched
    Object.defineProperty(handle, 'tag', { value: 'api', configurable: true });
    expect((impl as { tag?: string }).tag).toBe('api');
    expect(handle.hello()).toBe('hi');
  });

  it('refuses malformed ids, refs, implementations and owners with ARGUMENT_INVALID', () => {
    const { registry, db } = setup();
    expect(codeOf(() => defineService('Not An Id'))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => db.provide({} as ServiceRef<number>, 1))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => db.provide(PoolService, undefined as unknown as Pool))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => db.get(null as unknown as ServiceRef<number>))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => registry.scope({ name: 'Bad' }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => registry.scope({ name: 'ok', dependencies: ['../x'] }))).toBe('ARGUMENT_INVALID');
    const hostile = { get id(): string { throw new Error('getter'); } } as ServiceRef<number>;
    expect(codeOf(() => db.get(hostile))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => db.provide(hostile, 1))).toBe('ARGUMENT_INVALID');
  });
});
