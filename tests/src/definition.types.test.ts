/**
 * Type-level tests: checked by `tsc --noEmit` (part of `npm test`); the runtime assertions make
 * sure the values behave as their types say.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { PluginFactoryError, createConsoleLogger, createPinoLogger, createPluginManager, definePlugin, silentLogger } from '../../src/index.ts';
import type { ErrorCode, HostHealth, ManagerSnapshot, PluginContext, PluginDefinition, PluginHooks, PluginManager } from '../../src/index.ts';
import { MODEL_EVENTS, lifecyclePaths } from '../../src/testing/index.ts';

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

  it('options given as undefined (an unset environment variable) type-check under exactOptionalPropertyTypes and mean left out', async () => {
    const unset = (): string | undefined => undefined;
    const maybeNumber = (): number | undefined => undefined;
    const config: Record<string, unknown> | undefined = undefined;
    const plugin: PluginDefinition = { manifest: { name: 'db', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} }, config, source: unset() };
    const manager = createPluginManager({
      plugins: [plugin],
      logger: silentLogger,
      dataDir: unset(),
      hookTimeoutMs: maybeNumber(),
      retry: { retries: maybeNumber() },
      health: { intervalMs: maybeNumber() },
      failurePolicy: undefined,
    });
    await manager.start();
    expect(manager.getSnapshot().plugins.map((p) => p.state)).toEqual(['running']);
    await manager.stop();
    expect(createConsoleLogger({ level: undefined, write: undefined }).info).toBeTypeOf('function');
  });

  it('a plugin out of service has its error code in health().down, typed as a code', async () => {
    const manager = createPluginManager({
      logger: silentLogger,
      plugins: [{ manifest: { name: 'bad', version: '1.0.0' }, module: { init() {}, start() { throw new Error('no'); }, stop() {} } }],
    });
    await manager.start();
    const health: HostHealth = await manager.health();
    expectTypeOf(health.down['bad']!.code).toEqualTypeOf<ErrorCode | null>();
    expect(health.down['bad']!.code).toBe('HOOK_FAILED');
    await manager.stop();
  });

  it('MODEL_EVENTS cannot be changed: the kit walks every path with it', () => {
    const count = lifecyclePaths({ manifest: { name: 'p', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } }).length;
    // @ts-expect-error read-only
    expect(() => MODEL_EVENTS.splice(0)).toThrow(TypeError);
    expect(() => Object.assign(MODEL_EVENTS[0]!, { type: 'INVALID' })).toThrow(TypeError);
    expect(lifecyclePaths({ manifest: { name: 'p', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } })).toHaveLength(count);
  });

  it('createPinoLogger refuses options pino refuses with OPTIONS_INVALID', () => {
    for (const options of [{ level: 'verbose' }, null]) {
      let caught: unknown;
      try {
        createPinoLogger(options as never);
      } catch (error) {
        caught = error;
      }
      expect((caught as PluginFactoryError).code).toBe('OPTIONS_INVALID');
    }
  });
});
