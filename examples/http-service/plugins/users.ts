/**
 * `users`: `GET /users`, `GET /users/:id`, `POST /users {"name"}` under the host's prefix, kept
 * through the `store.records` service of its dependency `store`. Publishes `users.created`.
 */
import { definePlugin } from '../../../src/index.ts';
import type { PluginDefinition } from '../../../src/index.ts';
import { isRevoked } from '../routes.ts';
import { contributeRoutes } from './contribute.ts';
import { RecordsService } from './store.ts';

const COLLECTION = 'users';
const MAX_NAME = 100;

const users = definePlugin(() => ({
  init() {},
  start(ctx) {
    // A handle: every call checks that `store` still runs and that this plugin still does.
    const records = ctx.services.get(RecordsService);
    contributeRoutes(ctx, ({ prefix }) => [
      {
        method: 'GET',
        path: `${prefix}/users`,
        handler: async () => ({ body: { users: await records.list(COLLECTION) } }),
      },
      {
        method: 'GET',
        path: `${prefix}/users/:id`,
        handler: async ({ params }) => {
          // Written as the store gives ids (`7`): `07`, `7.0`, `0x7` or ` 7` name no user.
          const text = params['id'] ?? '';
          const id = /^[1-9][0-9]*$/.test(text) ? Number(text) : NaN;
          if (!Number.isSafeInteger(id)) return { status: 400, body: { error: 'id must be a positive integer' } };
          const user = await records.get(COLLECTION, id);
          return user ? { body: user } : { status: 404, body: { error: 'no such user', id } };
        },
      },
      {
        method: 'POST',
        path: `${prefix}/users`,
        handler: async ({ body }) => {
          const name = (body as { name?: unknown } | undefined)?.name;
          if (typeof name !== 'string' || name.trim() === '' || name.trim().length > MAX_NAME) {
            return { status: 400, body: { error: `name must be a non-empty string of at most ${MAX_NAME} characters` } };
          }
          const user = await records.insert(COLLECTION, { name: name.trim(), createdAt: new Date().toISOString() });
          try {
            ctx.events.publish('users.created', { id: user.id });
          } catch (error) {
            // The plugin left running while the record was written: the user exists, the event is dropped.
            if (!isRevoked(error)) throw error;
          }
          return { status: 201, body: user, headers: { location: `${prefix}/users/${user.id}` } };
        },
      },
    ]);
  },
  stop() {},
  async health(ctx) {
    // The health check has a scope of its own, so it asks for the service afresh.
    await ctx.services.get(RecordsService).count(COLLECTION);
    return { status: 'healthy', components: { records: { status: 'healthy', message: 'the store answers' } } };
  },
}));

export const usersPlugin: PluginDefinition = {
  manifest: {
    name: 'users',
    version: '1.0.0',
    description: 'User routes over the store service',
    dependencies: { store: '^1.0.0' },
    events: { publishes: ['users.created'] },
  },
  module: users,
};
