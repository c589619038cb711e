/**
 * How far the page lags behind the host: for every state change it shows, the time from the
 * moment the host saw the change (`since`, stamped by the server) to the animation frame that
 * put it on the page. Both clocks are this machine's when the dashboard is opened locally.
 */

const SAMPLES = 20_000;

export interface LatencyReport {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export class LatencyStats {
  private readonly samples: number[] = [];
  private total = 0;

  add(ms: number): void {
    this.total++;
    this.samples.push(Math.max(0, ms));
    if (this.samples.length > SAMPLES) this.samples.shift();
  }

  clear(): void {
    this.samples.length = 0;
    this.total = 0;
  }

  report(): LatencyReport {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0);
    return { count: this.total, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.length ? sorted[sorted.length - 1]! : 0 };
  }
}
