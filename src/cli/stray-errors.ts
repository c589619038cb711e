/**
 * Stray errors of a host's plugins (see process-guard.ts) as UNCAUGHT_ERRORs: each names the
 * plugin whose folder the stack's frames name first (where it was thrown), and its text is
 * scrubbed of the host's secrets and of that plugin's short ones, as the engine scrubs its
 * output; secrets a reloaded version brings are added with `learn`.
 */
import { realpathSync } from 'node:fs';
import { sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PluginFactoryError } from '../errors.ts';
import type { LoadedHost, ManagerSnapshot, PluginDefinition } from '../index.ts';
import { definitionName } from '../dashboard/host-reload.ts';
import { secretsOf } from '../inspection/redact.ts';
import { SecretSet, isHostWide, unionOf } from '../platform/secrets.ts';
import type { Redactor } from '../platform/secrets.ts';
import { strayError } from './process-guard.ts';
import type { StrayError } from './process-guard.ts';

/** The frames of `error`'s stack (its message left out), or '' (a thrown value may be anything, with getters that throw). */
function framesOf(error: unknown): string {
  try {
    const stack = error instanceof Error ? error.stack : undefined;
    if (typeof stack !== 'string') return '';
    const first = stack.indexOf('\n    at ');
    return first < 0 ? '' : stack.slice(first);
  } catch {
    return '';
  }
}

/** How a folder may appear in a stack: as given and as its real path (modules load from that), path and URL. */
function forms(folder: string): string[] {
  let real = folder;
  try {
    real = realpathSync(folder);
  } catch {
    // gone meanwhile: as given
  }
  return [...new Set([folder, real])].flatMap((path) => [`${pathToFileURL(path).href}/`, `${path}${sep}`]);
}

export interface StrayErrors {
  /**
   * The UNCAUGHT_ERROR of a stray error: `known` names its plugin when that is known otherwise
   * (the test kit's async context); else the stack's frames do, or `fallback`.
   */
  coded(stray: StrayError, fallback?: string, known?: string): PluginFactoryError;
  /** Scrubs the secrets of a new version of a plugin too from now on. */
  learn(definition: PluginDefinition): void;
  /** What scrubs a text about `name` (every plugin's longer secrets, and its own short ones). */
  redactor(name?: string): Redactor;
}

export function strayErrors(host: LoadedHost): StrayErrors {
  const names = host.definitions.map(definitionName);
  const folders = host.folders.map(forms);
  const hostWide = new SecretSet(secretsOf(host.definitions).filter(isHostWide));
  // Per plugin, every secret its versions brought (a short one is scrubbed from its own text only).
  const own = host.definitions.map((definition) => new SecretSet(secretsOf([definition])));
  /** The index of the plugin whose folder the error's stack names first (where it was thrown), or -1. */
  const thrownFrom = (error: unknown): number => {
    const frames = framesOf(error);
    let index = -1;
    let at = Infinity;
    folders.forEach((candidates, i) => {
      for (const form of candidates) {
        const found = frames.indexOf(form);
        if (found >= 0 && found < at) [index, at] = [i, found];
      }
    });
    return index;
  };
  const redactorAt = (index: number): Redactor => (index < 0 ? hostWide : unionOf([hostWide, own[index]!]));
  return {
    coded(stray, fallback, known) {
      let index = known === undefined ? thrownFrom(stray.error) : names.indexOf(known);
      if (index < 0 && fallback !== undefined && known === undefined) index = names.indexOf(fallback);
      const redactor = redactorAt(index);
      return strayError(stray, index >= 0 ? names[index] : undefined, (text) => redactor.text(text));
    },
    redactor: (name) => redactorAt(name === undefined ? -1 : names.indexOf(name)),
    learn(definition) {
      const secrets = secretsOf([definition]);
      hostWide.add(secrets.filter(isHostWide));
      const index = names.indexOf(definitionName(definition, -1));
      if (index >= 0) own[index]!.add(secrets);
    },
  };
}

export interface StrayVerdict {
  /** The snapshot with every plugin that threw outside a hook at import made invalid. */
  snapshot: ManagerSnapshot;
  /** The UNCAUGHT_ERRORs of each such plugin, by name. */
  errorsOf: Map<string, PluginFactoryError[]>;
  /** Those no plugin of the host threw. */
  unowned: PluginFactoryError[];
}

/**
 * What stray errors told while a host was checked mean for it: a plugin whose code threw or
 * rejected outside any hook while imported is invalid (`run` would report it too), and what
 * no plugin threw is a problem of the host. `validate` and `graph` say the same.
 */
export function strayVerdict(host: LoadedHost, snapshot: ManagerSnapshot, strays: readonly StrayError[]): StrayVerdict {
  const { coded } = strayErrors(host);
  const errorsOf = new Map<string, PluginFactoryError[]>();
  const unowned: PluginFactoryError[] = [];
  for (const stray of strays) {
    const error = coded(stray);
    const plugin = error.plugin === undefined ? undefined : snapshot.plugins.find((candidate) => candidate.name === error.plugin);
    if (plugin) errorsOf.set(plugin.name, [...(errorsOf.get(plugin.name) ?? []), error]);
    else unowned.push(error);
  }
  const plugins = snapshot.plugins.map((plugin) => (errorsOf.has(plugin.name) ? { ...plugin, state: 'invalid' } : plugin));
  return { snapshot: { ...snapshot, plugins }, errorsOf, unowned };
}

/** The host the command loaded, if any: what its plugins throw after the command looked is named and scrubbed by it. */
let loadedHost: LoadedHost | null = null;

/** Remembers the host a command loaded (`checkHost` does, for `validate`, `graph` and `test`). */
export function rememberHost(host: LoadedHost): void {
  loadedHost = host;
}

/**
 * A stray error told where the command did not look, or after it answered: named after
 * the plugin its stack shows and scrubbed of secrets, as the commands do, once a host is loaded.
 */
export function lateStrayError(stray: StrayError): PluginFactoryError {
  return loadedHost ? strayErrors(loadedHost).coded(stray) : strayError(stray);
}
