import type { ErrorCode } from '../../src/index.ts';

/** The error codes a plugin on disk can produce (the rest come from runtime commands). */
export const DISK_CODES = [
  'MANIFEST_NOT_FOUND',
  'MANIFEST_INVALID',
  'ENTRY_NOT_FOUND',
  'ENTRY_OUTSIDE_PLUGIN',
  'MODULE_LOAD_FAILED',
  'CONTRACT_INVALID',
  'CONFIG_INVALID',
  'DUPLICATE_PLUGIN',
  'MISSING_DEPENDENCY',
  'DEPENDENCY_VERSION_MISMATCH',
  'DEPENDENCY_CYCLE',
  'DEPENDENCY_FAILED',
  'ENGINE_VERSION_MISMATCH',
  'HOOK_FAILED',
  'HOOK_TIMEOUT',
] as const satisfies readonly ErrorCode[];
