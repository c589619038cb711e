/**
 * The JSON API behind the page (docs/dashboard.md): `GET /api/snapshot`, `GET /api/chart`,
 * `GET /api/events` (SSE) and `POST /api/plugins/:name/:command` (needs the token). A refused
 * command answers with the manager's error code: `INVALID_TRANSITION` (409) when the chart does
 * not allow it, `PLUGIN_NOT_FOUND` (404), or the code of the failure when it ran and failed.
 */
import type { IncomingMessage } from 'node:http';
import { reloadFrom } from '../manager.ts';
import type { PluginManager } from '../manager.ts';
import type { PluginDefinition } from '../definition.ts';
import type { PluginSnapshot } from '../snapshot.ts';
import { PluginFactoryError, describeThrown } from '../errors.ts';
import { toErrorInfo } from '../../machines/error-info.ts';
import type { ReloadSource } from './host-reload.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../platform/prometheus.ts';
import { quote } from '../platform/_utils.ts';
import { untilAborted } from '../settled.ts';
import { SECURITY_HEADERS, drainBody, requestError, sendError, sendJson } from './http.ts';
import type { LiveFeed } from './live.ts';
import type { Route } from './router.ts';
import { allowed, dashboardSnapshot, pluginRow } from './view.ts';
import type { ViewOptions } from './view.ts';
import { DASHBOARD_COMMANDS } from './wire.ts';
import type { DashboardChart, DashboardCommand } from './wire.ts';

export interface ApiOptions {
  manager: PluginManager;
  feed: LiveFeed;
  chart: DashboardChart;
  view: ViewOptions;
  reload: ReloadSource | null;
  /** Handed to the reload source: aborts when the dashboard closes or the host starts stopping. */
  signal: AbortSignal;
  /** Called with each definition a reload brings, before the manager gets it (its secrets join the redaction). */
  learn(definition: PluginDefinition): void;
}

const isCommand = (value: string): value is DashboardCommand => (DASHBOARD_COMMANDS as readonly string[]).includes(value);

/**
 * What a reload source threw, as a coded error: a plain error carrying one of our codes keeps it
 * (and its status), anything else is MODULE_LOAD_FAILED (422). The running version stays up.
 */
function reloadSourceError(name: string, error: unknown): PluginFactoryError {
  try {
    // Inside the try: `instanceof` asks a Proxy's getPrototypeOf trap, which may throw.
    if (error instanceof PluginFactoryError) return error;
    const info = toErrorInfo(error, 'MODULE_LOAD_FAILED');
    if (info.code === 'MODULE_LOAD_FAILED' && (error as { code?: unknown } | null)?.code !== 'MODULE_LOAD_FAILED') {
      info.message = `plugin '${name}': the reload source failed: ${describeThrown(error)}; the running version stays up`;
    }
    return PluginFactoryError.fromInfo(info, name);
  } catch {
    // A thrown value that throws again when read (a hostile getter).
    return new PluginFactoryError('MODULE_LOAD_FAILED', `plugin '${name}': the reload source failed with an unreadable error; the running version stays up`, {
      plugin: name,
    });
  }
}

/**
 * Runs one command the way the manager's API does; rejects with its coded error. `reloading`:
 * plugins whose reload is loading its new code, which the manager does not know of yet.
 */
async function run(options: ApiOptions, name: string, command: DashboardCommand, reloading: Set<string>): Promise<PluginSnapshot> {
  const { manager } = options;
  switch (command) {
    case 'start':
      return manager.startPlugin(name);
    case 'stop':
      return manager.stopPlugin(name);
    case 'restart':
      return manager.restartPlugin(name);
    case 'retry':
      return manager.retryPlugin(name);
    case 'reset':
      return manager.resetPlugin(name);
    case 'reload': {
      const current = manager.getSnapshot().plugins.find((plugin) => plugin.name === name);
      if (!current) throw new PluginFactoryError('PLUGIN_NOT_FOUND', `no plugin named ${quote(name)} is registered; check the name`, name.length > 214 ? {} : { plugin: name });
      const source = options.reload;
      if (!source) throw requestError('this dashboard has no source of new plugin code (serveDashboard option `reload`)');
      // Checked before the module is imported again: a refused reload touches nothing.
      if (reloading.has(name)) {
        throw new PluginFactoryError('INVALID_TRANSITION', `plugin '${name}': a reload of it is already in progress; try again once it ended`, { plugin: name });
      }
      if (!manager.can(name, 'reload')) {
        const possible = DASHBOARD_COMMANDS.filter((c) => c !== 'reload' && manager.can(name, c));
        throw new PluginFactoryError(
          'INVALID_TRANSITION',
          `plugin '${name}': cannot reload in state '${current.state}'; the lifecycle chart allows ${possible.length ? possible.join(', ') : 'no command'} here`,
          { plugin: name },
        );
      }
      reloading.add(name);
      try {
        // The new code loads as part of the reload: a stop accepted meanwhile comes later and
        // wins (the new version is installed at rest), as while the manager imports a module.
        return await reloadFrom(manager, name, async () => {
          let definition;
          try {
            // A source that ignores its signal is let go of as the host stops: the request is
            // answered then, not when (if ever) the source settles.
            definition = await untilAborted(
              Promise.resolve().then(() => source(name, { signal: options.signal })),
              options.signal,
            );
          } catch (error) {
            // Given up because the host is stopping (or the dashboard closing): refused for that,
            // as the manager refuses a reload once its host stops.
            if (options.signal.aborted) {
              throw new PluginFactoryError('INVALID_TRANSITION', `plugin '${name}': the reload was given up: the host is stopping or the dashboard closed`, { plugin: name });
            }
            throw reloadSourceError(name, error);
          }
          try {
            options.learn(definition);
          } catch {
            // A definition too broken to read secrets from is refused by the reload with its code.
          }
          return definition;
        });
      } finally {
        reloading.delete(name);
      }
    }
  }
}

/**
 * Refuses a request a page of another origin sent (its browser says so in `Origin` or
 * `Sec-Fetch-Site`): it could not read the answer, but a live stream would still take one of the
 * places the operator's page needs. Tools send neither header.
 */
function checkOwnPage(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  let foreign = site === 'cross-site' || site === 'same-site';
  const origin = req.headers.origin;
  // Browsers without Sec-Fetch-Site: an Origin naming another host (one of ours sends none).
  if (site === undefined && origin !== undefined) {
    try {
      foreign = new URL(origin).host !== (req.headers.host ?? '').toLowerCase();
    } catch {
      foreign = true; // `null` (a sandboxed frame, a file) or garbage
    }
  }
  if (foreign) throw new PluginFactoryError('PERMISSION_DENIED', 'dashboard: the live stream is served to the dashboard\'s own page only');
}

export function apiRoutes(options: ApiOptions): Route[] {
  const { manager, feed, view } = options;
  const reloading = new Set<string>();
  return [
    {
      method: 'GET',
      path: '/api/snapshot',
      handle: ({ res }) => sendJson(res, 200, dashboardSnapshot(manager, manager.getSnapshot(), feed.clock, view)),
    },
    { method: 'GET', path: '/api/chart', handle: ({ res }) => sendJson(res, 200, options.chart) },
    {
      method: 'GET',
      path: '/metrics',
      handle: ({ res }) => {
        // Per-plugin metrics for Prometheus; names, states and codes only, never config.
        const body = manager.metrics();
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
        res.end(body);
      },
    },
    {
      method: 'GET',
      path: '/api/events',
      stream: true,
      handle: ({ req, res }) => {
        checkOwnPage(req);
        feed.attach(req, res);
      },
    },
    {
      // The page asks whether a token it was given opens the controls before it shows them open.
      method: 'POST',
      path: '/api/token',
      control: true,
      async handle({ req, res }) {
        await drainBody(req, res);
        sendJson(res, 200, { ok: true });
      },
    },
    {
      method: 'POST',
      path: '/api/plugins/:name/:command',
      control: true,
      async handle({ req, res, params }) {
        const name = params['name']!;
        const command = params['command']!;
        if (!isCommand(command)) {
          throw requestError(`unknown command '${command}'; the dashboard sends ${DASHBOARD_COMMANDS.join(', ')}`);
        }
        // A command pipelined behind another answer reaches here only when its own answer can
        // follow (the router waits for its turn): behind a live stream, never.
        await drainBody(req, res);
        try {
          const result = await run(options, name, command, reloading);
          const row = pluginRow(result, allowed(manager, name, view.reload), feed.clock.of(name), view.redact);
          sendJson(res, 200, { plugin: row });
        } catch (error) {
          const noSource = command === 'reload' && !options.reload && !(error instanceof PluginFactoryError && error.code === 'PLUGIN_NOT_FOUND');
          sendError(res, error, view.redact, noSource ? 501 : undefined);
        }
      },
    },
  ];
}
