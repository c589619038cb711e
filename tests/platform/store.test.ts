import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileStore, createMemoryStore } from '../../src/platform/index.ts';
import type { Store, StoreFileSystem } from '../../src/platform/index.ts';
import { PluginFactoryError } from '../../src/errors.ts';
import { codeOf, rejectionCode } from './helpers.ts';

/** The store's file operations on the real file system; a test overrides the ones it watches or fails. */
const realFs: StoreFileSystem = {
  readFile: (path, encoding) => readFile(path, encoding),
  writeFile: (path, data, options) => writeFile(path, data, options),
  rename: (from, to) => rename(from, to),
  mkdir: (path, options) => mkdir(path, options),
  rm: (path, options) => rm(path, options),
};

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pf-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const kinds: Array<[string, () => Store]> = [
  ['memory store', () => createMemoryStore()],
  ['file store', () => createFileStore({ dataDir: join(dir, 'data') })],
];

describe.each(kinds)('%s', (_kind, make) => {
  it('sets, gets, deletes and lists keys', async () => {
    const store = make().scope('db');
    expect(await store.get('missing')).toBeUndefined();
    await store.set('a', { n: 1, list: [true, null, 'x'] });
    await store.set('b', 2);
    await store.set('a', { n: 3 });
    expect(await store.get('a')).toEqual({ n: 3 });
    expect(await store.keys()).toEqual(['a', 'b']);
    expect(await store.delete('b')).toBe(true);
    expect(await store.delete('b')).toBe(false);
    expect(await store.keys()).toEqual(['a']);
  });

  it('stores copies: changing a value afterwards changes nothing stored', async () => {
    const store = make().scope('db');
    const value = { nested: { count: 1 } };
    await store.set('v', value);
    value.nested.count = 99;
    const read = await store.get<{ nested: { count: number } }>('v');
    read!.nested.count = 42;
    expect(await store.get('v')).toEqual({ nested: { count: 1 } });
  });

  it('keeps plugins apart', async () => {
    const store = make();
    await store.scope('a').set('k', 'from a');
    expect(await store.scope('b').get('k')).toBeUndefined();
    expect(await store.scope('a').get('k')).toBe('from a');
  });

  it('keeps a __proto__ key as data', async () => {
    const store = make().scope('db');
    await store.set('__proto__', JSON.parse('{"__proto__":{"polluted":true}}'));
    const read = await store.get<Record<string, unknown>>('__proto__');
    expect(Object.keys(read!)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(await store.keys()).toEqual(['__proto__']);
  });

  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  it.each([
    ['undefined', undefined, 'value'],
    ['a function', () => 1, 'value'],
    ['NaN', Number.NaN, 'value'],
    ['Infinity inside', { a: [1, Infinity] }, 'value.a[1]'],
    ['a Date', new Date(0), 'value'],
    ['a Map', new Map(), 'value'],
    ['a class instance', new (class Pool {})(), 'value'],
    ['a cycle', cyclic, 'value.self'],
    ['undefined inside', { a: undefined }, 'value.a'],
    ['a bigint', 1n, 'value'],
    ['a sparse array', [1, , 3], 'value[1]'],
    ['a symbol key', { [Symbol('s')]: 1 }, 'value'],
    [
      'a getter that throws',
      {
        get x(): number {
          throw new Error('getter');
        },
      },
      'value',
    ],
    [
      'a Proxy whose trap throws',
      new Proxy(
        {},
        {
          getPrototypeOf() {
            throw new Error('trap');
          },
        },
      ),
      'value',
    ],
  ])('refuses %s with STORE_VALUE_INVALID and the path', async (_what, value, path) => {
    const store = make().scope('db');
    const error = await store.set('k', value).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginFactoryError);
    expect((error as PluginFactoryError).code).toBe('STORE_VALUE_INVALID');
    expect((error as PluginFactoryError).path).toBe(path);
    expect(await store.keys()).toEqual([]);
  });

  it('refuses bad keys and plugin names with ARGUMENT_INVALID', async () => {
    const store = make();
    const db = store.scope('db');
    expect(await rejectionCode(db.set('', 1))).toBe('ARGUMENT_INVALID');
    expect(await rejectionCode(db.get(42 as unknown as string))).toBe('ARGUMENT_INVALID');
    expect(await rejectionCode(db.delete('x'.repeat(2000)))).toBe('ARGUMENT_INVALID');
    for (const name of ['../etc', 'Db', '', 'a/b', 'db.json']) expect(codeOf(() => store.scope(name))).toBe('ARGUMENT_INVALID');
  });
});

describe('file store on disk', () => {
  it('keeps values across store instances (a host restart), one JSON file per plugin', async () => {
    const first = createFileStore({ dataDir: dir });
    await first.scope('db').set('migrations', { applied: 12 });
    await first.scope('api').set('token-count', 3);
    expect((await readdir(dir)).sort()).toEqual(['api.json', 'db.json']);
    expect(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8'))).toEqual({ format: 1, values: { migrations: { applied: 12 } }, keys: ['migrations'] });
    const second = createFileStore({ dataDir: dir });
    expect(await second.scope('db').get('migrations')).toEqual({ applied: 12 });
    expect(await second.scope('api').keys()).toEqual(['token-count']);
  });

  it('works for the longest plugin name (214 characters): its temporary file is not named after it', async () => {
    const name = `a${'b'.repeat(213)}`;
    const first = createFileStore({ dataDir: dir });
    await first.scope(name).set('k', 1);
    expect(await createFileStore({ dataDir: dir }).scope(name).get('k')).toBe(1);
    expect(await readdir(dir)).toEqual([`${name}.json`]);
  });

  it('keeps the order keys were first set across a restart, integer-like keys included', async () => {
    const first = createFileStore({ dataDir: dir }).scope('db');
    for (const key of ['b', '10', 'a', '2']) await first.set(key, key);
    expect(await createFileStore({ dataDir: dir }).scope('db').keys()).toEqual(['b', '10', 'a', '2']);
  });

  it('reads a file written without the key order (object order)', async () => {
    await writeFile(join(dir, 'db.json'), JSON.stringify({ format: 1, values: { b: 1, a: 2 } }));
    expect(await createFileStore({ dataDir: dir }).scope('db').keys()).toEqual(['b', 'a']);
  });

  it('a key order that repeats one key and misses another is ignored: no value is lost', async () => {
    await writeFile(join(dir, 'db.json'), JSON.stringify({ format: 1, values: { a: 1, b: 2 }, keys: ['a', 'a'] }));
    const db = createFileStore({ dataDir: dir }).scope('db');
    expect(await db.keys()).toEqual(['a', 'b']);
    expect(await db.get('b')).toBe(2);
    await db.set('c', 3);
    expect(await createFileStore({ dataDir: dir }).scope('db').keys()).toEqual(['a', 'b', 'c']);
  });

  it('runs one plugin’s operations in call order, each write whole', async () => {
    const store = createFileStore({ dataDir: dir });
    const db = store.scope('db');
    const ops: Array<Promise<unknown>> = [];
    let keysMidway: Promise<string[]> = Promise.resolve([]);
    for (let i = 0; i < 50; i++) {
      ops.push(db.set(`k${i}`, i));
      if (i % 5 === 0) ops.push(db.delete(`k${i}`));
      if (i === 24) keysMidway = db.keys();
    }
    await Promise.all(ops);
    expect((await keysMidway).length).toBe(20);
    const onDisk = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as { values: Record<string, number> };
    expect(Object.keys(onDisk.values)).toHaveLength(40);
    expect(onDisk.values['k49']).toBe(49);
    expect(onDisk.values['k45']).toBeUndefined();
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('flush waits for writes begun without waiting', async () => {
    const store = createFileStore({ dataDir: dir });
    void store.scope('db').set('a', 1);
    void store.scope('api').set('b', 2);
    await store.flush();
    expect((await readdir(dir)).sort()).toEqual(['api.json', 'db.json']);
  });

  it.each([
    ['not JSON', '{"format":1,"values":{'],
    ['not a store', '{"values":[]}'],
    ['JSON null', 'null'],
    ['a value nested deeper than the store takes', `{"format":1,"values":{"a":${'['.repeat(500)}${']'.repeat(500)}}}`],
    ['an empty key', '{"format":1,"values":{"":1}}'],
    // A store file otherwise valid, a Latin-1 é in a value: decoded, it would become U+FFFD.
    ['bytes that are not UTF-8', Buffer.concat([Buffer.from('{"format":1,"values":{"a":"caf'), Buffer.from([0xe9]), Buffer.from('"}}')])],
    ['a key longer than 1024 characters', `{"format":1,"values":{"${'k'.repeat(1025)}":1}}`],
  ])('reports a corrupt file (%s) with STORE_CORRUPT and never overwrites it', async (_what, content) => {
    const file = join(dir, 'db.json');
    await writeFile(file, content);
    const db = createFileStore({ dataDir: dir }).scope('db');
    expect(await rejectionCode(db.get('a'))).toBe('STORE_CORRUPT');
    expect(await rejectionCode(db.set('a', 1))).toBe('STORE_CORRUPT');
    expect(await rejectionCode(db.delete('a'))).toBe('STORE_CORRUPT');
    expect(await rejectionCode(db.keys())).toBe('STORE_CORRUPT');
    expect(await readFile(file)).toEqual(Buffer.from(content));
    await rm(file);
    await db.set('a', 1);
    expect(await db.get('a')).toBe(1);
  });

  it('refuses a store file that is not a regular file (a FIFO) with STORE_IO_FAILED, without waiting for a writer', async () => {
    execFileSync('mkfifo', [join(dir, 'db.json')]);
    const db = createFileStore({ dataDir: dir }).scope('db');
    expect(await rejectionCode(db.get('a'))).toBe('STORE_IO_FAILED');
    expect(await rejectionCode(db.keys())).toBe('STORE_IO_FAILED');
    await rm(join(dir, 'db.json'));
    await db.set('a', 1);
    expect(await db.get('a')).toBe(1);
  });

  it('reports read failures with STORE_IO_FAILED', async () => {
    await mkdir(join(dir, 'db.json'));
    const db = createFileStore({ dataDir: dir }).scope('db');
    expect(await rejectionCode(db.get('a'))).toBe('STORE_IO_FAILED');
    const blocked = join(dir, 'a-file');
    await writeFile(blocked, '');
    expect(await rejectionCode(createFileStore({ dataDir: blocked }).scope('db').set('a', 1))).toBe('STORE_IO_FAILED');
  });

  it('a failed write leaves the old file and the old values, and no temporary file', async () => {
    let failRename = false;
    const fs: StoreFileSystem = {
      ...realFs,
      rename: async (from, to) => {
        if (failRename) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
        await rename(from, to);
      },
    };
    const db = createFileStore({ dataDir: dir, fs }).scope('db');
    await db.set('a', 1);
    const before = await readFile(join(dir, 'db.json'), 'utf8');
    failRename = true;
    expect(await rejectionCode(db.set('a', 2))).toBe('STORE_IO_FAILED');
    expect(await rejectionCode(db.delete('a'))).toBe('STORE_IO_FAILED');
    expect(await readFile(join(dir, 'db.json'), 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['db.json']);
    expect(await db.get('a')).toBe(1);
    failRename = false;
    await db.set('a', 3);
    expect(await createFileStore({ dataDir: dir }).scope('db').get('a')).toBe(3);
  });

  it('flushes the folder after each rename, and the parent of every folder it had to create', async () => {
    const calls: string[] = [];
    const fs: StoreFileSystem = {
      ...realFs,
      rename: async (from, to) => {
        calls.push(`rename ${basename(to)}`);
        await rename(from, to);
      },
      syncDir: async (path) => void calls.push(`sync ${path}`),
    };
    const dataDir = join(dir, 'nested', 'data');
    const db = createFileStore({ dataDir, fs }).scope('db');
    await db.set('a', 1);
    await db.set('a', 2);
    expect(calls).toEqual([`sync ${dir}`, `sync ${join(dir, 'nested')}`, 'rename db.json', `sync ${dataDir}`, 'rename db.json', `sync ${dataDir}`]);
  });

  it('new folders whose flush failed are flushed by the next write; two plugins writing first at once both wait for them', async () => {
    const calls: string[] = [];
    let failNextSync = true;
    const fs: StoreFileSystem = {
      ...realFs,
      syncDir: async (path) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (failNextSync) {
          failNextSync = false;
          throw Object.assign(new Error('I/O error'), { code: 'EIO' });
        }
        calls.push(`sync ${path}`);
      },
    };
    const dataDir = join(dir, 'nested', 'data');
    const store = createFileStore({ dataDir, fs });
    expect(await rejectionCode(store.scope('a').set('k', 1))).toBe('STORE_IO_FAILED');
    const resolved: string[] = [];
    await Promise.all(['a', 'b'].map((plugin) => store.scope(plugin).set('k', 2).then(() => void resolved.push(`${plugin} resolved after ${calls.length} flushes`))));
    // Both parents (the failed one again) before either write resolves.
    expect(calls.slice(0, 2)).toEqual([`sync ${dir}`, `sync ${join(dir, 'nested')}`]);
    expect(resolved.every((line) => !line.endsWith(' 0 flushes') && !line.endsWith(' 1 flushes'))).toBe(true);
  });

  it('a data dir removed while the store runs, then written by three plugins at once: made again once, every new folder flushed before any write resolves', async () => {
    const dataDir = join(dir, 'x', 'y', 'data');
    const log: string[] = [];
    let watching = false;
    const fs: StoreFileSystem = {
      ...realFs,
      mkdir: async (path, options) => {
        const made = await mkdir(path, options);
        if (watching && made !== undefined) log.push('mkdir');
        return made;
      },
      syncDir: async (path) => {
        await new Promise((resolve) => setTimeout(resolve, path.endsWith('data') ? 1 : 15));
        if (watching) log.push(`sync ${path}`);
      },
    };
    const store = createFileStore({ dataDir, fs });
    for (const plugin of ['a', 'b', 'c']) await store.scope(plugin).set('k', 1);
    await rm(join(dir, 'x'), { recursive: true, force: true });
    watching = true;
    await Promise.all(['a', 'b', 'c'].map((plugin) => store.scope(plugin).set('k', 2).then(() => void log.push(`${plugin} resolved`))));
    const firstResolved = log.findIndex((line) => line.endsWith('resolved'));
    expect(log.filter((line) => line === 'mkdir')).toHaveLength(1);
    for (const folder of [dir, join(dir, 'x'), join(dir, 'x', 'y')]) {
      const at = log.indexOf(`sync ${folder}`);
      expect([folder, at >= 0 && at < firstResolved]).toEqual([folder, true]);
    }
  });

  it('a data dir removed while the store runs is made again by the next write', async () => {
    const dataDir = join(dir, 'data');
    const db = createFileStore({ dataDir }).scope('db');
    await db.set('a', 1);
    await rm(dataDir, { recursive: true, force: true });
    await db.set('a', 2);
    expect(await createFileStore({ dataDir }).scope('db').get('a')).toBe(2);
  });

  it("a data dir removed while the store runs: the next write also writes the other plugins' files again, so no value is lost at the next start", async () => {
    const dataDir = join(dir, 'data');
    const store = createFileStore({ dataDir });
    const [db, cache] = [store.scope('db'), store.scope('cache')];
    await db.set('a', 1);
    await cache.set('x', 'kept');
    await rm(dataDir, { recursive: true, force: true });
    await db.set('a', 2);
    await cache.keys(); // after the rewrite queued for it
    const again = createFileStore({ dataDir });
    expect([await again.scope('db').get('a'), await again.scope('cache').get('x')]).toEqual([2, 'kept']);
  });

  it('a store file repaired in an editor that writes a byte-order mark is read', async () => {
    const dataDir = join(dir, 'data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'db.json'), `\uFEFF${JSON.stringify({ format: 1, values: { a: 1 } })}`);
    expect(await createFileStore({ dataDir }).scope('db').get('a')).toBe(1);
  });

  it('values JSON would change without a word are refused: an array with properties beside its items, an array subclass; -0 is stored as 0', async () => {
    const db = createMemoryStore().scope('db');
    class Rows extends Array<number> {}
    expect(await rejectionCode(db.set('a', Object.assign([1, 2], { meta: 'x' })))).toBe('STORE_VALUE_INVALID');
    expect(await rejectionCode(db.set('b', Rows.from([1])))).toBe('STORE_VALUE_INVALID');
    await db.set('c', -0);
    expect(Object.is(await db.get('c'), 0)).toBe(true);
  });

  it('a folder that cannot be flushed after the rename: STORE_IO_FAILED, and the values are read again from the file', async () => {
    let failSync = false;
    const fs: StoreFileSystem = {
      ...realFs,
      syncDir: async () => {
        if (failSync) throw Object.assign(new Error('I/O error'), { code: 'EIO' });
      },
    };
    const db = createFileStore({ dataDir: dir, fs }).scope('db');
    await db.set('a', 1);
    failSync = true;
    expect(await rejectionCode(db.set('a', 2))).toBe('STORE_IO_FAILED');
    failSync = false;
    // What the file holds, not what memory assumed.
    expect(await db.get('a')).toBe(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')).values.a);
  });

  it("removes temporary files a crash left before its first write, not a younger one (another process's write under way) nor other files", async () => {
    await mkdir(dir, { recursive: true });
    const stale = join(dir, '.0b6f2a3c-1d2e-4f50-8a9b-0c1d2e3f4a5b.tmp');
    const young = join(dir, '.1b6f2a3c-1d2e-4f50-8a9b-0c1d2e3f4a5b.tmp');
    await writeFile(stale, 'left by a crash');
    await writeFile(young, 'being written');
    await writeFile(join(dir, 'notes.tmp'), 'not ours');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(stale, hourAgo, hourAgo);
    await createFileStore({ dataDir: dir }).scope('db').set('a', 1);
    expect((await readdir(dir)).sort()).toEqual(['.1b6f2a3c-1d2e-4f50-8a9b-0c1d2e3f4a5b.tmp', 'db.json', 'notes.tmp']);
  });

  it('a temporary file left by a crashed process with the same pid does not fail a write', async () => {
    await mkdir(dir, { recursive: true });
    for (let n = 1; n <= 3; n++) await writeFile(join(dir, `db.json.${process.pid}.${n}.tmp`), 'left by a crash');
    const db = createFileStore({ dataDir: dir }).scope('db');
    await db.set('a', 1);
    await db.set('a', 2);
    expect(await createFileStore({ dataDir: dir }).scope('db').get('a')).toBe(2);
  });

  it('two stores writing one plugin in one folder at once: both writes succeed, one of them is the file', async () => {
    const [one, two] = [createFileStore({ dataDir: dir }).scope('db'), createFileStore({ dataDir: dir }).scope('db')];
    await Promise.all([one.set('from', 'one'), two.set('from', 'two')]);
    expect(['one', 'two']).toContain(await createFileStore({ dataDir: dir }).scope('db').get('from'));
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a missing data dir with OPTIONS_INVALID', () => {
    expect(codeOf(() => createFileStore({ dataDir: '' }))).toBe('OPTIONS_INVALID');
    expect(codeOf(() => createFileStore({} as { dataDir: string }))).toBe('OPTIONS_INVALID');
  });
});
