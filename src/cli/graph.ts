/**
 * `plugin-factory graph <dir|config> [--format mermaid|dot|json]`: the dependency graph of the
 * loaded plugins. Edges go from a plugin to what it depends on; optional ones are dashed;
 * invalid plugins and missing dependencies are marked.
 */
import { parseArgs } from 'node:util';
import { checkHost } from './check-host.ts';
import { hostGraph } from './host-graph.ts';
import type { GraphNode, HostGraph } from './host-graph.ts';
import { claimStdout, formatError, print, shown } from './output.ts';
import { handleStrayErrors } from './process-guard.ts';
import type { StrayError } from './process-guard.ts';
import { strayVerdict } from './stray-errors.ts';
import { GRAPH_USAGE, givenOnce, oneOf, parseOrUsage, targetOf } from './usage.ts';

const FORMATS = ['mermaid', 'dot', 'json'] as const;

export async function graphCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseOrUsage(GRAPH_USAGE, () =>
    parseArgs({
      args,
      options: {
        format: { type: 'string', default: 'mermaid' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: true,
    }),
  );
  if (values.help) {
    process.stdout.write(GRAPH_USAGE);
    return 0;
  }
  givenOnce(args, ['format'], GRAPH_USAGE);
  const format = oneOf(values.format, FORMATS, 'format', GRAPH_USAGE);
  const target = targetOf(positionals, GRAPH_USAGE);
  // A plugin whose code threw outside any hook while imported is invalid, as `validate` says.
  const strays: StrayError[] = [];
  handleStrayErrors((stray) => strays.push(stray));
  // Every format is one document on stdout: what plugin modules write while imported goes to stderr.
  const out = claimStdout();
  const checked = await checkHost(target);
  const { host } = checked;
  const { snapshot, errorsOf, unowned } = strayVerdict(host, checked.snapshot, strays);
  const graph = hostGraph(host, snapshot);
  if (format === 'json') print(JSON.stringify(graph, null, 2), out);
  else out.write(format === 'dot' ? graphToDot(graph) : graphToMermaid(graph));
  // The graph is drawn from what loaded; what did not, or is invalid, is said on stderr, and the
  // exit code says it, as `validate`'s does.
  const problems = [...host.problems, ...unowned];
  for (const problem of problems) process.stderr.write(`${formatError(problem, values.verbose === true)}\n`);
  const invalid = snapshot.plugins.filter((plugin) => plugin.state === 'invalid');
  for (const plugin of invalid) {
    for (const error of [...plugin.errors, ...(errorsOf.get(plugin.name) ?? [])]) process.stderr.write(`${plugin.name}: ${error.code}: ${shown(error.message)}\n`);
  }
  return problems.length > 0 || invalid.length > 0 ? 1 : 0;
}

const label = (node: GraphNode): string =>
  node.missing
    ? `${node.name} (${node.optional ? 'absent, optional' : 'missing'})`
    : `${node.name}${node.version ? ` ${node.version}` : ''}${node.valid ? '' : ' (invalid)'}`;

/** Mermaid `flowchart`; node ids are generated, since plugin names may hold `--`. */
export function graphToMermaid(graph: HostGraph): string {
  const ids = new Map(graph.nodes.map((node, index) => [node.name, `n${index}`] as const));
  // Mermaid's entity codes: `#` first, or a name holding `#quot;` would show as a quote; `<` and
  // `>` too, or a name holding `<br>` would break the label; `` ` `` that would open a markdown
  // string, `%` of a `%%{init}%%` directive (Mermaid takes it from anywhere), and `&` of an HTML entity.
  const text = (value: string) => value.replace(/[#"<>`%&]/g, (c) => `#${c.charCodeAt(0)};`);
  const lines = ['flowchart LR'];
  for (const node of graph.nodes) {
    const cls = node.missing ? (node.optional ? ':::absent' : ':::missing') : node.valid ? '' : ':::invalid';
    lines.push(`  ${ids.get(node.name)}["${text(label(node))}"]${cls}`);
  }
  for (const edge of graph.edges) {
    lines.push(`  ${ids.get(edge.from)} ${edge.optional ? '-.->' : '-->'} ${ids.get(edge.to)}`);
  }
  lines.push('  classDef invalid fill:#fdd,stroke:#c00,color:#900');
  lines.push('  classDef missing fill:#fff,stroke:#c00,stroke-dasharray:4 3,color:#900');
  lines.push('  classDef absent fill:#fff,stroke:#999,stroke-dasharray:4 3,color:#666');
  return `${lines.join('\n')}\n`;
}

/** Graphviz DOT. */
export function graphToDot(graph: HostGraph): string {
  const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  // Graphviz reads HTML entities in labels: `&amp;` in a name is shown as written.
  const labelOf = (node: GraphNode) => quote(label(node).replace(/&/g, '&amp;'));
  const lines = ['digraph plugins {', '  rankdir=LR;', '  node [shape=box];'];
  for (const node of graph.nodes) {
    const style = node.missing
      ? node.optional
        ? ', style=dashed, color=gray, fontcolor=gray'
        : ', style=dashed, color=red, fontcolor=red'
      : node.valid
        ? ''
        : ', style=filled, fillcolor="#ffdddd", color=red';
    lines.push(`  ${quote(node.name)} [label=${labelOf(node)}${style}];`);
  }
  for (const edge of graph.edges) {
    lines.push(`  ${quote(edge.from)} -> ${quote(edge.to)}${edge.optional ? ' [style=dashed]' : ''};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
