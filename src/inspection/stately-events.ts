/**
 * XState inspection events in `@statelyai/inspect`'s wire format (`StatelyInspectionEvent`: the
 * `@xstate.actor`, `@xstate.event` and `@xstate.snapshot` frames its inspector UI reads), built
 * field by field from safe data: actor names, state values, event types with their primitive
 * fields, the chart's definition, and of a context only the lifecycle fields a reader needs
 * (never a config, so no secret). The manager's context, which holds the whole plugin registry,
 * becomes a count. Converting this way, rather than with the package's own converter, avoids
 * serialising the manager's registry on every manager step.
 */
import type { AnyActorLogic, InspectionEvent } from 'xstate';
import { setOwn } from '../json-data.ts';
import { cutText } from '../printable.ts';
import { ownName } from './record.ts';
import type { ActorFields } from './record.ts';
import type { Redact } from './redact.ts';
import type { FrameInfo } from './replay.ts';

/** The `@statelyai/inspect` release whose event format this follows. */
export const STATELY_FORMAT_VERSION = '0.7.2';

/** Lifecycle context fields shown in the inspector; anything else is dropped. */
const CONTEXT_FIELDS = ['name', 'key', 'attempts', 'hook', 'error', 'errors', 'waitingFor', 'resumeTo', 'timings'] as const;

/**
 * Longest string and list sent: a plugin's error can carry any text, and a frame the relay
 * cannot keep leaves a late viewer with a stale state.
 */
interface Cuts {
  text: number;
  items: number;
}
const CUTS: Cuts = { text: 4096, items: 100 };
/**
 * A frame larger than this (UTF-8 bytes) is made again with TIGHT_CUTS: a hundred errors of
 * 4,096 characters each would pass the relay's 256 KiB, which keeps no larger frame.
 */
const FRAME_BUDGET = 192 * 1024;
const TIGHT_CUTS: Cuts = { text: 512, items: 10 };

/** Redacted first, then cut: cutting first could leave the start of a secret uncovered. */
const shortText = (text: string, redact: Redact, cuts: Cuts) => {
  const clean = redact(text);
  if (clean.length <= cuts.text) return clean;
  const kept = cutText(clean, cuts.text);
  return `${kept}… [${clean.length - kept.length} more characters]`;
};

/**
 * A copy holding only JSON data, strings redacted and cut (4,096 characters), lists too (100
 * items); functions become `{ type: name }`; cycles and depth past `depth` dropped.
 */
export function plainData(value: unknown, redact: Redact, depth = 4, seen = new Set<object>(), cuts: Cuts = CUTS): unknown {
  if (typeof value === 'string') return shortText(value, redact, cuts);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'function') return { type: value.name };
  if (depth <= 0 || typeof value !== 'object' || seen.has(value)) return undefined;
  seen.add(value);
  const out: unknown = Array.isArray(value)
    ? value.slice(0, cuts.items).map((item) => plainData(item, redact, depth - 1, seen, cuts) ?? null)
    : Object.fromEntries(
        Object.entries(value)
          .map(([key, member]) => [key, plainData(member, redact, depth - 1, seen, cuts)])
          .filter(([, copy]) => copy !== undefined),
      );
  seen.delete(value);
  return out;
}

/** The context as the inspector sees it. */
export function safeContext(context: unknown, redact: Redact, cuts: Cuts = CUTS): Record<string, unknown> {
  if (context === null || typeof context !== 'object') return {};
  const source = context as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const registry = source['registry'] as { records?: { size?: unknown } } | undefined;
  if (registry && typeof registry.records?.size === 'number') out['plugins'] = registry.records.size;
  for (const field of CONTEXT_FIELDS) {
    if (!(field in source)) continue;
    const copy = plainData(source[field], redact, 4, new Set(), cuts);
    if (copy !== undefined) out[field] = copy;
  }
  return out;
}

/** The event as the inspector sees it: its type and its primitive fields (and lists of them). */
export function safeEvent(event: unknown, redact: Redact, cuts: Cuts = CUTS): { type: string; [key: string]: unknown } {
  const source = (event ?? {}) as Record<string, unknown>;
  const out: { type: string; [key: string]: unknown } = { type: typeof source['type'] === 'string' ? source['type'] : '' };
  const primitive = (item: unknown) => typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean';
  for (const [key, value] of Object.entries(source)) {
    if (key === 'type') continue;
    if (primitive(value) || (Array.isArray(value) && value.every(primitive))) setOwn(out, key, plainData(value, redact, 4, new Set(), cuts));
  }
  return out;
}

function statusOf(snapshot: unknown): string {
  const status = (snapshot as { status?: unknown } | null | undefined)?.status;
  return typeof status === 'string' ? status : 'active';
}

function safeSnapshot(snapshot: unknown, redact: Redact, cuts: Cuts) {
  const source = (snapshot ?? {}) as { value?: unknown; context?: unknown };
  return { status: statusOf(snapshot), value: plainData(source.value, redact, 8, new Set(), cuts) ?? null, context: safeContext(source.context, redact, cuts) };
}

/** The chart definition of an actor's logic as JSON text, computed once per logic. */
const definitions = new WeakMap<object, string | undefined>();
function definitionOf(logic: AnyActorLogic | undefined): string | undefined {
  if (!logic || typeof logic !== 'object') return undefined;
  if (!definitions.has(logic)) {
    const config = (logic as { config?: unknown }).config;
    definitions.set(logic, config === undefined ? undefined : JSON.stringify(plainData(config, (text) => text, 24)));
  }
  return definitions.get(logic);
}

/** What `toStatelyFrame` made of an event, for a replay that keeps it without parsing it again. */
export function statelyFrameInfo(event: InspectionEvent): FrameInfo {
  const actor = event.actorRef as unknown as ActorFields & { logic?: AnyActorLogic };
  return {
    type: event.type,
    sessionId: String(actor.sessionId),
    status: event.type === '@xstate.snapshot' ? statusOf(event.snapshot) : undefined,
    definition: event.type === '@xstate.actor' ? definitionOf(actor.logic) : undefined,
    name: event.type === '@xstate.actor' ? ownName(actor) : undefined,
  };
}

/** The frame of one XState inspection event, or null for kinds the inspector does not read. */
export function toStatelyFrame(event: InspectionEvent, redact: Redact, createdAt = Date.now()): string | null {
  const frame = frameWith(event, redact, createdAt, CUTS);
  // Too large for the relay to keep (a late viewer would see a stale state): made again, cut short.
  // A UTF-16 unit is at most 3 bytes of UTF-8: most frames need no count of their bytes.
  const tooLarge = frame !== null && frame.length * 3 > FRAME_BUDGET && Buffer.byteLength(frame) > FRAME_BUDGET;
  return tooLarge ? frameWith(event, redact, createdAt, TIGHT_CUTS) : frame;
}

function frameWith(event: InspectionEvent, redact: Redact, createdAt: number, cuts: Cuts): string | null {
  const actor = event.actorRef as unknown as ActorFields & { getSnapshot(): unknown; logic?: AnyActorLogic };
  const base = { sessionId: String(actor.sessionId), rootId: event.rootId, createdAt: String(createdAt), id: null, _version: STATELY_FORMAT_VERSION };
  switch (event.type) {
    case '@xstate.actor':
      return JSON.stringify({
        ...base,
        type: event.type,
        name: ownName(actor),
        parentId: typeof actor._parent?.sessionId === 'string' ? actor._parent.sessionId : undefined,
        definition: definitionOf(actor.logic),
        snapshot: safeSnapshot(actor.getSnapshot(), redact, cuts),
      });
    case '@xstate.event':
      return JSON.stringify({ ...base, type: event.type, sourceId: event.sourceRef?.sessionId, event: safeEvent(event.event, redact, cuts) });
    case '@xstate.snapshot':
      return JSON.stringify({ ...base, type: event.type, event: safeEvent(event.event, redact, cuts), snapshot: safeSnapshot(event.snapshot, redact, cuts) });
    default:
      return null;
  }
}
