/**
 * Boot progress of `run`. On a terminal: a per-plugin status view redrawn in place (ANSI),
 * throttled to about 10 frames a second and drawn only when something changed. Elsewhere (a
 * pipe, a file, CI): one plain line per state change, `plugin <name>: <previous> -> <state>`.
 */
import type { ManagerSnapshot, PluginManager, PluginSnapshot } from '../index.ts';
import { dim, green, print, red, yellow } from './output.ts';
import type { Stream } from './output.ts';
import { UNPRINTABLE } from '../printable.ts';

/** Minimum time between two frames of the live view. */
const FRAME_MS = 100;

export interface Progress {
  /** Writes a line to `stream` without tearing the live view. */
  log(line: string, stream?: Stream): void;
  /** Draws the last frame (if live) and stops listening. */
  close(): void;
}

/**
 * Shows the manager's progress on `stream`: live when it is a terminal, plain lines otherwise.
 * While the live view is up, what else writes to `others` (plugin code printing to stdout or
 * stderr) is written above it, as `log` lines are, rather than into it.
 */
export function showProgress(manager: PluginManager, stream: Stream, others: readonly Stream[] = [process.stdout, process.stderr]): Progress {
  return drawsInPlace(stream) ? liveProgress(manager, stream, others) : plainProgress(manager, stream);
}

/**
 * A terminal that takes cursor movement and is wide enough for a frame: not a pipe, not one that
 * says it is dumb (TERM=dumb), not one so narrow that every line would wrap.
 */
function drawsInPlace(stream: Stream): boolean {
  return stream.isTTY === true && process.env['TERM'] !== 'dumb' && (stream.columns || 80) > MIN_COLUMNS;
}

function plainProgress(manager: PluginManager, stream: Stream): Progress {
  const subscription = manager.subscribe((change) => {
    if (change.type === 'plugin.changed') print(`plugin ${change.name}: ${change.previous} -> ${change.state}`, stream);
    else if (change.type === 'plugin.health') print(`plugin ${change.name}: health ${change.previousHealth} -> ${change.health}`, stream);
    else print(`host: ${change.previous} -> ${change.state}`, stream);
  });
  return {
    log: (line, target = stream) => print(line, target),
    close: () => subscription.unsubscribe(),
  };
}

const atRest = (state: string) => state === 'running' || state === 'stopped' || state === 'created' || state === 'initialized' || state === 'disposed';
const outOfService = (state: string) => state === 'invalid' || state === 'crashed' || state.startsWith('failed');

function mark(plugin: PluginSnapshot, stream: Stream): string {
  if (plugin.state === 'running') return green('✓', stream);
  if (outOfService(plugin.state)) return red('✗', stream);
  if (atRest(plugin.state)) return dim('·', stream);
  return yellow('…', stream);
}

/** Runs of the characters no line may show as they are (see `printable`). */
const UNPRINTABLE_RUNS = new RegExp(`${UNPRINTABLE.source}+`, 'g');

/**
 * Characters a terminal shows two columns wide: East Asian wide and fullwidth forms, and the
 * emoji shown as pictures by default (🚀, ✅, ⚡ …).
 */
const WIDE = /[\p{Emoji_Presentation}\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{20000}-\u{3FFFD}]/u;

/** How many columns `text` takes (escape codes, which take none, are not in what is measured). */
function columnsOf(text: string): number {
  let columns = 0;
  for (const char of text) columns += WIDE.test(char) ? 2 : 1;
  return columns;
}

/** `text` cut to `width` columns and padded to them, by columns rather than code units. */
function padColumns(text: string, width: number): string {
  const fitted = fitColumns(text, width);
  return fitted + ' '.repeat(Math.max(0, width - columnsOf(fitted)));
}

/** The narrowest a line is drawn: a terminal narrower than that wraps it, and gets plain lines. */
const MIN_COLUMNS = 20;

/**
 * `text` on one line of at most `max` columns: line breaks, tabs, escape codes and other control
 * or text-reordering characters become spaces (a message of several lines would otherwise take
 * rows the redraw does not erase), and what does not fit is cut with an ellipsis.
 */
export function fitColumns(text: string, max: number): string {
  const flat = text.replace(UNPRINTABLE_RUNS, ' ');
  let columns = 0;
  let end = 0;
  let fitted = -1; // where the text is cut when it does not fit: room left for the ellipsis
  for (const char of flat) {
    const width = WIDE.test(char) ? 2 : 1;
    if (fitted < 0 && columns + width > max - 1) fitted = end;
    columns += width;
    if (columns > max) return `${flat.slice(0, fitted)}…`;
    end += char.length;
  }
  return flat;
}

/**
 * The frame's lines, each cut to the terminal width so that none wraps, and no more of them than
 * the terminal has rows (either breaks the redraw in place). A host too large for the terminal
 * gets a count per state, then the plugins worth a look: out of service first, then those on
 * their way, as many as fit.
 */
export function frame(snapshot: ManagerSnapshot, stream: Stream & { rows?: number }): string[] {
  // 0 or undefined: the terminal did not say (a pty without a size); assume 80 × 24.
  const width = Math.max(MIN_COLUMNS, (stream.columns || 80) - 1);
  const height = Math.max(1, (stream.rows || 24) - 1);
  const cut = (text: string, max = width) => fitColumns(text, max);
  // A long name takes at most a third of the line: the state after it stays in view.
  const nameWidth = Math.min(Math.max(6, ...snapshot.plugins.map((p) => columnsOf(p.name))), Math.max(6, Math.floor(width / 3)));
  const stateWidth = Math.max(5, ...snapshot.plugins.map((p) => p.state.length));
  const line = (plugin: PluginSnapshot) => {
    const error = plugin.error ?? plugin.errors[0];
    const text = cut(
      `${padColumns(plugin.name, nameWidth)}  ${plugin.state.padEnd(stateWidth)}  ${error ? `${error.code}: ${error.message}` : ''}`.trimEnd(),
      width - 2,
    );
    // The mark (one column and a space) is coloured after cutting: escape codes take no columns.
    return `${mark(plugin, stream)} ${text}`;
  };
  const host = cut(`host: ${snapshot.state}`);
  if (snapshot.plugins.length < height) return [host, ...snapshot.plugins.map(line)];
  const counts = new Map<string, number>();
  for (const plugin of snapshot.plugins) {
    const top = plugin.state.split('.')[0]!;
    counts.set(top, (counts.get(top) ?? 0) + 1);
  }
  const summary = cut(`${snapshot.plugins.length} plugins: ${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')}`);
  const notable = [...snapshot.plugins.filter((p) => outOfService(p.state)), ...snapshot.plugins.filter((p) => !atRest(p.state) && !outOfService(p.state))];
  const room = height - 2;
  if (room < 1) return [host, summary].slice(0, height); // a terminal of a few rows: the counts at most
  if (notable.length <= room) return [host, summary, ...notable.map(line)];
  return [host, summary, ...notable.slice(0, room - 1).map(line), cut(`… and ${notable.length - room + 1} more`)];
}

function liveProgress(manager: PluginManager, stream: Stream, others: readonly Stream[]): Progress {
  let drawn = 0;
  let lastFrame = '';
  let lastDrawAt = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  /** Set while the view writes: its own writes pass the interception below untouched. */
  let own = false;
  /** A foreign write left the cursor mid-line: the next frame starts on a line of its own. */
  let midLine = false;

  const write = (text: string, target: Stream = stream) => {
    own = true;
    try {
      target.write(text);
    } finally {
      own = false;
    }
  };
  const erase = () => {
    if (drawn > 0) write(`\x1b[${drawn}A\r\x1b[J`);
    drawn = 0;
    lastFrame = '';
  };
  const draw = () => {
    // Made too narrow for a frame while it runs: nothing is drawn (lines would wrap, and the
    // redraw erase too few rows) until the terminal is wide enough again. The last frame, which
    // no redraw follows, is drawn all the same.
    if ((stream.columns || 80) <= MIN_COLUMNS && !closed) {
      erase();
      return;
    }
    const lines = frame(manager.getSnapshot(), stream);
    const text = lines.join('\n');
    lastDrawAt = Date.now();
    if (text === lastFrame && drawn > 0) return;
    const up = drawn > 0 ? `\x1b[${drawn}A\r\x1b[J` : midLine ? '\n' : '';
    write(`${up}${text}\n`);
    drawn = lines.length;
    lastFrame = text;
    midLine = false;
  };
  // A terminal made narrower wraps the lines drawn at the old width onto more rows: the frame is
  // erased by the rows it takes now (colour codes take none), then drawn again at the new width.
  const onResize = () => {
    if (closed) return;
    if (drawn > 0) {
      const columns = Math.max(1, stream.columns || 80);
      drawn = lastFrame
        .replace(/\x1b\[[0-9;]*m/g, '')
        .split('\n')
        .reduce((rows, text) => rows + Math.max(1, Math.ceil(columnsOf(text) / columns)), 0);
      erase();
    }
    draw();
  };
  // A terminal's stream says when it was resized; another stream has no size to change.
  const resizable = typeof stream.on === 'function' && typeof stream.off === 'function';
  if (resizable) stream.on('resize', onResize);
  const request = () => {
    if (closed || timer) return;
    timer = setTimeout(
      () => {
        timer = null;
        draw();
      },
      Math.max(0, lastDrawAt + FRAME_MS - Date.now()),
    );
  };
  const release = intercept(others, (chunk) => {
    if (own || closed) return;
    erase();
    return () => {
      if (chunk.length > 0) midLine = !chunk.endsWith('\n');
      request();
    };
  });
  const subscription = manager.subscribe(request);
  draw();
  return {
    log(line, target = stream) {
      if (closed) return print(line, target);
      erase();
      write(`${line}\n`, target);
      request();
    },
    close() {
      if (closed) return;
      closed = true;
      subscription.unsubscribe();
      if (resizable) stream.off('resize', onResize);
      if (timer) clearTimeout(timer);
      timer = null;
      draw();
      release();
    },
  };
}

/** How long loading runs before its progress line shows: a small host loads without one. */
const LOADING_QUIET_MS = 200;

export interface LoadingLine {
  /** `loadHost`'s `onLoaded`. */
  update(loaded: number, total: number): void;
  /** Clears the line and gives the streams their own write back. */
  done(): void;
}

/**
 * On a terminal, `loading plugins n/total` on one line rewritten in place (about 10 times a
 * second at most) once loading has taken a moment; what plugin modules print while imported
 * goes on lines of its own. Elsewhere, nothing.
 */
export function loadingLine(stream: Stream, others: readonly Stream[] = [process.stdout, process.stderr]): LoadingLine {
  if (!drawsInPlace(stream)) return { update: () => undefined, done: () => undefined };
  const started = Date.now();
  let lastAt = 0;
  let shown = false;
  let own = false;
  let midLine = false;
  const write = (text: string) => {
    own = true;
    try {
      stream.write(text);
    } finally {
      own = false;
    }
  };
  const clear = () => {
    if (shown) write('\r\x1b[K');
    shown = false;
  };
  // Ended while the line shows (Ctrl-C while modules load): the prompt comes back on a clean line.
  process.on('exit', clear);
  const release = intercept(others, (chunk) => {
    if (own) return;
    clear();
    return () => {
      if (chunk.length > 0) midLine = !chunk.endsWith('\n');
    };
  });
  return {
    update(loaded, total) {
      const now = Date.now();
      if (now - started < LOADING_QUIET_MS || (shown && now - lastAt < FRAME_MS && loaded < total)) return;
      lastAt = now;
      const width = Math.max(MIN_COLUMNS, (stream.columns || 80) - 1);
      // Too narrow for the words, the count alone, which is what matters.
      const words = `loading plugins ${loaded}/${total}…`;
      write(`${midLine ? '\n' : '\r\x1b[K'}${words.length <= width ? words : `${loaded}/${total}`.slice(0, width)}`);
      midLine = false;
      shown = true;
    },
    done() {
      clear();
      process.off('exit', clear);
      release();
    },
  };
}

/**
 * Calls `before` ahead of every write to `streams` (with its text), and what it returns after
 * the write. Answers the function that puts the streams' own `write` back.
 */
function intercept(streams: readonly Stream[], before: (chunk: string) => (() => void) | undefined): () => void {
  const restores = [...new Set(streams)].map((target) => {
    const original = target.write;
    const patched = function (this: unknown, ...args: unknown[]): boolean {
      const chunk = args[0];
      const after = before(typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : '');
      try {
        return (original as (...a: unknown[]) => boolean).apply(target, args);
      } finally {
        after?.();
      }
    } as Stream['write'];
    target.write = patched;
    return () => {
      if (target.write === patched) target.write = original;
    };
  });
  return () => {
    for (const restore of restores) restore();
  };
}
