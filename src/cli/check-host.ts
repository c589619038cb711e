/**
 * What `validate`, `test` and `graph` need: a host loaded from disk and registered with a manager that
 * is never started, so every plugin is validated (manifest, module, contract, config, graph)
 * without a hook running.
 */
import { PluginFactoryError, createPluginManager, loadHost, silentLogger } from '../index.ts';
import type { LoadedHost, ManagerSnapshot, PluginDefinition, PluginManager } from '../index.ts';
import { loadingLine } from './progress.ts';
import { rememberHost } from './stray-errors.ts';

export interface CheckedHost {
  host: LoadedHost;
  /** The manager's snapshot once no plugin is `validating` any more. */
  snapshot: ManagerSnapshot;
}

/**
 * Loads `target`, lets every plugin validate, then stops the manager. No hook runs. A target
 * with no plugin at all (an empty folder, a host file listing none) is a problem, as `run`
 * refuses it: a check pointed at the wrong folder must not pass.
 */
export async function checkHost(target: string): Promise<CheckedHost> {
  // On a terminal, a large host's loading shows its progress on stderr (stdout may be a document).
  const loading = loadingLine(process.stderr);
  const host = await loadHost(target, { onLoaded: loading.update }).finally(loading.done);
  rememberHost(host);
  // A rejection nobody handled at import is told a moment after it happens: the last module's
  // too must reach the command before it reports.
  await new Promise((resolve) => setImmediate(resolve));
  if (host.definitions.length === 0 && host.problems.length === 0) host.problems.push(noPluginFound(target));
  return { host, snapshot: await validateOnly(host, host.definitions) };
}

/** A target with no plugin at all, which every command refuses. */
export const noPluginFound = (target: string): PluginFactoryError =>
  new PluginFactoryError('PLUGIN_NOT_FOUND', `no plugin found in '${target}'; point at a folder of plugin folders, one plugin folder, or a host file that lists plugins`);

/** Registers `definitions` with the settings of `host`, lets them validate, stops. No hook runs. */
export async function validateOnly(host: LoadedHost, definitions: readonly PluginDefinition[]): Promise<ManagerSnapshot> {
  const manager = createPluginManager({ ...host.settings, plugins: [...definitions], logger: silentLogger });
  try {
    return await untilValidated(manager);
  } finally {
    await manager.stop(); // before start(): runs no hook
  }
}

/**
 * Resolves with the snapshot taken when no plugin is `validating` any more (or when the manager
 * has stopped, whichever comes first, so it cannot hang).
 */
export function untilValidated(manager: PluginManager): Promise<ManagerSnapshot> {
  return new Promise((resolve) => {
    let subscription: { unsubscribe(): void } | null = null;
    let done = false;
    const check = () => {
      if (done) return;
      const snapshot = manager.getSnapshot();
      const validating = snapshot.plugins.some((plugin) => plugin.state === 'validating');
      if (validating && snapshot.state !== 'stopped') return;
      done = true;
      subscription?.unsubscribe();
      resolve(snapshot);
    };
    subscription = manager.subscribe(check);
    check();
  });
}
