/**
 * Renders a statechart from its definition (never by hand): Mermaid `stateDiagram-v2` for docs
 * and dashboards, and a plain JSON list of states and transitions for tools.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

export interface ChartTransition {
  source: string;
  target: string | null;
  event: string;
  guard: string | null;
}

export interface ChartJson {
  id: string;
  /** The path of the state the chart starts in. */
  initial: string | null;
  states: Array<{ id: string; path: string; type: string; initial: string | null; description: string | null }>;
  transitions: ChartTransition[];
}

/** A readable label for an internal event type (`xstate.after.hookTimeout.…` → `after hookTimeout`). */
export function eventLabel(eventType: string): string {
  if (eventType === '') return 'always';
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  if (eventType.startsWith('xstate.done.actor.')) return 'done';
  if (eventType.startsWith('xstate.error.actor.')) return 'error';
  return eventType;
}

function children(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states) as AnyStateNode[];
}

function pathOf(node: AnyStateNode): string {
  return node.path.join('.');
}

function guardName(guard: unknown): string | null {
  if (typeof guard === 'string') return guard;
  if (guard && typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  return null;
}

/** Every transition of every state node, in document order. */
export function chartTransitions(machine: AnyStateMachine): ChartTransition[] {
  const out: ChartTransition[] = [];
  const visit = (node: AnyStateNode) => {
    const lists = [...node.transitions.values(), node.always ?? []];
    for (const list of lists) {
      for (const t of list) {
        const targets = t.target ?? [];
        const base = { source: pathOf(node) || node.machine.id, event: t.eventType, guard: guardName(t.guard) };
        if (targets.length === 0) out.push({ ...base, target: null });
        for (const target of targets) out.push({ ...base, target: pathOf(target) });
      }
    }
    for (const child of children(node)) visit(child);
  };
  visit(machine.root);
  return out;
}

export function chartToJson(machine: AnyStateMachine): ChartJson {
  const states: ChartJson['states'] = [];
  const visit = (node: AnyStateNode) => {
    if (node.path.length > 0) {
      const initial = node.initial?.target?.[0];
      states.push({
        id: node.id,
        path: pathOf(node),
        type: node.type,
        initial: initial ? pathOf(initial) : null,
        description: node.description ?? null,
      });
    }
    for (const child of children(node)) visit(child);
  };
  visit(machine.root);
  const start = machine.root.initial?.target?.[0];
  return { id: machine.id, initial: start ? pathOf(start) : null, states, transitions: chartTransitions(machine) };
}

const mermaidId = (path: string) => path.replace(/\./g, '_');

/**
 * Mermaid `stateDiagram-v2` of a chart: compound states nest, `always` and internal events get
 * readable labels, guarded branches show `[guard]`, targetless (self) transitions are omitted.
 */
export function chartToMermaid(machine: AnyStateMachine): string {
  const lines = ['stateDiagram-v2'];
  const edges = chartTransitions(machine).filter((t) => t.target !== null && t.source !== machine.id);
  const rootEdges = chartTransitions(machine).filter((t) => t.source === machine.id && t.target !== null);
  const declare = (node: AnyStateNode, indent: string) => {
    const kids = children(node);
    const id = mermaidId(pathOf(node));
    if (kids.length > 0) {
      lines.push(`${indent}state ${id} {`);
      const initial = node.initial?.target?.[0];
      if (initial) lines.push(`${indent}  [*] --> ${mermaidId(pathOf(initial))}`);
      for (const kid of kids) declare(kid, `${indent}  `);
      lines.push(`${indent}}`);
    } else if (pathOf(node).includes('.')) {
      lines.push(`${indent}state "${node.key}" as ${id}`);
    }
    if (node.type === 'final') lines.push(`${indent}${id} --> [*]`);
  };
  const initial = machine.root.initial?.target?.[0];
  if (initial) lines.push(`  [*] --> ${mermaidId(pathOf(initial))}`);
  for (const node of children(machine.root)) declare(node, '  ');
  for (const edge of [...edges, ...rootEdges]) {
    const guard = edge.guard ? ` [${edge.guard}]` : '';
    lines.push(`  ${mermaidId(edge.source)} --> ${mermaidId(edge.target!)}: ${eventLabel(edge.event)}${guard}`);
  }
  return `${lines.join('\n')}\n`;
}
