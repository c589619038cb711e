/**
 * What the inspector relay keeps for viewers that connect late: each actor's registration and
 * latest snapshot, plus the last events. An actor that was stopped is forgotten; one that ended
 * on its own (a final state, such as an invalid or disposed plugin, or an error) stays with its
 * last snapshot, as a viewer connected all along sees it, until an actor of the same name
 * registers (a reloaded plugin's new version: `db` is followed by `db@2`), and only the `ended`
 * most recent such.
 * Bounded by count and by size (UTF-8 bytes): a frame larger than `frameBytes` is relayed live
 * but not kept (a snapshot that large also drops the older one it replaces, which would be
 * stale), and when the kept frames pass `totalBytes` the oldest events go first, then the oldest
 * ended actors, then the oldest actors.
 *
 * Every plugin actor's registration carries the same chart definition (about 7 KB); it is kept
 * once and counted once, so that a registration costs a few hundred bytes and 20,000 actors (a
 * manager and 19,999 plugins) fit in the size bound; past the count, the oldest live actor is
 * forgotten first, and that is the manager.
 */
export interface ReplayLimits {
  actors: number;
  /** Actors that ended on their own (done or error) kept among `actors`, the most recent. */
  ended: number;
  events: number;
  /** Largest frame kept, in bytes. */
  frameBytes: number;
  /** All kept frames together, in bytes. */
  totalBytes: number;
}

export const REPLAY_LIMITS: ReplayLimits = {
  actors: 20_000,
  ended: 1000,
  events: 500,
  frameBytes: 256 * 1024,
  totalBytes: 32 * 1024 * 1024,
};

interface Frame {
  text: string;
  bytes: number;
}

/** An event kept, with the actor it was sent to. */
interface EventFrame extends Frame {
  session: string | null;
}

/** A definition many registrations carry, kept once. */
interface SharedDefinition {
  /** The definition (its key in the map). */
  key: string;
  /** As it appears in a frame: a JSON string literal. */
  literal: string;
  bytes: number;
  /** Kept registrations that carry it. */
  uses: number;
}

/** A registration kept as `head` + the shared definition's literal + `tail` (or whole, in `head`). */
interface ActorFrame {
  head: string;
  shared: SharedDefinition | null;
  tail: string;
  /** Bytes of head and tail; the definition's are counted once, in `definitions`. */
  bytes: number;
}

interface Entry {
  actor: ActorFrame;
  snapshot: Frame | null;
  /** The registration's `name` without a version's `@N`, when it has one. */
  name: string | null;
}

/** What a frame is, for a sender that built it and need not parse it again. */
export interface FrameInfo {
  type: unknown;
  sessionId: unknown;
  /** A snapshot frame's `snapshot.status`. */
  status?: unknown;
  /** A registration frame's `definition` (a JSON text). */
  definition?: unknown;
  /** A registration frame's `name`. */
  name?: unknown;
}

/** Frames to send, made one at a time (a large host's replay is tens of MB as text). */
export interface ReplayCursor {
  next(): string | undefined;
}

/** Below this size a definition is kept inside its frame: sharing it would save nothing. */
const SHARED_DEFINITION_BYTES = 1024;

/**
 * A copy that owns its characters. A slice of a string can keep the whole string alive in V8,
 * and a kept registration must not hold on to the definition it was cut from.
 */
const own = (text: string) => (text.length === 0 ? '' : Buffer.from(text, 'utf8').toString('utf8'));

export class Replay {
  private readonly actors = new Map<string, Entry>();
  /** Kept actors that ended on their own, oldest first. */
  private readonly ended = new Set<string>();
  /** The same, by name. */
  private readonly endedByName = new Map<string, Set<string>>();
  private readonly events: EventFrame[] = [];
  /** How many kept events each actor has, for those that have any. */
  private readonly eventsOf = new Map<string, number>();
  private readonly definitions = new Map<string, SharedDefinition>();
  private bytes = 0;

  constructor(private readonly limits: ReplayLimits = REPLAY_LIMITS) {}

  /** Bytes kept, over every frame. */
  get size(): number {
    return this.bytes;
  }

  /**
   * Remembers one frame a client sent; anything that is not a JSON object is not kept, and false
   * says so (a receiver would fail to parse it).
   */
  remember(text: string): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return false;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return false;
    const { type, sessionId, snapshot, definition, name } = parsed as { type?: unknown; sessionId?: unknown; snapshot?: unknown; definition?: unknown; name?: unknown };
    this.keep(text, { type, sessionId, status: (snapshot as { status?: unknown } | null | undefined)?.status, definition, name });
    return true;
  }

  /** Remembers a frame whose kind the caller knows (it built it), without parsing it. */
  keep(text: string, info: FrameInfo): void {
    const { type, sessionId } = info;
    const session = typeof sessionId === 'string' ? sessionId : null;
    const bytes = Buffer.byteLength(text);
    const frame: Frame | null = bytes <= this.limits.frameBytes ? { text, bytes } : null;
    if (type === '@xstate.actor' && session) {
      this.forget(session);
      // A plugin's versions are named db, db@2, db@3 …: one name for them all here.
      const name = typeof info.name === 'string' ? info.name.replace(/@\d+$/, '') : null;
      // A new version of an actor that ended (a reloaded plugin's): the old one is of the past.
      for (const old of (name === null ? undefined : this.endedByName.get(name)) ?? []) this.forget(old);
      if (!frame) return;
      this.actors.set(session, { actor: this.share(text, info.definition), snapshot: null, name });
      // Past the count limit, as past the size limit: an ended actor goes before a live one.
      if (this.actors.size > this.limits.actors) this.forget((this.ended.size > 0 ? this.ended : this.actors).keys().next().value!);
    } else if (type === '@xstate.snapshot' && session) {
      const entry = this.actors.get(session);
      if (!entry) return;
      if (info.status === 'stopped') {
        this.forget(session);
        return;
      }
      this.bytes += (frame?.bytes ?? 0) - (entry.snapshot?.bytes ?? 0);
      entry.snapshot = frame;
      if (info.status !== 'active' && !this.ended.has(session)) {
        this.ended.add(session);
        if (entry.name !== null) {
          const sessions = this.endedByName.get(entry.name) ?? new Set<string>();
          this.endedByName.set(entry.name, sessions.add(session));
        }
        if (this.ended.size > this.limits.ended) this.forget(this.ended.values().next().value!);
      }
    } else {
      if (!frame) return;
      this.events.push({ ...frame, session });
      this.bytes += frame.bytes;
      if (session !== null) this.eventsOf.set(session, (this.eventsOf.get(session) ?? 0) + 1);
      if (this.events.length > this.limits.events) this.dropOldestEvent();
    }
    while (this.bytes > this.limits.totalBytes) {
      if (this.events.length > 0) this.dropOldestEvent();
      else this.forget((this.ended.size > 0 ? this.ended : this.actors).keys().next().value!);
    }
  }

  /** Registrations first, then the recent events, then each actor's latest snapshot. */
  frames(): string[] {
    const out: string[] = [];
    const cursor = this.cursor();
    for (let frame = cursor.next(); frame !== undefined; frame = cursor.next()) out.push(frame);
    return out;
  }

  /**
   * The frames of `frames()` as they are now, made one at a time (registrations are joined
   * from their parts only when their turn comes).
   */
  cursor(): ReplayCursor {
    const entries = [...this.actors.values()];
    const events = this.events.map((event) => event.text);
    // Snapshots as they are now: a later one reaches the receiver behind the replay anyway.
    const snapshots = entries.flatMap((entry) => (entry.snapshot ? [entry.snapshot.text] : []));
    const frames = (function* (): Generator<string, undefined> {
      for (const { actor } of entries) yield actor.head + (actor.shared?.literal ?? '') + actor.tail;
      yield* events;
      yield* snapshots;
    })();
    return { next: () => frames.next().value };
  }

  /** A registration to keep, its definition shared with the others that carry the same one. */
  private share(text: string, definition: unknown): ActorFrame {
    if (typeof definition === 'string' && definition.length >= SHARED_DEFINITION_BYTES) {
      let shared = this.definitions.get(definition);
      const literal = shared?.literal ?? JSON.stringify(definition);
      const at = text.indexOf(literal);
      // Not found as written (a frame encoded differently): kept whole below.
      if (at >= 0) {
        const head = own(text.slice(0, at));
        const tail = own(text.slice(at + literal.length));
        const bytes = Buffer.byteLength(head) + Buffer.byteLength(tail);
        if (!shared) {
          const key = own(definition);
          shared = { key, literal: own(literal), bytes: Buffer.byteLength(literal), uses: 0 };
          this.definitions.set(key, shared);
          this.bytes += shared.bytes;
        }
        shared.uses++;
        this.bytes += bytes;
        return { head, shared, tail, bytes };
      }
    }
    const bytes = Buffer.byteLength(text);
    this.bytes += bytes;
    return { head: text, shared: null, tail: '', bytes };
  }

  private dropOldestEvent(): void {
    const event = this.events.shift()!;
    this.bytes -= event.bytes;
    if (event.session === null) return;
    const left = this.eventsOf.get(event.session)! - 1;
    if (left === 0) this.eventsOf.delete(event.session);
    else this.eventsOf.set(event.session, left);
  }

  private forget(session: string): void {
    const entry = this.actors.get(session);
    if (!entry) return;
    this.bytes -= entry.actor.bytes + (entry.snapshot?.bytes ?? 0);
    const shared = entry.actor.shared;
    if (shared && --shared.uses === 0) {
      this.definitions.delete(shared.key);
      this.bytes -= shared.bytes;
    }
    this.actors.delete(session);
    // Its events go with it: a viewer told of no such actor would get events from nowhere.
    if (this.eventsOf.delete(session)) {
      let kept = 0;
      for (const event of this.events) {
        if (event.session === session) this.bytes -= event.bytes;
        else this.events[kept++] = event;
      }
      this.events.length = kept;
    }
    if (this.ended.delete(session) && entry.name !== null) {
      const sessions = this.endedByName.get(entry.name);
      sessions?.delete(session);
      if (sessions?.size === 0) this.endedByName.delete(entry.name);
    }
  }
}
