/**
 * `npm run bench`: the engine against fastify's avvio and a plain loop, on identical plugin sets,
 * interleaved in one process, several rounds, medians. `npm run --silent bench -- --json` prints
 * one JSON object per line.
 *
 * Cases: boot-shutdown (n = 1,000, 3,000 and 10,000 no-op async plugins in a random DAG),
 * scale (time at the largest n over time at the smallest), xstate-floor (the lifecycle chart
 * alone, and the smallest chart taking as many steps, against avvio), dag-latency (200 plugins
 * whose hooks sleep 2–10 ms, against the graph's critical path and a bare promise DAG runner
 * with the same timers), restart-one (one leaf of a
 * booted host, at every n, so a restart that grew with the host would show), inspect-overhead (1,000 plugins with and without an inspection
 * observer). Environment: BENCH_ROUNDS (default 3), BENCH_SIZES (default 1000,3000,10000).
 *
 * A run also writes bench/results.svg (time against n for the engine, avvio and the plain loop)
 * and bench/results.md (the machine and the figures); `--no-write` skips both.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import avvio from 'avvio';
import { randomDag, seeded } from './dag.ts';
import { lifecycleChartOnly, minimalChart, quiesce } from './floor.ts';
import { plotSvg } from './plot.ts';
import { createPluginManager, silentLogger } from '../src/index.ts';
import type { PluginDefinition } from '../src/index.ts';

if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
  // Without it every run would start on the previous one's garbage, and the heap figure be wrong.
  process.stderr.write('bench: run it with node --expose-gc (npm run bench does)\n');
  process.exit(2);
}

const json = process.argv.includes('--json');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const SIZES = (process.env['BENCH_SIZES'] ?? '1000,3000,10000').split(',').map(Number);
const write = !process.argv.includes('--no-write');
/** A restart is short: many rounds, so that one young-generation collection does not set the median. */
const RESTART_ROUNDS = Math.max(ROUNDS, 21);

interface Hooks {
  init(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const noop = async () => undefined;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const noopHooks = (n: number): Hooks[] => Array.from({ length: n }, () => ({ init: noop, start: noop, stop: noop }));

function definitions(dag: string[][], hooks: Hooks[]): PluginDefinition[] {
  return dag.map((deps, i) => ({
    manifest: { name: `p${i}`, version: '1.0.0', dependencies: Object.fromEntries(deps.map((d) => [d, '*'])) },
    module: hooks[i],
  }));
}

/**
 * Before a timed run or a weighing: a few turns of the event loop, then a full collection. A
 * host stopped just before stays reachable until its last callbacks ran, and the next contender
 * (avvio after the engine, say) would otherwise pay for collecting it.
 */
const settle = async () => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  quiesce();
};

const heapUsed = async () => {
  await settle();
  return process.memoryUsage().heapUsed;
};

/** A booted host, for a case that works on one (restart-one); not timed. */
async function bootedHost(dag: string[][], hooks: Hooks[]) {
  const manager = createPluginManager({ plugins: definitions(dag, hooks), logger: silentLogger });
  const booted = await manager.start();
  if (booted.plugins.some((p) => p.state !== 'running')) throw new Error('a plugin did not reach running');
  return manager;
}

/**
 * Boot then shutdown, timed as one span as the baselines are (no collection forced between the
 * two: a run pays for its own garbage), with the boot's share. The caller's definitions exist
 * before the clock starts, as a host's would.
 */
async function engineRun(dag: string[][], hooks: Hooks[], options: { inspect?: () => void } = {}) {
  const plugins = definitions(dag, hooks);
  await settle();
  const started = performance.now();
  const manager = createPluginManager({ plugins, logger: silentLogger, ...options });
  const booted = await manager.start();
  const bootMs = performance.now() - started;
  const reached = booted.plugins.every((p) => p.state === 'running');
  await manager.stop();
  const ms = performance.now() - started;
  if (!reached) throw new Error('a plugin did not reach running');
  return { ms, bootMs };
}

/**
 * What a booted host keeps per plugin (KiB), in a run of its own, untimed: a full collection
 * before and after the boot, with nothing of the caller's (the snapshot start() returns) alive.
 */
async function engineHeapPerPluginKiB(dag: string[][], hooks: Hooks[]): Promise<number> {
  const plugins = definitions(dag, hooks);
  // The host the timed run stopped just before is gone from the heap weighed as "before" (settle).
  const before = await heapUsed();
  const manager = createPluginManager({ plugins, logger: silentLogger });
  await manager.start();
  const kib = ((await heapUsed()) - before) / 1024 / dag.length;
  await manager.stop();
  return kib;
}

/** avvio: each plugin a `use` that awaits init and start and registers stop with onClose. */
async function avvioRun(hooks: Hooks[]): Promise<{ ms: number; bootMs: number }> {
  await settle();
  const started = performance.now();
  const app = avvio();
  for (const h of hooks) {
    app.use(async () => {
      await h.init();
      await h.start();
      app.onClose(async () => {
        await h.stop();
      });
    });
  }
  await app.ready();
  const bootMs = performance.now() - started;
  await new Promise<void>((resolve, reject) => app.close((error) => (error ? reject(error) : resolve())));
  return { ms: performance.now() - started, bootMs };
}

/**
 * The fastest boot of a DAG with these timers: each plugin awaits its dependencies' promises,
 * then its init and start. No lifecycle, no checks; what the machine's timers allow.
 */
async function plainDagBoot(dag: string[][], hooks: Hooks[]): Promise<number> {
  await settle();
  const started = performance.now();
  const done: Array<Promise<void>> = [];
  dag.forEach((deps, i) => {
    done[i] = (async () => {
      await Promise.all(deps.map((d) => done[Number(d.slice(1))]));
      await hooks[i]!.init();
      await hooks[i]!.start();
    })();
  });
  await Promise.all(done);
  return performance.now() - started;
}

/** The floor: a loop awaiting init/start in topological order and stop in reverse. */
async function plainRun(hooks: Hooks[]): Promise<number> {
  await settle();
  const started = performance.now();
  for (const h of hooks) {
    await h.init();
    await h.start();
  }
  for (let i = hooks.length - 1; i >= 0; i--) await hooks[i]!.stop();
  return performance.now() - started;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const results: Array<Record<string, number | string>> = [];
const report = (result: Record<string, number | string>) => {
  results.push(result);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
};
const progress = (line: string) => {
  if (!json) process.stderr.write(`${line}\n`);
};

// ── warm-up (not reported): the first case must not pay for JIT compilation ──
for (let r = 0; r < 2; r++) {
  await engineRun(randomDag(1000, 99), noopHooks(1000));
  await avvioRun(noopHooks(1000));
}

// ── boot-shutdown ────────────────────────────────────────────────────────
const bootShutdown = new Map<number, number>();
const curves = { engine: [] as Array<[number, number]>, avvio: [] as Array<[number, number]>, plain: [] as Array<[number, number]> };
let largestAvvioMs = 0;
for (const n of SIZES) {
  const dag = randomDag(n);
  const engine: number[] = [];
  const heap: number[] = [];
  const avvioMs: number[] = [];
  const plain: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const run = await engineRun(dag, noopHooks(n));
    engine.push(run.ms);
    heap.push(await engineHeapPerPluginKiB(dag, noopHooks(n)));
    avvioMs.push((await avvioRun(noopHooks(n))).ms);
    plain.push(await plainRun(noopHooks(n)));
    progress(`boot-shutdown n=${n} round ${r + 1}/${ROUNDS}: engine ${run.ms.toFixed(0)} ms`);
  }
  bootShutdown.set(n, median(engine));
  curves.engine.push([n, median(engine)]);
  curves.avvio.push([n, median(avvioMs)]);
  curves.plain.push([n, median(plain)]);
  largestAvvioMs = median(avvioMs);
  report({
    case: 'boot-shutdown',
    n,
    engineMs: round(median(engine)),
    avvioMs: round(median(avvioMs)),
    plainMs: round(median(plain)),
    ratioVsAvvio: round(median(engine) / median(avvioMs), 2),
    ratioVsPlain: round(median(engine) / median(plain), 1),
    heapPerPluginKiB: round(median(heap)),
  });
}
if (bootShutdown.size >= 2) {
  const sizes = [...bootShutdown.keys()].sort((a, b) => a - b);
  const small = sizes[0]!;
  const large = sizes[sizes.length - 1]!;
  report({ case: 'scale', from: small, to: large, timeRatio: round(bootShutdown.get(large)! / bootShutdown.get(small)!, 2) });
}

// ── xstate-floor ─────────────────────────────────────────────────────────
{
  const n = Math.max(...SIZES);
  const chart: number[] = [];
  const minimal: number[] = [];
  const avvioMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    chart.push(await lifecycleChartOnly(n));
    minimal.push(await minimalChart(n));
    avvioMs.push((await avvioRun(noopHooks(n))).ms);
    progress(`xstate-floor n=${n} round ${r + 1}/${ROUNDS}: chart ${chart.at(-1)!.toFixed(0)} ms`);
  }
  report({
    case: 'xstate-floor',
    n,
    chartMs: round(median(chart)),
    minimalChartMs: round(median(minimal)),
    avvioMs: round(median(avvioMs)),
    chartRatioVsAvvio: round(median(chart) / median(avvioMs), 2),
    minimalRatioVsAvvio: round(median(minimal) / median(avvioMs), 2),
  });
}

// ── dag-latency ──────────────────────────────────────────────────────────
{
  const n = 200;
  const dag = randomDag(n, 7);
  const random = seeded(11);
  const delays = dag.map(() => ({ init: 2 + Math.floor(random() * 9), start: 2 + Math.floor(random() * 9) }));
  // What each hook really took: timers overshoot, the more so when the main thread is busy (the
  // engine's own work and collections included), so a path of these is an upper bound on what
  // the machine's timers excuse, not a floor the engine could not beat.
  const took = dag.map(() => ({ init: 0, start: 0 }));
  const timed = (i: number, hook: 'init' | 'start', ms: number) => async () => {
    const started = performance.now();
    await sleep(ms);
    took[i]![hook] = performance.now() - started;
  };
  const sleepers = (): Hooks[] =>
    delays.map((d, i) => ({ init: timed(i, 'init', d.init), start: timed(i, 'start', d.start), stop: noop }));
  const pathOf = (weights: Array<{ init: number; start: number }>) => {
    const end: number[] = [];
    dag.forEach((deps, i) => {
      end[i] = Math.max(0, ...deps.map((d) => end[Number(d.slice(1))]!)) + weights[i]!.init + weights[i]!.start;
    });
    return Math.max(...end);
  };
  // The fastest any engine could boot: each plugin's init+start after its dependencies' finish,
  // with the nominal sleeps, and with the sleeps as long as they really were in the engine's run.
  const criticalPathMs = pathOf(delays);
  const engine: number[] = [];
  const measuredPath: number[] = [];
  const avvioMs: number[] = [];
  const plain: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const run = await engineRun(dag, sleepers());
    engine.push(run.bootMs);
    measuredPath.push(pathOf(took));
    avvioMs.push((await avvioRun(sleepers())).bootMs);
    plain.push(await plainDagBoot(dag, sleepers()));
    progress(`dag-latency round ${r + 1}/${ROUNDS}: engine boot ${run.bootMs.toFixed(0)} ms`);
  }
  report({
    case: 'dag-latency',
    n,
    engineMs: round(median(engine)),
    criticalPathMs,
    measuredCriticalPathMs: round(median(measuredPath)),
    avvioMs: round(median(avvioMs)),
    plainMs: round(median(plain)),
    ratioVsCriticalPath: round(median(engine) / criticalPathMs, 2),
    ratioVsMeasuredPath: round(median(engine) / median(measuredPath), 2),
    plainRatioVsCriticalPath: round(median(plain) / criticalPathMs, 2),
  });
}

// ── restart-one ──────────────────────────────────────────────────────────
// At every size, so that the figure shows whether a restart grows with the host.
for (const n of SIZES) {
  const dag = randomDag(n);
  const manager = await bootedHost(dag, noopHooks(n));
  const leaf = `p${n - 1}`; // the last plugin has no dependents
  const times: number[] = [];
  for (let r = 0; r < RESTART_ROUNDS; r++) {
    const started = performance.now();
    await manager.restartPlugin(leaf);
    times.push(performance.now() - started);
  }
  await manager.stop();
  progress(`restart-one n=${n}: ${median(times).toFixed(2)} ms`);
  report({ case: 'restart-one', n, engineMs: round(median(times), 2) });
}

// ── inspect-overhead ─────────────────────────────────────────────────────
{
  const n = 1000;
  const dag = randomDag(n);
  const plain: number[] = [];
  const inspected: number[] = [];
  let events = 0;
  for (let r = 0; r < ROUNDS; r++) {
    // Boot, as the case asks: with the observer attached, and without.
    plain.push((await engineRun(dag, noopHooks(n))).bootMs);
    inspected.push((await engineRun(dag, noopHooks(n), { inspect: () => void events++ })).bootMs);
  }
  progress(`inspect-overhead: ${events} inspection events`);
  report({
    case: 'inspect-overhead',
    n,
    engineMs: round(median(plain)),
    inspectedMs: round(median(inspected)),
    ratio: round(median(inspected) / median(plain), 2),
  });
}

if (!json) console.table(results);

if (write) {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const machine = `${cpu}, ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.arch()}`;
  const svg = plotSvg(`boot + shutdown of n no-op plugins (medians of ${ROUNDS} rounds)`, [
    { name: 'engine', colour: '#d9480f', points: curves.engine },
    { name: 'avvio', colour: '#1971c2', points: curves.avvio },
    { name: 'plain loop', colour: '#2f9e44', points: curves.plain },
  ]);
  writeFileSync(new URL('./results.svg', import.meta.url), svg);
  const lines = [
    `Machine: ${machine}. Medians of ${ROUNDS} rounds in one run; compare figures within it.`,
    '',
    '| case | figures |',
    '| --- | --- |',
    ...results.map(({ case: name, ...rest }) => `| ${name} | ${Object.entries(rest).map(([k, v]) => `${k} ${v}`).join(', ')} |`),
    '',
  ];
  writeFileSync(new URL('./results.md', import.meta.url), lines.join('\n'));
  progress(`wrote bench/results.svg and bench/results.md (avvio at the largest n: ${largestAvvioMs.toFixed(0)} ms)`);
}
