/**
 * `plugin-factory validate <dir|config> [--json]`: every plugin checked, no hook run.
 */
import { parseArgs } from 'node:util';
import { checkHost } from './check-host.ts';
import { handleStrayErrors } from './process-guard.ts';
import type { StrayError } from './process-guard.ts';
import { strayVerdict } from './stray-errors.ts';
import { blockedPlugins, validBootOrder } from './host-graph.ts';
import { claimStdout, dim, errorJson, green, print, problemJson, red, shown } from './output.ts';
import { VALIDATE_USAGE, parseOrUsage, targetOf } from './usage.ts';

export interface ValidateReport {
  plugins: Array<{ name: string; version: string | null; valid: boolean; errors: Array<{ code: string; message: string }> }>;
  order: string[];
  problems: Array<{ code: string; message: string; plugins: string[] }>;
}

export async function validateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseOrUsage(VALIDATE_USAGE, () =>
    parseArgs({
      args,
      options: {
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: true,
    }),
  );
  if (values.help) {
    process.stdout.write(VALIDATE_USAGE);
    return 0;
  }
  const target = targetOf(positionals, VALIDATE_USAGE);
  // Plugin code that throws or rejects outside any hook while its module is imported (a promise
  // nobody awaits at the top level) makes the plugin invalid: `run` would report it too.
  const strays: StrayError[] = [];
  handleStrayErrors((stray) => strays.push(stray));
  const out = values.json ? claimStdout() : process.stdout;
  const checked = await checkHost(target);
  const { host } = checked;
  // Stray errors first: a plugin they make invalid blocks its dependents and leaves the order,
  // as any invalid plugin does.
  const { snapshot, errorsOf, unowned } = strayVerdict(host, checked.snapshot, strays);
  // A plugin whose required dependency is invalid would be blocked at run time: say so now.
  const blocked = blockedPlugins(host, snapshot);
  const report: ValidateReport = {
    plugins: snapshot.plugins.map((plugin) => {
      const culprit = blocked.get(plugin.name);
      const errors = [...plugin.errors.map(errorJson), ...(errorsOf.get(plugin.name) ?? []).map(({ code, message }) => ({ code, message }))];
      if (culprit !== undefined) {
        errors.push({
          code: 'DEPENDENCY_FAILED',
          message: `plugin '${plugin.name}': required dependency '${culprit}' ${blocked.has(culprit) ? 'cannot run either' : 'is invalid'}, so '${plugin.name}' cannot run; fix '${culprit}'`,
        });
      }
      return { name: plugin.name, version: plugin.version, valid: plugin.state !== 'invalid' && culprit === undefined, errors };
    }),
    order: validBootOrder(host, snapshot),
    problems: [...host.problems.map(problemJson), ...unowned.map(problemJson)],
  };
  if (values.json) print(JSON.stringify(report), out);
  else printReport(report);
  const ok = report.plugins.every((plugin) => plugin.valid) && report.problems.length === 0;
  return ok ? 0 : 1;
}

function printReport(report: ValidateReport): void {
  const out = process.stdout;
  for (const plugin of report.plugins) {
    const mark = plugin.valid ? green('✓', out) : red('✗', out);
    print(`${mark} ${plugin.name}${plugin.version ? ` ${dim(plugin.version, out)}` : ''}${plugin.valid ? '' : ' (invalid)'}`);
    for (const error of plugin.errors) print(`    ${red(error.code, out)}: ${shown(error.message)}`);
  }
  if (report.problems.length > 0) {
    print('');
    print('host problems:');
    for (const problem of report.problems) print(`  ${red('✗', out)} ${red(problem.code, out)}: ${shown(problem.message)}`);
  }
  const invalid = report.plugins.filter((plugin) => !plugin.valid).length;
  print('');
  // On a terminal, a long order is wrapped at its width (a line per arrow-joined run of names).
  if (report.order.length > 0) for (const line of wrapOrder(report.order, out.isTTY ? out.columns || 80 : Infinity)) print(line);
  const problems = report.problems.length;
  const summary = [
    `${report.plugins.length} plugin${report.plugins.length === 1 ? '' : 's'}`,
    `${invalid} invalid`,
    ...(problems > 0 ? [`${problems} host problem${problems === 1 ? '' : 's'}`] : []),
  ];
  print(summary.join(', '));
}

/** `boot order: a -> b -> …`, cut into lines of at most `width` columns, each after the first indented. */
export function wrapOrder(order: readonly string[], width: number): string[] {
  const lines: string[] = [];
  let line = 'boot order:';
  for (const [index, name] of order.entries()) {
    const word = index === 0 ? ` ${name}` : ` -> ${name}`;
    if (index > 0 && line.length + word.length > width) {
      lines.push(line);
      line = `  ${word.trimStart()}`;
    } else line += word;
  }
  lines.push(line);
  return lines;
}
