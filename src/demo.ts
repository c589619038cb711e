/**
 * `npm start`: boots the demo plugins under `plugins/`, prints every state change, serves until
 * SIGINT or SIGTERM, then shuts down in reverse dependency order.
 *
 * `PLUGIN_FACTORY_DEMO_ONCE=1` shuts down right after boot. Exit code 0, or 1 when a plugin ended
 * failed or invalid. A second SIGINT/SIGTERM during shutdown forces the exit (130 / 143).
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createConsoleLogger, createPluginManager } from './index.ts';
import type { ManagerSnapshot, PluginDefinition } from './index.ts';

const PLUGINS_DIR = new URL('../plugins/', import.meta.url);
/** Deliberately broken example plugins live here; the demo only boots the working ones. */
const SKIPPED = new Set(['broken']);
/** A signal repeated within this window is the same Ctrl-C relayed by a parent (npm, tsx), not a second one. */
const REPEAT_WINDOW_MS = 300;
/** After shutdown the process should exit by itself; if a handle keeps it alive, say which. */
const LEAK_REPORT_MS = 5000;

interface LoadedPlugin {
  definition: PluginDefinition;
  /** The module namespace, for optional extras such as the http plugin's `url()`. */
  namespace: Record<string, unknown>;
}

/**
 * A deliberately small loader: reads each `plugins/<dir>/plugin.json` and imports its `main`.
 * The engine validates the manifest, the module contract and the config; the full loader (yaml,
 * `main` kept inside the plugin folder, .ts entries, coded load errors) will replace this.
 */
async function loadPlugins(dir: URL): Promise<LoadedPlugin[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const folders = entries
    .filter((entry) => entry.isDirectory() && !SKIPPED.has(entry.name))
    .map((entry) => entry.name)
    .sort();
  const loaded: LoadedPlugin[] = [];
  for (const folder of folders) {
    const base = new URL(`${folder}/`, dir);
    const source = `plugins/${folder}/plugin.json`;
    let text: string;
    try {
      text = await readFile(new URL('plugin.json', base), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    try {
      const manifest = JSON.parse(text) as PluginDefinition['manifest'];
      const main = typeof manifest.main === 'string' ? manifest.main : 'index.mjs';
      const entry = pathToFileURL(fileURLToPath(new URL(main, base))).href;
      const namespace = (await import(entry)) as Record<string, unknown>;
      loaded.push({ definition: { manifest, module: namespace['default'], source }, namespace });
    } catch (error) {
      throw new Error(`${source}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  return loaded;
}

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

let loaded: LoadedPlugin[];
try {
  loaded = await loadPlugins(PLUGINS_DIR);
} catch (error) {
  process.stderr.write(`demo: cannot load the plugins: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

const manager = createPluginManager({
  plugins: loaded.map((plugin) => plugin.definition),
  logger: createConsoleLogger({ level: 'info' }),
});

manager.subscribe((change) => {
  if (change.type === 'plugin.changed') print(`plugin ${change.name}: ${change.previous} -> ${change.state}`);
  else print(`host: ${change.previous} -> ${change.state}`);
});

let shutdown: Promise<void> | null = null;
let firstSignalAt = 0;

function shutDown(reason: string): Promise<void> {
  shutdown ??= (async () => {
    print(`shutting down (${reason})`);
    const final = await manager.stop();
    print('final states:');
    print(table(final));
    const bad = final.plugins.filter((p) => p.state.startsWith('failed') || p.state === 'invalid');
    process.exitCode = bad.length > 0 ? 1 : 0;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    setTimeout(() => {
      process.stderr.write(`demo: still alive after shutdown; open handles: ${process.getActiveResourcesInfo().join(', ')}\n`);
      process.exit(1);
    }, LEAK_REPORT_MS).unref();
  })();
  return shutdown;
}

function onSignal(signal: NodeJS.Signals): void {
  if (!shutdown) {
    firstSignalAt = Date.now();
    void shutDown(signal);
    return;
  }
  if (Date.now() - firstSignalAt < REPEAT_WINDOW_MS) return;
  process.stderr.write(`demo: ${signal} again, exiting without waiting for the plugins\n`);
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

print(`plugin-factory demo: ${loaded.length} plugins (${loaded.map((p) => p.definition.manifest.name).join(', ')})`);
let booted: ManagerSnapshot;
try {
  booted = await manager.start();
} catch (error) {
  // Only the 'abort' failure policy makes start() throw; the host has already stopped then.
  process.stderr.write(`demo: boot failed: ${error instanceof Error ? error.message : String(error)}\n`);
  booted = manager.getSnapshot();
  await shutDown('boot failed');
}
if (!shutdown) {
  print('booted:');
  print(table(booted));
  for (const plugin of loaded) {
    const url = typeof plugin.namespace['url'] === 'function' ? (plugin.namespace['url'] as () => unknown)() : null;
    if (typeof url === 'string') print(`${plugin.definition.manifest.name} URL: ${url}`);
  }
  if (process.env['PLUGIN_FACTORY_DEMO_ONCE'] === '1') await shutDown('PLUGIN_FACTORY_DEMO_ONCE=1');
  else print(`press Ctrl-C to stop (or: kill -INT ${process.pid})`);
}
