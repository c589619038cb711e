/**
 * The live views the `run` command and the demo offer, started together and closed together:
 * the dashboard (with an inspection hub feeding its timeline) and the Stately inspector. Both
 * watch through the manager's one `inspect` option: the hub fans the events out.
 */
import type { InspectionEvent } from 'xstate';
import type { PluginDefinition } from '../definition.ts';
import type { LoadedHost } from '../loading/index.ts';
import type { PluginManager } from '../manager.ts';
import { createInspectionHub } from '../inspection/hub.ts';
import type { InspectionHub } from '../inspection/hub.ts';
import { secretsOf } from '../inspection/redact.ts';
import { connectStatelyInspector, shownUrl } from '../inspection/stately.ts';
import type { StatelyInspector } from '../inspection/stately.ts';
import { reloadFromHost } from './host-reload.ts';
import { serveDashboard } from './serve.ts';
import type { Dashboard } from './serve.ts';

export interface ObserverChoice {
  /** Serve the dashboard on this port (0: any free one); null: no dashboard. */
  dashboard: number | null;
  /** Send inspection events to this relay URL; '' starts a local relay; null: no inspector. */
  inspect: string | null;
  /** Told when a relay of the URL given turns out unreachable, and when it is reached again. */
  onRelay?(line: string, problem: boolean): void;
  /** Told of each new definition the views learn the secrets of (a reload from the page or `run --watch`). */
  learn?(definition: PluginDefinition): void;
}

export interface Observers {
  /** For `createPluginManager({ inspect })`; undefined when nothing watches. */
  readonly inspect: ((event: InspectionEvent) => void) | undefined;
  /** Serves the dashboard of `manager` (when chosen); resolves with the lines to print. */
  attach(manager: PluginManager): Promise<string[]>;
  /** Redacts the secrets of a definition about to be reloaded (`run --watch`) from now on. */
  learn(definition: PluginDefinition): void;
  /** Ends the live streams, the server and the inspector connection. */
  close(): Promise<void>;
}

/** Connects the inspector (when chosen) and prepares the hub for the plugins of `host`; nothing is served yet. */
export async function startObservers(choice: ObserverChoice, host: LoadedHost): Promise<Observers> {
  const redact = secretsOf(host.definitions);
  // Set once the run ends: a relay found unreachable then is tried no more.
  let closing = false;
  const target = choice.inspect === null ? '' : shownUrl(choice.inspect);
  const stately: StatelyInspector | null =
    choice.inspect === null
      ? null
      : await connectStatelyInspector(
          choice.inspect === ''
            ? { redact }
            : {
                url: choice.inspect,
                redact,
                onReachable: (reachable, reason) =>
                  choice.onRelay?.(
                    reachable
                      ? `inspector: connected to ${target}`
                      : closing
                        ? `inspector: cannot reach ${target} (${reason}); the run's events were not delivered`
                        : `inspector: cannot reach ${target} (${reason}); events wait for it (64 MiB at most) and it is tried again every second`,
                    !reachable,
                  ),
              },
        );
  const hub: InspectionHub | null = choice.dashboard === null ? null : createInspectionHub();
  if (hub && stately) hub.forward(stately.inspect);
  let dashboard: Dashboard | null = null;
  /** Both views learn the secrets a reloaded definition brings (by `run --watch` or the reload button). */
  const learn = (definition: PluginDefinition) => {
    choice.learn?.(definition);
    const secrets = secretsOf([definition]);
    stately?.addSecrets(secrets);
    dashboard?.addSecrets(secrets);
  };
  const inspect = hub ? hub.inspect : stately ? (event: InspectionEvent) => stately.inspect.next?.(event) : undefined;
  return {
    inspect,
    async attach(manager) {
      const lines: string[] = [];
      if (stately?.viewerUrl) lines.push(`inspector: open ${stately.viewerUrl} (it embeds Stately's inspector from stately.ai: that browser needs the internet)`);
      else if (stately) lines.push(`inspector: sending to ${shownUrl(stately.url)}`);
      if (hub && choice.dashboard !== null) {
        const fromHost = reloadFromHost(host);
        dashboard = await serveDashboard(manager, {
          port: choice.dashboard,
          hub,
          // The inspector, fed from the same hub, must learn a reload's secrets too before the
          // new version can log one.
          reload: async (name, context) => {
            const definition = await fromHost(name, context);
            try {
              learn(definition);
            } catch {
              // A definition too broken to read secrets from is refused by reloadPlugin with its code.
            }
            return definition;
          },
          redact,
        });
        lines.push(`dashboard: ${dashboard.url}`, `dashboard control token: ${dashboard.token} (or open ${dashboard.controlUrl})`);
      }
      return lines;
    },
    learn,
    async close() {
      closing = true;
      await dashboard?.close();
      await stately?.close();
    },
  };
}
