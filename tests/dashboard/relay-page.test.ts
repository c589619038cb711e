/**
 * The relay viewer page's script, run with stand-ins for the browser: what it holds for an
 * inspector that is not ready yet is bounded, and nothing is lost for it once it is ready.
 */
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { HELD_CHARS, bridgePage } from '../../src/inspection/relay-page.ts';

const ORIGIN = 'https://stately.ai';

class FakeSocket {
  onopen: (() => void) | null = null;
  onmessage: ((message: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  closed = false;
  close(): void {
    this.closed = true;
    this.onclose?.();
  }
}

/** Loads the page's script with a fake iframe, window, socket and timers. */
function loadPage() {
  const sockets: FakeSocket[] = [];
  const timers: Array<() => void> = [];
  const delivered: unknown[] = [];
  let listener: ((message: { source: unknown; origin: string; data: unknown }) => void) | null = null;
  const frame = {
    replaced: 0,
    contentWindow: { postMessage: (event: unknown) => void delivered.push(event) },
    cloneNode() {
      return frame;
    },
    replaceWith() {
      frame.replaced++;
    },
  };
  const script = /<script>([\s\S]*)<\/script>/.exec(bridgePage(`${ORIGIN}/inspect`))![1]!;
  vm.runInContext(
    script,
    vm.createContext({
      document: { getElementById: () => frame },
      window: { addEventListener: (_type: string, handler: typeof listener) => void (listener = handler) },
      location: { host: '127.0.0.1:1' },
      WebSocket: class extends FakeSocket {
        constructor() {
          super();
          sockets.push(this);
        }
      },
      setTimeout: (run: () => void) => void timers.push(run),
      Date,
      JSON,
    }),
  );
  const inspectorReady = () => listener!({ source: frame.contentWindow, origin: ORIGIN, data: { type: '@statelyai.connected' } });
  return { sockets, timers, delivered, frame, inspectorReady };
}

const frameOf = (n: number, pad = '') => JSON.stringify({ type: '@xstate.event', sessionId: 's', n, pad });

describe("the relay viewer page's script", () => {
  it('holds frames until the inspector is ready, then delivers them in order', () => {
    const page = loadPage();
    page.sockets[0]!.onopen!();
    for (const n of [1, 2, 3]) page.sockets[0]!.onmessage!({ data: frameOf(n) });
    expect(page.delivered).toEqual([]);
    page.inspectorReady();
    page.sockets[0]!.onmessage!({ data: frameOf(4) });
    expect(page.delivered.map((event) => (event as { n: number }).n)).toEqual([1, 2, 3, 4]);
  });

  it('past its limit for an inspector not ready yet it lets go and hangs up, and once the inspector is ready connects again and delivers the replay straight', () => {
    const page = loadPage();
    const first = page.sockets[0]!;
    first.onopen!();
    const big = 'x'.repeat(1024 * 1024);
    const frames = Math.ceil(HELD_CHARS / big.length) + 1;
    for (let n = 0; n < frames && !first.closed; n++) first.onmessage!({ data: frameOf(n, big) });
    expect(first.closed).toBe(true);
    expect(page.timers).toHaveLength(0); // no reconnect while the inspector is not ready
    expect(page.sockets).toHaveLength(1);
    page.inspectorReady();
    expect(page.sockets).toHaveLength(2);
    const second = page.sockets[1]!;
    second.onopen!();
    expect(page.frame.replaced).toBe(0); // the inspector was shown nothing: no reload
    for (const n of [0, 1]) second.onmessage!({ data: frameOf(n) });
    expect(page.delivered.map((event) => (event as { n: number }).n)).toEqual([0, 1]);
  });

  it('reloads an inspector that showed a connection when a new one starts, since the relay replays everything', () => {
    const page = loadPage();
    page.sockets[0]!.onopen!();
    page.inspectorReady();
    page.sockets[0]!.onmessage!({ data: frameOf(1) });
    page.sockets[0]!.close();
    expect(page.timers).toHaveLength(1);
    page.timers[0]!();
    page.sockets[1]!.onopen!();
    expect(page.frame.replaced).toBe(1);
    page.sockets[1]!.onmessage!({ data: frameOf(2) });
    expect(page.delivered.map((event) => (event as { n: number }).n)).toEqual([1]); // held for the fresh inspector
  });
});
