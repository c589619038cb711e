/**
 * The bench's own drivers still reach their states with the current chart (a driver waiting for
 * a state the chart no longer has would hang `npm run bench`).
 */
import { describe, expect, it } from 'vitest';
import { lifecycleChartOnly, minimalChart } from '../bench/floor.ts';
import { randomDag, seeded } from '../bench/dag.ts';
import { plotSvg } from '../bench/plot.ts';

describe('bench drivers', () => {
  it('drive 20 lifecycle actors through boot and shutdown, and 20 minimal ones through 7 steps', async () => {
    expect(await lifecycleChartOnly(20)).toBeGreaterThan(0);
    expect(await minimalChart(20)).toBeGreaterThan(0);
  });

  it('plot one line per series with a point per measurement', () => {
    const svg = plotSvg('t', [
      { name: 'a', colour: '#000', points: [[1000, 10], [10000, 90]] },
      { name: 'b', colour: '#111', points: [[1000, 5], [10000, 40]] },
    ]);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg.startsWith('<svg')).toBe(true);
  });

  it('plot time on a log axis: runners ten-fold apart are both well above the axis line', () => {
    const svg = plotSvg('t', [
      { name: 'engine', colour: '#000', points: [[1000, 360], [10000, 3400]] },
      { name: 'plain', colour: '#111', points: [[1000, 1.2], [10000, 11]] },
    ]);
    const axis = Number(/<line x1="70" x2="\d+" y1="(\d+(?:\.\d+)?)" y2="\1" stroke="#333"\/>/.exec(svg)?.[1]);
    const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((match) => Number(match[1]));
    expect(ys).toHaveLength(4);
    // The fastest point sits a decade's height above the axis at least, not on it.
    for (const y of ys) expect(axis - y).toBeGreaterThan(40);
  });

  it('dag: seeded graphs are the same every time, each plugin depends on up to two before it', () => {
    const dag = randomDag(10_000);
    expect(randomDag(10_000)).toEqual(dag);
    dag.forEach((deps, i) => {
      expect(deps.length).toBeLessThanOrEqual(2);
      for (const dep of deps) expect(Number(dep.slice(1))).toBeLessThan(i);
    });
    // No run of the source repeats within a 10,000-plugin graph's draws.
    const random = seeded(42);
    const draws = Array.from({ length: 20_000 }, random);
    expect(new Set(draws).size).toBe(draws.length);
  });
});
