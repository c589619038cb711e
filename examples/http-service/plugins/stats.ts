/**
 * `stats`: counts greetings, created users and plugin starts from the event bus, keeps the counts
 * in `ctx.store` across its own restarts, and serves them at `GET /stats`.
 */
import { definePlugin } from '../../../src/index.ts';
import type { PluginDefinition } from '../../../src/index.ts';
import { contributeRoutes } from './contribute.ts';

interface Counts {
  greetings: number;
  usersCreated: number;
  /** Entries into `running`, per plugin, seen while stats ran. */
  starts: Record<string, number>;
}

const COUNTS_KEY = 'counts';

const stats = definePlugin(() => {
  let counts: Counts = { greetings: 0, usersCreated: 0, starts: {} };
  return {
    init() {},
    async start(ctx) {
      counts = (await ctx.store.get<Counts>(COUNTS_KEY)) ?? { greetings: 0, usersCreated: 0, starts: {} };
      ctx.events.subscribe('greeter.greeted', () => {
        counts.greetings += 1;
      });
      ctx.events.subscribe('users.created', () => {
        counts.usersCreated += 1;
      });
      ctx.events.subscribe<{ name: string }>('plugin.*.running', ({ payload }) => {
        counts.starts[payload.name] = (counts.starts[payload.name] ?? 0) + 1;
      });
      contributeRoutes(ctx, ({ prefix }) => [{ method: 'GET', path: `${prefix}/stats`, handler: () => ({ body: counts }) }]);
    },
    async stop(ctx) {
      await ctx.store.set(COUNTS_KEY, counts);
    },
    health() {
      return { status: 'healthy', components: { events: { status: 'healthy', message: 'counting from the event bus' } } };
    },
  };
});

export const statsPlugin: PluginDefinition = {
  manifest: {
    name: 'stats',
    version: '1.0.0',
    description: 'Counts from the event bus',
    events: { subscribes: ['greeter.greeted', 'users.created', 'plugin.*.running'] },
  },
  module: stats,
};
