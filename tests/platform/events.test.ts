import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import {
  createEventBus,
  isEventPattern,
  lifecycleEventType,
  matchesEventPattern,
} from '../../src/platform/index.ts';
import type { BusEvent, EventBusOptions } from '../../src/platform/index.ts';
import { MICROTASK_BATCHES } from '../../src/platform/events.ts';
import { PluginFactoryError } from '../../src/errors.ts';
import { cyclic as cyclicObject, selfThrowing as unreadableError } from '../helpers/hostile.ts';
import { codeOf } from './helpers.ts';

const quietBus = (options: EventBusOptions = {}) => createEventBus({ onHandlerError: () => {}, ...options });

describe('event patterns', () => {
  it.each([
    ['db.ready', 'db.ready', true],
    ['db.ready', 'db.ready.now', false],
    ['db.*', 'db.ready', true],
    ['db.*', 'db', false],
    ['db.*', 'db.pool.drained', false],
    ['plugin.*.running', 'plugin.db.running', true],
    ['plugin.*.running', 'plugin.db.stopped', false],
    ['db.**', 'db.ready', true],
    ['db.**', 'db.pool.drained', true],
    ['db.**', 'db', false],
    ['**', 'anything.at.all', true],
    ['*', 'one', true],
    ['*', 'one.two', false],
  ])('%s matches %s: %s', (pattern, type, expected) => {
    expect(matchesEventPattern(pattern, type)).toBe(expected);
  });

  it.each(['db.**.x', 'DB.ready', 'db..ready', '', '.db', 'db.', 'db ready', 'db.***'])('%j is not a pattern', (pattern) => {
    expect(isEventPattern(pattern)).toBe(false);
  });

  it('lifecycle events are named by the top-level state', () => {
    expect(lifecycleEventType('db', 'running')).toBe('plugin.db.running');
    expect(lifecycleEventType('db', 'failed.retrying')).toBe('plugin.db.failed');
  });
});

describe('event bus', () => {
  it('delivers asynchronously, never inside publish', async () => {
    const bus = quietBus();
    const handler = vi.fn();
    bus.scope({ name: 'api', subscribes: ['db.ready'] }).subscribe('db.ready', handler);
    bus.scope({ name: 'db', publishes: ['db.ready'] }).publish('db.ready', { port: 1 });
    expect(handler).not.toHaveBeenCalled();
    await bus.settled();
    expect(handler).toHaveBeenCalledTimes(1);
    expect(handler.mock.calls[0]?.[0]).toEqual({ type: 'db.ready', payload: { port: 1 }, source: 'db' });
  });

  it('delivers in publish order, then subscription order; events published by handlers come after', async () => {
    const bus = quietBus();
    const seen: string[] = [];
    const a = bus.scope({ name: 'a', subscribes: ['x.**'], publishes: ['x.nested'] });
    a.subscribe('x.*', (e) => {
      seen.push(`first ${e.type}`);
      if (e.type === 'x.one') a.publish('x.nested');
    });
    a.subscribe('x.**', (e) => void seen.push(`second ${e.type}`));
    const host = bus.hostScope();
    host.publish('x.one');
    host.publish('x.two');
    await bus.settled();
    expect(seen).toEqual(['first x.one', 'second x.one', 'first x.two', 'second x.two', 'first x.nested', 'second x.nested']);
  });

  it('refuses undeclared publishing with PERMISSION_DENIED and allows declared patterns', () => {
    const bus = quietBus();
    const db = bus.scope({ name: 'db', publishes: ['db.ready', 'db.pool.*'] });
    expect(codeOf(() => db.publish('db.gone'))).toBe('PERMISSION_DENIED');
    expect(codeOf(() => db.publish('db.pool.a.b'))).toBe('PERMISSION_DENIED');
    expect(() => db.publish('db.ready')).not.toThrow();
    expect(() => db.publish('db.pool.drained')).not.toThrow();
    expect(codeOf(() => bus.scope({ name: 'mute' }).publish('db.ready'))).toBe('PERMISSION_DENIED');
    expect(bus.counts('db').published).toBe(2);
  });

  it('allows a subscription only when a declared pattern covers every name it can match', () => {
    const bus = quietBus();
    const wide = bus.scope({ name: 'wide', subscribes: ['plugin.**'] });
    expect(() => wide.subscribe('plugin.*.running', () => {})).not.toThrow();
    expect(() => wide.subscribe('plugin.**', () => {})).not.toThrow();
    expect(codeOf(() => wide.subscribe('plugin', () => {}))).toBe('PERMISSION_DENIED');
    expect(codeOf(() => wide.subscribe('**', () => {}))).toBe('PERMISSION_DENIED');

    const narrow = bus.scope({ name: 'narrow', subscribes: ['plugin.*.running'] });
    expect(() => narrow.subscribe('plugin.db.running', () => {})).not.toThrow();
    expect(codeOf(() => narrow.subscribe('plugin.db.*', () => {}))).toBe('PERMISSION_DENIED');
    expect(codeOf(() => narrow.subscribe('plugin.**', () => {}))).toBe('PERMISSION_DENIED');
    expect(codeOf(() => narrow.subscribe('plugin.db.stopped', () => {}))).toBe('PERMISSION_DENIED');
    expect(bus.subscriptionCount('narrow')).toBe(1);
  });

  it('refuses malformed names, patterns, handlers and owners with ARGUMENT_INVALID', () => {
    const bus = quietBus();
    const scope = bus.scope({ name: 'p', publishes: ['**'], subscribes: ['**'] });
    expect(codeOf(() => scope.publish('db.*'))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => scope.publish('Db.Ready'))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => scope.publish(42 as unknown as string))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => scope.subscribe('a.**.b', () => {}))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => scope.subscribe('a.b', 'nope' as unknown as () => void))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => bus.scope({ name: 'p', publishes: ['Bad Name'] }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => bus.scope({ name: 'p', subscribes: 'db.*' as unknown as string[] }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => bus.scope({ name: '../etc' }))).toBe('ARGUMENT_INVALID');
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(codeOf(() => scope.publish(revoked as unknown as string))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => scope.subscribe(revoked as unknown as string, () => {}))).toBe('ARGUMENT_INVALID');
  });

  it('reports a throwing or rejecting handler and still delivers to the others', async () => {
    const failures: Array<[PluginFactoryError, BusEvent]> = [];
    const bus = createEventBus({ onHandlerError: (error, event) => failures.push([error, event]) });
    const good = vi.fn();
    const sub = bus.scope({ name: 'sub', subscribes: ['t.*'] });
    sub.subscribe('t.*', () => {
      throw new Error('sync boom');
    });
    sub.subscribe('t.*', async () => Promise.reject(new Error('async boom')));
    bus.scope({ name: 'other', subscribes: ['t.x'] }).subscribe('t.x', good);
    const pub = bus.scope({ name: 'pub', publishes: ['t.x'] });
    expect(() => pub.publish('t.x', 1)).not.toThrow();
    await bus.settled();
    expect(good).toHaveBeenCalledTimes(1);
    expect(failures.map(([error]) => [error.code, error.plugin])).toEqual([
      ['EVENT_HANDLER_FAILED', 'sub'],
      ['EVENT_HANDLER_FAILED', 'sub'],
    ]);
    expect(failures[0]?.[1].type).toBe('t.x');
    expect(failures.every(([error]) => error instanceof PluginFactoryError && error.cause instanceof Error)).toBe(true);
  });

  it('reports a handler that throws a value which cannot be described (it throws when read)', async () => {
    const failures: PluginFactoryError[] = [];
    const bus = createEventBus({ onHandlerError: (error) => failures.push(error) });
    const sub = bus.scope({ name: 'sub', subscribes: ['t.*'] });
    const selfThrowing = unreadableError();
    const cyclic = cyclicObject();
    sub.subscribe('t.*', () => {
      throw selfThrowing;
    });
    sub.subscribe('t.*', async () => Promise.reject(cyclic));
    bus.scope({ name: 'pub', publishes: ['t.x'] }).publish('t.x', 1);
    await bus.settled();
    expect(failures.map((error) => [error.code, error.plugin])).toEqual([
      ['EVENT_HANDLER_FAILED', 'sub'],
      ['EVENT_HANDLER_FAILED', 'sub'],
    ]);
  });

  it('logs failed handlers when no callback is given, and survives a throwing callback', async () => {
    const error = vi.fn();
    const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error, child: () => logger };
    const bus = createEventBus({ logger });
    bus.hostScope().subscribe('a', () => {
      throw new Error('x');
    });
    bus.hostScope().publish('a');
    await bus.settled();
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]?.[0]).toMatchObject({ code: 'EVENT_HANDLER_FAILED' });

    const after = vi.fn();
    const fragile = createEventBus({
      onHandlerError: () => {
        throw new Error('reporter broke');
      },
    });
    const host = fragile.hostScope();
    host.subscribe('a', () => {
      throw new Error('x');
    });
    host.subscribe('a', after);
    host.publish('a');
    await fragile.settled();
    expect(after).toHaveBeenCalledTimes(1);
  });

  it('dispose ends every subscription of the scope, including events already queued', async () => {
    const bus = quietBus();
    const handler = vi.fn();
    const scope = bus.scope({ name: 'api', subscribes: ['db.*', 'plugin.**'] });
    scope.subscribe('db.*', handler);
    scope.subscribe('plugin.*.running', handler);
    const keep = vi.fn();
    bus.scope({ name: 'other', subscribes: ['db.*'] }).subscribe('db.*', keep);
    expect(bus.subscriptionCount('api')).toBe(2);

    bus.hostScope().publish('db.ready');
    scope.dispose();
    await bus.settled();
    expect(handler).not.toHaveBeenCalled();
    expect(keep).toHaveBeenCalledTimes(1);
    expect(bus.subscriptionCount('api')).toBe(0);
    expect(bus.subscriptionCount()).toBe(1);
    expect(scope.disposed).toBe(true);
    expect(codeOf(() => scope.publish('db.ready'))).toBe('SCOPE_DISPOSED');
    expect(codeOf(() => scope.subscribe('db.*', handler))).toBe('SCOPE_DISPOSED');
  });

  it('an unsubscribe function ends one subscription and may be called twice', async () => {
    const bus = quietBus();
    const handler = vi.fn();
    const scope = bus.hostScope();
    const off = scope.subscribe('a', handler);
    scope.subscribe('a', handler);
    off();
    off();
    expect(bus.subscriptionCount()).toBe(1);
    scope.publish('a');
    await bus.settled();
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it('counts published and received per plugin across its scopes, not the host', async () => {
    const bus = quietBus();
    const host = bus.hostScope();
    host.subscribe('**', () => {});
    for (let generation = 0; generation < 2; generation++) {
      const api = bus.scope({ name: 'api', subscribes: ['plugin.*.running'] });
      api.subscribe('plugin.*.running', () => {});
      const db = bus.scope({ name: 'db', publishes: ['db.ready'] });
      db.publish('db.ready');
      host.publish(lifecycleEventType('db', 'running'));
      await bus.settled();
      api.dispose();
      db.dispose();
    }
    expect(bus.counts('api')).toEqual({ published: 0, received: 2 });
    expect(bus.counts('db')).toEqual({ published: 2, received: 0 });
    expect(bus.counts('host')).toEqual({ published: 0, received: 0 });
    expect(bus.counts('nobody')).toEqual({ published: 0, received: 0 });
  });

  it('two handlers republishing to each other do not starve timers; settled() waits through the yields', async () => {
    const bus = quietBus();
    const ping = bus.scope({ name: 'ping', publishes: ['ping'], subscribes: ['pong'] });
    const pong = bus.scope({ name: 'pong', publishes: ['pong'], subscribes: ['ping'] });
    const rounds = 20_000;
    let count = 0;
    let timerFired = false;
    let timerFiredDuringExchange: boolean | null = null;
    setTimeout(() => void (timerFired = true), 0);
    ping.subscribe('pong', () => {
      if (++count < rounds) ping.publish('ping');
      else timerFiredDuringExchange = timerFired;
    });
    pong.subscribe('ping', () => void pong.publish('pong'));
    ping.publish('ping');
    await bus.settled();
    expect(count).toBe(rounds);
    expect(timerFiredDuringExchange).toBe(true);
  });

  it('handlers that republish to each other after an await do not starve timers either', async () => {
    const bus = quietBus();
    const ping = bus.scope({ name: 'ping', publishes: ['ping'], subscribes: ['pong'] });
    const pong = bus.scope({ name: 'pong', publishes: ['pong'], subscribes: ['ping'] });
    const most = 20_000; // an exchange that never yielded would end here, with the timer not yet run
    let timerFired = false;
    let rounds = 0;
    setTimeout(() => void (timerFired = true), 0);
    // Each publish comes after the handler's own microtask, so each batch ends with nothing queued.
    ping.subscribe('pong', async () => {
      await null;
      if (!timerFired && ++rounds < most) ping.publish('ping');
    });
    pong.subscribe('ping', async () => {
      await null;
      pong.publish('pong');
    });
    ping.publish('ping');
    await bus.settled();
    expect(timerFired).toBe(true);
    expect(rounds).toBeGreaterThan(0);
    expect(rounds).toBeLessThan(most);
    ping.dispose();
    pong.dispose();
  });

  it('keeps delivering under fake timers: the yield to the event loop uses the real one', async () => {
    vi.useFakeTimers();
    try {
      const bus = quietBus();
      const a = bus.scope({ name: 'a', publishes: ['x.y'], subscribes: ['x.y'] });
      let n = 0;
      a.subscribe('x.y', () => void n++);
      // Past the limit of batches without a turn of the loop, which a faked setImmediate never gives.
      for (let i = 0; i < MICROTASK_BATCHES + 500; i++) {
        a.publish('x.y');
        await bus.settled();
      }
      expect(n).toBe(MICROTASK_BATCHES + 500);
    } finally {
      vi.useRealTimers();
    }
  }, 10_000); // held batches would never be delivered: fail soon

  it('events published by handlers keep their order across a yield to the event loop', async () => {
    const bus = quietBus();
    const host = bus.hostScope();
    const seen: number[] = [];
    host.subscribe('n', ({ payload }) => {
      const n = payload as number;
      seen.push(n);
      if (n < 2500) host.publish('n', n + 1);
    });
    host.publish('n', 0);
    await bus.settled();
    expect(seen).toEqual(Array.from({ length: 2501 }, (_, i) => i));
  });

  it('calls a handler without a `this`: it cannot reach its subscription and widen what it receives', async () => {
    const bus = quietBus();
    const received: string[] = [];
    let self: unknown = 'not called';
    bus.scope({ name: 'nosy', subscribes: ['*.ready'] }).subscribe('*.ready', function (this: unknown, event) {
      self = this;
      received.push(event.type);
      if (this && typeof this === 'object') (this as { pattern?: string[] }).pattern = ['**'];
    });
    const db = bus.scope({ name: 'db', publishes: ['db.**'] });
    db.publish('db.ready');
    await bus.settled();
    db.publish('db.credentials.rotated');
    await bus.settled();
    expect(self).toBeUndefined();
    expect(received).toEqual(['db.ready']);
  });

  it('a handler returning something that throws when read (a revoked Proxy) fails that handler only', async () => {
    const failures: string[] = [];
    const bus = createEventBus({ onHandlerError: (error) => failures.push(error.code) });
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const got: number[] = [];
    bus.scope({ name: 'bad', subscribes: ['t'] }).subscribe('t', () => proxy);
    bus.scope({ name: 'good', subscribes: ['t'] }).subscribe('t', (event) => void got.push(event.payload as number));
    const pub = bus.scope({ name: 'pub', publishes: ['t'] });
    pub.publish('t', 1);
    pub.publish('t', 2);
    await bus.settled();
    expect(got).toEqual([1, 2]);
    expect(failures).toEqual(['EVENT_HANDLER_FAILED', 'EVENT_HANDLER_FAILED']);
  });

  it('an async handler that never settles is let go of when its subscription ends: settled() no longer waits for it', async () => {
    const bus = quietBus();
    const scope = bus.scope({ name: 'stuck', subscribes: ['t'] });
    scope.subscribe('t', () => new Promise(() => undefined));
    bus.hostScope().publish('t');
    await new Promise((resolve) => setTimeout(resolve, 5));
    scope.dispose();
    const outcome = await Promise.race([bus.settled().then(() => 'settled'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 500))]);
    expect(outcome).toBe('settled');
    // A settled() already waiting when the subscription ends stops waiting too.
    const again = bus.scope({ name: 'stuck', subscribes: ['t'] });
    again.subscribe('t', () => new Promise(() => undefined));
    bus.hostScope().publish('t');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const waiting = bus.settled().then(() => 'settled');
    await new Promise((resolve) => setTimeout(resolve, 5));
    again.dispose();
    expect(await Promise.race([waiting, new Promise((resolve) => setTimeout(() => resolve('waiting'), 500))])).toBe('settled');
  });

  it('settled waits for async handlers', async () => {
    const bus = quietBus();
    let done = false;
    bus.hostScope().subscribe('a', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      done = true;
    });
    bus.hostScope().publish('a');
    await bus.settled();
    expect(done).toBe(true);
  });
});

describe('delivery, against a reference', () => {
  it('each event reaches exactly the live subscriptions whose pattern matches it, in subscription order, whatever comes and goes', async () => {
    const segment = fc.constantFrom('a', 'b', 'c');
    const name = fc.array(segment, { minLength: 1, maxLength: 3 });
    const pattern = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 0, maxLength: 3 }), fc.boolean())
      .filter(([segments, trailing]) => segments.length > 0 || trailing)
      .map(([segments, trailing]) => [...segments, ...(trailing ? ['**'] : [])].join('.'));
    const step = fc.oneof(
      fc.record({ kind: fc.constant('subscribe' as const), pattern }),
      fc.record({ kind: fc.constant('unsubscribe' as const), index: fc.nat(20) }),
      fc.record({ kind: fc.constant('publish' as const), name: name.map((segments) => segments.join('.')) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 30 }), async (steps) => {
        const bus = quietBus();
        const listener = bus.scope({ name: 'listener', subscribes: ['**'] });
        const source = bus.scope({ name: 'source', publishes: ['**'] });
        const live: Array<{ id: number; pattern: string; off: () => void }> = [];
        const got: Array<[string, number]> = [];
        const expected: Array<[string, number]> = [];
        let next = 0;
        for (const s of steps) {
          if (s.kind === 'subscribe') {
            const id = next++;
            live.push({ id, pattern: s.pattern, off: listener.subscribe(s.pattern, (event) => void got.push([event.type, id])) });
          } else if (s.kind === 'unsubscribe') {
            live.splice(s.index % Math.max(live.length, 1), 1)[0]?.off();
          } else {
            for (const sub of live) if (matchesEventPattern(sub.pattern, s.name)) expected.push([s.name, sub.id]);
            source.publish(s.name);
            await bus.settled();
          }
        }
        expect(got).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
