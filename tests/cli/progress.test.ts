/**
 * The progress view of `run`: on a terminal a frame redrawn in place, at most ~10 a second and
 * only when something changed; elsewhere one plain line per state change.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ManagerChange, ManagerSnapshot, PluginManager } from '../../src/index.ts';
import { frame, loadingLine, showProgress } from '../../src/cli/progress.ts';

/** Just what the progress view uses of a manager: getSnapshot and subscribe. */
function fakeManager(names: string[]) {
  const snapshot: ManagerSnapshot = {
    state: 'booting',
    plugins: names.map((name) => ({
      name,
      version: '1.0.0',
      state: 'created',
      attempts: 0,
      dependencies: [],
      optionalDependencies: [],
      error: null,
      errors: [],
      timings: {},
      health: null,
    })),
  };
  const listeners = new Set<(change: ManagerChange) => void>();
  const manager = {
    getSnapshot: () => structuredClone(snapshot),
    subscribe(listener: (change: ManagerChange) => void) {
      listeners.add(listener);
      return { unsubscribe: () => void listeners.delete(listener) };
    },
  } as unknown as PluginManager;
  const set = (name: string, state: string) => {
    const plugin = snapshot.plugins.find((p) => p.name === name)!;
    const previous = plugin.state;
    plugin.state = state;
    for (const listener of listeners) listener({ type: 'plugin.changed', name, state, previous });
  };
  return { manager, set, listeners };
}

function fakeStream(isTTY: boolean, columns = 80) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (text: string) => writes.push(text) > 0 } as unknown as NodeJS.WriteStream };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.stubEnv('NO_COLOR', '1');
  vi.stubEnv('TERM', 'xterm-256color');
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
});

describe('live progress (terminal)', () => {
  it('never draws more lines than the terminal has rows: a large host gets counts and the plugins worth a look', () => {
    const { manager, set } = fakeManager(Array.from({ length: 100 }, (_, i) => `p${i}`));
    for (let i = 0; i < 60; i++) set(`p${i}`, 'running');
    for (let i = 60; i < 70; i++) set(`p${i}`, 'starting.hook');
    set('p99', 'failed.halted');
    const stream = { isTTY: true, columns: 80, rows: 12 } as unknown as NodeJS.WriteStream;
    const lines = frame(manager.getSnapshot(), stream);
    expect(lines).toHaveLength(11);
    expect(lines.slice(0, 3)).toEqual(['host: booting', '100 plugins: 60 running, 10 starting, 29 created, 1 failed', '✗ p99     failed.halted']);
    expect(lines.slice(3, 10).every((line) => /starting\.hook$/.test(line))).toBe(true);
    expect(lines[10]).toBe('… and 3 more');
    // A host that fits is shown whole.
    expect(frame(manager.getSnapshot(), { ...stream, rows: 200 } as unknown as NodeJS.WriteStream)).toHaveLength(101);
    // A terminal of a few rows gets what fits, down to the host line alone.
    for (const rows of [2, 3, 4, 5]) expect(frame(manager.getSnapshot(), { ...stream, rows } as unknown as NodeJS.WriteStream), `${rows} rows`).toHaveLength(rows - 1);
  });

  it('draws at once, then at most one frame per 100 ms, and nothing while nothing changes', () => {
    const { manager, set } = fakeManager(['db', 'http']);
    const { writes, stream } = fakeStream(true);
    const progress = showProgress(manager, stream, []);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toBe('host: booting\n· db      created\n· http    created\n');

    for (const state of ['initializing', 'initialized', 'starting.hook', 'running']) set('db', state);
    expect(writes).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(writes).toHaveLength(2);
    // Back up over the 3 lines drawn, clear, draw the new frame.
    expect(writes[1]).toBe('\x1b[3A\r\x1b[Jhost: booting\n✓ db      running\n· http    created\n');

    vi.advanceTimersByTime(5000);
    expect(writes).toHaveLength(2);
    expect(vi.getTimerCount()).toBe(0);
    progress.close();
  });

  it('does not redraw a frame that would look the same', () => {
    const { manager, set } = fakeManager(['db']);
    const { writes, stream } = fakeStream(true);
    const progress = showProgress(manager, stream, []);
    set('db', 'initializing');
    set('db', 'created');
    vi.advanceTimersByTime(200);
    expect(writes).toHaveLength(1);
    progress.close();
  });

  it('log() erases the view, writes the line above it, and redraws it', () => {
    const { manager } = fakeManager(['db']);
    const { writes, stream } = fakeStream(true);
    const progress = showProgress(manager, stream, []);
    progress.log('a log line', stream);
    expect(writes.slice(1)).toEqual(['\x1b[2A\r\x1b[J', 'a log line\n']);
    vi.advanceTimersByTime(100);
    expect(writes[3]).toBe('host: booting\n· db      created\n');
    progress.close();
  });

  it('what plugin code writes to stdout or stderr goes above the view, not into it', () => {
    const { manager, set } = fakeManager(['db']);
    const { writes, stream } = fakeStream(true);
    const plugin = fakeStream(false);
    const original = plugin.stream.write;
    const progress = showProgress(manager, stream, [stream, plugin.stream]);
    // On the view's own stream: the view is erased first, then the text goes where the view was.
    stream.write('hello from a hook\n');
    expect(writes.slice(1)).toEqual(['\x1b[2A\r\x1b[J', 'hello from a hook\n']);
    vi.advanceTimersByTime(100);
    expect(writes.at(-1)).toBe('host: booting\n· db      created\n');
    // On another stream of the same terminal; a write that ends mid-line: the next frame starts on a line of its own.
    set('db', 'running');
    plugin.stream.write('no newline');
    expect(writes.at(-1)).toBe('\x1b[2A\r\x1b[J');
    expect(plugin.writes).toEqual(['no newline']);
    vi.advanceTimersByTime(100);
    expect(writes.at(-1)).toBe('\nhost: booting\n✓ db      running\n');
    progress.close();
    // The streams are given back their own write.
    expect(plugin.stream.write).toBe(original);
    const count = writes.length;
    plugin.stream.write('after close\n');
    expect(writes).toHaveLength(count);
  });

  it('close() draws the last frame and stops listening', () => {
    const { manager, set, listeners } = fakeManager(['db']);
    const { writes, stream } = fakeStream(true);
    const progress = showProgress(manager, stream, []);
    set('db', 'running');
    progress.close();
    expect(writes.at(-1)).toContain('✓ db      running');
    expect(listeners.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    const count = writes.length;
    progress.log('after close', stream);
    expect(writes.slice(count)).toEqual(['after close\n']);
  });

  it('cuts lines to the terminal width, so that none wraps', () => {
    const { manager, set } = fakeManager(['a-plugin-with-a-long-name']);
    const { writes, stream } = fakeStream(true, 30);
    const progress = showProgress(manager, stream, []);
    set('a-plugin-with-a-long-name', 'starting.waitingForDependencies');
    progress.close();
    for (const line of writes.at(-1)!.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').split('\n')) {
      expect(line.length).toBeLessThanOrEqual(29);
    }
  });
});

describe('the frame', () => {
  it('keeps an error message of several lines, escape codes or wide characters on one row of the width (a redraw erases rows it counted)', () => {
    const { manager } = fakeManager(['api', 'db']);
    const snapshot = manager.getSnapshot();
    snapshot.plugins[0]!.state = 'failed.halted';
    snapshot.plugins[0]!.error = { code: 'MODULE_LOAD_FAILED', message: 'Transform failed with 1 error:\nindex.ts:3:1: ERROR: Unexpected "}"\r\n\x1b[2J\u202eevil' } as never;
    snapshot.plugins[1]!.state = 'failed.halted';
    snapshot.plugins[1]!.error = { code: 'HOOK_FAILED', message: '接続できません：データベースが応答しません。'.repeat(4) } as never;
    const columns = 120;
    const lines = frame(snapshot, { isTTY: true, columns, rows: 24 } as unknown as NodeJS.WriteStream);
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
      const width = [...line].reduce((sum, char) => sum + (/[\u3000-\u9fff\uff00-\uff60]/u.test(char) ? 2 : 1), 0);
      expect(width, line).toBeLessThanOrEqual(columns - 1);
    }
  });
});

describe('the frame on terminals of every kind', () => {
  /** Columns a terminal gives `text`: pictures (emoji) and East Asian wide forms take two. */
  const columnsOf = (text: string) => [...text].reduce((sum, char) => sum + (/[\p{Emoji_Presentation}\u3000-\u9fff\uff00-\uff60]/u.test(char) ? 2 : 1), 0);

  it("a long name takes a third of the line at most: every row still shows its plugin's state", () => {
    const { manager } = fakeManager(['a'.repeat(200), 'db']);
    const snapshot = manager.getSnapshot();
    snapshot.plugins[1]!.state = 'failed.halted';
    const lines = frame(snapshot, { isTTY: true, columns: 80, rows: 24 } as unknown as NodeJS.WriteStream);
    expect(lines.slice(1).map((line) => /\b(created|failed\.halted)\b/.exec(line)?.[1])).toEqual(['created', 'failed.halted']);
    for (const line of lines) expect(columnsOf(line)).toBeLessThanOrEqual(79);
  });

  it('emoji in a message are measured two columns wide, so no row wraps', () => {
    const { manager } = fakeManager(['api']);
    const snapshot = manager.getSnapshot();
    snapshot.plugins[0]!.state = 'failed.halted';
    snapshot.plugins[0]!.error = { code: 'HOOK_FAILED', message: '🚀✅⚡🪐 '.repeat(30) } as never;
    for (const line of frame(snapshot, { isTTY: true, columns: 60, rows: 24 } as unknown as NodeJS.WriteStream)) {
      expect(columnsOf(line), line).toBeLessThanOrEqual(59);
    }
  });

  it('TERM=dumb and a terminal narrower than a frame get plain lines, without escape codes', () => {
    for (const [term, columns] of [['dumb', 80], ['xterm', 12]] as const) {
      vi.stubEnv('TERM', term);
      const { manager, set } = fakeManager(['db']);
      const { writes, stream } = fakeStream(true, columns);
      const progress = showProgress(manager, stream, []);
      set('db', 'initializing');
      progress.close();
      expect([term, writes]).toEqual([term, ['plugin db: created -> initializing\n']]);
    }
  });

  it('made narrower, the terminal has wrapped the frame onto more rows: the redraw erases them all', () => {
    const { manager } = fakeManager(['a-plugin-whose-name-is-quite-long', 'db']);
    const writes: string[] = [];
    const stream = Object.assign(new EventEmitter(), { isTTY: true, columns: 100, rows: 24, write: (text: string) => writes.push(text) > 0 }) as unknown as NodeJS.WriteStream;
    const progress = showProgress(manager, stream, []);
    const drawn = writes.at(-1)!.replace(/\n$/, '').split('\n');
    (stream as { columns: number }).columns = 25;
    stream.emit('resize');
    // Each line drawn at 100 columns takes as many rows of 25 as its length asks.
    const rows = drawn.reduce((sum, line) => sum + Math.max(1, Math.ceil(columnsOf(line) / 25)), 0);
    expect(rows).toBeGreaterThan(drawn.length);
    expect(writes.at(-2)).toBe(`\x1b[${rows}A\r\x1b[J`);
    // Narrower than a frame: erased, and nothing drawn until the terminal is wide enough again.
    (stream as { columns: number }).columns = 12;
    stream.emit('resize');
    const after = writes.length;
    stream.emit('resize');
    expect(writes.length).toBe(after);
    expect(writes.at(-1)).toMatch(/^\x1b\[\d+A\r\x1b\[J$/);
    (stream as { columns: number }).columns = 60;
    stream.emit('resize');
    expect(writes.at(-1)).toContain('host: booting');
    progress.close();
    expect(stream.listenerCount('resize')).toBe(0);
    // Closed while that narrow, the last frame is drawn all the same: no redraw follows it.
    const narrow = showProgress(manager, stream, []);
    (stream as { columns: number }).columns = 12;
    stream.emit('resize');
    narrow.close();
    expect(writes.at(-1)).toContain('host: booting');
  });
});

describe('plain progress (pipe, file, CI)', () => {
  it('writes one line per state change and no escape codes', () => {
    const { manager, set } = fakeManager(['db']);
    const { writes, stream } = fakeStream(false);
    const progress = showProgress(manager, stream, []);
    set('db', 'initializing');
    set('db', 'initialized');
    progress.close();
    set('db', 'running');
    expect(writes).toEqual(['plugin db: created -> initializing\n', 'plugin db: initializing -> initialized\n']);
  });
});

describe('loading line', () => {
  it('on a terminal, once loading takes a moment: n/total rewritten in place, throttled; plugin output on lines of its own', () => {
    const { writes, stream } = fakeStream(true);
    const plugin = fakeStream(false);
    const original = plugin.stream.write;
    const line = loadingLine(stream, [plugin.stream]);
    line.update(1, 10);
    expect(writes).toEqual([]); // a small host loads without one
    vi.advanceTimersByTime(250);
    line.update(3, 10);
    line.update(4, 10); // within 100 ms of the last
    expect(writes).toEqual(['\r\x1b[Kloading plugins 3/10…']);
    plugin.stream.write('imported, no newline');
    expect(writes.at(-1)).toBe('\r\x1b[K'); // cleared before the plugin's text
    vi.advanceTimersByTime(100);
    line.update(5, 10);
    expect(writes.at(-1)).toBe('\nloading plugins 5/10…');
    line.update(10, 10); // the last is always shown
    expect(writes.at(-1)).toBe('\r\x1b[Kloading plugins 10/10…');
    line.done();
    expect(writes.at(-1)).toBe('\r\x1b[K');
    expect(plugin.stream.write).toBe(original);
  });

  it('too narrow for its words, the count alone; a process ending while it shows clears it', () => {
    const { writes, stream } = fakeStream(true, 21);
    const exits = process.listenerCount('exit');
    const line = loadingLine(stream, []);
    expect(process.listenerCount('exit')).toBe(exits + 1);
    vi.advanceTimersByTime(250);
    line.update(341, 3000);
    expect(writes.at(-1)).toBe('\r\x1b[K341/3000');
    process.emit('exit', 130);
    expect(writes.at(-1)).toBe('\r\x1b[K');
    line.done();
    expect(process.listenerCount('exit')).toBe(exits);
  });

  it('elsewhere, nothing', () => {
    const { writes, stream } = fakeStream(false);
    const line = loadingLine(stream, []);
    vi.advanceTimersByTime(1000);
    line.update(5, 10);
    line.done();
    expect(writes).toEqual([]);
  });
});
