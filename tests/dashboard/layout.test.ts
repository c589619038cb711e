/**
 * The drawings: the lifecycle chart laid out from its definition (every state a box, every
 * transition a curve, children inside their parents, no overlaps), and the dependency graph
 * (dependencies to the left, missing ones marked, cycles and long chains survived).
 */
import { describe, expect, it } from 'vitest';
import { chartToJson } from '../../src/chart.ts';
import { layoutChart } from '../../src/dashboard/chart-layout.ts';
import type { ChartBox } from '../../src/dashboard/chart-layout.ts';
import { dashboardChart } from '../../src/dashboard/chart-svg.ts';
import { layoutGraph } from '../../src/dashboard/client/graph-layout.ts';
import { pluginLifecycle, pluginManager } from '../../src/index.ts';

const overlaps = (a: ChartBox, b: ChartBox) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
const inside = (child: ChartBox, parent: ChartBox) =>
  child.x >= parent.x && child.y >= parent.y && child.x + child.w <= parent.x + parent.w && child.y + child.h <= parent.y + parent.h;

describe.each([
  ['lifecycle', pluginLifecycle],
  ['manager', pluginManager],
] as const)('the %s chart, laid out from its definition', (_, machine) => {
  const json = chartToJson(machine);
  const layout = layoutChart(json, machine.root.initial?.target?.[0]?.path.join('.') ?? null);
  const boxes = new Map(layout.boxes.map((box) => [box.path, box]));

  it('has a box for every state and a curve for every transition between two states', () => {
    expect([...boxes.keys()].sort()).toEqual(json.states.map((s) => s.path).sort());
    const pairs = new Set(layout.curves.map((c) => `${c.source} -> ${c.target}`));
    for (const t of json.transitions) {
      if (t.target === null || t.target === t.source || !boxes.has(t.source)) continue;
      expect(pairs, `${t.source} -> ${t.target}`).toContain(`${t.source} -> ${t.target}`);
    }
  });

  it('keeps children inside their parent and nothing else overlapping', () => {
    const list = [...boxes.values()];
    for (const box of list) {
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.y).toBeGreaterThanOrEqual(0);
      expect(box.x + box.w).toBeLessThanOrEqual(layout.width);
      expect(box.y + box.h).toBeLessThanOrEqual(layout.height);
      const parent = box.path.includes('.') ? boxes.get(box.path.slice(0, box.path.lastIndexOf('.'))) : undefined;
      if (parent) expect(inside(box, parent), `${box.path} inside ${parent.path}`).toBe(true);
      for (const other of list) {
        const related = other === box || other.path.startsWith(`${box.path}.`) || box.path.startsWith(`${other.path}.`);
        if (!related) expect(overlaps(box, other), `${box.path} / ${other.path}`).toBe(false);
      }
    }
  });
});

describe('the lifecycle chart drawing', () => {
  const layout = layoutChart(chartToJson(pluginLifecycle), 'validating');
  const box = (path: string) => layout.boxes.find((b) => b.path === path)!;

  it('reads the seed path left to right', () => {
    const seed = ['validating', 'created', 'initializing', 'initialized', 'starting', 'running', 'stopping', 'stopped'];
    for (let i = 1; i < seed.length; i++) expect(box(seed[i]!).x, seed[i]).toBeGreaterThan(box(seed[i - 1]!).x);
    expect(layout.initial?.target).toBe('validating');
  });

  it('is SVG markup whose states and transitions carry their paths', () => {
    const chart = dashboardChart(pluginLifecycle);
    expect(chart.svg.startsWith('<svg')).toBe(true);
    expect(chart.svg).toContain('data-state="starting.hook"');
    expect(chart.svg).toMatch(/data-source="running" data-target="stopping"/);
    expect(chart.svg).not.toContain('style=');
  });
});

describe('layoutGraph', () => {
  it('puts every plugin right of its dependencies and marks unregistered ones', () => {
    const layout = layoutGraph([
      { name: 'http', dependencies: ['cache', 'config'] },
      { name: 'cache', dependencies: ['db'] },
      { name: 'db', dependencies: ['config'] },
      { name: 'config', dependencies: [] },
      { name: 'orphan', dependencies: ['ghost'] },
    ]);
    const node = (name: string) => layout.nodes.find((n) => n.name === name)!;
    expect(node('config').column).toBe(0);
    expect(node('db').column).toBe(1);
    expect(node('cache').column).toBe(2);
    expect(node('http').column).toBe(3);
    expect(node('ghost').missing).toBe(true);
    expect(node('orphan').column).toBe(1);
    expect(layout.edges.map((e) => `${e.from}>${e.to}`).sort()).toEqual(['cache>db', 'db>config', 'http>cache', 'http>config', 'orphan>ghost']);
  });

  it('marks the edges of optional dependencies', () => {
    const layout = layoutGraph([
      { name: 'reporter', dependencies: ['config', 'metrics'], optionalDependencies: ['metrics'] },
      { name: 'metrics', dependencies: [] },
      { name: 'config', dependencies: [] },
    ]);
    expect(layout.edges.map((e) => `${e.from}>${e.to}:${e.optional}`).sort()).toEqual(['reporter>config:false', 'reporter>metrics:true']);
  });

  it('survives a cycle between invalid plugins and a chain of 10,000', () => {
    const cycle = layoutGraph([
      { name: 'a', dependencies: ['b'] },
      { name: 'b', dependencies: ['c'] },
      { name: 'c', dependencies: ['a'] },
    ]);
    expect(cycle.nodes).toHaveLength(3);
    expect(new Set(cycle.nodes.map((n) => n.column)).size).toBe(3);
    const chain = Array.from({ length: 10_000 }, (_, i) => ({ name: `p${i}`, dependencies: i === 0 ? [] : [`p${i - 1}`] }));
    const long = layoutGraph(chain);
    expect(long.nodes.find((n) => n.name === 'p9999')!.column).toBe(9999);
  });
});
