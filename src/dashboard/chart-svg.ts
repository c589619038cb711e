/**
 * Draws a laid-out statechart as SVG markup. Styling is left to the page's stylesheet (classes
 * only, no inline styles), and every state and transition carries data attributes the page uses
 * to highlight a plugin's current state and the transitions leaving it.
 */
import type { AnyStateMachine } from 'xstate';
import { chartToJson } from '../chart.ts';
import { layoutChart } from './chart-layout.ts';
import type { ChartLayout } from './chart-layout.ts';
import type { DashboardChart } from './wire.ts';

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderChartSvg(layout: ChartLayout, title: string): string {
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${layout.width} ${layout.height}" width="${layout.width}" height="${layout.height}" role="img" aria-label="${escape(title)}">`,
    '<defs><marker id="chart-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
  );
  const compound = layout.boxes.filter((box) => box.type === 'compound' || box.type === 'parallel');
  const simple = layout.boxes.filter((box) => !compound.includes(box));
  const state = (box: (typeof layout.boxes)[number]) => {
    const kind = compound.includes(box) ? 'compound' : box.type === 'final' ? 'final' : 'atomic';
    const textY = kind === 'compound' ? box.y + 16 : box.y + box.h / 2 + 4;
    const lines = [
      `<g class="state ${kind}" data-state="${escape(box.path)}">`,
      `<title>${escape(box.path)}${box.description ? `: ${escape(box.description)}` : ''}</title>`,
      `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" rx="8"/>`,
    ];
    if (kind === 'final') lines.push(`<rect class="inner" x="${box.x + 3}" y="${box.y + 3}" width="${box.w - 6}" height="${box.h - 6}" rx="6"/>`);
    lines.push(`<text x="${box.x + box.w / 2}" y="${textY}">${escape(box.key)}</text>`, '</g>');
    return lines.join('');
  };
  out.push('<g class="compounds">', ...compound.map(state), '</g>');
  out.push('<g class="transitions">');
  for (const curve of layout.curves) {
    const label = curve.labels.join(' | ');
    out.push(
      `<g class="transition" data-source="${escape(curve.source)}" data-target="${escape(curve.target)}">`,
      `<title>${escape(curve.source)} → ${escape(curve.target)}: ${escape(label)}</title>`,
      `<path d="${curve.d}" marker-end="url(#chart-arrow)"/>`,
      `<text class="label" x="${curve.labelX}" y="${curve.labelY}">${escape(label)}</text>`,
      '</g>',
    );
  }
  out.push('</g>');
  if (layout.initial) {
    const { x, y } = layout.initial;
    out.push(`<g class="initial"><circle cx="${x}" cy="${y}" r="5"/><path d="M${x + 5},${y} L${x + 24},${y}" marker-end="url(#chart-arrow)"/></g>`);
  }
  out.push('<g class="states">', ...simple.map(state), '</g>', '</svg>');
  return out.join('\n');
}

/** `/api/chart`: the chart as JSON (states, transitions) and its drawing. */
export function dashboardChart(machine: AnyStateMachine): DashboardChart {
  const json = chartToJson(machine);
  const initial = machine.root.initial?.target?.[0]?.path.join('.') ?? null;
  const svg = renderChartSvg(layoutChart(json, initial), `${machine.id} statechart`);
  return { ...json, svg };
}
