/**
 * The live views `run` starts together (src/dashboard/observers.ts): a secret that a plugin
 * reloaded from the dashboard brings is redacted from the Stately inspector too, not only from
 * the dashboard, since both are fed from one hub.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPluginManager, loadHost, silentLogger } from '../../src/index.ts';
import { startObservers } from '../../src/dashboard/observers.ts';
import { shownUrl } from '../../src/inspection/stately.ts';
import { stopWithin } from '../helpers/host.ts';
import { until } from '../helpers/time.ts';
import { call } from './http.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const SECRET = 'fresh-secret-4b7e91';

describe('run --dashboard --inspect', () => {
  it("a secret a dashboard reload brings is redacted from the inspector's frames too", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-observers-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'a'));
    await mkdir(join(dir, 'b'));
    await writeFile(join(dir, 'host.yaml'), 'plugins:\n  - ./b\n  - ./a\n');
    // 'a' fails on its second start quoting b's new secret, as a leaky client library would.
    await writeFile(join(dir, 'a', 'plugin.json'), JSON.stringify({ name: 'a', version: '1.0.0', optionalDependencies: { b: '*' } }));
    await writeFile(
      join(dir, 'a', 'index.mjs'),
      `let starts = 0;\nexport default { init() {}, start() { if (++starts > 1) throw new Error('upstream refused key ${SECRET}'); }, stop() {} };\n`,
    );
    await writeFile(join(dir, 'b', 'plugin.json'), JSON.stringify({ name: 'b', version: '1.0.0' }));
    await writeFile(join(dir, 'b', 'index.mjs'), 'export default { init() {}, start() {}, stop() {} };\n');

    const host = await loadHost(join(dir, 'host.yaml'));
    const observers = await startObservers({ dashboard: 0, inspect: '' }, host);
    cleanups.push(() => observers.close());
    const manager = createPluginManager({ ...host.settings, plugins: host.definitions, logger: silentLogger, inspect: observers.inspect! });
    cleanups.push(() => stopWithin(manager));
    const lines = (await observers.attach(manager)).join('\n');
    const dashboard = /dashboard: (\S+)/.exec(lines)![1]!;
    const token = /control token: (\S+)/.exec(lines)![1]!;
    const relay = /inspector: open (\S+)/.exec(lines)![1]!.replace(/^http/, 'ws');
    const frames: string[] = [];
    const viewer = new WebSocket(relay);
    cleanups.push(() => viewer.terminate());
    viewer.on('message', (data) => frames.push(data.toString()));
    await new Promise((resolve) => viewer.once('open', resolve));
    await manager.start();

    await writeFile(
      join(dir, 'b', 'plugin.json'),
      JSON.stringify({ name: 'b', version: '2.0.0', config: { key: { type: 'string', secret: true, default: SECRET } } }),
    );
    const reload = await call(`${dashboard}api/plugins/b/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(reload.status).toBe(200);
    await manager.restartPlugin('a').catch(() => undefined);
    const snapshot = await call(`${dashboard}api/snapshot`);
    expect(snapshot.text).toContain('upstream refused key [redacted]');
    // The frames reach the viewer through the relay.
    await until(() => frames.some((text) => text.includes('upstream refused key')), 10_000);
    expect(frames.filter((text) => text.includes(SECRET))).toEqual([]);
  });
});

describe('inspector URLs as run prints them', () => {
  it('leave credentials out, and everything else as given', () => {
    expect(shownUrl('ws://user:hunter2@127.0.0.1:9/path')).toBe('ws://***@127.0.0.1:9/path');
    expect(shownUrl('ws://token@127.0.0.1:9')).toBe('ws://***@127.0.0.1:9/');
    expect(shownUrl('ws://127.0.0.1:9')).toBe('ws://127.0.0.1:9');
    // One that does not parse (a typo in its port) is still printed without them.
    expect(shownUrl('ws://admin:hunter2@127.0.0.1:99999/x')).toBe('ws://***@127.0.0.1:99999/x');
    expect(shownUrl('ws://admin:s3cr/et@127.0.0.1:99999')).toBe('ws://***@127.0.0.1:99999');
    expect(shownUrl('ws://127.0.0.1:99999/x')).toBe('ws://127.0.0.1:99999/x');
  });
});
