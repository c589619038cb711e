/**
 * Renders plugin metrics in the Prometheus text exposition format (version 0.0.4): every family
 * has one `# HELP` and one `# TYPE` line before its samples, label values are escaped, durations
 * are in seconds, and the text ends with a newline. Serve it with
 * `Content-Type: text/plain; version=0.0.4; charset=utf-8`.
 */
import { argumentError, quote } from './_utils.ts';
import type { PluginMetrics } from './metrics.ts';

/**
 * Anything shaped like a metrics snapshot; every field but `name` may be missing (so a manager
 * snapshot's `{ name, state }` entries render too).
 */
export interface MetricsSnapshotLike {
  plugins: ReadonlyArray<{ name: string } & Partial<Omit<PluginMetrics, 'name'>>>;
}

/** The `Content-Type` to serve `toPrometheus` output with. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;
interface Family {
  name: string;
  type: 'gauge' | 'counter' | 'summary';
  help: string;
  samples: Array<{ suffix?: string; labels: Labels; value: number }>;
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabelValue(value)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
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
  const family = (name: string, type: Family['type'], help: string): Family => ({ name: `${prefix}${name}`, type, help, samples: [] });
  const up = family('plugin_up', 'gauge', 'Whether the plugin is running (1) or not (0).');
  const state = family('plugin_state', 'gauge', 'The state the plugin is in (1 for its current state).');
  const uptime = family('plugin_uptime_seconds', 'gauge', 'Seconds since the plugin last entered running; 0 when not running.');
  const starts = family('plugin_starts_total', 'counter', 'Times the plugin entered running.');
  const restarts = family('plugin_restarts_total', 'counter', 'Times the plugin entered running again after having run before.');
  const hookDuration = family('hook_duration_seconds', 'summary', 'Duration of settled lifecycle hook calls.');
  const hookFailures = family('hook_failures_total', 'counter', 'Lifecycle hook calls that threw, rejected or timed out.');
  const published = family('events_published_total', 'counter', 'Events the plugin published.');
  const received = family('events_received_total', 'counter', 'Handler calls for events the plugin subscribed to.');
  const lastError = family('plugin_last_error_info', 'gauge', 'The code of the last error the plugin had (1).');
  const health = family('plugin_health', 'gauge', 'The plugin health status from its last check (1 for the current status).');

  for (const plugin of snapshot.plugins) {
    const labels = { plugin: String(plugin.name) };
    const isUp = plugin.up ?? (plugin.state === 'running' || String(plugin.state).startsWith('running.'));
    up.samples.push({ labels, value: isUp ? 1 : 0 });
    if (typeof plugin.state === 'string') state.samples.push({ labels: { ...labels, state: plugin.state }, value: 1 });
    uptime.samples.push({ labels, value: num(plugin.uptimeMs) / 1000 });
    starts.samples.push({ labels, value: num(plugin.starts) });
    restarts.samples.push({ labels, value: num(plugin.restarts) });
    for (const [hook, timing] of Object.entries(plugin.hooks ?? {})) {
      if (!timing) continue;
      const hookLabels = { ...labels, hook };
      hookDuration.samples.push({ suffix: '_sum', labels: hookLabels, value: num(timing.totalMs) / 1000 });
      hookDuration.samples.push({ suffix: '_count', labels: hookLabels, value: num(timing.count) });
      hookFailures.samples.push({ labels: hookLabels, value: num(timing.failures) });
    }
    published.samples.push({ labels, value: num(plugin.events?.published) });
    received.samples.push({ labels, value: num(plugin.events?.received) });
    if (plugin.lastError) lastError.samples.push({ labels: { ...labels, code: String(plugin.lastError.code) }, value: 1 });
    if (plugin.health) health.samples.push({ labels: { ...labels, status: plugin.health }, value: 1 });
  }

  const lines: string[] = [];
  for (const f of [up, state, uptime, starts, restarts, hookDuration, hookFailures, published, received, lastError, health]) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(`${f.name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return `${lines.join('\n')}\n`;
}
