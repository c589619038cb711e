/**
 * What the inspector relay keeps for viewers that connect late: each live actor's registration
 * and latest snapshot, plus the last events. Bounded by count and by size (UTF-8 bytes): a frame
 * larger than `frameBytes` is relayed live but not kept (a snapshot that large also drops the
 * older one it replaces, which would be stale), and when the kept frames pass `totalBytes` the
 * oldest events go first, then the oldest actors.
 *
 * Every plugin actor's registration carries the same chart definition (about 7 KB); it is kept
 * once and counted once, so that a registration costs a few hundred bytes and a host of 20,000
 * plugins fits without forgetting its first actors (the manager among them).
 */
export interface ReplayLimits {
  actors: number;
  events: number;
  /** Largest frame kept, in bytes. */
  frameBytes: number;
  /** All kept frames together, in bytes. */
  totalBytes: number;
}

export const REPLAY_LIMITS: ReplayLimits = {
  actors: 20_000,
  events: 500,
  frameBytes: 256 * 1024,
  totalBytes: 32 * 1024 * 1024,
};

interface Frame {
  text: string;
  bytes: number;
}

/** A registration kept without its definition: `head` + the definition's JSON literal + `tail`. */
interface ActorFrame {
  head: string;
  /** The definition as it appears in the frame (a JSON string literal), or '' when there is none to share. */
  literal: string;
  tail: string;
  /** Bytes of head and tail; the definition's are counted once, in `definitions`. */
  bytes: number;
}

/** Below this size a definition is kept inside its frame: sharing it would save nothing. */
const SHARED_DEFINITION_BYTES = 1024;

interface Entry {
  actor: ActorFrame;
  snapshot: Frame | null;
}

export class Replay {
  private readonly actors = new Map<string, Entry>();
  private readonly events: Frame[] = [];
  /** Shared definitions, by their JSON literal: bytes and how many kept registrations use each. */
  private readonly definitions = new Map<string, { bytes: number; uses: number }>();
  private bytes = 0;

  constructor(private readonly limits: ReplayLimits = REPLAY_LIMITS) {}

  /** Bytes kept, over every frame. */
  get size(): number {
    return this.bytes;
  }

  /** Remembers one frame a client sent; anything that is not a JSON object is not kept. */
  remember(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
    const { type, sessionId, snapshot, definition } = parsed as { type?: unknown; sessionId?: unknown; snapshot?: unknown; definition?: unknown };
    const session = typeof sessionId === 'string' ? sessionId : null;
    const bytes = Buffer.byteLength(text);
    const frame: Frame | null = bytes <= this.limits.frameBytes ? { text, bytes } : null;
    if (type === '@xstate.actor' && session) {
      this.forget(session);
      if (!frame) return;
      this.actors.set(session, { actor: this.share(text, definition), snapshot: null });
      if (this.actors.size > this.limits.actors) this.forget(this.actors.keys().next().value!);
    } else if (type === '@xstate.snapshot' && session) {
      const entry = this.actors.get(session);
      if (!entry) return;
      if ((snapshot as { status?: unknown } | null)?.status !== 'active') {
        this.forget(session);
        return;
      }
      this.bytes += (frame?.bytes ?? 0) - (entry.snapshot?.bytes ?? 0);
      entry.snapshot = frame;
    } else {
      if (!frame) return;
      this.events.push(frame);
      this.bytes += frame.bytes;
      if (this.events.length > this.limits.events) this.bytes -= this.events.shift()!.bytes;
    }
    while (this.bytes > this.limits.totalBytes) {
      if (this.events.length > 0) this.bytes -= this.events.shift()!.bytes;
      else this.forget(this.actors.keys().next().value!);
    }
  }

  /** Registrations first, then the recent events, then each actor's latest snapshot. */
  frames(): string[] {
    const entries = [...this.actors.values()];
    const snapshots = entries.flatMap((entry) => (entry.snapshot ? [entry.snapshot.text] : []));
    const registrations = entries.map(({ actor }) => actor.head + actor.literal + actor.tail);
    return [...registrations, ...this.events.map((event) => event.text), ...snapshots];
  }

  /** A registration to keep, its definition shared with the others that carry the same one. */
  private share(text: string, definition: unknown): ActorFrame {
    const literal = typeof definition === 'string' ? JSON.stringify(definition) : '';
    const at = literal.length >= SHARED_DEFINITION_BYTES ? text.indexOf(literal) : -1;
    // Not found as written (a frame encoded differently): kept whole.
    if (at < 0) {
      const bytes = Buffer.byteLength(text);
      this.bytes += bytes;
      return { head: text, literal: '', tail: '', bytes };
    }
    const head = text.slice(0, at);
    const tail = text.slice(at + literal.length);
    const bytes = Buffer.byteLength(head) + Buffer.byteLength(tail);
    const shared = this.definitions.get(literal);
    if (shared) shared.uses++;
    else {
      const definitionBytes = Buffer.byteLength(literal);
      this.definitions.set(literal, { bytes: definitionBytes, uses: 1 });
      this.bytes += definitionBytes;
    }
    this.bytes += bytes;
    return { head, literal, tail, bytes };
  }

  private forget(session: string): void {
    const entry = this.actors.get(session);
    if (!entry) return;
    this.bytes -= entry.actor.bytes + (entry.snapshot?.bytes ?? 0);
    const shared = entry.actor.literal ? this.definitions.get(entry.actor.literal) : undefined;
    if (shared && --shared.uses === 0) {
      this.definitions.delete(entry.actor.literal);
      this.bytes -= shared.bytes;
    }
    this.actors.delete(session);
  }
}
