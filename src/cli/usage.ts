/**
 * Help texts of the CLI, one per command, and the error that turns into "message + usage on
 * stderr, exit 2".
 */
import { describeThrown } from '../errors.ts';
import { shownUrl, webSocketUrl } from '../inspection/stately.ts';

export const USAGE = `Usage: plugin-factory <command> [options]

Commands:
  validate <dir|config>   Check every plugin without running a hook.
  run <dir|config>        Boot the plugins and serve until SIGINT/SIGTERM/SIGHUP.
  test <dir|config>       Walk every plugin through the lifecycle paths with its real hooks.
  graph <dir|config>      Print the dependency graph of the plugins.
  chart                   Print the lifecycle (or manager) statechart.

<dir> is a folder of plugin folders or a single plugin folder; <config> is a host file
(.json/.yaml). Run 'plugin-factory <command> --help' for a command's options.

Exit codes: 0 success, 1 the plugins have problems, 2 usage error, 130, 143 or 129
interrupted by SIGINT, SIGTERM or SIGHUP (see 'run --help').
`;

export const VALIDATE_USAGE = `Usage: plugin-factory validate <dir|config> [--json] [--verbose]

Loads every plugin and checks manifests, module contracts, config and the dependency graph
without running any hook.

Options:
  --json        Print one JSON document: {"plugins":[…],"order":[…],"problems":[…]}.
  --verbose     Print stack traces of unexpected errors.
  -h, --help    Show this help.

Exit codes: 0 every plugin is valid, 1 a plugin is invalid or the host has problems, 2 usage.
`;

export const RUN_USAGE = `Usage: plugin-factory run <dir|config> [--once] [--json] [--watch]
                           [--dashboard[=PORT]] [--inspect[=WS-URL]] [--verbose]

Boots every plugin in dependency order and stays up until SIGINT, SIGTERM or SIGHUP (its
terminal closed), then shuts down in reverse order. A second Ctrl-C or SIGTERM exits at once
(130 or 143); a SIGHUP during the shutdown changes nothing.

Options:
  --once        Shut down right after boot.
  --json        Print the final snapshot as JSON on the last line of stdout (progress on stderr).
  --watch       Reload a plugin when a file in its folder changes; a reload that fails keeps
                the running version.
  --dashboard[=PORT]
                Serve the live dashboard on 127.0.0.1 (any free port unless PORT is given);
                its URL and the control token are printed at startup.
  --inspect[=WS-URL]
                Show the manager and every plugin actor in Stately's inspector: send to the
                relay at WS-URL, or start a local relay on 127.0.0.1 and print its page.
  --verbose     Log at level 'info' (default 'warn') and print stack traces of errors.
  -h, --help    Show this help.

Exit codes: 0 every valid plugin ran and stopped cleanly, 1 a plugin is invalid, did not reach
running or ended failed, the host has problems, or the process was still alive 5 s after the
shutdown (a handle a plugin left open; reported, and at once on a signal), 2 usage, 130 (SIGINT),
143 (SIGTERM) or 129 (SIGHUP) a signal stopped the boot (1 wins when there is a reason for it
too).
`;

export const TEST_USAGE = `Usage: plugin-factory test <dir|config> [--plugin NAME]... [--cover transitions|simple]
                            [--max-failures N] [--hook-limit MS] [--abort-grace MS]
                            [--no-handles] [--json] [--verbose]

Walks every plugin, one path at a time, through the lifecycle paths of
plugin-factory/testing: its real hooks, with failures, timeouts and cancels injected where a
path asks for them, on a simulated clock. A path fails when the chart leaves it, when an
aborted hook does not settle, or when a handle the plugin opened is still open after it was
stopped and disposed. Each plugin is walked alone: it gets no service of its dependencies and
no host hook (for those, use plugin-factory/testing with stand-ins; see docs/testing.md). An
invalid plugin is not walked, unless only the host's dependency graph makes it invalid.
Secret config values are scrubbed from what is printed.

Options:
  --plugin NAME       Walk only this plugin (repeatable).
  --cover             transitions (default): one path per transition, 166 to 359 a plugin;
                      simple: every path that visits no state twice, fewer and shorter.
  --max-failures N    Stop walking a plugin after N failed paths (default 10; 0: no limit).
  --hook-limit MS     How long a hook a path expects to succeed may take (default 2000), never
                      more than the plugin's own hookTimeoutMs.
  --abort-grace MS    How long a hook has to settle once its ctx.signal is aborted (default 500):
                      one that runs on longer ignores its signal (HOOK_IGNORED_ABORT).
  --no-handles        Do not check for handles left open, nor close them (child processes
                      a plugin leaves running are left running).
  --json              Print one JSON document: {"plugins":[…],"problems":[…],"interrupted":null}.
  --verbose           Print stack traces of unexpected errors.
  -h, --help          Show this help.

Exit codes: 0 every plugin is valid and passed every path, 1 a plugin is invalid or failed a
path, or the host has problems, 2 usage, 130, 143 or 129 a SIGINT, SIGTERM or SIGHUP stopped
the walk after the path under way ("interrupted" names it).
`;

export const GRAPH_USAGE = `Usage: plugin-factory graph <dir|config> [--format mermaid|dot|json] [--verbose]

Prints the dependency graph of the plugins: an edge goes from a plugin to what it depends on;
required dependencies are solid, optional ones dashed; invalid and missing plugins are marked.

Options:
  --format      mermaid (default), dot or json ({"nodes":[…],"edges":[…]}).
  --verbose     Print stack traces of unexpected errors.
  -h, --help    Show this help.

The graph is printed in any case; why a plugin is invalid, and host problems, go to stderr.
Exit codes: 0 every plugin is valid, 1 a plugin is invalid or the host has problems, 2 usage.
`;

export const CHART_USAGE = `Usage: plugin-factory chart [--format mermaid|json|scxml] [--machine lifecycle|manager]
                             [--verbose]

Prints a statechart from its definition.

Options:
  --format      mermaid (default), json or scxml.
  --machine     lifecycle (default): one plugin's lifecycle; manager: the host.
  --verbose     Print stack traces of unexpected errors.
  -h, --help    Show this help.
`;

/** A wrong command line: the CLI prints the message and `usage` on stderr and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly usage: string = USAGE,
  ) {
    super(message);
  }
}

/** Runs node:util's parseArgs (or any parser) and turns its errors into usage errors. */
export function parseOrUsage<T>(usage: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(unknownOption(error, usage) ?? describeThrown(error), usage);
  }
}

/**
 * An unknown option said in one short sentence (Node's adds advice about positionals that start
 * with '-'), and for `--json` on a command that takes `--format`, which one to use instead.
 */
function unknownOption(error: unknown, usage: string): string | null {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return null;
  const option = /^Unknown option '(.+?)'(?:\. |$)/.exec(describeThrown(error))?.[1];
  if (option === undefined) return null;
  const instead = option === '--json' && usage.includes('--format') ? '; use --format json' : '';
  return `unknown option '${option}'${instead}`;
}

/** The one `<dir|config>` positional of a command. */
export function targetOf(positionals: readonly string[], usage: string, hint?: string | null): string {
  if (positionals.length === 0) throw new UsageError('missing <dir|config>', usage);
  if (positionals.length > 1) {
    const more = hint ? ` (an option's value is given after '=': ${hint})` : '';
    throw new UsageError(`expected one <dir|config>, got ${positionals.length}: ${positionals.join(' ')}${more}`, usage);
  }
  // An empty argument (an unset shell variable, say) would otherwise mean the working directory.
  if (positionals[0]!.trim() === '') throw new UsageError('<dir|config> is empty; give a folder or a host file (. for the working directory)', usage);
  return positionals[0]!;
}

/**
 * A value option given more than once (`--format json --format dot`) is a usage error: the parser
 * would keep the last without a word, and which was meant cannot be told.
 */
export function givenOnce(args: readonly string[], names: readonly string[], usage: string): void {
  const end = args.indexOf('--');
  const options = end === -1 ? args : args.slice(0, end);
  for (const name of names) {
    const flag = `--${name}`;
    const count = options.filter((arg) => arg === flag || arg.startsWith(`${flag}=`)).length;
    if (count > 1) throw new UsageError(`${flag} is given ${count} times; give it once`, usage);
  }
}

/** Checks an option against its allowed values. */
export function oneOf<const T extends string>(value: string, allowed: readonly T[], option: string, usage: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${option} must be ${allowed.join(', ')} (got '${value}')`, usage);
}

/**
 * Lets `--flag` stand alone for flags that take an optional value (`--dashboard[=PORT]`):
 * node:util's parseArgs wants a value, so a bare flag becomes `--flag=` (an empty value).
 */
export function optionalValues(args: readonly string[], flags: readonly string[]): string[] {
  const end = args.indexOf('--');
  return args.map((arg, i) => ((end === -1 || i < end) && flags.includes(arg) ? `${arg}=` : arg));
}

/**
 * `--dashboard=4400` for `--dashboard 4400`: a flag of `optionalValues` followed by a separate
 * word, which parses as a second <dir|config>. Null when there is none.
 */
export function separatedValue(args: readonly string[], flags: readonly string[]): string | null {
  const end = args.indexOf('--');
  for (let i = 0; i + 1 < args.length && (end === -1 || i + 1 < end); i++) {
    const next = args[i + 1]!;
    if (flags.includes(args[i]!) && !next.startsWith('-')) return `${args[i]}=${next}`;
  }
  return null;
}

/** `--dashboard[=PORT]` and `--inspect[=WS-URL]`, checked; null when neither was given. */
export function observerFlags(
  dashboard: string | undefined,
  inspect: string | undefined,
  usage: string,
): { dashboard: number | null; inspect: string | null } | null {
  if (dashboard === undefined && inspect === undefined) return null;
  let port: number | null = null;
  if (dashboard !== undefined) {
    port = dashboard === '' ? 0 : /^\d{1,5}$/.test(dashboard) ? Number(dashboard) : NaN;
    if (!(port >= 0 && port <= 65535)) throw new UsageError(`--dashboard takes a port from 0 to 65535 (got '${dashboard}')`, usage);
  }
  if (inspect !== undefined && inspect !== '' && webSocketUrl(inspect) === null) {
    throw new UsageError(`--inspect takes a WebSocket URL such as ws://127.0.0.1:8080 (got '${shownUrl(inspect)}')`, usage);
  }
  return { dashboard: port, inspect: inspect ?? null };
}
