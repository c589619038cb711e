/**
 * The bench's plot: boot + shutdown time against the number of plugins, one line per runner,
 * as a self-contained SVG (no fonts or scripts fetched).
 */
export interface Series {
  name: string;
  colour: string;
  /** [n, ms] pairs, ascending n. */
  points: Array<[number, number]>;
}

const WIDTH = 640;
const HEIGHT = 400;
const MARGIN = { left: 70, right: 150, top: 40, bottom: 50 };

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten. */
function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(value, 1e-9)));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Time on a logarithmic axis: the runners differ ten-fold, and on a linear one the fastest
 * would lie on the axis line itself. Ticks at 1, 2 and 5 of each decade.
 */
export function plotSvg(title: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points);
  const maxN = niceCeiling(Math.max(...all.map(([n]) => n)));
  const times = all.map(([, ms]) => Math.max(ms, 1e-3));
  // At least a third of a decade below the fastest point: it must not sit on the axis line.
  const low = Math.floor(Math.log10(Math.min(...times) / 2));
  const high = Math.max(low + 1, Math.ceil(Math.log10(Math.max(...times))));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (n: number) => MARGIN.left + (n / maxN) * plotW;
  const y = (ms: number) => MARGIN.top + plotH - ((Math.log10(Math.max(ms, 1e-3)) - low) / (high - low)) * plotH;
  const msTicks: number[] = [];
  for (let decade = low; decade <= high; decade++) for (const step of [1, 2, 5]) if (decade + Math.log10(step) <= high) msTicks.push(step * 10 ** decade);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  for (const ms of msTicks) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(ms).toFixed(1)}" y2="${y(ms).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 8}" y="${(y(ms) + 4).toFixed(1)}" text-anchor="end">${ms >= 1 ? Math.round(ms) : ms}</text>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const n = (maxN / 5) * i;
    out.push(`<text x="${x(n)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${Math.round(n)}</text>`);
  }
  out.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">plugins (n)</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">boot + shutdown (ms, log scale)</text>`,
  );
  series.forEach((s, index) => {
    const path = s.points.map(([n, ms], i) => `${i === 0 ? 'M' : 'L'}${x(n).toFixed(1)},${y(ms).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${s.colour}" stroke-width="2"/>`);
    for (const [n, ms] of s.points) out.push(`<circle cx="${x(n).toFixed(1)}" cy="${y(ms).toFixed(1)}" r="3" fill="${s.colour}"/>`);
    const legendY = MARGIN.top + 10 + index * 20;
    out.push(
      `<line x1="${WIDTH - MARGIN.right + 15}" x2="${WIDTH - MARGIN.right + 35}" y1="${legendY}" y2="${legendY}" stroke="${s.colour}" stroke-width="2"/>`,
      `<text x="${WIDTH - MARGIN.right + 40}" y="${legendY + 4}">${escape(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
