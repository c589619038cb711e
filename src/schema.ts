/**
 * The JSON Schema of a plugin manifest, generated from the zod `Manifest` schema with zod 4's
 * `z.toJSONSchema`, for editors and other tools (`"$schema": "…/schema/plugin.schema.json"` in a
 * plugin.json). `npm run schema` rewrites schema/plugin.schema.json; tests/src/schema.test.ts
 * fails when the committed file is out of date.
 *
 * Some rules of the zod schema have no JSON Schema form (zod drops `.refine` checks): the semver
 * checks of `version`, dependency ranges and `engine`, and the engine's own rule that `main` stays
 * inside the plugin folder. The generated schema says so in its descriptions; the engine still
 * enforces them (MANIFEST_INVALID, ENTRY_OUTSIDE_PLUGIN).
 */
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { POISONED_KEYS } from './config.ts';
import { Manifest } from './manifest.ts';
import { HOST_SOURCE } from './platform/events.ts';

/** A JSON Schema document, as plain JSON. */
export type JsonSchema = { [key: string]: unknown };

/** Where `npm run schema` writes the schema, relative to the repository root. */
export const SCHEMA_PATH = 'schema/plugin.schema.json';

const TITLE = 'Plugin Factory plugin manifest';

const DESCRIPTION =
  'The manifest of a Plugin Factory plugin (plugin.json, plugin.yaml or plugin.yml). Generated from the zod schema ' +
  '`Manifest` in src/manifest.ts by `npm run schema`; do not edit by hand. Unknown top-level keys are ' +
  'errors. Not expressible here, and checked by the engine only: `version` must be a semver version, ' +
  '`engine` and the values of `dependencies` and `optionalDependencies` must be semver ranges, `main` ' +
  'must resolve inside the plugin folder (also after following symlinks), and in a config field `min` may ' +
  'not be above `max` and each `enum` value must be a string, number, boolean or null of the field\'s `type`.';

/** Descriptions of the top-level properties (zod's own `.describe()` metadata is not used there). */
const PROPERTY_DESCRIPTIONS: Record<string, string> = {
  $schema: 'Path or URL of this JSON Schema, for editors; ignored by the engine.',
  name: 'Plugin name: lower-case letters, digits and dashes, starting with a letter. Unique in a host.',
  version: 'Plugin version: a semver version such as 1.2.0 (semver is checked by the engine, not by this schema).',
  description: 'One line saying what the plugin does.',
  main: 'Entry module, relative to the plugin folder (.mjs, .js or .ts). Default: index.mjs, index.js or index.ts. Must stay inside the folder (checked by the engine).',
  dependencies: 'Required plugins: name → semver range (ranges are checked by the engine). They run before this plugin starts and stop after it.',
  optionalDependencies: 'Optional plugins: name → semver range. Ordered like dependencies when present, ignored when absent.',
  engine: 'Semver range of engine versions this plugin works with (checked by the engine).',
  hookTimeoutMs: 'Time limit of each hook in milliseconds. Default: the host hookTimeoutMs (5000).',
  retry: 'Retry policy of a failed init or start hook. Defaults: retries 0, backoffMs 100, factor 2, maxBackoffMs 5000.',
  config: 'Config field specs: field name → { type, required, default, min, max, enum, secret, description }. min/max bound a number\'s value or a string\'s or array\'s length.',
  events: 'Event names (or patterns: `*` one segment, a trailing `**` one or more) the plugin may publish and subscribe to through ctx.events; anything else is refused with PERMISSION_DENIED. Names under `plugin` are the host\'s own (a plugin\'s state changes): no plugin may publish them.',
  health: 'Health checks of a plugin with a health hook: intervalMs, timeoutMs, unhealthyThreshold (checks in a row), restart (restart the plugin after such a streak). Defaults: the host\'s (10000, 5000, 3, false).',
  permissions: 'Capabilities the plugin declares it uses.',
};

/** The manifest's JSON Schema (draft 2020-12), as a fresh plain object. */
export function manifestJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(Manifest, {
    target: 'draft-2020-12',
    // What an author writes: optional keys stay optional.
    io: 'input',
    // Every manifest type has a JSON Schema form; anything new that has none should fail loudly.
    unrepresentable: 'throw',
  }) as JsonSchema;
  const { $schema, ...rest } = generated;
  const properties = rest['properties'] as Record<string, JsonSchema>;
  // Rules the engine adds to the zod schema's, which JSON Schema can say: the host's own name is
  // not a plugin's, and a config field is not named after what JavaScript objects reserve.
  properties['name'] = { ...properties['name'], not: { const: HOST_SOURCE } };
  const config = properties['config']!;
  config['propertyNames'] = { ...(config['propertyNames'] as JsonSchema), not: { enum: [...POISONED_KEYS] } };
  const described = Object.fromEntries(
    Object.entries(properties).map(([key, schema]) => {
      const description = PROPERTY_DESCRIPTIONS[key];
      return [key, description === undefined ? schema : { description, ...schema }];
    }),
  );
  return { $schema, title: TITLE, description: DESCRIPTION, ...rest, properties: described };
}

/** The text of schema/plugin.schema.json: pretty-printed, with a trailing newline. */
export function manifestJsonSchemaText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = new URL(`../${SCHEMA_PATH}`, import.meta.url);
  await writeFile(file, manifestJsonSchemaText());
  process.stdout.write(`${SCHEMA_PATH}: written\n`);
}
