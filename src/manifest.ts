/**
 * The plugin manifest (`plugin.json` / `plugin.yaml`, or the `manifest` of an in-memory
 * definition): a strict zod schema, so a typo is an error rather than silently ignored.
 */
import semver from 'semver';
import { z } from 'zod';
import { matchesType } from './config.ts';

/** One segment of a dotted event or hook name (`db`, `pool-2`, `user_created`). */
export const NAME_SEGMENT = /^[a-z0-9][a-z0-9_-]*$/;

/** Lower-case letters, digits and dashes, starting with a letter. */
export const PLUGIN_NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

/** What a bad plugin name is told. */
export const PLUGIN_NAME_RULE = 'must be lower-case letters, digits and dashes, starting with a letter';

const pluginName = z
  .string()
  .regex(PLUGIN_NAME_PATTERN, PLUGIN_NAME_RULE)
  .max(214, 'must be at most 214 characters (as an npm package name)');

/**
 * A semver version written as one: node-semver also takes `v1.2.0`, `=1.2.0` and spaces around,
 * which would then be shown and compared as written.
 */
const semverVersion = z
  .string()
  .refine((value) => semver.valid(value) !== null && /^\d/.test(value) && value === value.trim(), 'must be a semver version such as 1.2.0 (no leading v, no spaces)');

const ranges = new Map<string, semver.Range | null>();

/**
 * A dependency range, parsed once (null when it is not a range): a host repeats a few ranges over
 * many plugins, and parsing one costs more than the rest of a manifest's check. Prereleases match.
 */
export function dependencyRange(range: string): semver.Range | null {
  let parsed = ranges.get(range);
  if (parsed === undefined) {
    try {
      parsed = new semver.Range(range, { includePrerelease: true });
    } catch {
      parsed = null;
    }
    if (ranges.size >= 1000) ranges.clear();
    ranges.set(range, parsed);
  }
  return parsed;
}

/** Whether `version` is in the dependency range `range` (prereleases included). */
export function satisfiesDependency(version: string, range: string): boolean {
  return dependencyRange(range)?.test(version) ?? false;
}

const semverRange = z
  .string()
  .refine((value) => dependencyRange(value) !== null, 'must be a semver range such as ^1.0.0');

export const CONFIG_FIELD_TYPES = ['string', 'integer', 'number', 'boolean', 'object', 'array'] as const;

/** One field of a plugin's configuration. */
export const ConfigFieldSpec = z.strictObject({
  type: z.enum(CONFIG_FIELD_TYPES),
  required: z.boolean().optional(),
  default: z.unknown().optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  enum: z.array(z.unknown()).min(1).optional(),
  /** Secret values never appear in a snapshot, log line, inspection event or error message. */
  secret: z.boolean().optional(),
  description: z.string().optional(),
})
  // A spec no value could pass is the manifest's mistake, reported where it is made (never
  // quoting the values: they may be secret).
  .superRefine((spec, ctx) => {
    if (spec.min !== undefined && spec.max !== undefined && spec.min > spec.max) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: `is above max; no value could pass` });
    }
    // Values are compared with Object.is: an object or an array could never be matched.
    const composite = spec.enum?.findIndex((value) => typeof value === 'object' && value !== null) ?? -1;
    if (composite >= 0) {
      ctx.addIssue({ code: 'custom', path: ['enum', composite], message: 'must be a string, a number, a boolean or null (an object or array value could never match)' });
      return;
    }
    const wrong = spec.enum?.findIndex((value) => !matchesType(value, spec.type)) ?? -1;
    if (wrong >= 0) ctx.addIssue({ code: 'custom', path: ['enum', wrong], message: `is not of type ${spec.type}` });
  });
export type ConfigFieldSpec = z.infer<typeof ConfigFieldSpec>;

/** The longest delay a Node timer can hold (longer ones fire at once). */
export const MAX_TIMER_MS = 2_147_483_647;

export const RetrySpec = z.strictObject({
  retries: z.number().min(0).max(1000).int().optional(),
  backoffMs: z.number().min(0).max(MAX_TIMER_MS).optional(),
  factor: z.number().min(1).max(1000).optional(),
  maxBackoffMs: z.number().min(0).max(MAX_TIMER_MS).optional(),
});

/** The longest streak of unhealthy checks a host or a manifest may ask for. */
export const MAX_UNHEALTHY_THRESHOLD = 1000;

/** Health checks of a plugin with a `health` hook (host defaults apply to what is left out). */
export const HealthSpec = z.strictObject({
  intervalMs: z.number().positive().max(MAX_TIMER_MS).int().optional(),
  timeoutMs: z.number().positive().max(MAX_TIMER_MS).int().optional(),
  /** How many unhealthy checks in a row count as a streak. */
  unhealthyThreshold: z.number().min(1).max(MAX_UNHEALTHY_THRESHOLD).int().optional(),
  /** Restart the plugin (and its dependents) after such a streak. @default false */
  restart: z.boolean().optional(),
});

/** A host's health-check defaults (createPluginManager's `health`, a host file's): a manifest's block but `restart`, the plugin's own call. */
export const HealthDefaultsSpec = HealthSpec.omit({ restart: true });

const segment = NAME_SEGMENT.source.replace(/^\^|\$$/g, '');
const EVENT_PATTERN = `(?:(?:${segment}|\\*)(?:\\.(?:${segment}|\\*))*(?:\\.\\*\\*)?|\\*\\*)`;
const EVENT_PATTERN_RULE = 'must be a dotted lower-case event name; `*` matches one segment, a trailing `**` one or more';
/** An event name or pattern, as `ctx.events` reads them (`db.ready`, `plugin.*.running`, `db.**`). */
const eventPattern = z.string().max(256).regex(new RegExp(`^${EVENT_PATTERN}$`), EVENT_PATTERN_RULE);

/** The first segment of the host's own events (a plugin's state changes); no plugin may publish under it. */
export const HOST_NAMESPACE = 'plugin';

/**
 * What a plugin may declare it publishes: any event pattern but the host's own, which a plugin
 * could otherwise forge. One pattern, so that the JSON schema says it in one keyword.
 */
const publishedPattern = z
  .string()
  .max(256)
  .regex(
    new RegExp(`^(?!${HOST_NAMESPACE}(?:\\.|$))${EVENT_PATTERN}$`),
    `${EVENT_PATTERN_RULE}, and not one of the host's own '${HOST_NAMESPACE}.…' events (a plugin's state changes)`,
  );

/** The manifest schema. `z.input<typeof Manifest>` is what a plugin author writes. */
export const Manifest = z.strictObject({
  $schema: z.string().optional(),
  name: pluginName,
  version: semverVersion,
  description: z.string().optional(),
  /** Entry module, relative to the plugin folder (plugins on disk). */
  main: z.string().min(1).optional(),
  dependencies: z.record(pluginName, semverRange).optional(),
  optionalDependencies: z.record(pluginName, semverRange).optional(),
  /** Range of engine versions the plugin works with. */
  engine: semverRange.optional(),
  hookTimeoutMs: z.number().positive().max(MAX_TIMER_MS).int().optional(),
  retry: RetrySpec.optional(),
  config: z.record(z.string().min(1), ConfigFieldSpec).optional(),
  events: z
    .strictObject({
      publishes: z.array(publishedPattern).optional(),
      subscribes: z.array(eventPattern).optional(),
    })
    .optional(),
  permissions: z.array(z.string().min(1)).optional(),
  health: HealthSpec.optional(),
});
export type Manifest = z.infer<typeof Manifest>;
export type ManifestInput = z.input<typeof Manifest>;
