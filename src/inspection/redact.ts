/**
 * Redaction for what leaves the host through the dashboard or the inspector: every secret value
 * found in a string becomes `[redacted]`. The engine already keeps config out of snapshots and
 * scrubs hook errors; this is the second line, for text a plugin produced itself.
 */
import { secretValues } from '../config.ts';
import type { ConfigSpecs } from '../config.ts';
import type { PluginDefinition } from '../definition.ts';

export type Redact = (text: string) => string;

export const REDACTED = '[redacted]';

/** A function replacing each of `secrets` (longest first) in a text; the identity when there are none. */
export function createRedactor(secrets: readonly string[] = []): Redact {
  const list = [...new Set(secrets.filter((secret) => typeof secret === 'string' && secret !== ''))].sort(
    (a, b) => b.length - a.length,
  );
  if (list.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const secret of list) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  };
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
  for (const definition of definitions) {
    const specs = (definition.manifest as { config?: unknown } | undefined)?.config;
    if (specs === null || typeof specs !== 'object') continue;
    const values: Record<string, unknown> = {};
    for (const [key, spec] of Object.entries(specs as Record<string, { default?: unknown }>)) {
      if (spec && typeof spec === 'object' && spec.default !== undefined) values[key] = spec.default;
    }
    const given = definition.config;
    if (given && typeof given === 'object') Object.assign(values, given);
    for (const secret of secretValues(specs as ConfigSpecs, values)) out.add(secret);
  }
  return [...out];
}
