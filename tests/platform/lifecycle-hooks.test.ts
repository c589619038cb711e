import { describe, expect, it } from 'vitest';
import { createLifecycleHooks } from '../../src/platform/index.ts';
import type { AfterInfo } from '../../src/platform/index.ts';
import { PluginFactoryError } from '../../src/errors.ts';
import { codeOf, rejectionCode } from './helpers.ts';

describe('lifecycle hooks around plugin hooks', () => {
  it('runs before-listeners, the hook, then after-listeners with the outcome and duration', async () => {
    let clock = 100;
    const lifecycle = createLifecycleHooks({ now: () => clock });
    const seen: string[] = [];
    const afters: AfterInfo[] = [];
    lifecycle.onBefore('start', async ({ plugin, hook }) => void seen.push(`before ${plugin} ${hook}`));
    lifecycle.onBefore('*', ({ hook }) => void seen.push(`before * ${hook}`));
    lifecycle.onBefore('stop', () => void seen.push('before stop (must not run)'));
    lifecycle.onAfter('*', (info) => void afters.push(info));
    const result = await lifecycle.runAround('db', 'start', async () => {
      seen.push('hook');
      clock += 25;
      return 42;
    });
    expect(result).toBe(42);
    expect(seen).toEqual(['before db start', 'before * start', 'hook']);
    expect(afters).toEqual([{ plugin: 'db', hook: 'start', ok: true, durationMs: 25 }]);
  });

  it('passes a failing hook through unchanged and tells the after-listeners', async () => {
    const lifecycle = createLifecycleHooks({ onError: () => {} });
    const afters: AfterInfo[] = [];
    lifecycle.onAfter('init', (info) => void afters.push(info));
    const boom = new Error('boom');
    await expect(lifecycle.runAround('db', 'init', () => Promise.reject(boom))).rejects.toBe(boom);
    await expect(
      lifecycle.runAround('db', 'init', () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(afters.map((a) => [a.ok, a.error])).toEqual([
      [false, boom],
      [false, boom],
    ]);
  });

  it("listeners are called without the engine's record as `this`", async () => {
    const lifecycle = createLifecycleHooks();
    const seen: unknown[] = [];
    lifecycle.onBefore('*', function (this: unknown) {
      seen.push(this);
    });
    lifecycle.onAfter('*', function (this: unknown) {
      seen.push(this);
    });
    await lifecycle.runAround('db', 'start', () => undefined);
    await lifecycle.settled();
    expect(seen).toEqual([undefined, undefined]);
  });

  it('a failing before-listener vetoes the hook with HOST_HOOK_FAILED', async () => {
    const lifecycle = createLifecycleHooks();
    let ran = false;
    const afters: AfterInfo[] = [];
    lifecycle.onBefore('start', () => {
      throw new Error('not now');
    });
    lifecycle.onAfter('start', (info) => void afters.push(info));
    expect(
      await rejectionCode(
        lifecycle.runAround('db', 'start', () => {
          ran = true;
        }),
      ),
    ).toBe('HOST_HOOK_FAILED');
    expect(ran).toBe(false);
    expect(afters[0]?.ok).toBe(false);
    expect((afters[0]?.error as PluginFactoryError).code).toBe('HOST_HOOK_FAILED');
  });

  it('a failing after-listener is reported and changes nothing', async () => {
    const reported: PluginFactoryError[] = [];
    const lifecycle = createLifecycleHooks({ onError: (error) => reported.push(error) });
    let second = false;
    lifecycle.onAfter('stop', async () => Promise.reject(new Error('listener broke')));
    lifecycle.onAfter('stop', () => {
      second = true;
    });
    expect(await lifecycle.runAround('db', 'stop', () => 'done')).toBe('done');
    await lifecycle.settled();
    expect(second).toBe(true);
    expect(reported.map((e) => [e.code, e.plugin, e.hook])).toEqual([['HOST_HOOK_FAILED', 'db', 'stop']]);
  });

  it('does not wait for after-listeners: a slow one never makes the hook late; settled() waits for it', async () => {
    const lifecycle = createLifecycleHooks();
    let release = () => undefined as void;
    let finished = false;
    lifecycle.onAfter('start', () => new Promise<void>((resolve) => (release = resolve)).then(() => void (finished = true)));
    expect(await lifecycle.runAround('db', 'start', () => 'up')).toBe('up');
    expect(finished).toBe(false);
    let settled = false;
    const waiting = lifecycle.settled().then(() => void (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(settled).toBe(false);
    release();
    await waiting;
    expect(finished).toBe(true);
  });

  it('removers take listeners away; nothing stays registered', async () => {
    const lifecycle = createLifecycleHooks();
    let calls = 0;
    const offBefore = lifecycle.onBefore('*', () => void calls++);
    const offAfter = lifecycle.onAfter('*', () => void calls++);
    await lifecycle.runAround('db', 'dispose', () => undefined);
    expect(calls).toBe(2);
    offBefore();
    offAfter();
    offAfter();
    expect(lifecycle.listenerCount()).toBe(0);
    await lifecycle.runAround('db', 'dispose', () => undefined);
    expect(calls).toBe(2);
  });

  it('refuses unknown hook names and bad arguments with ARGUMENT_INVALID', async () => {
    const lifecycle = createLifecycleHooks();
    expect(codeOf(() => lifecycle.onBefore('boot' as 'init', () => {}))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => lifecycle.onAfter('stop', 1 as unknown as () => void))).toBe('ARGUMENT_INVALID');
    expect(await rejectionCode(lifecycle.runAround('db', 'health' as 'init', () => 1))).toBe('ARGUMENT_INVALID');
    expect(await rejectionCode(lifecycle.runAround('Bad Name', 'init', () => 1))).toBe('ARGUMENT_INVALID');
  });
});
