/**
 * serveDashboard's options: bad ones are refused with OPTIONS_INVALID before anything listens,
 * a busy port too; a given token is used; close() may be called twice.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createInspectionHub, createPluginManager, reloadFromHost, secretsOf, serveDashboard, silentLogger } from '../../src/index.ts';
import { lifecyclePaths } from '../../src/testing/index.ts';
import type { DashboardOptions, PluginManager } from '../../src/index.ts';
import { isLoopback } from '../../src/dashboard/listen.ts';
import { post, startHost } from './http.ts';
import { SECRET, definitions } from './plugins.ts';

const manager = () => createPluginManager({ plugins: definitions().slice(0, 1), logger: silentLogger });

describe('serveDashboard options', () => {
  it.each<[string, DashboardOptions]>([
    ['a port out of range', { port: 65_536 }],
    ['a fractional port', { port: 80.5 }],
    ['a host that is no address', { host: 'example.com' }],
    ['a short token', { token: 'short' }],
    ['a token with spaces', { token: 'a token with spaces in it' }],
    ['a hub that is not one', { hub: {} as never }],
    ['a reload that is not a function', { reload: 'disk' as never }],
    ['redact that is not a list of strings', { redact: [1] as never }],
    ['no live streams at all', { maxStreams: 0 }],
    ['an unknown option (a typo of port)', { prot: 4400 } as never],
    ['a fractional number of live streams', { maxStreams: 1.5 }],
    ['no time between heartbeats', { heartbeatMs: 0 }],
    ['a time between heartbeats past what a timer takes', { heartbeatMs: 2 ** 31 }],
    ['a time between heartbeats that is not a number', { heartbeatMs: '15s' as never }],
  ])('refuses %s with OPTIONS_INVALID', async (_, options) => {
    await expect(serveDashboard(manager(), options)).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
  });

  it('refuses something that is not a plugin manager with OPTIONS_INVALID', async () => {
    await expect(serveDashboard({} as PluginManager)).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
  });

  it('answers arguments that throw as they are read (a getter, a revoked Proxy) with a code, here and in the functions beside it', async () => {
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const throwing = {
      get port(): number {
        throw new Error('no');
      },
    };
    await expect(serveDashboard(manager(), throwing)).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
    await expect(serveDashboard(revoked as PluginManager)).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as { code?: unknown }).code;
      }
      return 'no error';
    };
    expect(codeOf(() => createInspectionHub({ get capacity(): number { throw new Error('no'); } }))).toBe('OPTIONS_INVALID');
    expect(codeOf(() => reloadFromHost(undefined as never))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => reloadFromHost({} as never))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => secretsOf(undefined as never))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => secretsOf([revoked] as never))).toBe('ARGUMENT_INVALID');
    // Each option is read once: what is checked is what is used.
    let reads = 0;
    const shifty = {
      get token(): string {
        reads += 1;
        return reads === 1 ? 'a-valid-token-of-some-length' : 'x';
      },
    };
    const once = await serveDashboard(manager(), shifty);
    try {
      expect([reads, once.token]).toEqual([1, 'a-valid-token-of-some-length']);
    } finally {
      await once.close();
    }
    const served = await serveDashboard(manager());
    try {
      expect(codeOf(() => served.addSecrets(revoked as never))).toBe('OPTIONS_INVALID');
    } finally {
      await served.close();
    }
    expect(codeOf(() => lifecyclePaths(definitions()[0]!, { get cover(): 'simple' { throw new Error('no'); } }))).toBe('OPTIONS_INVALID');
    expect(codeOf(() => lifecyclePaths(revoked as never, { config: {} }))).toBe('ARGUMENT_INVALID');
  });

  it('refuses a busy port with OPTIONS_INVALID', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      await expect(serveDashboard(manager(), { port })).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('listens on 127.0.0.1 by default, uses a given token, and closes twice without harm', async () => {
    const token = 'a-fixed-token-for-scripts';
    const host = await startHost({ token });
    expect(host.dashboard.host).toBe('127.0.0.1');
    expect(host.dashboard.url).toBe(`http://127.0.0.1:${host.dashboard.port}/`);
    expect(host.dashboard.controlUrl).toBe(`${host.dashboard.url}#token=${token}`);
    expect((await post(host, '/api/plugins/cache/restart', token)).status).toBe(200);
    await host.close();
    await host.dashboard.close();
  });

  it('secretsOf lists given and defaulted secret values, nothing else', () => {
    const secrets = secretsOf([
      ...definitions(),
      { manifest: { name: 'x', version: '1.0.0', config: { key: { type: 'string', secret: true, default: 'default-secret' }, port: { type: 'integer', default: 8080 } } }, module: {} },
    ]);
    expect(secrets).toContain(SECRET);
    expect(secrets).toContain(`postgres://app:${SECRET}@db`);
    expect(secrets).toContain('default-secret');
    expect(secrets).not.toContain('8080');
  });
});

describe('isLoopback (turns the Host-header check on)', () => {
  it.each(['localhost', 'LOCALHOST', '127.0.0.1', '127.8.9.10', '::1', '0:0:0:0:0:0:0:1', '[::1]', '::ffff:127.0.0.1', '::ffff:7f00:1'])(
    'counts %s as loopback',
    (host) => expect(isLoopback(host)).toBe(true),
  );
  it.each(['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', '::2', '127.attacker.example', 'example.com', '', 'fe80::1%eth0'])(
    'does not count %s as loopback',
    (host) => expect(isLoopback(host)).toBe(false),
  );
});
