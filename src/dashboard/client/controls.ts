/// <reference lib="dom" />
/**
 * Control requests from the page. The token comes from the URL the host printed
 * (`#token=…`, a fragment, so it is never sent in a request line or logged) or from the token
 * field; it is kept for this tab only (sessionStorage) and removed from the address bar.
 */
import { TOKEN_PATTERN } from '../wire.ts';
import type { DashboardCommand, DashboardPlugin, ErrorBody } from '../wire.ts';

const STORAGE_KEY = 'plugin-factory.dashboard.token';

export type CommandResult = { ok: true; plugin: DashboardPlugin } | { ok: false; code: string; message: string };

export class Controls {
  private value: string | null;

  constructor() {
    const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash)?.[1];
    if (fromHash) {
      let token = fromHash;
      try {
        token = decodeURIComponent(fromHash);
      } catch {
        // A malformed escape: the token is taken as written (the server will refuse it if wrong).
      }
      sessionStorage.setItem(STORAGE_KEY, token);
      history.replaceState(null, '', location.pathname + location.search);
    }
    this.value = sessionStorage.getItem(STORAGE_KEY);
  }

  get token(): string | null {
    return this.value;
  }

  set token(token: string | null) {
    this.value = token && token.trim() !== '' ? token.trim() : null;
    if (this.value) sessionStorage.setItem(STORAGE_KEY, this.value);
    else sessionStorage.removeItem(STORAGE_KEY);
  }

  /**
   * POST /api/token: whether the host takes the token held. One it refuses is forgotten;
   * `unknown` when the host did not answer or another token was given meanwhile.
   */
  async check(): Promise<'accepted' | 'refused' | 'unknown' | 'none'> {
    const token = this.value;
    if (!token) return 'none';
    // One the host could never take (a `€`, which no header may even carry) is refused here.
    if (!TOKEN_PATTERN.test(token)) {
      this.token = null;
      return 'refused';
    }
    let response: Response;
    try {
      // A host that takes the request and never answers is no answer either: asked again later.
      response = await fetch('/api/token', { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
    } catch {
      return 'unknown';
    }
    if (response.ok) return 'accepted';
    const body = (await response.json().catch(() => null)) as Partial<ErrorBody> | null;
    if (body?.error?.code !== 'PERMISSION_DENIED') return 'unknown';
    // Another token may have been entered meanwhile: that one is not this answer's to judge.
    if (this.value !== token) return 'unknown';
    this.token = null;
    return 'refused';
  }

  /** POST /api/plugins/:name/:command; resolves with the plugin's row or the refusal's code. */
  async send(name: string, command: DashboardCommand): Promise<CommandResult> {
    const headers: Record<string, string> = this.value ? { authorization: `Bearer ${this.value}` } : {};
    let response: Response;
    try {
      response = await fetch(`/api/plugins/${encodeURIComponent(name)}/${command}`, { method: 'POST', headers });
    } catch (error) {
      return { ok: false, code: 'NETWORK', message: `the host did not answer (${String(error)})` };
    }
    const body = (await response.json().catch(() => null)) as ({ plugin: DashboardPlugin } & Partial<ErrorBody>) | null;
    if (response.ok && body?.plugin) return { ok: true, plugin: body.plugin };
    if (body?.error?.code === 'PERMISSION_DENIED') this.token = null;
    return { ok: false, code: body?.error?.code ?? `HTTP ${response.status}`, message: body?.error?.message ?? response.statusText };
  }
}
