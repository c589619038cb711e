/**
 * Runs the example HTTP service until SIGINT, SIGTERM or SIGHUP:
 *
 *   npm run example:http            # or: npx tsx examples/http-service/main.ts
 *
 * PORT (default 3000; 0 picks a free one), DATA_DIR (default examples/http-service/.data; `:memory:`
 * keeps nothing), LOG_LEVEL (a pino level, default info). Prints the URL once it listens. The first signal shuts
 * down cleanly (HTTP first, then the plugins in reverse dependency order); a second SIGINT/SIGTERM forces the
 * exit.
 */
import { fileURLToPath } from 'node:url';
import { onShutdownSignal } from '../../src/cli/signals.ts';
import pino from 'pino';
import { createPinoLogger } from '../../src/index.ts';
import { startHttpService } from './service.ts';
import type { HttpService } from './service.ts';

/** After shutdown the process should exit by itself; if a handle keeps it alive, say which. */
const LEAK_REPORT_MS = 5000;

const print = (line: string) => process.stdout.write(`${line}\n`);
const env = process.env;

// Digits only: Number() would take '0x50', ' 80' or '1e3' as ports too.
const portText = env['PORT'] ?? '3000';
const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
if (!Number.isInteger(port) || port > 65535) {
  process.stderr.write(`http-service: PORT must be an integer 0..65535, got '${env['PORT']}'\n`);
  process.exit(2);
}
const level = env['LOG_LEVEL'] ?? 'info';
const levels = [...Object.keys(pino.levels.values), 'silent'];
if (!levels.includes(level)) {
  process.stderr.write(`http-service: LOG_LEVEL must be one of ${levels.join(', ')}\n`);
  process.exit(2);
}
const dataDir = env['DATA_DIR'] ?? fileURLToPath(new URL('.data/', import.meta.url));

let shutdown: Promise<void> | null = null;
let booting: Promise<HttpService> | null = null;

function shutDown(reason: string): Promise<void> {
  shutdown ??= (async () => {
    print(`shutting down (${reason})`);
    // A signal during boot: the service is closed once it is up (its plugins stop in order).
    const service = await booting?.catch(() => null);
    const final = service ? await service.close() : null;
    if (final) print(`stopped: ${final.plugins.map((p) => `${p.name}=${p.state}`).join(' ')}`);
    process.exitCode = !final || final.plugins.some((p) => p.state !== 'stopped') ? 1 : 0;
    signals.dispose();
    setTimeout(() => {
      process.stderr.write(`http-service: still alive after shutdown; open handles: ${process.getActiveResourcesInfo().join(', ')}\n`);
      process.exit(1);
    }, LEAK_REPORT_MS).unref();
  })();
  return shutdown;
}

const signals = onShutdownSignal((signal) => void shutDown(signal));

booting = startHttpService({
  port,
  ...(dataDir === ':memory:' ? {} : { dataDir }),
  // pino JSON lines on stderr; the URL and the final states go to stdout.
  logger: createPinoLogger({ level, destination: pino.destination({ fd: 2, sync: true }) }),
});
let service: HttpService;
try {
  service = await booting;
} catch (error) {
  // The plugins were stopped again by startHttpService; say why in one line, not a stack.
  const code = (error as { code?: unknown } | null)?.code;
  process.stderr.write(`http-service: could not start: ${typeof code === 'string' ? `${code}: ` : ''}${error instanceof Error ? error.message : String(error)}\n`);
  signals.dispose();
  await shutdown;
  process.exit(1);
}
if (!shutdown) {
  print(`plugins: ${service.booted.plugins.map((p) => `${p.name}=${p.state}`).join(' ')}`);
  print(`http-service listening on ${service.url}`);
  print(`try: curl ${service.url}api/hello/you · curl ${service.url}health · kill -INT ${process.pid} (or Ctrl-C) to stop`);
}
