/**
 * `plugin-factory run <dir|config> [--once] [--json] [--watch] [--dashboard[=port]]
 * [--inspect[=ws-url]] [--verbose]`: boots the plugins, shows progress, serves until
 * SIGINT/SIGTERM/SIGHUP (or right after boot with --once), then shuts down in reverse dependency
 * order.
 */
import { parseArgs } from 'node:util';
import { createConsoleLogger, createPluginManager, loadHost } from '../index.ts';
import type { ManagerSnapshot, PluginDefinition } from '../index.ts';
import { startObservers } from '../dashboard/observers.ts';
import type { Observers } from '../dashboard/observers.ts';
import { claimStdout, formatError, print, red, shown, writeFailureDocument } from './output.ts';
import { noPluginFound } from './check-host.ts';
import type { Stream } from './output.ts';
import { loadingLine, showProgress } from './progress.ts';
import type { Progress } from './progress.ts';
import { watchAndReload } from './reload.ts';
import type { HotReload } from './reload.ts';
import { exitProcess, handleStrayErrors, onForcedExit, signalExitCode } from './process-guard.ts';
import { strayErrors } from './stray-errors.ts';
import { onShutdownSignal } from './signals.ts';
import { RUN_USAGE, UsageError, givenOnce, observerFlags, optionalValues, parseOrUsage, separatedValue, targetOf } from './usage.ts';

/** After shutdown the process should exit by itself; if a handle keeps it alive, say which. */
const LEAK_REPORT_MS = 5000;

/** The options whose value is optional, so given after '=' only. */
const OPTIONAL_VALUES = ['--dashboard', '--inspect'];

export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseOrUsage(RUN_USAGE, () =>
    parseArgs({
      args: optionalValues(args, OPTIONAL_VALUES),
      options: {
        once: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        watch: { type: 'boolean', default: false },
        dashboard: { type: 'string' },
        inspect: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: true,
    }),
  );
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  givenOnce(args, ['dashboard', 'inspect'], RUN_USAGE);
  const target = targetOf(positionals, RUN_USAGE, separatedValue(args, OPTIONAL_VALUES));
  if (values.once && values.watch) throw new UsageError('--once and --watch cannot be combined', RUN_USAGE);
  const watchers = observerFlags(values.dashboard, values.inspect, RUN_USAGE);
  const { json, verbose } = values;
  // With --json stdout carries only the final snapshot; everything else goes to stderr, what
  // plugin code writes to stdout (at import, in a hook, from a timer) included.
  const out: Stream | null = json ? claimStdout() : null;
  const notes: Stream = json ? process.stderr : process.stdout;
  const errors: Stream = process.stderr;
  // A signal that ends the run at once (one while plugins load, a second one while they stop)
  // still leaves the snapshot as it stands as the last stdout line.
  let snapshotNow: () => ManagerSnapshot | null = () => null;
  let progress: Progress | null = null;
  onForcedExit((signal) => {
    // The view is drawn once more, as it stands: which plugins the exit left stopping.
    progress?.close();
    const snapshot = snapshotNow();
    if (snapshot === null) print(`plugin-factory: ${signal} while loading plugins; nothing was started`, errors);
    if (out) writeFailureDocument(snapshot ?? { state: 'stopped', plugins: [] });
  });
  const log = (line: string, stream: Stream) => (progress ? progress.log(line, stream) : print(line, stream));

  const loading = loadingLine(notes);
  const host = await loadHost(target, { onLoaded: loading.update }).finally(loading.done);
  for (const problem of host.problems) log(`${red('✗', errors)} ${formatError(problem, verbose)}`, errors);
  // Errors plugin code throws or rejects outside any hook: each is reported and fails the run;
  // a thrown one (the process state is unknown after it) also stops the host, in order.
  const stray = strayErrors(host);
  let strays = 0;
  let fatal = false;
  let stopForStray = () => undefined;
  /** Once shutdown has begun, a stray error neither stops the host nor leaves it going on. */
  let shuttingDown = false;
  handleStrayErrors((error) => {
    strays += 1;
    process.exitCode = 1; // also for one that comes once the run has answered, while the process winds down
    const line = `${red('✗', errors)} ${formatError(stray.coded(error), verbose)}`;
    log(shuttingDown ? `${line}; while the host shuts down` : error.thrown ? `${line}; shutting down` : `${line}; the host goes on`, errors);
    if (error.thrown && !fatal) {
      fatal = true;
      stopForStray();
    }
  });
  if (host.definitions.length === 0) {
    if (host.problems.length === 0) log(`${red('✗', errors)} ${formatError(noPluginFound(target), verbose)}`, errors);
    if (out) print(JSON.stringify({ state: 'stopped', plugins: [] }), out);
    return 1;
  }
  const onRelay = (line: string, problem: boolean) => log(line, problem ? errors : notes);
  // A reloaded version's secrets are scrubbed from stray errors too, whichever way it came.
  const observers: Observers | null = watchers ? await startObservers({ ...watchers, onRelay, learn: stray.learn }, host) : null;
  const manager = createPluginManager({
    ...host.settings,
    plugins: host.definitions,
    logger: createConsoleLogger({ level: verbose ? 'info' : 'warn', write: (line) => log(line, errors) }),
    ...(observers?.inspect ? { inspect: observers.inspect } : {}),
  });
  // Listening before anything is awaited: the manager reports its first changes (each plugin
  // validated) a tick after it was made, and a line per change means every one.
  progress = showProgress(manager, notes);
  snapshotNow = () => manager.getSnapshot();
  // Plugins that got to running: one the abort policy stopped later did reach it.
  const reached = new Set<string>();
  const reachedWatch = manager.subscribe((change) => {
    if (change.type === 'plugin.changed' && change.state === 'running') reached.add(change.name);
  });
  try {
    for (const line of (await observers?.attach(manager)) ?? []) log(line, notes);
  } catch (error) {
    const final = await manager.stop();
    await observers?.close();
    progress.close();
    // The last stdout line is the final snapshot, whatever ended the run.
    if (out) print(JSON.stringify(final), out);
    throw error;
  }

  let stopping: Promise<ManagerSnapshot> | null = null;
  let hotReload: HotReload | null = null;
  let wake: () => void = () => undefined;
  const shutdownRequested = new Promise<void>((resolve) => (wake = resolve));
  const requestStop = () => {
    shuttingDown = true;
    stopping ??= manager.stop();
    wake();
    return stopping;
  };
  stopForStray = () => void requestStop();
  if (fatal) stopForStray();
  // A signal during boot stops it: the run then ends as an interrupted command does (130 for
  // SIGINT, 143 for SIGTERM, 129 for SIGHUP), the plugins it kept from running being no failure
  // of theirs.
  let booting = true;
  let bootSignal: NodeJS.Signals | null = null;
  const retryCut = new Set<string>();
  const signals = onShutdownSignal(
    (signal) => {
      log(`shutting down (${signal})`, notes);
      if (booting) {
        bootSignal = signal;
        // Plugins waiting to retry a failed hook: the stop ends them failed, but it is the
        // signal that kept them from another try.
        for (const plugin of manager.getSnapshot().plugins) if (plugin.state === 'failed.retrying') retryCut.add(plugin.name);
      }
      void requestStop();
    },
    (line) => log(line, errors),
  );

  // Watching starts before the boot, so that an edit made while the plugins start is not lost:
  // it is reloaded once the boot is over.
  let booted: () => void = () => undefined;
  if (values.watch && !values.once) {
    hotReload = watchAndReload({
      host,
      manager,
      verbose,
      note: (line) => log(line, notes),
      warn: (line) => log(line, errors),
      stopping: () => stopping !== null,
      learn: (definition: PluginDefinition) => (observers ? observers.learn(definition) : stray.learn(definition)),
      redactor: (name: string) => stray.redactor(name),
      ready: new Promise<void>((resolve) => (booted = resolve)),
    });
  }

  // Signal handlers do not keep the event loop alive (a host of plugins that hold no handle
  // would end with "unsettled top-level await"); this timer does until shutdown is asked.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let boot: ManagerSnapshot;
  try {
    boot = await manager.start();
  } catch (error) {
    // The 'abort' failure policy (the host has stopped by then), or a signal that stopped the
    // boot: that one is no failure to report.
    if (!stopping) log(`boot failed: ${formatError(error, verbose)}`, errors);
    boot = manager.getSnapshot();
    void requestStop();
  }
  booting = false;
  booted();
  if (!stopping) {
    const running = boot.plugins.filter((plugin) => plugin.state === 'running').length;
    log(`booted: ${running} of ${boot.plugins.length} plugins running`, notes);
    if (values.once) {
      void requestStop();
    } else {
      if (hotReload) {
        log(`watching ${host.folders.length} plugin folder${host.folders.length === 1 ? '' : 's'} for changes`, notes);
      }
      log(`press Ctrl-C to stop (or: kill -INT ${process.pid})`, notes);
    }
  }
  await shutdownRequested;
  clearInterval(keepAlive);
  const closing = hotReload?.close();
  const final = await requestStop();
  await closing;
  await observers?.close();
  progress.close();
  // Shut down: what still keeps the process alive is a handle a plugin left open (a timer set
  // at import, say). It is reported and the process ends with 1 after LEAK_REPORT_MS, or at once
  // on a signal: a Ctrl-C now is no interruption of the run.
  const lingering = () => {
    print(`plugin-factory: still alive after shutdown; open handles: ${openHandles().join(', ') || 'none listed'}`, errors);
    // An import given up at shutdown cannot be stopped: its module's code may be what still runs.
    const given = hotReload?.abandoned() ?? [];
    if (given.length > 0) print(`plugin-factory: the import of a new module was given up at shutdown and may still run: ${given.join(', ')}`, errors);
    exitProcess(1);
  };
  signals.over(lingering);
  // A rejection nobody handled is told a moment after it happens: one from the last hooks (a
  // short `--once` is over within a tick or two) counts in this run's verdict.
  await new Promise((resolve) => setImmediate(resolve));

  reachedWatch.unsubscribe();
  const reasons = exitReasons(bootSignal ? null : boot, final, host.problems.length, retryCut, reached);
  if (strays > 0) reasons.push(`${strays} error${strays === 1 ? '' : 's'} outside any hook (UNCAUGHT_ERROR)`);
  if (!notes.isTTY) print(table(final), notes);
  for (const reason of reasons) print(`${red('✗', errors)} ${reason}`, errors);
  if (out) print(JSON.stringify(final), out);
  setTimeout(lingering, LEAK_REPORT_MS).unref();
  if (reasons.length > 0) return 1;
  return bootSignal === null ? 0 : signalExitCode(bootSignal);
}

/** Plugins named in one reason at most: a host of thousands must not print them all on one line. */
const LISTED = 10;

/**
 * Why the run counts as failed: host problems, invalid plugins, a valid plugin that did not run
 * (`boot`: null when a signal stopped the boot) or ended failed. `retryCut`: plugins a signal
 * during boot found waiting to retry a failed hook; ending in `failed.halted` is then the
 * signal's doing, no failure of the run. `reached`: plugins that were running at some point
 * (the abort policy may have stopped them by the end of the boot).
 */
export function exitReasons(
  boot: ManagerSnapshot | null,
  final: ManagerSnapshot,
  hostProblems: number,
  retryCut: ReadonlySet<string> = new Set(),
  reached: ReadonlySet<string> = new Set(),
): string[] {
  const reasons: string[] = [];
  const list = (plugins: ManagerSnapshot['plugins'], state = true) =>
    plugins
      .slice(0, LISTED)
      .map((p) => (state ? `${p.name} (${p.state})` : p.name))
      .join(', ') + (plugins.length > LISTED ? ` … and ${plugins.length - LISTED} more` : '');
  if (hostProblems > 0) reasons.push(`${hostProblems} host problem${hostProblems === 1 ? '' : 's'}`);
  const invalid = final.plugins.filter((plugin) => plugin.state === 'invalid');
  if (invalid.length > 0) reasons.push(`invalid: ${list(invalid, false)}`);
  const notRunning = (boot?.plugins ?? []).filter((plugin) => plugin.state !== 'invalid' && plugin.state !== 'running' && !reached.has(plugin.name));
  if (notRunning.length > 0) reasons.push(`did not reach running: ${list(notRunning)}`);
  const failed = final.plugins.filter((plugin) => plugin.state.startsWith('failed') && !(plugin.state === 'failed.halted' && retryCut.has(plugin.name)));
  if (failed.length > 0) reasons.push(`ended failed: ${list(failed)}`);
  return reasons;
}

/** The final states, one plugin a line, with the error of each that has one. */
function table(snapshot: ManagerSnapshot): string {
  const rows = [['plugin', 'state', 'version'], ...snapshot.plugins.map((p) => [p.name, p.state, p.version ?? '-'])];
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = ['final states:', ...rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd())];
  for (const plugin of snapshot.plugins) {
    const error = plugin.error ?? plugin.errors[0];
    if (error) lines.push(`  ${plugin.name}: ${error.code}: ${shown(error.message)}`);
  }
  return lines.join('\n');
}

/**
 * What keeps the process alive, less its own stdout and stderr: a pipe or a terminal is always
 * listed (`PipeWrap`, `TTYWrap`) and is not what a plugin left open.
 */
function openHandles(): string[] {
  const names = process.getActiveResourcesInfo();
  for (const stream of [process.stdout, process.stderr]) {
    const kind = (stream as { _handle?: { constructor?: { name?: unknown } } })._handle?.constructor?.name;
    const at = typeof kind === 'string' ? names.indexOf(`${kind}Wrap`) : -1;
    if (at >= 0) names.splice(at, 1);
  }
  return names;
}
