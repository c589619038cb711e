/**
 * Listening and closing for the HTTP servers of the dashboard and the inspector relay: loopback
 * by default, listen failures as coded errors, and a close that leaves no socket behind.
 */
import { BlockList, isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { PluginFactoryError, describeThrown } from '../errors.ts';

export const LOOPBACK = '127.0.0.1';

/** Checks a `port` option: an integer from 0 (any free port) to 65535. */
export function checkPort(port: unknown, owner: string): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PluginFactoryError('OPTIONS_INVALID', `${owner}: port must be an integer from 0 to 65535 (0 picks a free port), got ${String(port)}`);
  }
  return port;
}

/** Checks a `host` option: an IP address or `localhost`. */
export function checkHost(host: unknown, owner: string): string {
  if (typeof host !== 'string' || (host !== 'localhost' && isIP(host) === 0)) {
    throw new PluginFactoryError('OPTIONS_INVALID', `${owner}: host must be an IP address such as 127.0.0.1, or localhost (got ${String(host)})`);
  }
  return host;
}

const LOOPBACK_RANGES = new BlockList();
LOOPBACK_RANGES.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK_RANGES.addAddress('::1', 'ipv6');

/**
 * True for addresses only this machine can reach: `localhost`, 127.0.0.0/8 and ::1 in any
 * spelling (`0:0:0:0:0:0:0:1`, `[::1]`, the IPv4-mapped `::ffff:127.0.0.1`). Host names other
 * than `localhost` are not loopback, whatever they start with.
 */
export function isLoopback(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const family = isIP(bare);
  if (family === 0) return false;
  try {
    return LOOPBACK_RANGES.check(bare, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return false; // should BlockList refuse a form isIP accepts, it is not taken for loopback
  }
}

/**
 * Whether a request's Host header names this machine: a loopback name, with nothing but a port
 * after it (`[::1]attacker.example` is not); false for none at all.
 */
export function hostIsLoopback(header: string | undefined): boolean {
  const host = (header ?? '').toLowerCase();
  // `[v6]` or `[v6]:port` only: nothing may follow the bracket but a port.
  const name = host.startsWith('[') ? (/^(\[[^\]]*\])(?::\d+)?$/.exec(host)?.[1] ?? host) : host.replace(/:\d+$/, '');
  return isLoopback(name);
}

/** `http://host:port` with IPv6 hosts bracketed. */
export function origin(host: string, port: number, scheme = 'http'): string {
  return `${scheme}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** Starts listening; a busy port or an address this machine does not have rejects with OPTIONS_INVALID. */
export function listen(server: Server, port: number, host: string, owner: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const hint =
        error.code === 'EADDRINUSE'
          ? 'the port is in use; pick another one, or 0 for any free port'
          : error.code === 'EACCES'
            ? 'the port needs privileges; pick one above 1023'
            : 'check the host and port';
      reject(
        new PluginFactoryError('OPTIONS_INVALID', `${owner}: cannot listen on ${host}:${port} (${error.code ?? describeThrown(error)}); ${hint}`, {
          cause: error,
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Stops accepting connections and drops the open ones (SSE streams included). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
