/**
 * The bench's own drivers still reach their states with the current chart (a driver waiting for
 * a state the chart no longer has would hang `npm run bench`).
 */
import { describe, expect, it } from 'vitest';
import { lifecycleChartOnly, minimalChart } from '../bench/floor.ts';
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
});
