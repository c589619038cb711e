/**
 * The host file (json or yaml): host-wide settings and the list of plugins, with paths relative
 * to the file.
 */
import { z } from 'zod';
import { HealthDefaultsSpec, MAX_TIMER_MS, RetrySpec } from '../manifest.ts';

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

export const HostFile = z.strictObject({
  $schema: z.string().optional(),
  hookTimeoutMs: z.number().positive().max(MAX_TIMER_MS).int().optional(),
  failurePolicy: z.enum(['isolate', 'abort']).optional(),
  retry: RetrySpec.optional(),
  /** Where `ctx.store` keeps each plugin's values, relative to the host file; in memory without it. */
  dataDir: z
    .string()
    .refine((path) => path.trim() !== '' && !path.includes('\0'), 'must be a folder path (not blank, no NUL character)')
    .optional(),
  health: HealthDefaultsSpec.optional(),
  plugins: z.array(PluginEntry),
});
export type HostFile = z.infer<typeof HostFile>;
export type HostPluginEntry = z.infer<typeof PluginEntry>;
