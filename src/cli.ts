/**
 * The `plugin-factory` command line. A thin layer over the library: it parses arguments, calls
 * library functions and sets the exit code (0 success, 1 the plugins have problems, 2 usage).
 * Each command lives in src/cli/; this file dispatches and turns errors into exit codes.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatError, problemJson, stdoutClaimed, writeFailureDocument } from './cli/output.ts';
import { PluginFactoryError, describeThrown, isPluginFactoryError } from './errors.ts';
import { exitProcess, guardProcess, handleStrayErrors, unhandledStrays } from './cli/process-guard.ts';
import { lateStrayError } from './cli/stray-errors.ts';
import type { StrayError } from './cli/process-guard.ts';
import { USAGE, UsageError } from './cli/usage.ts';

type Command = (args: string[]) => number | Promise<number>;

/** Each command is imported when it runs: `--help` or a usage error need not load the engine. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  validate: async () => (await import('./cli/validate.ts')).validateCommand,
  run: async () => (await import('./cli/run.ts')).runCommand,
  test: async () => (await import('./cli/test.ts')).testCommand,
  graph: async () => (await import('./cli/graph.ts')).graphCommand,
  chart: async () => (await import('./cli/chart.ts')).chartCommand,
};

/** Runs one command line (without `node` and the script) and resolves with its exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const verbose = rest.includes('--verbose');
  try {
    if (command === '-h' || command === '--help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (command === undefined) throw new UsageError('missing command');
    const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!load) throw new UsageError(`unknown command '${command}'`);
    return await (await load())(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`plugin-factory: ${error.message}\n\n${error.usage}`);
      return 2;
    }
    process.stderr.write(`${formatError(error, verbose)}\n`);
    // Whoever reads a --json stdout still gets one document, saying what went wrong.
    const document = failureDocument(command, rest, error);
    if (document !== null) writeFailureDocument(document);
    return 1;
  }
}

/**
 * The document a command that claimed stdout would have written, empty but for the failure:
 * the shape its `--json` (or `graph --format json`) promises. Null where stdout holds no JSON.
 */
function failureDocument(command: string | undefined, args: readonly string[], error: unknown): unknown {
  const coded = isPluginFactoryError(error) ? error : new PluginFactoryError('INTERNAL_ERROR', `plugin-factory: ${describeThrown(error)}`);
  const problem = problemJson(coded);
  switch (command) {
    case 'validate':
      return { plugins: [], order: [], problems: [problem] };
    case 'test':
      return { plugins: [], problems: [problem], interrupted: null };
    case 'run':
      return { state: 'stopped', plugins: [] };
    case 'graph':
      // A --format given twice is a usage error before anything can fail: one at most is here.
      return args.some((arg, index) => arg === '--format=json' || (arg === '--format' && args[index + 1] === 'json')) ? { nodes: [], edges: [] } : null;
    default:
      return null;
  }
}

/**
 * Runs one command line as the program: sets the exit code, and ends the process once a command
 * other than `run` has answered. Plugin modules imported by `validate` or `graph` may hold a
 * handle (a timer, a connection pool made at import) that would keep it alive for good; `run`
 * stops its plugins and reports such handles itself.
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  // A reader that goes away (`| head -1`, `| grep -m1 booted`, a log shipper restarting) or a
  // full disk must not take the host down: what would have gone there is dropped, the plugins
  // keep running and still stop in order.
  direct.set(process.stdout, process.stdout.write.bind(process.stdout));
  direct.set(process.stderr, process.stderr.write.bind(process.stderr));
  for (const stream of [process.stdout, process.stderr]) stream.on('error', ignoreClosedReader);
  // The real stdout, for the flush below: a command may send what else writes there to stderr.
  const writeStdout = process.stdout.write.bind(process.stdout) as (chunk: string, done: () => void) => boolean;
  guardProcess();
  let code = await main(argv);
  // Plugin code that threw outside any hook where the command did not look, or once it had
  // answered: said, and the command fails.
  const late = (stray: StrayError) => {
    process.stderr.write(`${formatError(lateStrayError(stray), false)}\n`);
    code = code === 0 ? 1 : code;
    process.exitCode = code;
  };
  for (const stray of unhandledStrays()) late(stray);
  process.exitCode = code;
  if (argv[0] === 'run') return;
  handleStrayErrors(late);
  // One that happened just before the command answered is told now, not lost in the exit.
  await new Promise((resolve) => setImmediate(resolve));
  // Written output is flushed first: exit() does not wait for a pipe.
  await new Promise<void>((resolve) => writeStdout('', () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  // What these commands answer is what they wrote to stdout: lost (a full disk under
  // `validate --json > report.json`), the command failed. A reader that went away chose not to read.
  if (lost.has(process.stdout) && code === 0) code = 1;
  exitProcess(code);
}

/** Each stream's own write, as it was before a command sent what else writes to stdout elsewhere. */
const direct = new Map<NodeJS.WriteStream, (text: string) => boolean>();
/** Streams whose failure was said (or that failed themselves): said once, never said on one of them. */
const failed = new Set<NodeJS.WriteStream>();
/** Streams that failed other than by their reader going away: what was written there is lost. */
const lost = new Set<NodeJS.WriteStream>();

/**
 * Output that cannot be written (a reader gone, a full disk under a redirected log) is dropped:
 * the plugins keep running and still stop in order. A failure other than a closed reader is
 * said once on the other stream, if that one still works, and never on a stdout that holds one
 * JSON document (`--json`).
 */
function ignoreClosedReader(this: NodeJS.WriteStream, error: NodeJS.ErrnoException): void {
  if (failed.has(this)) return;
  failed.add(this);
  if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
  lost.add(this);
  const other = this === process.stdout ? process.stderr : process.stdout;
  const name = this === process.stdout ? 'stdout' : 'stderr';
  if (other.destroyed || failed.has(other) || (other === process.stdout && stdoutClaimed())) return;
  // Written with the stream's own write: a claimed stdout's write goes to stderr, the one that failed.
  (direct.get(other) ?? other.write.bind(other))(`plugin-factory: cannot write to ${name} (${error.code ?? error.message}); what goes there is dropped\n`);
}

/** True when this file is the program being run (not imported, e.g. by bin/plugin-factory.mjs). */
function isEntry(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) await runCli(process.argv.slice(2));
