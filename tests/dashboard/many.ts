/**
 * A host of many plugins for the dashboard's scale test and measurement: a random DAG (seeded,
 * so every run is the same) where each plugin needs up to two of the 50 plugins before it, and
 * hooks that take a few milliseconds, so that a boot is a few seconds of steady change.
 */
import type { PluginDefinition } from '../../src/index.ts';
import { seeded as random } from '../../bench/dag.ts';
import { sleep } from '../helpers/time.ts';



export function manyPlugins(count: number, maxHookMs = 8, seed = 1): PluginDefinition[] {
  const next = random(seed);
  const name = (i: number) => `p${String(i).padStart(4, '0')}`;
  return Array.from({ length: count }, (_, i) => {
    const dependencies: Record<string, string> = {};
    for (let k = 0; k < 2 && i > 0; k++) {
      if (next() < 0.7) dependencies[name(Math.max(0, i - 1 - Math.floor(next() * Math.min(50, i))))] = '*';
    }
    const hook = () => sleep(Math.floor(next() * maxHookMs));
    return { manifest: { name: name(i), version: '1.0.0', dependencies }, module: { init: hook, start: hook, stop() {} } };
  });
}
