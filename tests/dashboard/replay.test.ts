/**
 * The inspector relay's memory for late viewers: live actors and recent events, bounded by count
 * and by size, so a local client sending huge frames cannot make the host keep them.
 */
import { describe, expect, it } from 'vitest';
import { Replay } from '../../src/inspection/replay.ts';

const actor = (id: string, pad = '') => JSON.stringify({ type: '@xstate.actor', sessionId: id, pad });
const snapshot = (id: string, status = 'active', pad = '') => JSON.stringify({ type: '@xstate.snapshot', sessionId: id, snapshot: { status }, pad });
const event = (n: number, pad = '') => JSON.stringify({ type: '@xstate.event', sessionId: 'x', n, pad });
const limits = { actors: 3, ended: 2, events: 2, frameBytes: 200, totalBytes: 600 };
const sessions = (replay: Replay) =>
  replay.frames().map((frame) => {
    const parsed = JSON.parse(frame) as { type: string; sessionId: string; n?: number };
    return parsed.type === '@xstate.event' ? `event ${parsed.n}` : `${parsed.type.slice("@xstate.".length)} ${parsed.sessionId}`;
  });

describe('relay replay', () => {
  it('keeps registrations, the last events and each live actor’s latest snapshot, in that order', () => {
    const replay = new Replay(limits);
    replay.remember(actor('a'));
    replay.remember(snapshot('a'));
    replay.remember(actor('b'));
    for (const n of [1, 2, 3]) replay.remember(event(n));
    replay.remember(snapshot('b'));
    replay.remember(snapshot('b', 'stopped')); // b is stopped: forgotten
    for (const junk of ['not json', 'null', '42', '"text"', '[]', '{"type":"@xstate.snapshot","sessionId":"zz","snapshot":null}']) replay.remember(junk);
    expect(sessions(replay)).toEqual(['actor a', 'event 2', 'event 3', 'snapshot a']);
  });

  it("forgets a stopped actor's events with it, so no replayed event is for an actor the viewer was not told about", () => {
    const to = (id: string, n: number) => JSON.stringify({ type: '@xstate.event', sessionId: id, n });
    const replay = new Replay({ ...limits, actors: 10, events: 10, totalBytes: 10_000 });
    replay.remember(actor('a'));
    replay.remember(actor('b'));
    replay.remember(to('a', 1));
    replay.remember(to('b', 2));
    replay.remember(to('a', 3));
    replay.remember(snapshot('a', 'stopped'));
    expect(sessions(replay)).toEqual(['actor b', 'event 2']);
    expect(replay.size).toBe(replay.frames().reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
    // The count of events left is right too: the next ones push out the oldest as before.
    for (const n of [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]) replay.remember(to('b', n));
    expect(sessions(replay)).toEqual(['actor b', ...[4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map((n) => `event ${n}`)]);
    expect(replay.size).toBe(replay.frames().reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
  });

  it('keeps an actor that ended on its own with its last snapshot, as a live viewer saw it; only the most recent ones', () => {
    const replay = new Replay({ ...limits, actors: 10, events: 0 });
    replay.remember(actor('manager'));
    for (const id of ['invalid', 'failed', 'disposed']) replay.remember(actor(id));
    replay.remember(snapshot('invalid', 'done'));
    replay.remember(snapshot('failed', 'error'));
    expect(sessions(replay)).toEqual(['actor manager', 'actor invalid', 'actor failed', 'actor disposed', 'snapshot invalid', 'snapshot failed']);
    replay.remember(snapshot('disposed', 'done')); // a third ended actor: the oldest ended one goes
    expect(sessions(replay)).toEqual(['actor manager', 'actor failed', 'actor disposed', 'snapshot failed', 'snapshot disposed']);
    replay.remember(snapshot('failed', 'stopped'));
    expect(sessions(replay)).toEqual(['actor manager', 'actor disposed', 'snapshot disposed']);
    expect(replay.size).toBe(replay.frames().reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
  });

  it("an ended actor goes when a new version of it registers (a reloaded plugin: db, then db@2); another's stays", () => {
    const named = (id: string, name: string) => JSON.stringify({ type: '@xstate.actor', sessionId: id, name });
    const replay = new Replay({ ...limits, actors: 10, events: 0 });
    replay.remember(named('a', 'db'));
    replay.remember(named('b', 'bad'));
    replay.remember(snapshot('a', 'done'));
    replay.remember(snapshot('b', 'done'));
    replay.remember(named('c', 'db@2'));
    replay.remember(snapshot('c', 'done'));
    replay.remember(named('d', 'db@3'));
    expect(sessions(replay)).toEqual(['actor b', 'actor d', 'snapshot b']);
    expect(replay.size).toBe(replay.frames().reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
  });

  it('under the size limit, ended actors go before live ones, however old the live ones are', () => {
    const replay = new Replay({ ...limits, actors: 10, ended: 10 });
    for (const id of ['manager', 'a', 'b']) replay.remember(actor(id, 'x'.repeat(100)));
    replay.remember(snapshot('a', 'done'));
    replay.remember(actor('c', 'x'.repeat(100))); // past the size limit: a goes, not the older manager
    expect(sessions(replay)).toEqual(['actor manager', 'actor b', 'actor c']);
    expect(replay.size).toBeLessThanOrEqual(limits.totalBytes);
    expect(replay.size).toBe(replay.frames().reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
  });

  it('does not keep a frame larger than the frame limit, and drops the stale snapshot it replaces', () => {
    const replay = new Replay(limits);
    replay.remember(actor('a'));
    replay.remember(snapshot('a'));
    replay.remember(snapshot('a', 'active', 'x'.repeat(300)));
    replay.remember(event(1, 'x'.repeat(300)));
    replay.remember(actor('huge', 'x'.repeat(300)));
    expect(sessions(replay)).toEqual(['actor a']);
  });

  it('stays within the size limit: events go first, then the oldest actors', () => {
    const replay = new Replay(limits);
    for (const id of ['a', 'b', 'c']) replay.remember(actor(id, 'x'.repeat(120)));
    replay.remember(event(1, 'x'.repeat(120)));
    expect(replay.size).toBeLessThanOrEqual(limits.totalBytes);
    replay.remember(snapshot('c', 'active', 'x'.repeat(100)));
    expect(replay.size).toBeLessThanOrEqual(limits.totalBytes);
    expect(sessions(replay)).toEqual(['actor b', 'actor c', 'snapshot c']);
    expect(replay.size).toBe(replay.frames().reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
  });

  it('past the actor limit, an ended actor goes before the oldest live one', () => {
    const replay = new Replay(limits);
    for (const id of ['a', 'b', 'c']) replay.remember(actor(id));
    replay.remember(snapshot('b', 'done'));
    replay.remember(actor('d'));
    expect(sessions(replay)).toEqual(['actor a', 'actor c', 'actor d']);
  });

  it('keeps at most the actor limit, forgetting the oldest', () => {
    const replay = new Replay(limits);
    for (const id of ['a', 'b', 'c', 'd']) replay.remember(actor(id));
    expect(sessions(replay)).toEqual(['actor b', 'actor c', 'actor d']);
    expect(replay.size).toBe(replay.frames().reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
  });

  it('keeps a definition that many registrations carry once: 5,000 plugin actors fit where 4,600 copies would not', () => {
    const big = { actors: 20_000, ended: 1000, events: 500, frameBytes: 256 * 1024, totalBytes: 32 * 1024 * 1024 };
    const definition = JSON.stringify({ id: 'plugin', states: { a: { description: 'é'.repeat(3500) } } }); // ~7 KB, multi-byte
    const registration = (id: string) => JSON.stringify({ type: '@xstate.actor', sessionId: id, name: id, definition, snapshot: { status: 'active' } });
    const replay = new Replay(big);
    replay.remember(JSON.stringify({ type: '@xstate.actor', sessionId: 'manager', name: 'manager', definition: 'small' }));
    for (let i = 0; i < 5000; i++) replay.remember(registration(`p${i}`));
    const frames = replay.frames();
    expect(frames).toHaveLength(5001);
    expect(frames[0]).toContain('"manager"');
    expect(frames[1]).toBe(registration('p0')); // replayed exactly as sent
    expect(replay.size).toBeLessThan(2 * 1024 * 1024);
    // Each actor stopped gives back its bytes; the last one gives back the definition's.
    for (let i = 0; i < 5000; i++) replay.remember(JSON.stringify({ type: '@xstate.snapshot', sessionId: `p${i}`, snapshot: { status: 'stopped' } }));
    expect(replay.frames()).toHaveLength(1);
    expect(replay.size).toBe(Buffer.byteLength(replay.frames()[0]!));
  });

  it('a cursor replays the snapshots as they were when it was made: a later one is not sent ahead of its turn', () => {
    const replay = new Replay(limits);
    replay.remember(actor('a'));
    replay.remember(snapshot('a', 'active', 'zero'));
    const cursor = replay.cursor();
    replay.remember(snapshot('a', 'active', 'one')); // arrives mid-replay; the receiver gets it live after
    const frames: string[] = [];
    for (let frame = cursor.next(); frame !== undefined; frame = cursor.next()) frames.push(frame);
    expect(frames.map((frame) => (JSON.parse(frame) as { pad: string }).pad)).toEqual(['', 'zero']);
  });

  it('counts bytes, not characters: a frame of multi-byte text can be too large to keep', () => {
    const replay = new Replay(limits);
    replay.remember(event(1, 'é'.repeat(90))); // 90 characters, 180 bytes of padding
    replay.remember(event(2, 'e'.repeat(90)));
    expect(sessions(replay)).toEqual(['event 2']);
    expect(replay.size).toBe(replay.frames().reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
  });
});
