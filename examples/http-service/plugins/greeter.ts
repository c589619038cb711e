/** `greeter`: `GET /hello` and `GET /hello/:name`; publishes `greeter.greeted`. No state, no health hook. */
import { definePlugin } from '../../../src/index.ts';
import type { PluginDefinition } from '../../../src/index.ts';
import { contributeRoutes } from './contribute.ts';

const greeter = definePlugin<{ greeting: string }>({
  init() {},
  start(ctx) {
    const greet = (name: string) => {
      ctx.events.publish('greeter.greeted', { name });
      return { body: { message: `${ctx.config.greeting}, ${name}!` } };
    };
    contributeRoutes(ctx, ({ prefix }) => [
      { method: 'GET', path: `${prefix}/hello`, handler: ({ query }) => greet(query.get('name') ?? 'world') },
      { method: 'GET', path: `${prefix}/hello/:name`, handler: ({ params }) => greet(params['name'] ?? 'world') },
    ]);
  },
  stop() {},
});

export const greeterPlugin: PluginDefinition = {
  manifest: {
    name: 'greeter',
    version: '1.0.0',
    description: 'Greeting routes',
    config: { greeting: { type: 'string', default: 'Hello', description: 'The word greetings start with' } },
    events: { publishes: ['greeter.greeted'] },
  },
  module: greeter,
};
