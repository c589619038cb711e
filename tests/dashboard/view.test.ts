/**
 * The rows the page gets: a whitelist of the snapshot's fields, every string redacted, and the
 * health of a plugin read from whatever shape the snapshot gives it.
 */
import { describe, expect, it } from 'vitest';
import { pluginRow } from '../../src/dashboard/view.ts';
import { createRedactor } from '../../src/inspection/redact.ts';
import type { PluginSnapshot } from '../../src/index.ts';
import { SECRET } from './plugins.ts';

const can = { start: false, stop: true, restart: true, reload: false, retry: false, reset: false };
const redact = createRedactor([SECRET]);

function snapshot(extra: Record<string, unknown>): PluginSnapshot {
  return {
    name: 'db',
    version: '1.2.0',
    state: 'running',
    attempts: 1,
    dependencies: ['config', 'metrics'],
    optionalDependencies: ['metrics'],
    error: null,
    errors: [],
    timings: { initMs: 1.5 },
    health: null,
    ...extra,
  } as PluginSnapshot;
}

describe('pluginRow', () => {
  it('copies only the fields the page shows, and redacts secrets in every string', () => {
    const row = pluginRow(
      snapshot({
        config: { url: SECRET },
        error: { code: 'HOOK_FAILED', message: `refused ${SECRET}`, hook: 'start', cause: SECRET },
        errors: [{ code: 'HOOK_FAILED', message: `refused ${SECRET}` }],
      }),
      can,
      42,
      redact,
    );
    expect(Object.keys(row).sort()).toEqual(['attempts', 'can', 'dependencies', 'error', 'errors', 'health', 'name', 'optionalDependencies', 'since', 'state', 'timings', 'version']);
    expect(row.optionalDependencies).toEqual(['metrics']);
    expect(row.error).toEqual({ code: 'HOOK_FAILED', message: 'refused [redacted]', hook: 'start' });
    expect(JSON.stringify(row)).not.toContain(SECRET);
    expect(row.since).toBe(42);
  });

  it.each([
    [{ status: 'degraded', message: `pool low (${SECRET})`, checkedAt: 1, durationMs: 2 }, { status: 'degraded', message: 'pool low ([redacted])' }],
    [{ status: 'unhealthy', error: { code: 'HOOK_TIMEOUT', message: 'health hook too slow' }, checkedAt: 1, durationMs: 2 }, { status: 'unhealthy', message: 'HOOK_TIMEOUT: health hook too slow' }],
    [{ status: 'healthy', checkedAt: 1, durationMs: 2 }, { status: 'healthy' }],
    [null, null],
  ])('reads health %j', (health, expected) => {
    expect(pluginRow(snapshot({ health }), can, 0, redact).health).toEqual(expected);
  });
});
