/**
 * What the inspector relay keeps for viewers that connect late: each live actor's registration
 * and latest snapshot, plus the last events. Bounded by count and by size: a frame larger than
 * `frameChars` is relayed live but not kept (a snapshot that large also drops the older one it
 * replaces, which would be stale), and when the kept frames pass `totalChars` the oldest events
 * go first, then the oldest actors.
 */
export interface ReplayLimits {
  actors: number;
  events: number;
  /** Largest frame kept, in characters. */
  frameChars: number;
  /** All kept frames together, in characters. */
  totalChars: number;
}

export const REPLAY_LIMITS: ReplayLimits = {
  actors: 20_000,
  events: 500,
  frameChars: 256 * 1024,
  totalChars: 32 * 1024 * 1024,
};

interface Entry {
  actor: string;
  snapshot: string | null;
}

export class Replay {
  private readonly actors = new Map<string, Entry>();
  private readonly events: string[] = [];
  private chars = 0;

  constructor(private readonly limits: ReplayLimits = REPLAY_LIMITS) {}

  /** Characters kept, over every frame. */
  get size(): number {
    return this.chars;
  }

  remember(frame: string): void {
    let parsed: { type?: unknown; sessionId?: unknown; snapshot?: { status?: unknown } };
    try {
      parsed = JSON.parse(frame) as typeof parsed;
    } catch {
      return;
    }
    const session = typeof parsed.sessionId === 'string' ? parsed.sessionId : null;
    const keep = frame.length <= this.limits.frameChars;
    if (parsed.type === '@xstate.actor' && session) {
      this.forget(session);
      if (!keep) return;
      this.actors.set(session, { actor: frame, snapshot: null });
      this.chars += frame.length;
      if (this.actors.size > this.limits.actors) this.forget(this.actors.keys().next().value!);
    } else if (parsed.type === '@xstate.snapshot' && session) {
      const entry = this.actors.get(session);
      if (!entry) return;
      if (parsed.snapshot?.status !== 'active') {
        this.forget(session);
        return;
      }
      this.chars -= entry.snapshot?.length ?? 0;
      entry.snapshot = keep ? frame : null;
      this.chars += entry.snapshot?.length ?? 0;
    } else {
      if (!keep) return;
      this.events.push(frame);
      this.chars += frame.length;
      if (this.events.length > this.limits.events) this.chars -= this.events.shift()!.length;
    }
    while (this.chars > this.limits.totalChars) {
      if (this.events.length > 0) this.chars -= this.events.shift()!.length;
      else this.forget(this.actors.keys().next().value!);
    }
  }

  /** Registrations first, then the recent events, then each actor's latest snapshot. */
  frames(): string[] {
    const entries = [...this.actors.values()];
    const snapshots = entries.flatMap((entry) => (entry.snapshot ? [entry.snapshot] : []));
    return [...entries.map((entry) => entry.actor), ...this.events, ...snapshots];
  }

  private forget(session: string): void {
    const entry = this.actors.get(session);
    if (!entry) return;
    this.chars -= entry.actor.length + (entry.snapshot?.length ?? 0);
    this.actors.delete(session);
  }
}
