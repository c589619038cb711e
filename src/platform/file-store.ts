/**
 * The default `ctx.store`: one JSON file per plugin, `<dataDir>/<plugin>.json`, holding
 * `{ "format": 1, "values": { … } }`.
 *
 * - Writes are atomic: the whole file is written to a temporary file beside it (flushed to disk)
 *   and renamed over the old one, and the folder is flushed after the rename, so a crash or a
 *   power loss leaves either the old or the new file, never half. Temporary files a crash left
 *   are removed before the store's first write.
 * - Operations of one plugin run one at a time, in call order; a value is in the file when `set`
 *   resolves. A failed write changes nothing, in the file or in memory, unless only the folder
 *   flush after the rename failed: the file may then hold either version, and is read again.
 * - A file that is not valid JSON, or not a store, is `STORE_CORRUPT`: every operation of that
 *   plugin rejects (reads included) and the file is never wiped or overwritten. It is read again
 *   on the next operation, so repairing or removing it is enough.
 * - One store per data dir: two stores (or processes) writing the same files would overwrite
 *   each other's changes.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { PluginFactoryError, describeThrown, isPluginFactoryError } from '../errors.ts';
import { assertPluginName, optionsError, quote } from './_utils.ts';
import { nestedTooDeep } from '../json-data.ts';
import { MAX_KEY_LENGTH, assertStoreKey, cloneJson, toJsonValue } from './store.ts';
import { NotUtf8Error, readTextFile } from '../loading/read-text.ts';
import type { JsonValue, Store } from './store.ts';

/** The file operations the store uses (tests may pass failing ones). */
export interface StoreFileSystem {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  writeFile(path: string, data: string, options: { flag: string; flush: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  rm(path: string, options: { force: true }): Promise<void>;
  /** Flushes a folder's entries to disk (a rename, a new file); a platform that cannot may do nothing. */
  syncDir?(path: string): Promise<void>;
  /** Names in a folder, and when a file was last changed (ms): to sweep temporary files a crash left. */
  readdir?(path: string): Promise<string[]>;
  mtimeMs?(path: string): Promise<number>;
}

/** Options of `createFileStore`. */
export interface FileStoreOptions {
  /** Folder of the store files; created on the first write. */
  dataDir: string;
  /** @default node:fs/promises */
  fs?: StoreFileSystem;
}

const FORMAT = 1;

/** fsync of a folder: what makes a rename into it, or its own creation, survive a power loss. */
async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Windows cannot fsync a folder (EPERM, EISDIR, EINVAL): its renames are flushed as they are.
    if (!['EPERM', 'EISDIR', 'EINVAL', 'EBADF'].includes((error as { code?: string }).code ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

const nodeFs: StoreFileSystem = {
  // Opened non-blocking and refused unless a regular file: a FIFO in its place would block a
  // thread of Node's pool for good, and the process could never exit.
  readFile: (path) => readTextFile(path, Infinity),
  writeFile,
  rename,
  mkdir,
  rm,
  syncDir,
  readdir: (path) => readdir(path),
  mtimeMs: async (path) => (await stat(path)).mtimeMs,
};

/** The temporary files the store writes (`.<uuid>.tmp`). */
const TEMP_FILE = /^\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/**
 * How old a temporary file must be to count as left by a crash: a younger one may be another
 * process's write under way (a host shutting down while its successor starts).
 */
const STALE_TEMP_MS = 60_000;

interface PluginFile {
  path: string;
  /** Loaded values; null until read (and again after a corrupt read). */
  data: Map<string, JsonValue> | null;
  /** The tail of this plugin's operation queue. */
  queue: Promise<unknown>;
}

/**
 * @example
 * ```ts
 * const store = createFileStore({ dataDir: '.data' });
 * const db = store.scope('db');
 * await db.set('migrations', { applied: 12 });
 * ```
 */
export function createFileStore(options: FileStoreOptions): Store {
  if (typeof options?.dataDir !== 'string' || options.dataDir.trim() === '') {
    throw optionsError('createFileStore: dataDir must name a folder for the store files');
  }
  const dataDir = resolve(options.dataDir);
  const fs = options.fs ?? nodeFs;
  const files = new Map<string, PluginFile>();

  const ioError = (plugin: string, path: string, doing: string, cause: unknown) =>
    new PluginFactoryError('STORE_IO_FAILED', `plugin '${plugin}': ${doing} ${path} failed: ${describeThrown(cause)}; check the data dir and its permissions`, { plugin, cause });

  const load = async (plugin: string, file: PluginFile): Promise<Map<string, JsonValue>> => {
    if (file.data) return file.data;
    const corrupt = (why: string, cause?: unknown) =>
      new PluginFactoryError('STORE_CORRUPT', `plugin '${plugin}': store file ${file.path} ${why}; it was left as it is: repair or remove it (the plugin's stored values are lost if removed)`, cause === undefined ? { plugin } : { plugin, cause });
    let text: string;
    try {
      text = await fs.readFile(file.path, 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return (file.data = new Map());
      if (error instanceof NotUtf8Error) throw corrupt('is not UTF-8 text', error);
      throw ioError(plugin, file.path, 'reading', error);
    }
    let parsed: unknown;
    try {
      // A file repaired in an editor that writes a byte-order mark is still the store's.
      parsed = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
    } catch (error) {
      throw corrupt('is not valid JSON', error);
    }
    const values = (parsed as { values?: unknown } | null)?.values;
    if ((parsed as { format?: unknown } | null)?.format !== FORMAT || typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw corrupt(`is not a store file (expected {"format":${FORMAT},"values":{…}})`);
    }
    const record = values as Record<string, JsonValue>;
    // JSON objects put integer-like keys first: the order keys were first set is kept beside them.
    const order = (parsed as { keys?: unknown }).keys;
    const keys = Object.keys(record);
    const ordered =
      // Every value's key once: a list that repeats one and misses another would lose a value.
      Array.isArray(order) && order.length === keys.length && new Set(order).size === keys.length && order.every((key) => typeof key === 'string' && Object.hasOwn(record, key))
        ? (order as string[])
        : keys;
    // What the store would refuse to take is refused here too (a key it cannot name, nesting past
    // its limit): read, it would fail every later get, set and delete of the plugin instead.
    // Checked without a copy: JSON.parse gives JSON data in every other way.
    const data = new Map<string, JsonValue>();
    for (const key of ordered) {
      if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw corrupt(`holds a key of ${key.length} characters (a key has 1 to ${MAX_KEY_LENGTH})`);
      const value = record[key]!;
      if (nestedTooDeep(value)) throw corrupt(`holds a value nested deeper than the store takes under key ${quote(key)}`);
      data.set(key, value);
    }
    return (file.data = data);
  };

  /**
   * Temporary files a crash left between writing and renaming (each as large as a store file):
   * removed once, before this store's first write, so a host that keeps crashing cannot fill the
   * disk with them. Best effort: what cannot be looked at or removed stays.
   */
  let swept: Promise<void> | null = null;
  const sweep = async (): Promise<void> => {
    const { readdir: list, mtimeMs } = fs;
    if (!list || !mtimeMs) return;
    const names = await list(dataDir).catch(() => [] as string[]);
    const now = Date.now();
    for (const name of names.filter((n) => TEMP_FILE.test(n))) {
      const path = join(dataDir, name);
      const changed = await mtimeMs(path).catch(() => now);
      if (now - changed >= STALE_TEMP_MS) await fs.rm(path, { force: true }).catch(() => {});
    }
  };

  /** Folders made for dataDir whose entries in their parents are not known to be on disk yet, top first. */
  let unflushed: string[] = [];
  /**
   * dataDir made, and the folders it took flushed into their parents (or a power loss could lose
   * the folder with the file): one promise every plugin's write waits for, so none resolves
   * before them; after a failure the next write tries again, what is still unflushed included.
   */
  let folderReady: Promise<void> | null = null;
  const ensureFolder = (): Promise<void> =>
    (folderReady ??= (async () => {
      const created = await fs.mkdir(dataDir, { recursive: true });
      if (typeof created === 'string') {
        const parents: string[] = [];
        for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
          parents.unshift(dir);
          if (dir === dirname(created) || dir === dirname(dir)) break;
        }
        unflushed = [...new Set([...unflushed, ...parents])];
      }
      // Removed by value once flushed: a folder made again meanwhile may have put more in.
      for (const dir of [...unflushed]) {
        if (!fs.syncDir) break;
        await fs.syncDir(dir);
        unflushed = unflushed.filter((other) => other !== dir);
      }
    })().catch((error: unknown) => {
      folderReady = null;
      throw error;
    }));

  const save = async (plugin: string, file: PluginFile, data: Map<string, JsonValue>): Promise<void> => {
    await (swept ??= sweep());
    // A name no other write picks: not another store on this folder, nor one left by a crash of a
    // process that had the same pid (pid 1 in a container). Not built from the plugin's name,
    // which may take 214 of the 255 characters a file name can have; in the same folder, so the
    // rename stays atomic.
    const tmp = join(dataDir, `.${randomUUID()}.tmp`);
    let renamed = false;
    try {
      // Inside the try: a store too large to serialise is a coded write failure, nothing written.
      let text: string;
      try {
        text = `${JSON.stringify({ format: FORMAT, values: Object.fromEntries(data), keys: [...data.keys()] }, null, 2)}\n`;
      } catch (error) {
        throw new PluginFactoryError('STORE_IO_FAILED', `plugin '${plugin}': its store is too large to write as one file (${describeThrown(error)}); store less under one plugin`, { plugin, cause: error });
      }
      const ready = ensureFolder();
      await ready;
      try {
        await fs.writeFile(tmp, text, { flag: 'wx', flush: true });
      } catch (error) {
        // The folder was removed while the store ran: made again, once, by whichever write saw it
        // first (the others wait for the same promise).
        if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
        const first = folderReady === ready;
        if (first) folderReady = null;
        await ensureFolder();
        await fs.writeFile(tmp, text, { flag: 'wx', flush: true });
        // The other plugins' files went with the folder: written again from what is known of
        // them, or their values would be lost at the next start unless they happened to write.
        if (first) {
          for (const [name, other] of files) {
            if (other !== file && other.data) void enqueue(other, () => (other.data ? save(name, other, other.data) : Promise.resolve())).catch(() => undefined);
          }
        }
      }
      await fs.rename(tmp, file.path);
      renamed = true;
      // The rename is on disk only once the folder is: until then a power loss may undo it.
      await fs.syncDir?.(dataDir);
    } catch (error) {
      // Renamed but not flushed: the file may hold either version, so it is read again.
      if (renamed) file.data = null;
      else await fs.rm(tmp, { force: true }).catch(() => {});
      throw isPluginFactoryError(error) ? error : ioError(plugin, file.path, 'writing', error);
    }
    file.data = data;
  };

  /** Runs `op` after every earlier operation of the plugin, whatever their outcome. */
  const enqueue = <T>(file: PluginFile, op: () => Promise<T>): Promise<T> => {
    const result = file.queue.then(op, op);
    file.queue = result.catch(() => {});
    return result;
  };

  return {
    scope(plugin) {
      assertPluginName(plugin, 'store.scope');
      let file = files.get(plugin);
      if (!file) {
        const path = join(dataDir, `${plugin}.json`);
        file = { path, data: null, queue: Promise.resolve() };
        files.set(plugin, file);
      }
      const f = file;
      return {
        plugin,
        async get<T>(key: string) {
          assertStoreKey(plugin, key);
          return enqueue(f, async () => cloneJson<T>((await load(plugin, f)).get(key)));
        },
        async set(key, value) {
          assertStoreKey(plugin, key);
          const copy = toJsonValue(plugin, key, value);
          return enqueue(f, async () => {
            const next = new Map(await load(plugin, f));
            next.set(key, copy);
            await save(plugin, f, next);
          });
        },
        async delete(key) {
          assertStoreKey(plugin, key);
          return enqueue(f, async () => {
            const current = await load(plugin, f);
            if (!current.has(key)) return false;
            const next = new Map(current);
            next.delete(key);
            await save(plugin, f, next);
            return true;
          });
        },
        keys: async () => enqueue(f, async () => [...(await load(plugin, f)).keys()]),
      };
    },
    async flush() {
      await Promise.all([...files.values()].map((f) => f.queue));
    },
  };
}
