/**
 * Stray errors of a host's plugins (see process-guard.ts) as UNCAUGHT_ERRORs: each names the
 * plugin whose folder its stack names first (where it was thrown), and its text is scrubbed of
 * the host's secrets and of that plugin's short ones, as the engine scrubs its output.
 */
import { sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PluginFactoryError } from '../errors.ts';
import type { LoadedHost } from '../index.ts';
import { definitionName } from '../dashboard/host-reload.ts';
import { secretsOf } from '../inspection/redact.ts';
import { SecretSet, isHostWide, unionOf } from '../platform/secrets.ts';
import type { Redactor } from '../platform/secrets.ts';
import { strayError } from './process-guard.ts';
import type { StrayError } from './process-guard.ts';

/** The stack of `error`, or '' (a thrown value may be anything, with getters that throw). */
function stackOf(error: unknown): string {
  try {
    const stack = error instanceof Error ? error.stack : undefined;
    return typeof stack === 'string' ? stack : '';
  } catch {
    return '';
  }
}

/** The UNCAUGHT_ERROR of each stray error of `host`'s plugins; `fallback` names the plugin when the stack names none. */
export function strayErrors(host: LoadedHost): (stray: StrayError, fallback?: string) => PluginFactoryError {
  const names = host.definitions.map(definitionName);
  const folders = host.folders.map((folder) => [`${pathToFileURL(folder).href}/`, `${folder}${sep}`]);
  const hostWide = new SecretSet(secretsOf(host.definitions).filter(isHostWide));
  const redactorOf = (index: number): Redactor =>
    index < 0 ? hostWide : unionOf([hostWide, new SecretSet(secretsOf([host.definitions[index]!]))]);
  return (stray, fallback) => {
    const stack = stackOf(stray.error);
    let index = -1;
    let at = Infinity;
    folders.forEach((forms, i) => {
      for (const form of forms) {
        const found = stack.indexOf(form);
        if (found >= 0 && found < at) [index, at] = [i, found];
      }
    });
    if (index < 0 && fallback !== undefined) index = names.indexOf(fallback);
    const redactor = redactorOf(index);
    return strayError(stray, index >= 0 ? names[index] : undefined, (text) => redactor.text(text));
  };
}
