/**
 * `npm start`: boots the demo host `plugins/host.yaml`, serves its live dashboard on 127.0.0.1
 * (printing the URL and the control token), prints every state change, serves until SIGINT,
 * SIGTERM or SIGHUP, then shuts down in reverse dependency order.
 *
 * `PLUGIN_FACTORY_DEMO_ONCE=1` shuts down right after boot; `PLUGIN_FACTORY_DASHBOARD_PORT`
 * fixes the dashboard's port (default: any free one). Exit code 0, or 1 when a plugin ended
 * failed or invalid. A second SIGINT/SIGTERM during shutdown forces the exit (130 / 143).
 */
import { fileURLToPath } from 'node:url';
import { onShutdownSignal } from './cli/signals.ts';
import { startObservers } from './dashboard/observers.ts';
import { createConsoleLogger, createPluginManager, isPluginFactoryError, loadHost } from './index.ts';
import type { ManagerSnapshot } from './index.ts';

/** The demo host file: the plugins under plugins/ and their settings. */
const HOST_FILE = new URL('../plugins/host.yaml', import.meta.url);
/** The http plugin exports `url()` beside its hooks; the demo prints it once booted. */
const HTTP_ENTRY = new URL('../plugins/http/index.mjs', import.meta.url);
/** After shutdown the process should exit by itself; if a handle keeps it alive, say which. */
const LEAK_REPORT_MS = 5000;

function table(snapshot: ManagerSnapshot): string {
  const rows = [['plugin', 'state', 'version'], ...snapshot.plugins.map((p) => [p.name, p.state, p.version ?? '-'])];
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd());
  for (const plugin of snapshot.plugins) {
    if (plugin.error) lines.push(`  ${plugin.name}: ${plugin.error.code}: ${plugin.error.message}`);
  }
  return lines.join('\n');
}

const print = (line: string) => process.stdout.write(`${line}\n`);
// A terminal that hung up (EIO) or a reader gone (EPIPE): what the demo prints is dropped, and
// the plugins still stop in order.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

const host = await loadHost(fileURLToPath(HOST_FILE));
for (const problem of host.problems) process.stderr.write(`demo: ${problem.code}: ${problem.message}\n`);
const names = host.definitions.map((d) => (d.manifest as { name?: string } | undefined)?.name ?? d.name ?? '?');

const observers = await startObservers({ dashboard: Number(process.env['PLUGIN_FACTORY_DASHBOARD_PORT'] ?? 0), inspect: null }, host);
const manager = createPluginManager({
  ...host.settings,
  plugins: host.definitions,
  logger: createConsoleLogger({ level: 'info' }),
  ...(observers.inspect ? { inspect: observers.inspect } : {}),
});
try {
  for (const line of await observers.attach(manager)) print(line);
} catch (error) {
  // A bad PLUGIN_FACTORY_DASHBOARD_PORT, or the port is taken: OPTIONS_INVALID, said plainly.
  process.stderr.write(`demo: ${isPluginFactoryError(error) ? `${error.code}: ${error.message}` : String(error)}\n`);
  await manager.stop();
  process.exit(1);
}

manager.subscribe((change) => {
  if (change.type === 'plugin.changed') print(`plugin ${change.name}: ${change.previous} -> ${change.state}`);
  else if (change.type === 'plugin.health') print(`plugin ${change.name}: health ${change.previousHealth} -> ${change.health}`);
  else print(`host: ${change.previous} -> ${change.state}`);
});

let shutdown: Promise<void> | null = null;

function shutDown(reason: string): Promise<void> {
  shutdown ??= (async () => {
    print(`shutting down (${reason})`);
    const final = await manager.stop();
    await observers.close();
    print('final states:');
    print(table(final));
    const bad = final.plugins.filter((p) => p.state.startsWith('failed') || p.state === 'invalid');
    process.exitCode = bad.length > 0 ? 1 : 0;
    signals.dispose();
    setTimeout(() => {
      process.stderr.write(`demo: still alive after shutdown; open handles: ${process.getActiveResourcesInfo().join(', ')}\n`);
      process.exit(1);
    }, LEAK_REPORT_MS).unref();
  })();
  return shutdown;
}

// The first SIGINT/SIGTERM/SIGHUP shuts down cleanly; a second SIGINT/SIGTERM exits at once (same rules as `run`).
const signals = onShutdownSignal((signal) => void shutDown(signal));

print(`plugin-factory demo: ${names.length} plugins (${names.join(', ')})`);
let booted: ManagerSnapshot;
try {
  booted = await manager.start();
} catch (error) {
  // The 'abort' failure policy (the host has already stopped then), or a signal during boot.
  if (!shutdown) process.stderr.write(`demo: boot failed: ${error instanceof Error ? error.message : String(error)}\n`);
  booted = manager.getSnapshot();
  await shutDown('boot failed');
}
if (!shutdown) {
  print('booted:');
  print(table(booted));
  // The same module instance the loader imported: its url() knows the port it listens on.
  const http = (await import(HTTP_ENTRY.href)) as { url?: () => unknown };
  const url = typeof http.url === 'function' ? http.url() : null;
  if (typeof url === 'string') print(`http URL: ${url}`);
  if (process.env['PLUGIN_FACTORY_DEMO_ONCE'] === '1') await shutDown('PLUGIN_FACTORY_DEMO_ONCE=1');
  else print(`press Ctrl-C to stop (or: kill -INT ${process.pid})`);
}
