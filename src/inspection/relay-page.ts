/**
 * The relay's viewer page: it embeds the Stately inspector UI in an iframe and forwards what the
 * relay sends (over a WebSocket to the page's own host) with `postMessage`, holding events back
 * until the inspector says it is ready (`@statelyai.connected`), as `@statelyai/inspect/server`'s
 * page does. A page the relay dropped (it cuts a viewer once 32 MiB queue for it, or that reads
 * nothing for 30 s), or whose relay went away, connects again (1 s, then longer up to 30 s while
 * it keeps being dropped), and the relay replays every live actor, as fast as the page reads it,
 * into a fresh inspector iframe. What it holds for an inspector not ready yet is bounded: past
 * `HELD_CHARS` it drops it all and hangs up until the inspector is ready, then connects again.
 */
import { PluginFactoryError } from '../errors.ts';

/** What the page holds for an inspector that is not ready yet, in characters of JSON text. */
export const HELD_CHARS = 32 * 1024 * 1024;

const escapeAttribute = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function bridgePage(inspectorUrl: string): string {
  let url: URL;
  try {
    url = new URL(inspectorUrl);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new PluginFactoryError('OPTIONS_INVALID', `inspector relay: inspectorUrl must be an http(s) URL (got '${inspectorUrl}')`);
  }
  const target = JSON.stringify(url.origin);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Plugin Factory · Stately inspector</title>
<style>html, body { margin: 0; height: 100%; } iframe { border: 0; width: 100%; height: 100%; }</style>
</head>
<body>
<iframe id="inspector" src="${escapeAttribute(url.href)}" title="Stately inspector"></iframe>
<script>
  let frame = document.getElementById('inspector');
  const held = [];
  let heldChars = 0;
  let ready = false;
  // Whether the current inspector was given anything.
  let shown = false;
  // Whether the page hung up, having held all it may for an inspector not ready yet.
  let paused = false;
  const deliver = (event) => {
    shown = true;
    frame.contentWindow.postMessage(event, ${target});
  };
  window.addEventListener('message', (message) => {
    // Only the current inspector's word counts: one it replaced may still be heard from.
    if (message.source !== frame.contentWindow || message.origin !== ${target}) return;
    if (!message.data || message.data.type !== '@statelyai.connected') return;
    ready = true;
    if (paused) {
      // The relay replays everything to a new connection, straight into the inspector now.
      paused = false;
      connect();
    } else {
      held.splice(0).forEach(deliver);
      heldChars = 0;
    }
  });
  let socket = null;
  let wait = 1000;
  const connect = () => {
    socket = new WebSocket('ws://' + location.host);
    const opened = Date.now();
    // A new connection starts with the whole replay: what was held from the last one is
    // superseded, and an inspector that already showed the last one is reloaded, so that it
    // shows each actor once rather than the replay on top of what it had. It is a new iframe, so
    // that nothing the old document still says is taken for the new one's.
    socket.onopen = () => {
      held.length = 0;
      heldChars = 0;
      if (shown) {
        ready = shown = false;
        const fresh = frame.cloneNode();
        frame.replaceWith(fresh);
        frame = fresh;
      }
    };
    socket.onmessage = (message) => {
      if (ready) {
        deliver(JSON.parse(message.data));
        return;
      }
      // An inspector that never gets ready (its site unreachable from this browser) must not
      // make the page hold without end: past ${HELD_CHARS} characters it lets go of everything
      // and hangs up, and connects again once the inspector is ready.
      heldChars += message.data.length;
      if (heldChars <= ${HELD_CHARS}) {
        held.push(JSON.parse(message.data));
        return;
      }
      held.length = 0;
      heldChars = 0;
      paused = true;
      socket.onclose = null;
      socket.close();
      socket = null;
    };
    socket.onclose = () => {
      // A connection that lasted starts the wait afresh; one dropped at once waits longer each time.
      if (Date.now() - opened > 10000) wait = 1000;
      setTimeout(connect, wait);
      wait = Math.min(wait * 2, 30000);
    };
  };
  connect();
</script>
</body>
</html>
`;
}
