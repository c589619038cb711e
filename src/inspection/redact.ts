/**
 * Redaction for what leaves the host through the dashboard or the inspector: every secret value
 * found in a string becomes `[redacted]`. The engine already keeps config out of snapshots and
 * scrubs hook errors; this is the second line, for text a plugin produced itself.
 */
import { givenSecretValues } from '../config.ts';
import { PluginFactoryError } from '../errors.ts';
import type { ConfigSpecs } from '../config.ts';
import type { PluginDefinition } from '../definition.ts';
import { REDACTED, SecretSet, isHostWide } from '../platform/secrets.ts';

export { REDACTED };

export type Redact = (text: string) => string;

/** A `Redact` that can learn more secrets, e.g. those of a plugin reloaded with new config. */
export interface Redactor extends Redact {
  /** Adds secrets to replace from now on (empty and non-string values are ignored). */
  add(secrets: readonly string[]): void;
}

/** Whether `value` is a list of secrets as the `redact` options and `addSecrets` take them. */
export const isStringArray = (value: unknown): value is string[] => {
  try {
    return Array.isArray(value) && value.every((v) => typeof v === 'string');
  } catch {
    return false; // a revoked Proxy, a getter that throws: no list of secrets
  }
};

/**
 * A function replacing each of `secrets` in a text, in one pass however many there are (where two
 * start at one place, the longer goes whole); the identity while there are none. Secrets shorter
 * than `HOST_WIDE_MIN_LENGTH` characters (a PIN, a port) are left to the engine, which scrubs
 * them from their own plugin's errors, health messages and log lines: here they would blank every
 * occurrence of, say, `5` in every plugin's text.
 */
export function createRedactor(secrets: readonly string[] = []): Redactor {
  const set = new SecretSet();
  const redact = ((text: string) => set.text(text)) as Redactor;
  redact.add = (more) => set.add(more.filter((secret) => typeof secret === 'string' && isHostWide(secret) && !set.has(secret)));
  redact.add(secrets);
  return redact;
}

/**
 * The secret config values of plugin definitions (fields with `secret: true`, given or
 * defaulted), for the `redact` option of `serveDashboard` and the inspector.
 *
 * @example
 * ```ts
 * const host = await loadHost('plugins/host.yaml');
 * await serveDashboard(manager, { redact: secretsOf(host.definitions) });
 * ```
 */
export function secretsOf(definitions: readonly PluginDefinition[]): string[] {
  const out = new Set<string>();
  try {
    if (!Array.isArray(definitions)) throw new TypeError('not an array');
    for (const definition of definitions) {
      const specs = (definition.manifest as { config?: unknown } | undefined)?.config;
      if (specs === null || typeof specs !== 'object') continue;
      for (const secret of givenSecretValues(specs as ConfigSpecs, definition.config)) out.add(secret);
    }
  } catch (error) {
    if (error instanceof PluginFactoryError) throw error;
    throw new PluginFactoryError('ARGUMENT_INVALID', 'secretsOf: give the list of plugin definitions (loadHost(…).definitions); it could not be read as one');
  }
  return [...out];
}
