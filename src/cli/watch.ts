/**
 * `run --watch`: each plugin folder watched with everything below it (fs.watch `recursive` where
 * it is native, one watcher per directory elsewhere), changes debounced per folder, and runs
 * that never overlap for one plugin.
 */
import { readdirSync, statSync, watch } from 'node:fs';
import type { Dirent, FSWatcher } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';

/** Changes closer together than this are one change (an editor writes a file in several steps). */
export const DEBOUNCE_MS = 100;

export interface FolderWatch {
  /** Stops watching: no watcher or timer is left behind. */
  close(): void;
}

/** Editor leftovers and hidden files do not trigger a reload. */
export function ignored(file: string | null): boolean {
  if (file === null) return false;
  const name = basename(file);
  // Every part of the path: where fs.watch is recursive (macOS, Windows) it reports `.git/HEAD`.
  const parts = file.split(/[\\/]/);
  return parts.some((part) => part.startsWith('.') && part !== '.' && part !== '..') || name.endsWith('~') || name.endsWith('.swp') || parts.includes('node_modules');
}

/** Platforms where fs.watch's `recursive` is native (on Linux, Node 20 emulates it and loses files replaced by rename). */
const NATIVE_RECURSIVE = process.platform === 'darwin' || process.platform === 'win32';

interface Closable {
  close(): void;
}

/** How often a watched plugin folder that was deleted is looked for again. */
const REAPPEAR_CHECK_MS = 250;

/**
 * Which directory `path` is (inode and birth time: a freed inode may be given again at once),
 * or null when it is no directory (any more).
 */
const directoryInode = (path: string): string | null => {
  try {
    const info = statSync(path);
    return info.isDirectory() ? `${info.ino}:${info.birthtimeMs}` : null;
  } catch {
    return null;
  }
};

/**
 * Watches `folder` and everything below it. Natively recursive where the platform has it;
 * elsewhere one watcher per directory, adding watchers for directories created later and
 * dropping those of directories deleted. A watcher on a deleted directory is dead for good, so
 * one created again under the same name (another inode, however fast it came back) is watched
 * afresh. The folder itself deleted (a checkout, `rsync --delete`) is looked for until it is
 * back, and then counts as a change.
 */
function watchTree(folder: string, listener: (file: string | null) => void, onError: (error: unknown) => void): Closable {
  if (NATIVE_RECURSIVE) {
    const watcher = watch(folder, { recursive: true }, (_event, file) => listener(file));
    watcher.on('error', (error) => {
      watcher.close();
      onError(error);
    });
    return watcher;
  }
  const watchers = new Map<string, { watcher: FSWatcher; inode: string | null }>();
  let reappear: NodeJS.Timeout | null = null;
  /** Stops watching `dir` and everything below it. */
  const drop = (dir: string) => {
    for (const [path, { watcher }] of watchers) {
      if (path === dir || path.startsWith(`${dir}${sep}`)) {
        watcher.close();
        watchers.delete(path);
      }
    }
  };
  /** Watches `dir` unless it is watched already as the same directory; one replaced is watched anew. */
  const rewatch = (dir: string, inode: string) => {
    if (watchers.get(dir)?.inode === inode) return;
    drop(dir);
    add(dir);
  };
  const add = (dir: string) => {
    if (watchers.has(dir)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (_event, file) => {
        const root = directoryInode(folder);
        if (root === null) {
          lost();
          listener(null);
          return;
        }
        if (root !== watchers.get(folder)?.inode) {
          // Deleted and created again before this event was handled: every watcher is dead.
          drop(folder);
          try {
            add(folder);
          } catch {
            lost();
          }
          listener(null);
          return;
        }
        const path = file === null ? null : relative(folder, join(dir, file));
        if (path !== null && !ignored(path)) {
          const full = join(folder, path);
          const inode = directoryInode(full);
          if (inode === null) drop(full);
          else rewatch(full, inode);
        }
        listener(path);
      });
    } catch (error) {
      if (dir === folder) throw error;
      return; // A subdirectory that vanished meanwhile.
    }
    watcher.on('error', (error) => {
      watcher.close();
      if (watchers.get(dir)?.watcher === watcher) watchers.delete(dir);
      if (dir === folder) onError(error);
    });
    watchers.set(dir, { watcher, inode: directoryInode(dir) });
    for (const entry of safeReaddir(dir)) {
      if (entry.isDirectory() && !ignored(entry.name)) add(join(dir, entry.name));
    }
  };
  /** The folder itself is gone: every watcher is dead; look for it until it is back. */
  const lost = () => {
    drop(folder);
    reappear ??= setInterval(() => {
      if (directoryInode(folder) === null) return;
      try {
        add(folder);
      } catch {
        return; // gone again meanwhile: looked for again
      }
      clearInterval(reappear!);
      reappear = null;
      listener(null);
    }, REAPPEAR_CHECK_MS).unref();
  };
  add(folder);
  return {
    close() {
      if (reappear) clearInterval(reappear);
      reappear = null;
      drop(folder);
    },
  };
}

function safeReaddir(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * Calls `onChange(index)` once a plugin folder has been quiet for `debounceMs` after a change.
 * A folder that cannot be watched is reported through `onError` and skipped.
 */
export function watchFolders(
  folders: readonly string[],
  onChange: (index: number) => void,
  onError: (folder: string, error: unknown) => void,
  debounceMs = DEBOUNCE_MS,
): FolderWatch {
  const watchers: Closable[] = [];
  const timers = new Map<number, ReturnType<typeof setTimeout>>();
  folders.forEach((folder, index) => {
    const changed = (file: string | null) => {
      if (ignored(file)) return;
      clearTimeout(timers.get(index));
      timers.set(
        index,
        setTimeout(() => {
          timers.delete(index);
          onChange(index);
        }, debounceMs),
      );
    };
    try {
      watchers.push(watchTree(folder, changed, (error) => onError(folder, error)));
    } catch (error) {
      onError(folder, error);
    }
  });
  return {
    close() {
      for (const watcher of watchers.splice(0)) watcher.close();
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },
  };
}

/**
 * Runs `task(index)` so that two runs for one index never overlap; a request during a run
 * queues exactly one more run after it.
 */
export function serialize(task: (index: number) => Promise<void>): {
  request(index: number): void;
  /** Whether a run of `index` is asked for behind the one in flight. */
  pending(index: number): boolean;
  /** Resolves when no run is in flight. */
  idle(): Promise<void>;
} {
  const running = new Map<number, Promise<void>>();
  const again = new Set<number>();
  const start = (index: number) => {
    const run = task(index)
      .catch(() => undefined)
      .finally(() => {
        running.delete(index);
        if (again.delete(index)) start(index);
      });
    running.set(index, run);
  };
  return {
    request(index) {
      if (running.has(index)) again.add(index);
      else start(index);
    },
    pending: (index) => again.has(index),
    async idle() {
      while (running.size > 0) await Promise.all(running.values());
    },
  };
}
