/**
 * Renders plugin metrics in the Prometheus text exposition format (version 0.0.4): every family
 * has one `# HELP` and one `# TYPE` line before its samples, label values are escaped, durations
 * are in seconds, and the text ends with a newline. Serve it with
 * `Content-Type: text/plain; version=0.0.4; charset=utf-8`.
 */
import { argumentError, quote } from './_utils.ts';
import type { PluginMetrics } from './metrics.ts';

/** Anything shaped like a metrics snapshot; every field but `name` may be missing. */
export interface MetricsSnapshotLike {
  plugins: ReadonlyArray<{ name: string } & Partial<Omit<PluginMetrics, 'name'>>>;
}

/** The `Content-Type` to serve `toPrometheus` output with. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface Family {
  name: string;
  type: 'gauge' | 'counter' | 'summary';
  help: string;
  /** Sample lines, each already rendered: a host of 10,000 plugins has over 100,000 of them. */
  lines: string[];
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

const num = (value: unknown): number => (typeof value === 'number' ? value : 0);

/**
 * @param options.prefix metric name prefix @default 'plugin_factory_'
 * @example `toPrometheus(metrics.snapshot())` → `# HELP plugin_factory_plugin_up …`
 */
export function toPrometheus(snapshot: MetricsSnapshotLike, options: { prefix?: string } = {}): string {
  const prefix = options.prefix ?? 'plugin_factory_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(`${prefix}x`)) {
    throw argumentError(`toPrometheus: ${quote(prefix)} is not a metric name prefix (letters, digits, '_' and ':')`);
  }
  if (!Array.isArray((snapshot as { plugins?: unknown } | null)?.plugins)) throw argumentError('toPrometheus: expected a snapshot with a plugins list');
  const family = (name: string, type: Family['type'], help: string): Family => ({ name: `${prefix}${name}`, type, help, lines: [] });
  const up = family('plugin_up', 'gauge', 'Whether the plugin is running (1) or not (0).');
  const state = family('plugin_state', 'gauge', 'The state the plugin is in (1 for its current state).');
  const uptime = family('plugin_uptime_seconds', 'gauge', 'Seconds since the plugin last entered running; 0 when not running.');
  const starts = family('plugin_starts_total', 'counter', 'Times the plugin entered running.');
  const restarts = family('plugin_restarts_total', 'counter', 'Times the plugin entered running again after having run before.');
  const hookDuration = family('hook_duration_seconds', 'summary', 'Duration of settled hook calls: lifecycle hooks and health checks.');
  const hookFailures = family('hook_failures_total', 'counter', 'Hook calls that threw, rejected or timed out (a health check also: returned no health result).');
  const published = family('events_published_total', 'counter', 'Events the plugin published.');
  const received = family('events_received_total', 'counter', 'Handler calls for events the plugin subscribed to.');
  const lastError = family('plugin_last_error_info', 'gauge', 'The code of the last error the plugin had (1).');
  const health = family('plugin_health', 'gauge', 'The plugin health status from its last check (1 for the current status).');
  // A sample line: the family's name (and suffix), the labels, the value.
  const sample = (f: Family, labels: string, value: number, suffix = '') => f.lines.push(`${f.name}${suffix}{${labels}} ${formatValue(value)}`);

  for (const plugin of snapshot.plugins) {
    // The plugin label, escaped once; every sample of the plugin starts with it.
    const labels = `plugin="${escapeLabelValue(String(plugin.name))}"`;
    const isUp = plugin.up ?? (plugin.state === 'running' || String(plugin.state).startsWith('running.'));
    sample(up, labels, isUp ? 1 : 0);
    if (typeof plugin.state === 'string') sample(state, `${labels},state="${escapeLabelValue(plugin.state)}"`, 1);
    sample(uptime, labels, num(plugin.uptimeMs) / 1000);
    sample(starts, labels, num(plugin.starts));
    sample(restarts, labels, num(plugin.restarts));
    for (const [hook, timing] of Object.entries(plugin.hooks ?? {})) {
      if (!timing) continue;
      const hookLabels = `${labels},hook="${escapeLabelValue(hook)}"`;
      sample(hookDuration, hookLabels, num(timing.totalMs) / 1000, '_sum');
      sample(hookDuration, hookLabels, num(timing.count), '_count');
      sample(hookFailures, hookLabels, num(timing.failures));
    }
    sample(published, labels, num(plugin.events?.published));
    sample(received, labels, num(plugin.events?.received));
    if (plugin.lastError) sample(lastError, `${labels},code="${escapeLabelValue(String(plugin.lastError.code))}"`, 1);
    if (plugin.health) sample(health, `${labels},status="${escapeLabelValue(String(plugin.health))}"`, 1);
  }

  const lines: string[] = [];
  for (const f of [up, state, uptime, starts, restarts, hookDuration, hookFailures, published, received, lastError, health]) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const line of f.lines) lines.push(line);
  }
  return `${lines.join('\n')}\n`;
}
