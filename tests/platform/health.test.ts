import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHealthPoller, normalizeHealth } from '../../src/platform/index.ts';
import type { HealthPollerOptions, HealthReport } from '../../src/platform/index.ts';
import { cyclic as cyclicObject, selfThrowing as unreadableError } from '../helpers/hostile.ts';
import { codeOf, manualTimers } from './helpers.ts';

describe('health results', () => {
  it.each([
    [undefined, { status: 'healthy' }],
    [true, { status: 'healthy' }],
    [false, { status: 'unhealthy' }],
    ['degraded', { status: 'degraded' }],
    [{ status: 'healthy', message: 'ok', extra: 1 }, { status: 'healthy', message: 'ok' }],
    [
      { components: { db: 'healthy', cache: { status: 'degraded', message: 'slow' } } },
      { status: 'degraded', components: { db: { status: 'healthy' }, cache: { status: 'degraded', message: 'slow' } } },
    ],
    [{ status: 'healthy', components: { db: 'unhealthy' } }, { status: 'healthy', components: { db: { status: 'unhealthy' } } }],
    // No component listed right now (a pool without connections): none is unwell.
    [{ components: {} }, { status: 'healthy', components: {} }],
    [{ components: {}, message: 'no connections' }, { status: 'healthy', components: {}, message: 'no connections' }],
  ])('reads %j', (given, expected) => {
    expect(normalizeHealth(given)).toEqual(expected);
  });

  it.each([42, 'ok', null, [], {}, { stauts: 'healthy' }, { message: 'fine' }, { status: 'fine' }, { status: 'healthy', message: 3 }, { components: { a: 'meh' } }, { components: [] }, { components: { a: { message: 'x' } } }])(
    'refuses %j',
    (given) => {
      expect(normalizeHealth(given)).toBeNull();
    },
  );

  it('refuses components that are not a plain object (a Map would read as none, all healthy); one without a prototype is read', () => {
    expect(normalizeHealth({ components: new Map([['primary', 'unhealthy']]) })).toBeNull();
    expect(normalizeHealth({ components: new (class Components { primary = 'unhealthy'; })() })).toBeNull();
    const bare = Object.assign(Object.create(null) as Record<string, string>, { primary: 'unhealthy' });
    expect(normalizeHealth({ components: bare })?.status).toBe('unhealthy');
  });

  it('keeps a component named __proto__ as data', () => {
    const result = normalizeHealth(JSON.parse('{"components":{"__proto__":"unhealthy"}}'));
    expect(result?.status).toBe('unhealthy');
    expect(Object.keys(result?.components ?? {})).toEqual(['__proto__']);
  });

  it('more than 100 components: a health result still, the worst 100 kept, the rest counted in the message', () => {
    const components: Record<string, string> = {};
    for (let i = 0; i < 150; i++) components[`c${i}`] = i === 140 ? 'unhealthy' : i % 50 === 0 ? 'degraded' : 'healthy';
    const result = normalizeHealth({ components, message: 'shards' });
    expect(result?.status).toBe('unhealthy');
    const kept = Object.keys(result?.components ?? {});
    expect(kept).toHaveLength(100);
    expect(kept.slice(0, 4)).toEqual(['c140', 'c0', 'c50', 'c100']);
    expect(result?.message).toMatch(/^shards; 50 more components/);
    // A long message leaves room for that note within the 1,000 characters.
    const long = normalizeHealth({ components, message: 'x'.repeat(5000) });
    expect([long?.message?.length, long?.message?.endsWith('(the worst 100 are)')]).toEqual([1000, true]);
  });

  it('cuts a component name at 200 characters, after scrubbing it; names that become one show the worst of them', () => {
    const long = 'n'.repeat(5000);
    const result = normalizeHealth({ components: { [`${long}a`]: 'healthy', [`${long}b`]: 'unhealthy', short: 'degraded', ['e'.repeat(200)]: 'healthy' } });
    expect(result?.status).toBe('unhealthy');
    expect(result?.components).toEqual({ ['n'.repeat(200)]: { status: 'unhealthy' }, short: { status: 'degraded' }, ['e'.repeat(200)]: { status: 'healthy' } });
    // A secret across the cut is scrubbed whole first: none of it shows.
    const redact = (text: string) => text.replace(/hunter\d/g, '[redacted]');
    const across = normalizeHealth({ components: { [`${'z'.repeat(196)}hunter2`]: 'healthy' } }, redact);
    expect(Object.keys(across?.components ?? {})).toEqual([`${'z'.repeat(196)}[red`]);
    // A cut that would fall inside a surrogate pair leaves the whole pair out.
    const emoji = normalizeHealth({ components: { [`${'e'.repeat(199)}\u{1F600}`]: 'healthy' }, message: `${'m'.repeat(999)}\u{1F600}` });
    expect(Object.keys(emoji?.components ?? {})).toEqual(['e'.repeat(199)]);
    expect(emoji?.message).toBe('m'.repeat(999));
    // Made one by scrubbing: the worse status is kept, listed first or last.
    for (const [first, second] of [['healthy', 'degraded'], ['degraded', 'healthy']]) {
      const scrubbed = normalizeHealth({ components: { 'db hunter1': first, 'db hunter2': second } }, redact);
      expect(scrubbed?.components).toEqual({ 'db [redacted]': { status: 'degraded' } });
    }
  });

  it('names made one count once towards the 100 kept and the ones not shown', () => {
    const components: Record<string, string> = {};
    for (let i = 0; i < 100; i++) components[`${'s'.repeat(200)}${i}`] = 'unhealthy';
    for (let i = 0; i < 150; i++) components[`d${i}`] = 'degraded';
    const result = normalizeHealth({ components });
    const kept = Object.keys(result?.components ?? {});
    expect(kept).toHaveLength(100);
    expect(kept[0]).toBe('s'.repeat(200));
    expect(result?.message).toMatch(/^51 more components/);
  });

  it('scrubs component names as it scrubs messages', () => {
    const redact = (text: string) => text.replaceAll('hunter2', '[redacted]');
    const result = normalizeHealth({ components: { 'postgres://u:hunter2@db': { status: 'degraded', message: 'hunter2 lags' } } }, redact);
    expect(result?.components).toEqual({ 'postgres://u:[redacted]@db': { status: 'degraded', message: '[redacted] lags' } });
  });
});

function poller(check: HealthPollerOptions['check'], extra: Partial<HealthPollerOptions> = {}) {
  const timers = manualTimers(1000);
  const changes: HealthReport[] = [];
  const streaks: Array<[string, number]> = [];
  const health = createHealthPoller({
    plugin: 'db',
    check,
    intervalMs: 100,
    timeoutMs: 30,
    unhealthyThreshold: 2,
    timers,
    onChange: (report) => changes.push(report),
    onUnhealthy: (report, n) => streaks.push([report.error?.code ?? report.status, n]),
    ...extra,
  });
  return { timers, changes, streaks, health };
}

describe('health poller', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('checks at start and then every interval, reporting only changes', async () => {
    const answers = ['healthy', 'healthy', { status: 'degraded', message: 'a' }, { status: 'degraded', message: 'b' }, 'healthy'];
    let calls = 0;
    const { timers, changes, health } = poller(() => answers[calls++]);
    health.start();
    health.start();
    await timers.advance(0);
    expect(calls).toBe(1);
    await timers.advance(400);
    expect(calls).toBe(5);
    expect(changes.map((r) => r.status)).toEqual(['healthy', 'degraded', 'healthy']);
    expect(health.last?.status).toBe('healthy');
    expect(changes[0]?.checkedAt).toBe(1000);
    health.stop();
    expect(timers.pending).toBe(0);
  });

  it('tells onReport of every check, unchanged ones and one skipped because the last still hangs', async () => {
    let calls = 0;
    const reports: Array<[string, string | undefined, boolean]> = [];
    const { timers, health } = poller(() => (++calls === 3 ? new Promise(() => undefined) : 'healthy'), {
      unhealthyThreshold: 10,
      onReport: (report, called) => reports.push([report.status, report.error?.code, called]),
    });
    health.start();
    await timers.advance(0);
    for (let i = 0; i < 4; i++) await timers.advance(100);
    expect(calls).toBe(3); // the fourth falls due while the third hangs: not called
    expect(reports).toEqual([
      ['healthy', undefined, true],
      ['healthy', undefined, true],
      ['unhealthy', 'HOOK_TIMEOUT', true],
      ['unhealthy', 'HOOK_TIMEOUT', false],
    ]);
    health.stop();
  });

  it("waits for an earlier poller's check still in flight, and a check that never settles keeps no poller made after it", async () => {
    // A check of the previous run that hangs for good: each poller made after it (one per restart
    // of the plugin) waits for it, and must not stay attached to it once stopped.
    let attached = 0;
    let settle: () => void = () => undefined;
    const hung: Promise<unknown> = new Promise<void>((resolve) => (settle = resolve));
    const counted = { then: (onFulfilled: () => void, onRejected: () => void) => (attached++, hung.then(onFulfilled, onRejected)) } as unknown as Promise<unknown>;
    for (let restart = 0; restart < 50; restart++) {
      let calls = 0;
      const { timers, health } = poller(() => (calls++, 'healthy'), { inFlight: counted });
      health.start();
      await timers.advance(0);
      expect(calls).toBe(0); // not called alongside the check still in flight
      health.stop();
    }
    expect(attached).toBe(1);
    // Once it settles, a poller that waits for it checks again.
    let calls = 0;
    const { timers, health } = poller(() => (calls++, 'healthy'), { inFlight: counted });
    health.start();
    settle();
    await timers.advance(0);
    await timers.advance(100);
    expect(calls).toBeGreaterThan(0);
    health.stop();
  });

  it('reads a throw, a rejection and a malformed result as unhealthy with a code', async () => {
    const selfThrowing = unreadableError();
    const cyclic = cyclicObject();
    const answers: Array<() => unknown> = [
      () => {
        throw new Error('down');
      },
      () => Promise.reject(new Error('down')),
      () => {
        throw selfThrowing; // a value that throws when read
      },
      () => Promise.reject(cyclic),
      () => 'fine',
    ];
    let calls = 0;
    const { timers, health } = poller(() => answers[calls++]!(), { unhealthyThreshold: 10 });
    const codes: unknown[] = [];
    health.start();
    for (let i = 0; i < 5; i++) {
      await timers.advance(i === 0 ? 0 : 100);
      codes.push([health.last?.status, health.last?.error?.code, health.last?.error?.hook]);
    }
    expect(codes).toEqual([
      ['unhealthy', 'HOOK_FAILED', 'health'],
      ['unhealthy', 'HOOK_FAILED', 'health'],
      ['unhealthy', 'HOOK_FAILED', 'health'],
      ['unhealthy', 'HOOK_FAILED', 'health'],
      ['unhealthy', 'HEALTH_INVALID', 'health'],
    ]);
    expect(health.consecutiveUnhealthy).toBe(5);
    health.stop();
  });

  it('a result whose getters throw when read is HEALTH_INVALID, and polling goes on', async () => {
    const unreadable = [
      {
        get status(): string {
          throw new Error('status getter');
        },
      },
      {
        status: 'healthy',
        components: {
          get db(): string {
            throw new Error('component getter');
          },
        },
      },
    ];
    let calls = 0;
    const { timers, health } = poller(() => unreadable[calls++ % 2], { unhealthyThreshold: 10 });
    const codes: unknown[] = [];
    health.start();
    for (let i = 0; i < 3; i++) {
      await timers.advance(i === 0 ? 0 : 100);
      codes.push(health.last?.error?.code);
    }
    expect(codes).toEqual(['HEALTH_INVALID', 'HEALTH_INVALID', 'HEALTH_INVALID']);
    expect(calls).toBe(3);
    health.stop();
  });

  it('times a hanging check out, aborts its signal, and does not call it again while it hangs', async () => {
    const signals: AbortSignal[] = [];
    let release: (value: unknown) => void = () => {};
    const { timers, health, streaks } = poller((signal) => {
      signals.push(signal);
      return new Promise((resolve) => (release = resolve));
    });
    health.start();
    await timers.advance(30);
    expect(health.last?.error?.code).toBe('HOOK_TIMEOUT');
    expect(signals[0]?.aborted).toBe(true);
    await timers.advance(100);
    expect(signals).toHaveLength(1);
    expect(health.consecutiveUnhealthy).toBe(2);
    expect(streaks).toEqual([['HOOK_TIMEOUT', 2]]);
    release('healthy');
    await timers.advance(100);
    expect(signals).toHaveLength(2);
    health.stop();
    expect(timers.pending).toBe(0);
  });

  it('fires onUnhealthy once per streak of unhealthyThreshold checks', async () => {
    const answers = [false, false, false, false, true, false, false];
    let calls = 0;
    const { timers, streaks, health } = poller(() => answers[calls++]);
    health.start();
    await timers.advance(600);
    expect(calls).toBe(7);
    expect(streaks).toEqual([
      ['unhealthy', 2],
      ['unhealthy', 2],
    ]);
    health.stop();
  });

  it('stop clears its timer, aborts the running check and drops its late result', async () => {
    let release: (value: unknown) => void = () => {};
    let signal: AbortSignal | undefined;
    const { timers, changes, health } = poller((s) => {
      signal = s;
      return new Promise((resolve) => (release = resolve));
    });
    health.start();
    await timers.advance(0);
    expect(timers.pending).toBe(1);
    health.stop();
    expect(health.running).toBe(false);
    expect(timers.pending).toBe(0);
    expect(signal?.aborted).toBe(true);
    release('unhealthy');
    await timers.flush();
    expect(changes).toEqual([]);
    expect(timers.pending).toBe(0);
  });

  it('a restart forgets the previous reports and streak', async () => {
    const { timers, health, changes } = poller(() => 'unhealthy');
    health.start();
    await timers.advance(0);
    health.stop();
    expect(health.consecutiveUnhealthy).toBe(1);
    health.start();
    expect(health.last).toBeUndefined();
    expect(health.consecutiveUnhealthy).toBe(0);
    await timers.advance(0);
    expect(changes).toHaveLength(2);
    health.stop();
  });

  it('redacts messages and survives throwing callbacks', async () => {
    const { timers, health } = poller(
      () => {
        throw new Error('password hunter2 rejected');
      },
      {
        redact: (text) => text.split('hunter2').join('[redacted]'),
        onChange: () => {
          throw new Error('host bug');
        },
      },
    );
    health.start();
    await timers.advance(100);
    expect(health.last?.message).not.toContain('hunter2');
    expect(health.last?.error?.message).not.toContain('hunter2');
    expect(health.consecutiveUnhealthy).toBe(2);
    health.stop();
  });

  it('uses the real timers by default and leaves none behind', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const health = createHealthPoller({ plugin: 'db', check: () => void calls++, intervalMs: 50, timeoutMs: 10, unhealthyThreshold: 1 });
    health.start();
    await vi.advanceTimersByTimeAsync(120);
    expect(calls).toBe(3);
    health.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses malformed options with OPTIONS_INVALID', () => {
    const base: HealthPollerOptions = { plugin: 'db', check: () => true, intervalMs: 10, timeoutMs: 10, unhealthyThreshold: 1 };
    for (const bad of [
      { plugin: 'Bad' },
      { check: 'no' },
      { intervalMs: 0 },
      { intervalMs: Number.NaN },
      { timeoutMs: 2 ** 40 },
      { unhealthyThreshold: 1.5 },
      { initialDelayMs: -1 },
    ]) {
      expect(codeOf(() => createHealthPoller({ ...base, ...bad } as HealthPollerOptions))).toBe('OPTIONS_INVALID');
    }
  });
});
