/**
 * Event names and patterns. A name is dotted lower-case segments (`db.ready`). In a pattern a
 * `*` segment matches exactly one segment and a trailing `**` segment matches one or more
 * (`db.**` matches `db.ready` and `db.pool.drained`, not `db`); `**` alone matches everything.
 */
import { HOST_NAMESPACE } from '../manifest.ts';
import { NAME_SEGMENT } from './_utils.ts';

/** Segments of a valid pattern, or null. */
export function parseEventPattern(pattern: unknown): string[] | null {
  if (typeof pattern !== 'string' || pattern.length > 256) return null;
  const segments = pattern.split('.');
  const ok = segments.every(
    (s, i) => NAME_SEGMENT.test(s) || s === '*' || (s === '**' && i === segments.length - 1),
  );
  return ok ? segments : null;
}

/** Whether `pattern` is a valid event name or pattern (for checking manifests up front). */
export function isEventPattern(pattern: unknown): boolean {
  return parseEventPattern(pattern) !== null;
}

/** Whether the event name `type` matches `pattern` (both as segments). @internal */
export function matches(pattern: readonly string[], type: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '**') return type.length > i;
    if (i >= type.length || (p !== '*' && p !== type[i])) return false;
  }
  return type.length === pattern.length;
}

/** Whether every name `requested` can match is matched by `declared`. @internal */
export function covers(declared: readonly string[], requested: readonly string[]): boolean {
  for (let i = 0; i < declared.length; i++) {
    const d = declared[i];
    if (d === '**') return requested.length > i;
    const r = requested[i];
    if (r === undefined || r === '**' || (d !== '*' && d !== r)) return false;
  }
  return requested.length === declared.length;
}

/** `matchesEventPattern('plugin.*.running', 'plugin.db.running') === true`. */
export function matchesEventPattern(pattern: string, type: string): boolean {
  const p = parseEventPattern(pattern);
  return p !== null && matches(p, type.split('.'));
}

/** The name the host publishes when a plugin enters a state: `plugin.<name>.<top-level state>`. */
export function lifecycleEventType(plugin: string, state: string): string {
  return `${HOST_NAMESPACE}.${plugin}.${state.split('.')[0] ?? state}`;
}
