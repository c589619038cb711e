/**
 * Helpers shared by the tests that drive a host through the public API.
 */
import type { PluginManager, PluginSnapshot } from '../../src/index.ts';

/** One plugin's entry in the host snapshot; fails the test when there is none. */
export function pluginOf(manager: PluginManager, name: string): PluginSnapshot {
  const found = manager.getSnapshot().plugins.find((p) => p.name === name);
  if (!found) throw new Error(`test: no plugin '${name}' in the snapshot`);
  return found;
}

/** `manager.stop()`, failing the test (instead of hanging it) when shutdown does not finish within `ms`. */
export async function stopWithin(manager: PluginManager, ms = 1000) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const states = manager.getSnapshot().plugins.map((p) => `${p.name}:${p.state}`);
      reject(new Error(`test: stop() did not finish within ${ms} ms (${states.join(', ')})`));
    }, ms);
  });
  try {
    return await Promise.race([manager.stop(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
