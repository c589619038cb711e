/**
 * Type-level tests: checked by `tsc --noEmit` (part of `npm test`); the runtime assertions make
 * sure the values behave as their types say.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { PluginFactoryError, createPluginManager, definePlugin, silentLogger } from '../../src/index.ts';
import type { ErrorCode, ManagerSnapshot, PluginContext, PluginHooks, PluginManager } from '../../src/index.ts';

describe('types', () => {
  it('definePlugin types ctx.config from its type argument and returns its argument unchanged', () => {
    const hooks = {
      init(ctx: PluginContext<{ url: string; pool: number }>) {
        expectTypeOf(ctx.config.url).toEqualTypeOf<string>();
        expectTypeOf(ctx.config.pool).toEqualTypeOf<number>();
        expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      },
      start() {},
      stop() {},
    };
    const defined = definePlugin<{ url: string; pool: number }>(hooks);
    expect(defined).toBe(hooks);
    expectTypeOf(defined).toMatchTypeOf<PluginHooks<{ url: string; pool: number }>>();
  });

  it('definePlugin accepts a factory, sync or async', () => {
    const factory = async () => ({ init() {}, start() {}, stop() {} });
    expect(definePlugin(factory)).toBe(factory);
    // @ts-expect-error stop is required
    definePlugin({ init() {}, start() {} });
  });

  it('error codes form a closed union', () => {
    const error = new PluginFactoryError('HOOK_TIMEOUT', 'x');
    expectTypeOf(error.code).toEqualTypeOf<ErrorCode>();
    // @ts-expect-error not a code
    new PluginFactoryError('NOT_A_CODE', 'x');
    expect(error.toJSON()).toEqual({ code: 'HOOK_TIMEOUT', message: 'x' });
  });

  it('the manager API returns plain snapshots', async () => {
    const manager = createPluginManager({ logger: silentLogger });
    expectTypeOf(manager).toEqualTypeOf<PluginManager>();
    expectTypeOf(manager.start).returns.resolves.toEqualTypeOf<ManagerSnapshot>();
    const snapshot = await manager.start();
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    await manager.stop();
    // @ts-expect-error not a command
    manager.can('x', 'explode');
  });
});
