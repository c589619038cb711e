/**
 * The `plugin-factory` command line. A thin layer over the library: it parses arguments, calls
 * library functions and sets the exit code (0 success, 1 the plugins have problems, 2 usage).
 */
import { parseArgs } from 'node:util';
import { pluginLifecycle } from '../machines/plugin-lifecycle.ts';
import { pluginManager } from '../machines/plugin-manager.ts';
import { chartToJson, chartToMermaid } from './chart.ts';

const USAGE = `plugin-factory <command> [options]

Commands:
  chart [--format mermaid|json] [--machine lifecycle|manager]
        Print a statechart from its definition (default: the lifecycle chart as mermaid).

Options:
  -h, --help   Show this help.
`;

function usageError(message: string): number {
  process.stderr.write(`plugin-factory: ${message}\n\n${USAGE}`);
  return 2;
}

export function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'chart') return usageError(`unknown command '${command}'`);
  let values: { format?: string | undefined; machine?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        format: { type: 'string', default: 'mermaid' },
        machine: { type: 'string', default: 'lifecycle' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return usageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const machine = values.machine === 'manager' ? pluginManager : values.machine === 'lifecycle' ? pluginLifecycle : null;
  if (!machine) return usageError(`--machine must be lifecycle or manager, not '${values.machine}'`);
  if (values.format === 'mermaid') process.stdout.write(chartToMermaid(machine));
  else if (values.format === 'json') process.stdout.write(`${JSON.stringify(chartToJson(machine), null, 2)}\n`);
  else return usageError(`--format must be mermaid or json, not '${values.format}'`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
