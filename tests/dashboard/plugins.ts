/**
 * The in-memory host of the dashboard and inspector tests: a chain config ← db ← cache, a secret
 * config value on db, and 'leaky', whose start throws its own secret (it ends failed).
 */
import type { PluginDefinition } from '../../src/index.ts';

/** A config value declared secret; it must never leave the host. */
export const SECRET = 'hunter2-0f3b9c';

const hooks = () => ({ init() {}, start() {}, stop() {} });

export function definitions(): PluginDefinition[] {
  return [
    { manifest: { name: 'config', version: '1.0.0' }, module: hooks() },
    {
      manifest: { name: 'db', version: '1.2.0', dependencies: { config: '^1.0.0' }, config: { url: { type: 'string', required: true, secret: true } } },
      module: hooks(),
      config: { url: `postgres://app:${SECRET}@db` },
    },
    { manifest: { name: 'cache', version: '1.0.0', dependencies: { db: '^1.0.0' } }, module: hooks() },
    {
      manifest: { name: 'leaky', version: '0.1.0', config: { token: { type: 'string', required: true, secret: true } } },
      module: {
        init() {},
        start(ctx: { config: Record<string, unknown> }) {
          throw new Error(`cannot log in with ${String(ctx.config['token'])}`);
        },
        stop() {},
      },
      config: { token: SECRET },
    },
  ];
}


/** The top-level state of a dotted path: tests compare these, substates are the chart's business. */
export const top = (state: string | null | undefined): string => (state ?? '').split('.')[0]!;
