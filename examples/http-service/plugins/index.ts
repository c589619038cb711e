/** The example's plugins, in no particular order: the engine orders them by their dependencies. */
import type { PluginDefinition } from '../../../src/index.ts';
import { greeterPlugin } from './greeter.ts';
import { statsPlugin } from './stats.ts';
import { storePlugin } from './store.ts';
import { usersPlugin } from './users.ts';

export { RecordsService } from './store.ts';
export type { Records, StoredRecord } from './store.ts';
export { contributeRoutes, routesHook } from './contribute.ts';

export function examplePlugins(): PluginDefinition[] {
  return [storePlugin, usersPlugin, greeterPlugin, statsPlugin];
}
