/**
 * SCXML (W3C State Chart XML) rendering of an XState machine, walked from its definition like
 * src/chart.ts does: states nest, compound states name their `initial`, final states are
 * `<final>`, parallel ones `<parallel>`; each transition is `<transition event cond target>`
 * (eventless for `always`, targetless for self-handled events). Delayed transitions keep their
 * XState event name and get the matching `<send delay>` on entry, cancelled on exit (a named
 * delay is a `<data>` of the data model); invoked actors become
 * `<invoke>`. State ids are the dotted state paths used in snapshots.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

const SCXML_NS = 'http://www.w3.org/2005/07/scxml';

const attr = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An XML comment cannot hold `--`. */
const comment = (text: string) => `<!-- ${text.replace(/-{2,}/g, (dashes) => dashes.split('').join(' ')).replace(/\s+/g, ' ')} -->`;

function guardName(guard: unknown): string | null {
  if (typeof guard === 'string') return guard;
  if (guard && typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  if (typeof guard === 'function') return guard.name || 'guard';
  return null;
}

const children = (node: AnyStateNode) => Object.values(node.states) as AnyStateNode[];

/** The data-model name of a delay that is not a number: its name in the machine's `delays`. */
const delayName = (delay: unknown) => (typeof delay === 'string' ? delay : 'delay');

export function chartToScxml(machine: AnyStateMachine): string {
  const root = machine.root;
  const used = new Set<string>();
  const ids = new Map<AnyStateNode, string>();
  const visit = (node: AnyStateNode) => {
    if (node.path.length > 0) {
      const id = node.path.join('.');
      ids.set(node, id);
      used.add(id);
    }
    for (const child of children(node)) visit(child);
  };
  visit(root);
  // The root's own transitions (events handled in every state) need a state to live in: the
  // whole chart is wrapped in one named after the machine.
  const rootHasTransitions = root.transitions.size > 0 || (root.always?.length ?? 0) > 0;
  let rootId = machine.id;
  while (used.has(rootId)) rootId = `${rootId}_`;
  if (rootHasTransitions) ids.set(root, rootId);
  const idOf = (node: AnyStateNode) => ids.get(node) ?? rootId;

  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const initialOf = (node: AnyStateNode) => node.initial?.target?.[0];
  const topInitial = rootHasTransitions ? root : initialOf(root);
  // A named delay is computed by the machine from its context (the retry backoff): it is declared
  // in an ECMAScript data model, for whoever runs the chart to set before the state that waits
  // for it is entered.
  const named = new Set<string>();
  const collect = (node: AnyStateNode) => {
    for (const delayed of node.after) if (typeof delayed.delay !== 'number') named.add(delayName(delayed.delay));
    for (const child of children(node)) collect(child);
  };
  collect(root);
  const datamodel = named.size > 0 ? ' datamodel="ecmascript"' : '';
  lines.push(
    `<scxml xmlns="${SCXML_NS}" version="1.0" name="${attr(machine.id)}"${datamodel}${topInitial ? ` initial="${attr(idOf(topInitial))}"` : ''}>`,
  );
  if (named.size > 0) {
    lines.push('  <datamodel>');
    for (const name of named) {
      lines.push(`    ${comment(`${name}: the delay the machine computes from its context when the state that waits for it is entered`)}`);
      lines.push(`    <data id="${attr(name)}"/>`);
    }
    lines.push('  </datamodel>');
  }

  const transitionsOf = (node: AnyStateNode, indent: string) => {
    const lists = [...node.transitions.values(), node.always ?? []];
    for (const list of lists) {
      for (const t of list) {
        const parts = ['<transition'];
        if (t.eventType !== '') parts.push(`event="${attr(t.eventType)}"`);
        const cond = guardName(t.guard);
        if (cond) parts.push(`cond="${attr(cond)}"`);
        const targets = (t.target ?? []) as AnyStateNode[];
        if (targets.length > 0) {
          parts.push(`target="${attr(targets.map(idOf).join(' '))}"`);
          const inside = targets.every((target) => target.path.join('.').startsWith(`${node.path.join('.')}.`) || node === root);
          if (!t.reenter && inside) parts.push('type="internal"');
        }
        lines.push(`${indent}${parts.join(' ')}/>`);
      }
    }
  };

  const declare = (node: AnyStateNode, indent: string) => {
    const id = attr(idOf(node));
    if (node.description) lines.push(`${indent}${comment(node.description)}`);
    if (node.type === 'history') {
      lines.push(`${indent}<history id="${id}" type="${node.history === 'deep' ? 'deep' : 'shallow'}"/>`);
      return;
    }
    if (node.type === 'final') {
      lines.push(`${indent}<final id="${id}"/>`);
      return;
    }
    const tag = node.type === 'parallel' ? 'parallel' : 'state';
    const initial = node.type === 'compound' ? initialOf(node) : undefined;
    lines.push(`${indent}<${tag} id="${id}"${initial ? ` initial="${attr(idOf(initial))}"` : ''}>`);
    const inner = `${indent}  `;
    // Guarded delayed transitions share one timer: one <send> per delayed event, cancelled when
    // the state is left (as XState cancels its timer), so a later entry never meets an old one.
    const delays = [...new Map(node.after.map((delayed) => [delayed.eventType, delayed] as const)).values()];
    if (delays.length > 0) {
      const sendIds = delays.map((_, index) => attr(`${idOf(node)}.after.${index}`));
      lines.push(`${inner}<onentry>`);
      for (const [index, delayed] of delays.entries()) {
        const delay = typeof delayed.delay === 'number' ? `delay="${delayed.delay}ms"` : `delayexpr="${attr(delayName(delayed.delay))}"`;
        lines.push(`${inner}  <send id="${sendIds[index]}" event="${attr(delayed.eventType)}" ${delay}/>`);
      }
      lines.push(`${inner}</onentry>`);
      lines.push(`${inner}<onexit>`);
      for (const id of sendIds) lines.push(`${inner}  <cancel sendid="${id}"/>`);
      lines.push(`${inner}</onexit>`);
    }
    for (const invoke of node.invoke) {
      const src = typeof invoke.src === 'string' ? invoke.src : invoke.id;
      lines.push(`${inner}<invoke id="${attr(invoke.id)}" type="xstate" src="${attr(src)}"/>`);
    }
    transitionsOf(node, inner);
    for (const child of children(node)) declare(child, inner);
    lines.push(`${indent}</${tag}>`);
  };

  if (rootHasTransitions) declare(root, '  ');
  else for (const child of children(root)) declare(child, '  ');
  lines.push('</scxml>');
  return `${lines.join('\n')}\n`;
}
