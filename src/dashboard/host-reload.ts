/**
 * Where the dashboard's reload button gets new code: for a host loaded from disk, the plugin's
 * folder read again, with a fresh import of its module (as `run --watch` does). A folder that no
 * longer holds a valid plugin of that name rejects with its coded problem, and the running
 * version stays up.
 */
import { loadPluginFolder } from '../loading/index.ts';
import type { LoadedHost } from '../loading/index.ts';
import type { FolderOptions } from '../loading/plugin-folder.ts';
import type { PluginDefinition } from '../definition.ts';
import { PluginFactoryError } from '../errors.ts';
import { quote } from '../platform/_utils.ts';

/**
 * Gives the definition a plugin is reloaded with; may throw (or reject with) a coded error.
 * `signal` aborts when the dashboard closes or its host starts stopping: loading that is still
 * under way then can be given up, since its result would be refused.
 */
export type ReloadSource = (name: string, context: { signal: AbortSignal }) => PluginDefinition | Promise<PluginDefinition>;

/** The name a definition registers under, as the manager names it. */
export function definitionName(definition: PluginDefinition, index: number): string {
  const name = (definition.manifest as { name?: unknown } | undefined)?.name;
  if (typeof name === 'string' && name !== '') return name;
  return definition.name ?? `#${index + 1}`;
}

/**
 * How a plugin folder of `host` is read again for a reload: afresh, with the config the host
 * gave it, where that config comes from (a problem with it points at the host file) and the
 * host's time limit.
 */
export function folderReloadOptions(host: LoadedHost, index: number): FolderOptions {
  const options: FolderOptions = { fresh: true, config: host.definitions[index]?.config, hookTimeoutMs: host.settings.hookTimeoutMs };
  if (host.hostFile !== null) options.configSource = host.hostFile;
  return options;
}

/**
 * A reload source reading plugins from the folders of a loaded host.
 *
 * @example
 * ```ts
 * const host = await loadHost('plugins/host.yaml');
 * await serveDashboard(manager, { reload: reloadFromHost(host) });
 * ```
 */
export function reloadFromHost(host: LoadedHost): (name: string, context?: { signal: AbortSignal }) => Promise<PluginDefinition> {
  let names: string[];
  try {
    if (!Array.isArray(host.definitions) || !Array.isArray(host.folders)) throw new TypeError('not a loaded host');
    names = host.definitions.map(definitionName);
  } catch {
    throw new PluginFactoryError('ARGUMENT_INVALID', 'reloadFromHost: give what loadHost() resolved with');
  }
  return async (name, context) => {
    const index = names.indexOf(name);
    const folder = index === -1 ? undefined : host.folders[index];
    if (folder === undefined) {
      throw new PluginFactoryError('PLUGIN_NOT_FOUND', `plugin ${quote(String(name))} was not loaded from a folder of this host; it cannot be reloaded from disk`, {
        plugin: name,
      });
    }
    // An import that hangs is given up once the dashboard closes or the host stops, its timer with it.
    const options = folderReloadOptions(host, index);
    if (context?.signal) options.signal = context.signal;
    const next = await loadPluginFolder(folder, options);
    const problem = next.problems?.[0];
    if (problem) throw problem;
    if (definitionName(next, index) !== name) {
      throw new PluginFactoryError('MANIFEST_INVALID', `plugin '${name}': the manifest in its folder now names '${definitionName(next, index)}'; a reload keeps the name`, {
        plugin: name,
        path: 'name',
      });
    }
    return next;
  };
}
