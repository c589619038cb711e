/**
 * `npm run bench`: boot + shutdown of n no-op async plugins in a random DAG (each depends on up
 * to 2 earlier ones), the engine against a plain loop, interleaved, medians of several rounds.
 * `npm run --silent bench -- --json` prints one JSON object per line.
 */
import { createPluginManager, silentLogger } from '../src/index.ts';
import type { PluginDefinition } from '../src/index.ts';

const json = process.argv.includes('--json');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const SIZES = (process.env['BENCH_SIZES'] ?? '1000,10000').split(',').map(Number);

/** A seeded random DAG: plugin i depends on up to two of the plugins before it. */
function randomDag(n: number, seed = 42): string[][] {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  return Array.from({ length: n }, (_, i) => {
    const deps = new Set<string>();
    for (let k = 0; k < 2 && i > 0; k++) deps.add(`p${Math.floor(random() * i)}`);
    return [...deps];
  });
}

const noop = async () => undefined;

function definitions(dag: string[][]): PluginDefinition[] {
  return dag.map((deps, i) => ({
    manifest: { name: `p${i}`, version: '1.0.0', dependencies: Object.fromEntries(deps.map((d) => [d, '*'])) },
    module: { init: noop, start: noop, stop: noop },
  }));
}

async function engineRun(dag: string[][]): Promise<{ ms: number; heapPerPluginKiB: number }> {
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const manager = createPluginManager({ plugins: definitions(dag), logger: silentLogger });
  const booted = await manager.start();
  const heapBooted = process.memoryUsage().heapUsed;
  await manager.stop();
  const ms = performance.now() - started;
  if (booted.plugins.some((p) => p.state !== 'running')) throw new Error('a plugin did not reach running');
  return { ms, heapPerPluginKiB: (heapBooted - heapBefore) / 1024 / dag.length };
}

/** The floor: a loop awaiting init/start in topological order (the DAG is given in one) and stop in reverse. */
async function plainRun(dag: string[][]): Promise<number> {
  const hooks = dag.map(() => ({ init: noop, start: noop, stop: noop }));
  const started = performance.now();
  for (const h of hooks) {
    await h.init();
    await h.start();
  }
  for (let i = hooks.length - 1; i >= 0; i--) await hooks[i]!.stop();
  return performance.now() - started;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const results: Array<Record<string, number | string>> = [];
for (const n of SIZES) {
  const dag = randomDag(n);
  const engine: number[] = [];
  const heap: number[] = [];
  const plain: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const run = await engineRun(dag);
    engine.push(run.ms);
    heap.push(run.heapPerPluginKiB);
    plain.push(await plainRun(dag));
    if (!json) process.stderr.write(`n=${n} round ${round + 1}/${ROUNDS}: engine ${run.ms.toFixed(0)} ms\n`);
  }
  const result = {
    case: 'boot-shutdown',
    n,
    engineMs: Math.round(median(engine)),
    plainMs: Math.round(median(plain) * 10) / 10,
    ratioVsPlain: Math.round((median(engine) / median(plain)) * 10) / 10,
    heapPerPluginKiB: Math.round(median(heap) * 10) / 10,
  };
  results.push(result);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
}
const [small, large] = [results[0], results[results.length - 1]];
if (small && large && small !== large) {
  const scale = { case: 'scale', from: small['n']!, to: large['n']!, timeRatio: Math.round((Number(large['engineMs']) / Number(small['engineMs'])) * 10) / 10 };
  if (json) process.stdout.write(`${JSON.stringify(scale)}\n`);
  results.push(scale);
}
if (!json) console.table(results);
