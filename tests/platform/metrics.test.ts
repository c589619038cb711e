import { describe, expect, it } from 'vitest';
import { createEventBus, createMetrics, escapeLabelValue, toPrometheus } from '../../src/platform/index.ts';
import type { MetricsSnapshotLike } from '../../src/platform/index.ts';
import { codeOf } from './helpers.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`;

/** A strict reader of the text exposition format: throws on any line it does not accept. */
function parsePrometheus(text: string): { types: Map<string, string>; help: Map<string, string>; samples: Sample[] } {
  expect(text.endsWith('\n')).toBe(true);
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const helpLine = new RegExp(`^# HELP (${NAME}) (.+)$`).exec(line);
    const typeLine = new RegExp(`^# TYPE (${NAME}) (gauge|counter|summary|histogram|untyped)$`).exec(line);
    const sampleLine = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)\\})? (\\S+)$`).exec(line);
    if (helpLine) {
      expect(help.has(helpLine[1]!), `second HELP for ${helpLine[1]}`).toBe(false);
      help.set(helpLine[1]!, helpLine[2]!);
    } else if (typeLine) {
      expect(types.has(typeLine[1]!), `second TYPE for ${typeLine[1]}`).toBe(false);
      types.set(typeLine[1]!, typeLine[2]!);
    } else if (sampleLine) {
      const name = sampleLine[1]!;
      const family = types.has(name) ? name : name.replace(/_(sum|count)$/, '');
      expect(types.has(family), `sample ${name} before its TYPE`).toBe(true);
      if (family !== name) expect(types.get(family)).toBe('summary');
      const labels: Record<string, string> = {};
      for (const match of (sampleLine[2] ?? '').matchAll(new RegExp(LABEL, 'g'))) {
        labels[match[1]!] = match[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
      const raw = sampleLine.at(-1)!;
      const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
      expect(Number.isNaN(value) && raw !== 'NaN', `value ${raw}`).toBe(false);
      const key = `${name}${JSON.stringify(labels)}`;
      expect(seen.has(key), `duplicate sample ${key}`).toBe(false);
      seen.add(key);
      samples.push({ name, labels, value });
    } else {
      throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    }
  }
  for (const family of types.keys()) expect(help.has(family)).toBe(true);
  return { types, help, samples };
}

const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('metrics', () => {
  it('records uptime, starts, restarts, hook timings, last error and health per plugin', () => {
    let clock = 0;
    const bus = createEventBus();
    const metrics = createMetrics({ now: () => clock, eventCounts: (name) => bus.counts(name) });
    const db = metrics.plugin('db');
    expect(metrics.plugin('db')).toBe(db);
    for (const state of ['created', 'initializing', 'initialized', 'starting', 'running']) db.state(state);
    db.hook('init', 5, true);
    db.hook('start', 10, true);
    clock = 1500;
    db.state('running.degraded');
    clock = 2000;
    expect(metrics.snapshot().plugins[0]).toMatchObject({ name: 'db', up: true, uptimeMs: 2000, starts: 1, restarts: 0 });
    db.state('stopping');
    db.state('stopped');
    db.state('starting');
    db.hook('start', 30, false);
    db.error('HOOK_FAILED');
    db.state('failed.retrying');
    db.hook('start', 20, true);
    clock = 2500;
    db.state('running');
    db.health('degraded');
    bus.scope({ name: 'db', publishes: ['db.ready'] }).publish('db.ready');
    clock = 3000;
    const snapshot = metrics.snapshot();
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    expect(snapshot.plugins).toEqual([
      {
        name: 'db',
        state: 'running',
        up: true,
        uptimeMs: 500,
        starts: 2,
        restarts: 1,
        hooks: {
          init: { count: 1, failures: 0, totalMs: 5, lastMs: 5, maxMs: 5 },
          start: { count: 3, failures: 1, totalMs: 60, lastMs: 20, maxMs: 30 },
        },
        events: { published: 1, received: 0 },
        lastError: { code: 'HOOK_FAILED', at: 2000 },
        health: 'degraded',
      },
    ]);
    db.state('stopped');
    expect(metrics.snapshot().plugins[0]).toMatchObject({ up: false, uptimeMs: 0 });
    metrics.remove('db');
    expect(metrics.snapshot().plugins).toEqual([]);
  });

  it('gives a snapshot its own copies: changing one changes neither the totals nor later snapshots', () => {
    const metrics = createMetrics({ now: () => 0 });
    const db = metrics.plugin('db');
    db.hook('start', 5, true);
    db.error('HOOK_FAILED');
    const first = metrics.snapshot().plugins[0]!;
    first.hooks.start!.count = 99;
    first.hooks.init = { count: 1, failures: 0, totalMs: 1, lastMs: 1, maxMs: 1 };
    first.lastError!.code = 'INTERNAL_ERROR';
    db.hook('start', 7, false);
    const second = metrics.snapshot().plugins[0]!;
    expect(second.hooks).toEqual({ start: { count: 2, failures: 1, totalMs: 12, lastMs: 7, maxMs: 7 } });
    expect(second.lastError?.code).toBe('HOOK_FAILED');
    expect(first.hooks.start!.count).toBe(99);
  });

  it('refuses bad names, states and durations with ARGUMENT_INVALID', () => {
    const metrics = createMetrics();
    expect(codeOf(() => metrics.plugin('Bad Name'))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => metrics.plugin('db').state(''))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => metrics.plugin('db').hook('start', -1, true))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => metrics.plugin('db').hook('start', Number.NaN, true))).toBe('ARGUMENT_INVALID');
  });
});

describe('Prometheus text', () => {
  it('renders a snapshot as valid exposition text, line by line', () => {
    let clock = 0;
    const metrics = createMetrics({ now: () => clock, eventCounts: () => ({ published: 3, received: 4 }) });
    const db = metrics.plugin('db');
    db.state('running');
    db.hook('start', 1500, true);
    db.hook('stop', 250, false);
    db.error('HOOK_TIMEOUT');
    db.health('healthy');
    metrics.plugin('api').state('failed.halted');
    clock = 12_000;
    const { types, samples } = parsePrometheus(toPrometheus(metrics.snapshot()));
    expect(types.get('plugin_factory_plugin_up')).toBe('gauge');
    expect(types.get('plugin_factory_plugin_restarts_total')).toBe('counter');
    expect(types.get('plugin_factory_hook_duration_seconds')).toBe('summary');
    expect(value(samples, 'plugin_factory_plugin_up', { plugin: 'db' })).toBe(1);
    expect(value(samples, 'plugin_factory_plugin_up', { plugin: 'api' })).toBe(0);
    expect(value(samples, 'plugin_factory_plugin_state', { plugin: 'api', state: 'failed.halted' })).toBe(1);
    expect(value(samples, 'plugin_factory_plugin_uptime_seconds', { plugin: 'db' })).toBe(12);
    expect(value(samples, 'plugin_factory_hook_duration_seconds_sum', { plugin: 'db', hook: 'start' })).toBe(1.5);
    expect(value(samples, 'plugin_factory_hook_duration_seconds_count', { plugin: 'db', hook: 'stop' })).toBe(1);
    expect(value(samples, 'plugin_factory_hook_failures_total', { plugin: 'db', hook: 'stop' })).toBe(1);
    expect(value(samples, 'plugin_factory_events_published_total', { plugin: 'db' })).toBe(3);
    expect(value(samples, 'plugin_factory_events_received_total', { plugin: 'api' })).toBe(4);
    expect(value(samples, 'plugin_factory_plugin_last_error_info', { plugin: 'db', code: 'HOOK_TIMEOUT' })).toBe(1);
    expect(value(samples, 'plugin_factory_plugin_last_error_info', { plugin: 'api' })).toBeUndefined();
    expect(value(samples, 'plugin_factory_plugin_health', { plugin: 'db', status: 'healthy' })).toBe(1);
  });

  it('escapes label values so any name survives a round trip', () => {
    const names = ['we"ird', 'back\\slash', 'two\nlines', 'all\\"\n'];
    const snapshot: MetricsSnapshotLike = { plugins: names.map((name) => ({ name, state: 'running' })) };
    const { samples } = parsePrometheus(toPrometheus(snapshot));
    const up = samples.filter((s) => s.name === 'plugin_factory_plugin_up');
    expect(up.map((s) => s.labels['plugin'])).toEqual(names);
    expect(up.every((s) => s.value === 1)).toBe(true);
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  it('renders a manager-like snapshot and an empty one; families keep HELP and TYPE', () => {
    const empty = parsePrometheus(toPrometheus({ plugins: [] }));
    expect(empty.samples).toEqual([]);
    expect(empty.types.size).toBe(11);
    const managerLike = { state: 'running', plugins: [{ name: 'db', version: '1.0.0', state: 'stopped', attempts: 1, error: null }] };
    const { samples } = parsePrometheus(toPrometheus(managerLike, { prefix: 'pf_' }));
    expect(value(samples, 'pf_plugin_up', { plugin: 'db' })).toBe(0);
    expect(value(samples, 'pf_plugin_state', { plugin: 'db', state: 'stopped' })).toBe(1);
  });

  it('refuses a bad prefix or a non-snapshot with ARGUMENT_INVALID', () => {
    expect(codeOf(() => toPrometheus({ plugins: [] }, { prefix: 'bad prefix' }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => toPrometheus(null as unknown as MetricsSnapshotLike))).toBe('ARGUMENT_INVALID');
  });
});
