/**
 * What a plugin's `health(ctx)` hook may return, and the one shape it is read into.
 *
 * Accepted: nothing (`undefined`) or `true` (healthy), `false` (unhealthy), a status string
 * (`'healthy' | 'degraded' | 'unhealthy'`), or an object
 * `{ status?, components?: { [name]: status | { status, message? } }, message? }` where `status`
 * may be left out when there are components (the worst of them is taken; healthy when the list is
 * empty). Other keys are ignored.
 * Anything else is not a health result.
 */
import type { ErrorInfo } from '../errors.ts';
import { setOwn } from '../json-data.ts';
import { cutText } from '../printable.ts';

/** Health statuses, best first. */
export const HEALTH_STATUSES = ['healthy', 'degraded', 'unhealthy'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/** The health of one part of a plugin (a connection, a queue …). */
export interface ComponentHealth {
  status: HealthStatus;
  message?: string;
}

/** A health result in its one normal shape. */
export interface HealthResult {
  status: HealthStatus;
  components?: Record<string, ComponentHealth>;
  message?: string;
}

/** One check, as the poller reports it. Plain JSON. */
export interface HealthReport extends HealthResult {
  /** Why the check itself counts as unhealthy: `HOOK_FAILED`, `HOOK_TIMEOUT` or `HEALTH_INVALID` (hook `health`). */
  error?: ErrorInfo;
  /** When the check settled (the poller's clock, ms). */
  checkedAt: number;
  durationMs: number;
}

/** Health messages are cut at this many characters. */
export const MAX_MESSAGE = 1000;
/** Component names are cut at this many characters (a name is a label, not a report). */
const MAX_NAME = 200;
const MAX_COMPONENTS = 100;

function isStatus(value: unknown): value is HealthStatus {
  return typeof value === 'string' && (HEALTH_STATUSES as readonly string[]).includes(value);
}

/** The worse of two statuses. */
export function worstStatus(a: HealthStatus, b: HealthStatus): HealthStatus {
  return HEALTH_STATUSES.indexOf(a) >= HEALTH_STATUSES.indexOf(b) ? a : b;
}

function component(value: unknown, redact: (text: string) => string): ComponentHealth | null {
  if (isStatus(value)) return { status: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { status, message } = value as { status?: unknown; message?: unknown };
  if (!isStatus(status) || (message !== undefined && typeof message !== 'string')) return null;
  return message === undefined ? { status } : { status, message: cutText(redact(message), MAX_MESSAGE) };
}

/**
 * A plain object: what `components` must be. Its own entries are the components, so a Map (whose
 * entries are not) or another object with a prototype of its own would read as none, all healthy.
 */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Reads what a health hook returned; `null` when it is not a health result. `redact` runs before messages are cut to length. */
export function normalizeHealth(value: unknown, redact: (text: string) => string = (text) => text): HealthResult | null {
  if (value === undefined || value === true) return { status: 'healthy' };
  if (value === false) return { status: 'unhealthy' };
  if (isStatus(value)) return { status: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const given = value as { status?: unknown; components?: unknown; message?: unknown };
  if (given.message !== undefined && typeof given.message !== 'string') return null;
  if (given.status !== undefined && !isStatus(given.status)) return null;

  let components: Record<string, ComponentHealth> | undefined;
  let worst: HealthStatus | undefined;
  let left = 0;
  if (given.components !== undefined) {
    if (!isPlainRecord(given.components)) return null;
    // A component's name is the plugin's text as much as its message is: scrubbed too, before it
    // is cut (a secret cut in half would no longer be found). Names that scrubbing or cutting
    // made one are one component, showing the worst of them.
    const byName = new Map<string, ComponentHealth>();
    for (const [name, raw] of Object.entries(given.components)) {
      const health = component(raw, redact);
      if (health === null) return null;
      const shown = cutText(redact(name), MAX_NAME);
      const before = byName.get(shown);
      if (before === undefined || severity(health.status) > severity(before.status)) byName.set(shown, health);
      worst = worst === undefined ? health.status : worstStatus(worst, health.status);
    }
    // The status counts every component; the report keeps the worst MAX_COMPONENTS of them.
    const entries = [...byName];
    const kept = entries.length <= MAX_COMPONENTS ? entries : [...entries].sort(([, a], [, b]) => severity(b.status) - severity(a.status)).slice(0, MAX_COMPONENTS);
    left = entries.length - kept.length;
    components = {};
    for (const [name, health] of kept) setOwn(components, name, health);
  }
  // No component listed (a pool with no connections right now): none is unwell. An object with
  // neither status nor components is no result (a misspelt `status`).
  const status = given.status ?? worst ?? (components !== undefined ? 'healthy' : undefined);
  if (status === undefined) return null;
  const result: HealthResult = { status };
  if (components !== undefined) result.components = components;
  const more = left > 0 ? `${left} more component${left === 1 ? '' : 's'} not shown (the worst ${MAX_COMPONENTS} are)` : '';
  if (given.message !== undefined || more) {
    // The note about components left out fits in the limit too.
    const room = more ? MAX_MESSAGE - more.length - 2 : MAX_MESSAGE;
    const own = given.message === undefined ? '' : cutText(redact(given.message), room);
    result.message = own && more ? `${own}; ${more}` : own || more;
  }
  return result;
}

const severity = (status: HealthStatus) => HEALTH_STATUSES.indexOf(status);

/** Same status and same component statuses (messages may change without it being news). */
export function sameHealth(a: HealthResult | undefined, b: HealthResult | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.status !== b.status) return false;
  const ka = Object.keys(a.components ?? {});
  const kb = Object.keys(b.components ?? {});
  return ka.length === kb.length && ka.every((k) => a.components?.[k]?.status === b.components?.[k]?.status);
}
