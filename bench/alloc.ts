/**
 * `npm run bench:alloc`: what one plugin allocates over boot and shutdown, and where. V8's
 * sampling heap profiler (every ~1 KiB allocated, objects collected since included) watches a few
 * boots of n no-op plugins in a random DAG, after warm-up boots; allocations are credited to the
 * nearest JavaScript frame's owner: XState, the engine (`src/`, `machines/`) or anything else.
 * Environment: ALLOC_N (default 1000), ALLOC_ROUNDS (default 5).
 */
import { Session } from 'node:inspector/promises';
import type { HeapProfiler } from 'node:inspector';
import { createPluginManager, silentLogger } from '../src/index.ts';
import { randomDag } from './dag.ts';

const n = Number(process.env['ALLOC_N'] ?? 1000);
const rounds = Number(process.env['ALLOC_ROUNDS'] ?? 5);
const noop = async () => undefined;

/** The same seeded DAG shape as the main bench: plugin i depends on up to two before it. */
const dag = randomDag(n, 7);

/** Fresh definitions for each boot, as a host would pass them. */
const plugins = () =>
  dag.map((deps, i) => ({
    manifest: { name: `p${i}`, version: '1.0.0', dependencies: Object.fromEntries(deps.map((d) => [d, '*'])) },
    module: { init: noop, start: noop, stop: noop },
  }));

async function bootAndShutdown(): Promise<void> {
  const manager = createPluginManager({ plugins: plugins(), logger: silentLogger });
  await manager.start();
  await manager.stop();
}

type Owner = 'xstate' | 'engine' | 'other';
const ownerOf = (url: string, inherited: Owner): Owner => {
  if (url === '') return inherited; // a built-in (Set, Map, Array.prototype.sort…): its caller's
  if (url.includes('/xstate/')) return 'xstate';
  if (url.includes('/src/') || url.includes('/machines/')) return 'engine';
  return 'other';
};

for (let r = 0; r < 3; r++) await bootAndShutdown(); // warm-up: JIT, not measured
const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
// The two include flags exist in Node 20's V8 but not in its protocol types.
const params = { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
await session.post('HeapProfiler.startSampling', params as HeapProfiler.StartSamplingParameterType);
for (let r = 0; r < rounds; r++) await bootAndShutdown();
const { profile } = await session.post('HeapProfiler.stopSampling');
session.disconnect();

const bytes: Record<Owner, number> = { xstate: 0, engine: 0, other: 0 };
const visit = (node: HeapProfiler.SamplingHeapProfileNode, inherited: Owner) => {
  const owner = ownerOf(node.callFrame.url, inherited);
  bytes[owner] += node.selfSize;
  for (const child of node.children) visit(child, owner);
};
visit(profile.head, 'other');
const total = bytes.xstate + bytes.engine + bytes.other;
const share = (b: number) => `${Math.round((b / total) * 100)} %`;
const result = {
  case: 'allocation',
  n,
  rounds,
  kibPerPlugin: Math.round((total / rounds / n / 1024) * 10) / 10,
  xstate: share(bytes.xstate),
  engine: share(bytes.engine),
  other: share(bytes.other),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
