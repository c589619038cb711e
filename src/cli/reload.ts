/**
 * Hot reload for `run --watch`: when a plugin folder changes, the plugin is read again (a fresh
 * import of its module) and handed to `manager.reloadPlugin`. A new version that fails
 * validation is reported and never replaces the running one: reloadPlugin rejects before it
 * touches the old version.
 */
import { setMaxListeners } from 'node:events';
import { isAbsolute, relative } from 'node:path';
import { PluginFactoryError, loadPluginFolder } from '../index.ts';
import type { LoadedHost, PluginDefinition, PluginManager } from '../index.ts';
import { snapshotsOf } from '../manager.ts';
import { definitionName, folderReloadOptions } from '../dashboard/host-reload.ts';
import { scrubError } from '../platform/logging.ts';
import type { Redactor } from '../platform/secrets.ts';
import { formatError } from './output.ts';
import { serialize, watchFolders } from './watch.ts';

export interface HotReloadOptions {
  host: LoadedHost;
  manager: PluginManager;
  verbose: boolean;
  /** Progress notes (a reload started or succeeded). */
  note(line: string): void;
  /** Problems (a reload failed, a folder cannot be watched). */
  warn(line: string): void;
  /** True once shutdown has begun: changes are ignored from then on. */
  stopping(): boolean;
  /** Called with each new definition before the manager gets it (the live views redact its secrets). */
  learn?(definition: PluginDefinition): void;
  /**
   * What scrubs a problem of `name` the loader reports before the manager has it (its secrets
   * learnt first); without it such problems are printed as they are.
   */
  redactor?(name: string): Redactor;
  /**
   * Settles once the host has booted: changes seen before (watching starts before the boot, so
   * that an edit made meanwhile is not lost) are reloaded then.
   */
  ready?: Promise<unknown>;
}

export interface HotReload {
  /** Stops watching; resolves once no reload is in flight (an import under way is given up, and said so). */
  close(): Promise<void>;
  /** The folders whose new module was still importing when close() gave it up: its code may still run. */
  abandoned(): string[];
}

/**
 * How long a change waits for the plugin to take a reload (a reload from the dashboard, or a
 * restart, in progress) before it is tried anyway and reported if refused.
 */
const BUSY_WAIT_MS = 30_000;

/** How often that wait looks again, besides on every state change. */
const BUSY_POLL_MS = 100;

/** A folder relative to the working directory when it is inside it, absolute otherwise. */
function shown(folder: string): string {
  const rel = relative(process.cwd(), folder);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? folder : rel;
}

export function watchAndReload(options: HotReloadOptions): HotReload {
  const { host, manager, verbose, note, warn, stopping, learn, redactor, ready } = options;
  const names = host.definitions.map(definitionName);

  /** A plugin's state (`gone` once it is not registered), at the cost of that plugin only: waits ask on every change of the host. */
  const stateOf = (name: string): string => snapshotsOf(manager, [name]).plugins.get(name)?.state ?? 'gone';

  /**
   * A reload of `name` from elsewhere (the dashboard) or a restart is in progress: it cannot take
   * a reload now but will. A crashed plugin never will, and an unloaded one is gone.
   */
  const busy = (name: string) => {
    const state = stateOf(name);
    return state !== 'gone' && state !== 'crashed' && !manager.can(name, 'reload') && !stopping();
  };

  /** Resolves true once `name` takes a reload; false when the host stops, the plugin crashes or goes, or `deadline` passes. */
  const untilReloadable = (name: string, deadline: number) =>
    waitFor(() => (manager.can(name, 'reload') ? true : busy(name) ? undefined : false), deadline);

  /**
   * Resolves 'runs' once `dead` runs again (its own edit reloaded, a retry from the dashboard);
   * 'newer' once another change of plugin `index` waits to be reloaded (it takes over); false
   * when the host stops, `dead` is gone, or `deadline` passes.
   */
  const untilRunning = async (dead: string, index: number, deadline: number): Promise<'runs' | 'newer' | false> => {
    let newer = false;
    const runs = await waitFor(() => {
      if (queue.pending(index)) return !(newer = true);
      const state = stateOf(dead);
      return state === 'running' ? true : state === 'gone' || state === 'crashed' ? false : undefined;
    }, deadline);
    return newer ? 'newer' : runs && 'runs';
  };

  /**
   * Resolves with what `test` says once it says true or false (undefined: not yet); false when
   * the host stops or `deadline` passes. Looked at on every state change and now and then.
   */
  const waitFor = (test: () => boolean | undefined, deadline: number) =>
    new Promise<boolean>((resolve) => {
      let subscription: { unsubscribe(): void } | null = null;
      let timer: NodeJS.Timeout | undefined;
      let poll: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(poll);
        subscription?.unsubscribe();
        resolve(ok);
      };
      const check = () => {
        if (stopping()) return finish(false);
        const answer = test();
        if (answer !== undefined) finish(answer);
      };
      timer = setTimeout(() => finish(false), Math.max(0, deadline - Date.now()));
      timer.unref();
      // Also looked at now and then: a reload in progress ends after the last state change it makes.
      poll = setInterval(check, BUSY_POLL_MS);
      poll.unref();
      subscription = manager.subscribe(check);
      check();
    });

  /** `deadline`: until when this change waits for the plugin to take it (BUSY_WAIT_MS from when it was seen). */
  const reload = async (index: number, deadline?: number): Promise<void> => {
    const folder = host.folders[index]!;
    const name = names[index]!;
    await ready;
    if (stopping()) return;
    const until = deadline ?? Date.now() + BUSY_WAIT_MS;
    // A change said to wait, then dropped by the shutdown, is said to be given up.
    const givenUp = () => note(`reload of ${name} given up: the host is stopping`);
    // Another reload in progress: its module is being imported, or it is being installed. Wait
    // for it rather than import this one alongside it and be refused.
    if (busy(name)) {
      if (deadline === undefined) note(`reload of ${name} waits: it cannot take one now (another reload, or a restart, in progress)`);
      await untilReloadable(name, until);
      if (stopping()) return givenUp();
    }
    if (stopping()) return;
    // At shutdown an import that hangs is not waited for: its result would be dropped anyway.
    importing.set(index, name);
    let next: PluginDefinition;
    try {
      next = await loadPluginFolder(folder, { ...folderReloadOptions(host, index), signal: closing.signal });
    } finally {
      importing.delete(index);
    }
    if (stopping()) return;
    const unchanged = () => {
      const now = stateOf(name);
      return now === 'running' ? 'the previous version keeps running' : `${name} stays ${now}`;
    };
    if (next.problems?.length || definitionName(next, index) !== name) {
      // Mid-edit or broken files: say what is wrong with them, not that the name changed.
      // Read before the manager has it: scrubbed here of the secrets it and the host bring.
      const problem = next.problems?.[0];
      if (problem) learn?.(next);
      const shownProblem = problem && redactor ? scrubError(problem, redactor(name)) : problem;
      const reason = formatError(
        shownProblem ??
          new PluginFactoryError(
            'MANIFEST_INVALID',
            `the manifest in ${shown(folder)} does not declare the name '${name}' (a plugin keeps its name while the host runs; restart the host to rename it)`,
            { plugin: name },
          ),
        verbose,
      );
      warn(`reload of ${name} failed: ${reason}; ${unchanged()}`);
      return;
    }
    // A retry (the plugin was busy, or a requirement out of service) says it is one: not a second change.
    note(deadline === undefined ? `reloading ${name} (${shown(folder)} changed)` : `reloading ${name} again, now that it can take the change`);
    learn?.(next);
    try {
      // A file change is no command to start: a plugin the operator stopped stays stopped.
      const snapshot = await manager.reloadPlugin(name, next, { keepStopped: true });
      note(`reloaded ${name}: ${snapshot.state}`);
    } catch (error) {
      if (stopping()) return;
      // Refused because the plugin was busy when this one was ready (a reload from elsewhere, or
      // a requirement's reload taking it down and back, as when a whole chain changes at once):
      // this change came later, so it goes in once the plugin takes it (imported afresh), not
      // dropped, however many times that takes within the wait.
      // (By the time the refusal is heard the plugin may take a reload again already.)
      if ((error as { code?: unknown } | null)?.code === 'INVALID_TRANSITION' && Date.now() < until && (busy(name) || manager.can(name, 'reload'))) {
        if (await untilReloadable(name, until)) return reload(index, until);
        if (stopping()) return givenUp();
      }
      const dead = error instanceof PluginFactoryError && error.code === 'DEPENDENCY_FAILED' ? error.plugins?.[0] : undefined;
      // A plugin out of service itself takes its new version even so: installed, it is blocked on
      // that requirement and comes back with it. Nothing to try again.
      const after = stateOf(name);
      if (dead !== undefined && after.startsWith('failed')) {
        note(`reloaded ${name}: ${after} until ${dead} runs`);
        return;
      }
      // Refused for a requirement out of service, as when a failed plugin's fix and an edit that
      // needs it are saved at once and this one came first: it goes in once that plugin runs.
      if (dead !== undefined && Date.now() < until && names.includes(dead)) {
        note(`reload of ${name} waits: it requires ${dead}, which is out of service; it goes in once ${dead} runs`);
        const outcome = await untilRunning(dead, index, until);
        if (outcome === 'runs') return reload(index, until);
        if (outcome === 'newer') return; // the next change of this plugin is reloaded instead
        if (stopping()) return givenUp();
      }
      const now = stateOf(name);
      const outcome = now === 'running' ? 'the previous version keeps running' : `${name} is now ${now}`;
      warn(`reload of ${name} failed: ${formatError(error, verbose)}; ${outcome}`);
    }
  };

  const closing = new AbortController();
  /** Plugins whose new module is being imported, by folder index. */
  const importing = new Map<number, string>();
  const abandoned: string[] = [];
  // One listener per import under way, removed as it ends: many plugins changing at once is no leak.
  setMaxListeners(0, closing.signal);
  // Nothing a reload meets may end it unheard: an error no step above caught is still said.
  const queue = serialize((index) =>
    reload(index).catch((error: unknown) => {
      if (!stopping()) warn(`reload of ${names[index]} failed: ${formatError(error, verbose)}`);
    }),
  );
  const watch = watchFolders(
    host.folders,
    (index) => queue.request(index),
    (folder, error) => warn(`cannot watch ${folder}: ${formatError(error, verbose)}; changes there are not reloaded`),
  );
  return {
    async close() {
      watch.close();
      for (const [index, name] of importing) {
        abandoned.push(shown(host.folders[index]!));
        note(`reload of ${name} given up: the host is stopping while its new module is still importing`);
      }
      closing.abort();
      await queue.idle();
    },
    abandoned: () => [...abandoned],
  };
}
