/**
 * `plugin-factory chart [--format mermaid|json|scxml] [--machine lifecycle|manager]`: a
 * statechart rendered from its definition.
 */
import { parseArgs } from 'node:util';
import { pluginLifecycle, pluginManager } from '../index.ts';
import { chartToJson, chartToMermaid } from '../chart.ts';
import { print } from './output.ts';
import { chartToScxml } from './scxml.ts';
import { CHART_USAGE, UsageError, givenOnce, oneOf, parseOrUsage } from './usage.ts';

const FORMATS = ['mermaid', 'json', 'scxml'] as const;
const MACHINES = ['lifecycle', 'manager'] as const;

export function chartCommand(args: string[]): number {
  const { values, positionals } = parseOrUsage(CHART_USAGE, () =>
    parseArgs({
      args,
      options: {
        format: { type: 'string', default: 'mermaid' },
        machine: { type: 'string', default: 'lifecycle' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: true,
    }),
  );
  if (values.help) {
    process.stdout.write(CHART_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`chart takes no arguments (got ${positionals.join(' ')})`, CHART_USAGE);
  givenOnce(args, ['format', 'machine'], CHART_USAGE);
  const format = oneOf(values.format, FORMATS, 'format', CHART_USAGE);
  const which = oneOf(values.machine, MACHINES, 'machine', CHART_USAGE);
  const machine = which === 'manager' ? pluginManager : pluginLifecycle;
  if (format === 'json') print(JSON.stringify(chartToJson(machine), null, 2));
  else process.stdout.write(format === 'scxml' ? chartToScxml(machine) : chartToMermaid(machine));
  return 0;
}
