/**
 * Inspection records: what the dashboard keeps of an XState inspection event. Only the actor's
 * name, the event's type and the state reached are copied; never a context, an event payload or
 * an error, so nothing a plugin was configured with (secrets included) can get into one.
 */
import type { ActorRefLike, InspectionEvent } from 'xstate';

/** One line of the dashboard's timeline. */
export interface InspectionRecord {
  /** Increases by one per record, across the whole hub. */
  seq: number;
  /** When it happened, in ms since the epoch. */
  at: number;
  /** `actor`: an actor was created; `event`: an event was received; `snapshot`: the state after an event; `microstep`: one transition inside a macrostep. */
  kind: 'actor' | 'event' | 'snapshot' | 'microstep';
  /** `manager`, a plugin actor's id (`db`, `db@2` after a reload), or `parent/child` for an actor one of them runs. */
  actor: string;
  /** The plugin the actor belongs to, or null for the manager. */
  plugin: string | null;
  /** The event's type (`plugin.stop`, `xstate.init` …); null for `actor` records. */
  event: string | null;
  /** The state as a dotted path (`starting.hook`) after a snapshot or microstep; else null. */
  state: string | null;
  /** Who sent the event, for `event` records (`manager`, a plugin, or null). */
  source: string | null;
}

/** The lifecycle chart's id: its actors are plugins, named by their actor id. */
export const PLUGIN_CHART_ID = 'plugin';

/** The fields read off an actor; XState's public `ActorRefLike` types none of them. */
export interface ActorFields {
  id?: unknown;
  sessionId?: unknown;
  _parent?: ActorFields;
  logic?: { id?: unknown };
}

/** A state value as a dotted path: `{ starting: 'hook' }` → `starting.hook`; parallel regions joined by `,`. */
export function statePath(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return null;
  const parts = Object.entries(value as Record<string, unknown>).map(([key, child]) => {
    const rest = statePath(child);
    return rest ? `${key}.${rest}` : key;
  });
  return parts.length > 0 ? parts.join(',') : null;
}

/** An actor's own name: its id, or its chart's id when XState made the id up. */
export function ownName(actor: ActorFields): string {
  const id = typeof actor.id === 'string' ? actor.id : '';
  if (id !== '' && id !== actor.sessionId) return id;
  const logicId = actor.logic?.id;
  return typeof logicId === 'string' && logicId !== '' ? logicId : String(actor.sessionId ?? '?');
}

/** The actor's label and its plugin: roots are named by themselves, children after their root. */
export function actorLabel(ref: ActorRefLike | undefined): { actor: string; plugin: string | null } {
  if (!ref) return { actor: '?', plugin: null };
  const chain: ActorFields[] = [];
  for (let node: ActorFields | undefined = ref as unknown as ActorFields; node && chain.length < 8; node = node._parent) {
    chain.unshift(node);
  }
  const root = chain[0]!;
  const rootName = ownName(root);
  const plugin = root.logic?.id === PLUGIN_CHART_ID ? rootName.replace(/@\d+$/, '') : null;
  const actor = chain.map((node, index) => (index === 0 ? rootName : ownName(node))).join('/');
  return { actor, plugin };
}

/** The record of one XState inspection event, or null for kinds the timeline does not show (actions). */
export function toRecord(event: InspectionEvent, seq: number, at: number): InspectionRecord | null {
  const { actor, plugin } = actorLabel(event.actorRef);
  const base = { seq, at, actor, plugin, event: null, state: null, source: null };
  switch (event.type) {
    case '@xstate.actor':
      return { ...base, kind: 'actor' };
    case '@xstate.event':
      return {
        ...base,
        kind: 'event',
        event: typeOf(event.event),
        source: event.sourceRef ? actorLabel(event.sourceRef).actor : commandSender(event.actorRef, typeOf(event.event)),
      };
    case '@xstate.snapshot':
    case '@xstate.microstep':
      return {
        ...base,
        kind: event.type === '@xstate.snapshot' ? 'snapshot' : 'microstep',
        event: typeOf(event.event),
        state: statePath((event.snapshot as { value?: unknown }).value),
      };
    default:
      return null;
  }
}

/** Events only the manager sends a plugin actor (its commands travel as plain sends, with no sender). */
const MANAGER_COMMANDS = new Set([
  'plugin.init',
  'plugin.start',
  'plugin.stop',
  'plugin.retry',
  'plugin.reset',
  'plugin.dispose',
  'plugin.dependency.ready',
  'plugin.dependency.failed',
  'plugin.dependencies.restored',
]);

/** `manager` for a command received by a plugin actor, which only the manager sends; else null. */
function commandSender(ref: ActorRefLike | undefined, type: string | null): string | null {
  const actor = ref as unknown as ActorFields | undefined;
  const isPlugin = actor !== undefined && actor._parent === undefined && actor.logic?.id === PLUGIN_CHART_ID;
  return isPlugin && type !== null && MANAGER_COMMANDS.has(type) ? 'manager' : null;
}

function typeOf(event: unknown): string | null {
  const type = (event as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : null;
}
