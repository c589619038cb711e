/**
 * How a plugin contributes routes: `contributeRoutes(ctx, build)` in `start` implements
 * `http.routes` with the plugin's own name stamped on its contribution. The implementation ends
 * by itself when the plugin leaves `running`.
 */
import type { HostHookScope, ImplementOptions } from '../../../src/index.ts';
import { ROUTES_HOOK } from '../routes.ts';
import type { PluginRoutes, Route, RoutesArg, RoutesHook } from '../routes.ts';

/** The hook as plugins see it: the same name and mode the host defines, typed. */
export const routesHook: RoutesHook = Object.freeze({ name: ROUTES_HOOK, mode: 'collect' });

export function contributeRoutes(
  ctx: { readonly name: string; readonly hooks: HostHookScope },
  build: (arg: RoutesArg) => Route[],
  options?: ImplementOptions,
): () => void {
  return ctx.hooks.implement(routesHook, (arg): PluginRoutes => ({ plugin: ctx.name, routes: build(arg) }), options);
}
