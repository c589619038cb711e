/**
 * `store`: numbered records in named collections, kept in `ctx.store` (on disk when the host has a
 * data dir, so they survive restarts of the plugin and of the host). Provides the typed
 * `store.records` service; no routes of its own.
 */
import { definePlugin, defineService } from '../../../src/index.ts';
import type { JsonValue, PluginDefinition } from '../../../src/index.ts';

/** A stored record: its fields and the id the store gave it. */
export type StoredRecord = { id: number } & { [field: string]: JsonValue };

export interface Records {
  /** Stores `fields` under the next id of `collection`; resolves once it is written. */
  insert(collection: string, fields: { [field: string]: JsonValue }): Promise<StoredRecord>;
  get(collection: string, id: number): Promise<StoredRecord | undefined>;
  list(collection: string): Promise<StoredRecord[]>;
  count(collection: string): Promise<number>;
}

export const RecordsService = defineService<Records>('store.records');

interface Collection {
  next: number;
  items: StoredRecord[];
}

const KEY_PREFIX = 'collection.';

const store = definePlugin(() => {
  let collections = new Map<string, Collection>();
  let lastWriteError: string | null = null;

  return {
    init() {},
    async start(ctx) {
      // Read back what earlier runs wrote.
      collections = new Map();
      for (const key of await ctx.store.keys()) {
        if (!key.startsWith(KEY_PREFIX)) continue;
        const saved = await ctx.store.get<Collection>(key);
        if (saved) collections.set(key.slice(KEY_PREFIX.length), saved);
      }
      const kv = ctx.store;
      const collection = (name: string): Collection => {
        let found = collections.get(name);
        if (!found) collections.set(name, (found = { next: 1, items: [] }));
        return found;
      };
      // One insert at a time: each takes the id after the one before, and a record is kept (and
      // shown) only once it was written, so a failed write leaves nothing behind to be lost later.
      let writing: Promise<unknown> = Promise.resolve();
      const records: Records = {
        insert(name, fields) {
          const inserted = writing.then(async () => {
            const target = collection(name);
            const record: StoredRecord = { ...fields, id: target.next };
            const next: Collection = { next: target.next + 1, items: [...target.items, record] };
            try {
              await kv.set(`${KEY_PREFIX}${name}`, next);
              lastWriteError = null;
            } catch (error) {
              lastWriteError = (error as { code?: string }).code ?? 'UNKNOWN';
              throw error;
            }
            collections.set(name, next);
            return { ...record };
          });
          writing = inserted.catch(() => undefined);
          return inserted;
        },
        async get(name, id) {
          const found = collections.get(name)?.items.find((record) => record.id === id);
          return found && { ...found };
        },
        async list(name) {
          return (collections.get(name)?.items ?? []).map((record) => ({ ...record }));
        },
        async count(name) {
          return collections.get(name)?.items.length ?? 0;
        },
      };
      ctx.services.provide(RecordsService, records);
      ctx.logger.info({ collections: collections.size }, 'records loaded');
    },
    // Every insert resolved only once written: nothing is left to flush.
    stop() {},
    // A report is taken when its status changes: its messages say what holds with that status,
    // not figures that move with every request (those would show as they were then).
    health() {
      return {
        components: {
          persistence: lastWriteError
            ? { status: 'degraded' as const, message: `the last write failed: ${lastWriteError}` }
            : { status: 'healthy' as const, message: 'writes succeed' },
        },
      };
    },
  };
});

export const storePlugin: PluginDefinition = {
  manifest: { name: 'store', version: '1.0.0', description: 'Numbered records kept in ctx.store' },
  module: store,
};
