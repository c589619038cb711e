/**
 * Hot reload for `run --watch`: when a plugin folder changes, the plugin is read again (a fresh
 * import of its module) and handed to `manager.reloadPlugin`. A new version that fails
 * validation is reported and never replaces the running one: reloadPlugin rejects before it
 * touches the old version.
 */
import { isAbsolute, relative } from 'node:path';
import { loadPluginFolder } from '../index.ts';
import type { LoadedHost, PluginDefinition, PluginManager } from '../index.ts';
import { definitionName } from '../dashboard/host-reload.ts';
import { formatError } from './output.ts';
import { serialize, watchFolders } from './watch.ts';

export interface HotReloadOptions {
  host: LoadedHost;
  manager: PluginManager;
  verbose: boolean;
  /** Progress notes (a reload started or succeeded). */
  note(line: string): void;
  /** Problems (a reload failed, a folder cannot be watched). */
  warn(line: string): void;
  /** True once shutdown has begun: changes are ignored from then on. */
  stopping(): boolean;
  /** Called with each new definition before the manager gets it (the live views redact its secrets). */
  learn?(definition: PluginDefinition): void;
}

export interface HotReload {
  /** Stops watching; resolves once no reload is in flight. */
  close(): Promise<void>;
}

/** A folder relative to the working directory when it is inside it, absolute otherwise. */
function shown(folder: string): string {
  const rel = relative(process.cwd(), folder);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? folder : rel;
}

export function watchAndReload(options: HotReloadOptions): HotReload {
  const { host, manager, verbose, note, warn, stopping, learn } = options;
  const names = host.definitions.map(definitionName);

  const reload = async (index: number) => {
    const folder = host.folders[index]!;
    const name = names[index]!;
    if (stopping()) return;
    const next = await loadPluginFolder(folder, { fresh: true, config: host.definitions[index]!.config, hookTimeoutMs: host.settings.hookTimeoutMs });
    if (stopping()) return;
    const unchanged = () => {
      const now = manager.getSnapshot().plugins.find((plugin) => plugin.name === name)?.state ?? 'gone';
      return now === 'running' ? 'the previous version keeps running' : `${name} stays ${now}`;
    };
    if (next.problems?.length || definitionName(next, index) !== name) {
      // Mid-edit or broken files: say what is wrong with them, not that the name changed.
      const problem = next.problems?.[0];
      const reason = problem ? formatError(problem, verbose) : `the manifest in ${shown(folder)} does not declare the name '${name}'`;
      warn(`reload of ${name} failed: ${reason}; ${unchanged()}`);
      return;
    }
    note(`reloading ${name} (${shown(folder)} changed)`);
    learn?.(next);
    try {
      // A file change is no command to start: a plugin the operator stopped stays stopped.
      const snapshot = await manager.reloadPlugin(name, next, { keepStopped: true });
      note(`reloaded ${name}: ${snapshot.state}`);
    } catch (error) {
      if (stopping()) return;
      const now = manager.getSnapshot().plugins.find((plugin) => plugin.name === name)?.state ?? 'gone';
      const outcome = now === 'running' ? 'the previous version keeps running' : `${name} is now ${now}`;
      warn(`reload of ${name} failed: ${formatError(error, verbose)}; ${outcome}`);
    }
  };

  const queue = serialize(reload);
  const watch = watchFolders(
    host.folders,
    (index) => queue.request(index),
    (folder, error) => warn(`cannot watch ${folder}: ${formatError(error, verbose)}; changes there are not reloaded`),
  );
  return {
    async close() {
      watch.close();
      await queue.idle();
    },
  };
}
