/**
 * The host file (json or yaml): host-wide settings and the list of plugins, with paths relative
 * to the file.
 */
import { z } from 'zod';
import { MAX_TIMER_MS, RetrySpec } from '../manifest.ts';

const PluginEntry = z.union([
  z.string().min(1),
  z.strictObject({
    path: z.string().min(1).optional(),
    /** An npm package whose package.json has a `pluginFactory` field naming its manifest. */
    package: z.string().min(1).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    enabled: z.boolean().optional(),
  }),
]);

/** The host's health-check defaults (a manifest's `health` block overrides them per plugin). */
const HostHealth = z.strictObject({
  intervalMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
  timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
  unhealthyThreshold: z.number().int().min(1).max(1000).optional(),
});

export const HostFile = z.strictObject({
  $schema: z.string().optional(),
  hookTimeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
  failurePolicy: z.enum(['isolate', 'abort']).optional(),
  retry: RetrySpec.optional(),
  /** Where `ctx.store` keeps each plugin's values, relative to the host file; in memory without it. */
  dataDir: z
    .string()
    .min(1)
    .refine((path) => !path.includes('\0'), 'must not hold a NUL character')
    .optional(),
  health: HostHealth.optional(),
  plugins: z.array(PluginEntry),
});
export type HostFile = z.infer<typeof HostFile>;
export type HostPluginEntry = z.infer<typeof PluginEntry>;
