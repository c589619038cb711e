/**
 * What the inspector relay keeps for viewers that connect late: each live actor's registration
 * and latest snapshot, plus the last events. Bounded by count and by size (UTF-8 bytes): a frame
 * larger than `frameBytes` is relayed live but not kept (a snapshot that large also drops the
 * older one it replaces, which would be stale), and when the kept frames pass `totalBytes` the
 * oldest events go first, then the oldest actors.
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

interface Entry {
  actor: Frame;
  snapshot: Frame | null;
}

export class Replay {
  private readonly actors = new Map<string, Entry>();
  private readonly events: Frame[] = [];
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
    const { type, sessionId, snapshot } = parsed as { type?: unknown; sessionId?: unknown; snapshot?: unknown };
    const session = typeof sessionId === 'string' ? sessionId : null;
    const bytes = Buffer.byteLength(text);
    const frame: Frame | null = bytes <= this.limits.frameBytes ? { text, bytes } : null;
    if (type === '@xstate.actor' && session) {
      this.forget(session);
      if (!frame) return;
      this.actors.set(session, { actor: frame, snapshot: null });
      this.bytes += frame.bytes;
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
    return [...entries.map((entry) => entry.actor.text), ...this.events.map((event) => event.text), ...snapshots];
  }

  private forget(session: string): void {
    const entry = this.actors.get(session);
    if (!entry) return;
    this.bytes -= entry.actor.bytes + (entry.snapshot?.bytes ?? 0);
    this.actors.delete(session);
  }
}
