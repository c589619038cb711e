/**
 * `plugin-factory test <dir|config>`: walks every valid plugin through the lifecycle paths of
 * `plugin-factory/testing`, with its real hooks, one plugin and one path at a time.
 */
import { parseArgs } from 'node:util';
import { describeThrown, isPluginFactoryError, thrownCode } from '../errors.ts';
import { MAX_TIMER_MS } from '../manifest.ts';
import { secretsOf } from '../inspection/redact.ts';
import { SecretSet, isHostWide, unionOf } from '../platform/secrets.ts';
import type { Redactor } from '../platform/secrets.ts';
import { lifecyclePaths } from '../testing/index.ts';
import { walkRunningNow } from '../testing/walk.ts';
import type { PathCover } from '../testing/index.ts';
import type { LoadedHost, PluginDefinition } from '../index.ts';
import { checkHost, validateOnly } from './check-host.ts';
import { SHUTDOWN_SIGNALS, handleStrayErrors, onForcedExit, signalExitCode } from './process-guard.ts';
import type { ShutdownSignal } from './process-guard.ts';
import { onShutdownSignal } from './signals.ts';
import { strayErrors } from './stray-errors.ts';
import { claimStdout, dim, errorJson, green, print, problemJson, red, shown, writeFailureDocument, yellow } from './output.ts';
import type { Stream } from './output.ts';
import { TEST_USAGE, UsageError, givenOnce, oneOf, parseOrUsage, targetOf } from './usage.ts';

/** What one failed path reports: the kit's error, and what the plugin threw when there is one. */
export interface FailedPath {
  path: string;
  code: string;
  message: string;
  /** What the plugin threw, when the failure has it; null otherwise (the key is always there). */
  cause: { code?: string; message: string } | null;
}

export interface TestReport {
  plugins: Array<{
    name: string;
    version: string | null;
    valid: boolean;
    /**
     * The plugin's validation errors. Errors of the host's graph only (a dependency missing, of
     * the wrong version, or in a cycle) leave it walked alone; any other, and no path is walked.
     */
    errors: Array<{ code: string; message: string }>;
    /** Whether its paths were walked (valid, or invalid only by the host's dependency graph). */
    walked: boolean;
    /** Paths of the plugin, walked or not. */
    paths: number;
    passed: number;
    /** Paths that cannot happen to this plugin (a timeout or cancel of a hook that settles at once). */
    skipped: number;
    failed: FailedPath[];
    /** Paths left unwalked once `--max-failures` paths had failed. */
    notWalked: number;
  }>;
  problems: Array<{ code: string; message: string; plugins: string[] }>;
  /** The signal that stopped the walk early (plugins after the one under way are not listed), or null. */
  interrupted: ShutdownSignal | null;
}

/** How a path walked ended. */
type Verdict = 'passed' | 'skipped' | 'failed';

/** Errors of the host's dependency graph: the plugin itself is sound, and walked alone. */
const GRAPH_CODES: ReadonlySet<string> = new Set(['MISSING_DEPENDENCY', 'DEPENDENCY_VERSION_MISMATCH', 'DEPENDENCY_CYCLE']);

/** Minimum time between two redraws of the progress line. */
const FRAME_MS = 100;

export async function testCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseOrUsage(TEST_USAGE, () =>
    parseArgs({
      args,
      options: {
        json: { type: 'boolean', default: false },
        plugin: { type: 'string', multiple: true },
        cover: { type: 'string', default: 'transitions' },
        'max-failures': { type: 'string', default: '10' },
        'hook-limit': { type: 'string', default: '2000' },
        'abort-grace': { type: 'string', default: '500' },
        'no-handles': { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: true,
    }),
  );
  if (values.help) {
    process.stdout.write(TEST_USAGE);
    return 0;
  }
  givenOnce(args, ['cover', 'max-failures', 'hook-limit', 'abort-grace'], TEST_USAGE);
  const target = targetOf(positionals, TEST_USAGE);
  const cover: PathCover = oneOf(values.cover, ['transitions', 'simple'] as const, 'cover', TEST_USAGE);
  const maxText = values['max-failures'];
  const maxFailures = /^\d{1,6}$/.test(maxText) ? Number(maxText) : NaN;
  if (!Number.isSafeInteger(maxFailures)) {
    throw new UsageError(`--max-failures takes a whole number, 0 for no limit (got '${maxText}')`, TEST_USAGE);
  }
  const msOption = (option: 'hook-limit' | 'abort-grace'): number => {
    const text = values[option];
    const ms = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
    if (!(ms >= 1 && ms <= MAX_TIMER_MS)) throw new UsageError(`--${option} takes a whole number of ms, 1 to ${MAX_TIMER_MS} (got '${text}')`, TEST_USAGE);
    return ms;
  };
  const hookLimitMs = msOption('hook-limit');
  const abortGraceMs = msOption('abort-grace');

  const out = values.json ? claimStdout() : process.stdout;
  // A signal that ends the command at once (one while plugins load, a second one during a path)
  // still leaves a report, as it stands, saying it was interrupted.
  let reportNow: TestReport = { plugins: [], problems: [], interrupted: null };
  const releaseLastWords = onForcedExit((signal) => {
    if (values.json && (SHUTDOWN_SIGNALS as readonly string[]).includes(signal)) writeFailureDocument({ ...reportNow, interrupted: signal as ShutdownSignal });
  });
  const { host, snapshot } = await checkHost(target);
  const wanted = values.plugin ?? [];
  const known = new Set(snapshot.plugins.map((plugin) => plugin.name));
  const unknown = wanted.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new UsageError(`--plugin: no plugin named ${unknown.map((name) => `'${name}'`).join(', ')} in '${target}' (found: ${[...known].join(', ') || 'none'})`, TEST_USAGE);
  }

  // What a failure prints is scrubbed as the engine scrubs a host's output: of every plugin's
  // secrets, and of the walked plugin's short ones (a PIN) too.
  const hostWide = new SecretSet(secretsOf(host.definitions).filter(isHostWide));
  const report: TestReport = { plugins: [], problems: host.problems.map(problemJson), interrupted: null };
  reportNow = report;
  // What plugin code throws or rejects outside any hook (a timer, a promise nobody awaits) fails
  // the path whose code it came from, however late: the kit's async context says which, a
  // stackless throw included. Else it fails the plugin whose file threw, on the path walked now.
  const { coded } = strayErrors(host);
  const printed = new Set<string>();
  let walking: { name: string; path: string; strayed: boolean } | null = null;
  /** Per plugin, how each path walked so far ended: one failing late is moved to failed. */
  const verdicts = new Map<string, Map<string, Verdict>>();
  handleStrayErrors((stray) => {
    const owner = walkRunningNow();
    const error = coded(stray, walking?.name, owner?.plugin);
    const entry = report.plugins.find((plugin) => plugin.name === error.plugin);
    if (!entry) {
      report.problems.push(problemJson(error));
      return;
    }
    const path = owner?.plugin === entry.name ? owner.path : walking?.name === entry.name ? walking.path : null;
    const late = () => {
      if (printed.has(entry.name) && !values.json) print(`${red('✗', process.stdout)} ${entry.name}${path === null ? '' : ` (${path})`}: ${red(error.code, process.stdout)}: ${shown(error.message)}`);
    };
    if (path === null) {
      entry.failed.push(failedPath('(outside any path)', error, hostWide));
      late();
      return;
    }
    // A path fails once: the one walked now when it ends, one already counted moves to failed.
    if (walking?.name === entry.name && walking.path === path) {
      if (walking.strayed) return;
      walking.strayed = true;
      entry.notWalked -= 1; // failed now: a report printed before the path ends counts it once
    } else {
      const verdict = verdicts.get(entry.name)?.get(path);
      if (verdict === 'failed') return;
      if (verdict === 'passed') entry.passed -= 1;
      if (verdict === 'skipped') entry.skipped -= 1;
      verdicts.get(entry.name)?.set(path, 'failed');
    }
    entry.failed.push(failedPath(path, error, hostWide));
    late();
  });
  // A signal stops the walk after the path under way, whose teardown closes what the plugin
  // opened (a child process it spawned included); a second SIGINT/SIGTERM exits at once.
  let interrupted: NodeJS.Signals | null = null;
  const signals = onShutdownSignal(
    (signal) => {
      interrupted = signal;
      process.stderr.write(`plugin-factory: ${signal}: stopping after the path under way\n`);
    },
    (line) => process.stderr.write(`${line}\n`),
  );
  try {
    for (const plugin of snapshot.plugins) {
      if (interrupted) break;
      if (wanted.length > 0 && !wanted.includes(plugin.name)) continue;
      const definition = host.definitions.find((candidate) => candidate.manifest?.name === plugin.name);
      const valid = plugin.state !== 'invalid' && definition !== undefined;
      const entry = {
        name: plugin.name,
        version: plugin.version,
        valid,
        errors: plugin.errors.map(errorJson),
        walked: definition !== undefined && (valid || (plugin.errors.length > 0 && plugin.errors.every((error) => GRAPH_CODES.has(error.code)))),
        paths: 0,
        passed: 0,
        skipped: 0,
        failed: [] as FailedPath[],
        notWalked: 0,
      };
      report.plugins.push(entry);
      if (entry.walked && !valid && definition) {
        // The host checks no module or config of a plugin whose graph fails: check them alone now,
        // so a plugin broken in itself too is listed with those errors rather than walked.
        const own = await errorsAlone(host, definition);
        entry.errors.push(...own);
        entry.walked = own.length === 0;
      }
      if (!entry.walked || !definition) {
        if (!values.json) printPlugin(entry);
        printed.add(entry.name);
        continue;
      }
      const redactor = unionOf([hostWide, new SecretSet(secretsOf([definition]))]);
      // The host's hook timeout bounds a factory, as in the host (a manifest's own wins).
      const hookTimeoutMs = host.settings.hookTimeoutMs;
      const paths = lifecyclePaths(definition, { cover, hookLimitMs, abortGraceMs, checkHandles: !values['no-handles'], ...(hookTimeoutMs === undefined ? {} : { hookTimeoutMs }) });
      entry.paths = paths.length;
      // Counted down as paths end: a report printed at once (a second signal) adds up too.
      entry.notWalked = paths.length;
      const ended = new Map<string, Verdict>();
      verdicts.set(entry.name, ended);
      // On stderr, --json or not: stdout is the report.
      const line = progressLine(process.stderr, plugin.name, paths.length);
      for (const [index, path] of paths.entries()) {
        if ((maxFailures > 0 && entry.failed.length >= maxFailures) || interrupted) break;
        line.update(index);
        const current = { name: plugin.name, path: path.name, strayed: false };
        walking = current;
        let verdict: Verdict = 'failed';
        try {
          const result = await path.run();
          if (!current.strayed) verdict = result.skipped === undefined ? 'passed' : 'skipped';
        } catch (error) {
          if (!current.strayed) entry.failed.push(failedPath(path.name, error, redactor));
        }
        walking = null;
        if (!current.strayed) entry.notWalked -= 1;
        ended.set(path.name, verdict);
        if (verdict === 'passed') entry.passed += 1;
        if (verdict === 'skipped') entry.skipped += 1;
      }
      line.close();
      if (!values.json) printPlugin(entry);
      printed.add(entry.name);
    }
  } finally {
    signals.dispose();
  }
  const stopped = interrupted as NodeJS.Signals | null;
  if (stopped !== null && (SHUTDOWN_SIGNALS as readonly string[]).includes(stopped)) report.interrupted = stopped as ShutdownSignal;

  if (values.json) print(JSON.stringify(report), out);
  else printSummary(report);
  releaseLastWords();
  if (stopped) return signalExitCode(stopped);
  const ok =
    report.problems.length === 0 && report.plugins.every((plugin) => plugin.valid && plugin.failed.length === 0);
  return ok ? 0 : 1;
}

/** The validation errors of `definition` registered alone, its dependencies left out. */
async function errorsAlone(host: LoadedHost, definition: PluginDefinition): Promise<Array<{ code: string; message: string }>> {
  const manifest = { ...(definition.manifest as object), dependencies: {}, optionalDependencies: {} };
  const snapshot = await validateOnly(host, [{ ...definition, manifest } as PluginDefinition]);
  return (snapshot.plugins[0]?.errors ?? []).map(errorJson);
}

function failedPath(path: string, error: unknown, redactor: Redactor): FailedPath {
  if (!isPluginFactoryError(error)) return { path, code: 'INTERNAL_ERROR', message: redactor.text(describeThrown(error)), cause: null };
  const failed: FailedPath = { path, code: error.code, message: redactor.text(error.message), cause: null };
  const cause = error.cause;
  if (cause !== undefined && cause !== null) {
    // What a plugin threw, its code included, may quote a secret.
    const code = thrownCode(cause);
    failed.cause = { ...(code === undefined ? {} : { code: redactor.text(code) }), message: redactor.text(describeThrown(cause)) };
  }
  return failed;
}

/** On a terminal, a line redrawn in place: `testing http: 57/210 paths`. Elsewhere nothing. */
function progressLine(stream: Stream, name: string, total: number): { update(done: number): void; close(): void } {
  if (!stream.isTTY) return { update: () => undefined, close: () => undefined };
  let last = 0;
  let drawn = false;
  return {
    update(done) {
      const now = Date.now();
      if (drawn && now - last < FRAME_MS) return;
      last = now;
      drawn = true;
      stream.write(`\r\x1b[2Ktesting ${name}: ${done}/${total} paths`);
    },
    close() {
      if (drawn) stream.write('\r\x1b[2K');
    },
  };
}

function printPlugin(plugin: TestReport['plugins'][number]): void {
  const out = process.stdout;
  const version = plugin.version ? ` ${dim(plugin.version, out)}` : '';
  if (!plugin.walked) {
    print(`${red('✗', out)} ${plugin.name}${version} (invalid, not walked)`);
    for (const error of plugin.errors) print(`    ${red(error.code, out)}: ${shown(error.message)}`);
    return;
  }
  const counts = [
    `${plugin.passed} passed`,
    ...(plugin.skipped > 0 ? [`${plugin.skipped} skipped`] : []),
    ...(plugin.failed.length > 0 ? [`${plugin.failed.length} failed`] : []),
    ...(plugin.notWalked > 0 ? [`${plugin.notWalked} not walked`] : []),
  ];
  const mark = plugin.valid && plugin.failed.length === 0 ? green('✓', out) : red('✗', out);
  print(`${mark} ${plugin.name}${version}: ${plugin.paths} paths, ${counts.join(', ')}${plugin.valid ? '' : ' (walked alone; invalid in this host)'}`);
  for (const error of plugin.valid ? [] : plugin.errors) print(`    ${red(error.code, out)}: ${shown(error.message)}`);
  for (const failed of plugin.failed) {
    print(`    ${red(failed.code, out)}: ${shown(failed.message)}`);
    if (failed.cause) print(`      ${dim('cause:', out)} ${failed.cause.code ? `${failed.cause.code}: ` : ''}${shown(failed.cause.message)}`);
  }
  if (plugin.failed.some((failed) => failed.cause?.code === 'SERVICE_NOT_FOUND' || failed.cause?.code === 'HOST_HOOK_NOT_FOUND')) {
    print(`    ${yellow('note:', out)} walked alone, '${plugin.name}' gets no service of its dependencies and no host hook; test it with plugin-factory/testing and stand-ins (docs/testing.md)`);
  }
}

function printSummary(report: TestReport): void {
  if (report.problems.length > 0) {
    print('');
    print('host problems:');
    for (const problem of report.problems) print(`  ${red('✗', process.stdout)} ${red(problem.code, process.stdout)}: ${shown(problem.message)}`);
  }
  const walked = report.plugins.filter((plugin) => plugin.walked);
  const failing = walked.filter((plugin) => plugin.failed.length > 0).length;
  const invalid = report.plugins.filter((plugin) => !plugin.valid).length;
  print('');
  print(
    [
      `${report.plugins.length} plugin${report.plugins.length === 1 ? '' : 's'}`,
      `${walked.reduce((sum, plugin) => sum + plugin.passed, 0)} paths passed`,
      `${walked.reduce((sum, plugin) => sum + plugin.skipped, 0)} skipped`,
      `${walked.reduce((sum, plugin) => sum + plugin.failed.length, 0)} failed`,
      ...(failing > 0 ? [`${failing} plugin${failing === 1 ? '' : 's'} failing`] : []),
      ...(invalid > 0 ? [`${invalid} invalid`] : []),
      ...(report.interrupted ? [`interrupted by ${report.interrupted}`] : []),
    ].join(', '),
  );
}
