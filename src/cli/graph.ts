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
import { GRAPH_USAGE, oneOf, parseOrUsage, targetOf } from './usage.ts';

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
  const format = oneOf(values.format, FORMATS, 'format', GRAPH_USAGE);
  const target = targetOf(positionals, GRAPH_USAGE);
  // Every format is one document on stdout: what plugin modules write while imported goes to stderr.
  const out = claimStdout();
  const { host, snapshot } = await checkHost(target);
  const graph = hostGraph(host, snapshot);
  if (format === 'json') print(JSON.stringify(graph, null, 2), out);
  else out.write(format === 'dot' ? graphToDot(graph) : graphToMermaid(graph));
  // The graph is drawn from what loaded; what did not, or is invalid, is said on stderr, and the
  // exit code says it, as `validate`'s does.
  for (const problem of host.problems) process.stderr.write(`${formatError(problem, values.verbose === true)}\n`);
  const invalid = snapshot.plugins.filter((plugin) => plugin.state === 'invalid');
  for (const plugin of invalid) {
    for (const error of plugin.errors) process.stderr.write(`${plugin.name}: ${error.code}: ${shown(error.message)}\n`);
  }
  return host.problems.length > 0 || invalid.length > 0 ? 1 : 0;
}

const label = (node: GraphNode): string =>
  node.missing ? `${node.name} (missing)` : `${node.name}${node.version ? ` ${node.version}` : ''}${node.valid ? '' : ' (invalid)'}`;

/** Mermaid `flowchart`; node ids are generated, since plugin names may hold `--`. */
export function graphToMermaid(graph: HostGraph): string {
  const ids = new Map(graph.nodes.map((node, index) => [node.name, `n${index}`] as const));
  // Mermaid's entity codes: `#` first, or a name holding `#quot;` would show as a quote; `<` and
  // `>` too, or a name holding `<br>` would break the label.
  const text = (value: string) => value.replace(/#/g, '#35;').replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
  const lines = ['flowchart LR'];
  for (const node of graph.nodes) {
    const cls = node.missing ? ':::missing' : node.valid ? '' : ':::invalid';
    lines.push(`  ${ids.get(node.name)}["${text(label(node))}"]${cls}`);
  }
  for (const edge of graph.edges) {
    lines.push(`  ${ids.get(edge.from)} ${edge.optional ? '-.->' : '-->'} ${ids.get(edge.to)}`);
  }
  lines.push('  classDef invalid fill:#fdd,stroke:#c00,color:#900');
  lines.push('  classDef missing fill:#fff,stroke:#c00,stroke-dasharray:4 3,color:#900');
  return `${lines.join('\n')}\n`;
}

/** Graphviz DOT. */
export function graphToDot(graph: HostGraph): string {
  const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['digraph plugins {', '  rankdir=LR;', '  node [shape=box];'];
  for (const node of graph.nodes) {
    const style = node.missing
      ? ', style=dashed, color=red, fontcolor=red'
      : node.valid
        ? ''
        : ', style=filled, fillcolor="#ffdddd", color=red';
    lines.push(`  ${quote(node.name)} [label=${quote(label(node))}${style}];`);
  }
  for (const edge of graph.edges) {
    lines.push(`  ${quote(edge.from)} -> ${quote(edge.to)}${edge.optional ? ' [style=dashed]' : ''};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
