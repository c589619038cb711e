/**
 * Every entry point that takes options refuses an array for them with its coded error, as it
 * refuses null: an array has only index keys, so each option would silently be left at its
 * default (and a check for unknown keys would see only '0', '1' …).
 */
import { describe, expect, it } from 'vitest';
import {
  DASHBOARD_COMMANDS,
  DEFAULT_RETRY,
  ERROR_CODES,
  LIFECYCLE_STATES,
  PLUGIN_COMMANDS,
  connectStatelyInspector,
  createInspectionHub,
  createPluginManager,
  loadHost,
  loadPluginFolder,
  serveDashboard,
  silentLogger,
} from '../../src/index.ts';
import type { PluginContext } from '../../src/index.ts';
import { lifecyclePaths } from '../../src/testing/index.ts';
import { stopWithin } from '../helpers/host.ts';

const codeOf = async (run: () => unknown): Promise<unknown> => {
  try {
    await run();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'no error';
};

const definition = { manifest: { name: 'db', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } };

describe('options given as an array', () => {
  it.each<[string, () => unknown, string]>([
    ['createPluginManager', () => createPluginManager([] as never), 'OPTIONS_INVALID'],
    ['createInspectionHub', () => createInspectionHub([] as never), 'OPTIONS_INVALID'],
    ['connectStatelyInspector', () => connectStatelyInspector([] as never), 'OPTIONS_INVALID'],
    ['lifecyclePaths', () => lifecyclePaths(definition, [] as never), 'OPTIONS_INVALID'],
  ])('%s refuses them', async (_, run, code) => {
    expect(await codeOf(run)).toBe(code);
  });

  it('loadHost and loadPluginFolder answer them as a coded problem, importing nothing', async () => {
    const host = await loadHost('plugins', [] as never);
    expect([host.definitions.length, host.problems.map((p) => p.code)]).toEqual([0, ['OPTIONS_INVALID']]);
    const folder = await loadPluginFolder('plugins/db', [] as never);
    expect([folder.module, folder.problems?.map((p) => p.code)]).toEqual([undefined, ['ARGUMENT_INVALID']]);
  });

  it('serveDashboard, reloadPlugin and ctx.hooks.implement refuse them', async () => {
    let implemented: unknown = 'not run';
    const manager = createPluginManager({
      logger: silentLogger,
      plugins: [{ ...definition, module: { init() {}, start(ctx: PluginContext) {
        try {
          ctx.hooks.implement('http.routes', () => 'x', [] as never);
          implemented = 'no error';
        } catch (error) {
          implemented = (error as { code?: unknown }).code;
        }
      }, stop() {} } }],
    });
    manager.defineHook('http.routes', { mode: 'collect' });
    try {
      await manager.start();
      expect(implemented).toBe('ARGUMENT_INVALID');
      expect(await codeOf(() => serveDashboard(manager, [] as never))).toBe('OPTIONS_INVALID');
      expect(await codeOf(() => manager.reloadPlugin('db', definition, [] as never))).toBe('ARGUMENT_INVALID');
    } finally {
      await stopWithin(manager);
    }
  });
});

describe('exported constants', () => {
  it('cannot be changed by a caller: a later manager keeps the documented defaults and commands', async () => {
    const constants = { DEFAULT_RETRY, PLUGIN_COMMANDS, LIFECYCLE_STATES, ERROR_CODES, DASHBOARD_COMMANDS };
    for (const [name, value] of Object.entries(constants)) {
      expect({ name, frozen: Object.isFrozen(value) }).toEqual({ name, frozen: true });
    }
    // Modules are strict: a write to a frozen object throws instead of changing every later manager.
    expect(() => ((DEFAULT_RETRY as { retries: number }).retries = Infinity)).toThrow(TypeError);
    expect(() => ((PLUGIN_COMMANDS as unknown as string[]).length = 0)).toThrow(TypeError);
    const manager = createPluginManager({ plugins: [definition], logger: silentLogger });
    await manager.start();
    expect(manager.can('db', 'restart')).toBe(true);
    await stopWithin(manager, 2000);
  });
});
