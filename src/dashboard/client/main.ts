/// <reference lib="dom" />
/**
 * The dashboard page. Live data arrives over one EventSource (`/api/events`); messages only
 * update a model, and the DOM is written once per animation frame with whatever changed since
 * the last frame, so a host moving thousands of times a second costs one frame of work.
 */
import type { DashboardChart, DashboardCommand, DashboardPlugin, InspectionRecord, LiveMessage } from '../wire.ts';
import { ChartView } from './chart.ts';
import { Controls } from './controls.ts';
import { DetailPanel } from './detail.ts';
import { byId, el, frameScheduler, setText, stateClass, throttledScheduler } from './dom.ts';
import { GraphView } from './graph.ts';
import { LatencyStats } from './latency.ts';
import { PluginTable } from './table.ts';
import { Timeline } from './timeline.ts';

/** Timeline records kept while the page cannot draw (the timeline itself keeps 5,000). */
const MAX_PENDING_RECORDS = 5000;
/** Wait before connecting again once the server refused the stream (the `retry-after` it sends). */
const RETRY_CLOSED_MS = 5000;

const plugins = new Map<string, DashboardPlugin>();
const changed = new Map<string, DashboardPlugin>();
const removed = new Set<string>();
const records: InspectionRecord[] = [];
/** Rows the graph has not shown yet, and whether it must be laid out again. */
const graphRows = new Map<string, DashboardPlugin>();
let graphShape = false;
let full = false;
/** A new connection's recent records, for the timeline to start again from. */
let fresh: InspectionRecord[] | null = null;
let hostState = '';
let selected: string | null = null;

const controls = new Controls();
const latency = new LatencyStats();
/** When the last frame was drawn (0 before the first). */
let lastFrame = 0;
/** Per plugin, the state its row shows: a new connection's rows count only where it changes. */
const shown = new Map<string, string>();
/** The frame to draw takes in a new connection's first snapshot. */
let connected = false;
const chart = new ChartView(byId('chart'));
const timeline = new Timeline(byId<HTMLOListElement>('timeline'));
const table = new PluginTable(byId<HTMLTableSectionElement>('plugin-rows'), { select, command });
const graph = new GraphView(byId('graph'), select);
const detail = new DetailPanel(byId('detail-fields'), byId('detail-actions'), byId('detail-note'), command);
const schedule = frameScheduler(render);
/** The timeline and the graph follow at most 5 times a second: the table gets every frame. */
const PANEL_MS = 200;
const schedulePanels = throttledScheduler(renderPanels, PANEL_MS);

function select(name: string | null): void {
  selected = name;
  table.select(name);
  graph.highlight(name);
  showSelected();
}

/**
 * Where a plugin is in the chart: a snapshot says `running` for all of `running`, whose substate
 * is the status of the last health check (`running.healthy` before one, or without a health hook).
 */
function chartState(plugin: DashboardPlugin): string {
  if (plugin.state !== 'running') return plugin.state;
  const status = plugin.health?.status;
  return status === 'degraded' || status === 'unhealthy' ? `running.${status}` : 'running.healthy';
}

function showSelected(): void {
  const plugin = selected ? (plugins.get(selected) ?? null) : null;
  const dependents = plugin ? [...plugins.values()].filter((p) => p.dependencies.includes(plugin.name)).map((p) => p.name) : [];
  detail.show(plugin, dependents);
  chart.highlight(plugin ? chartState(plugin) : null);
  setText(byId('chart-plugin'), plugin ? `${plugin.name}: ${plugin.state}` : 'select a plugin');
}

async function command(name: string, what: DashboardCommand): Promise<void> {
  // The button pressed is disabled while its command runs, which takes the keyboard focus away
  // from it: it gets the focus back once the command is over, if nothing else took it meanwhile.
  const pressed = document.activeElement instanceof HTMLButtonElement ? document.activeElement : null;
  // A new command ends the watch of the one before.
  refocus = null;
  const watch = ++refocusWatch;
  table.setBusy(name, true);
  detail.setBusy(name, true);
  detail.message(`${what} ${name}…`);
  const result = await controls.send(name, what);
  table.setBusy(name, false);
  detail.setBusy(name, false);
  if (result.ok) detail.message(`${what} ${name}: ${result.plugin.state}`);
  else detail.message(`${what} ${name} refused: ${result.code}: ${result.message}`, 'error');
  if (!result.ok && result.code === 'PERMISSION_DENIED' && controls.token === null) tokenRefused = true;
  refreshControls();
  if (watch !== refocusWatch) return; // another command began meanwhile: its button is watched
  refocus = pressed;
  refocusBy = Date.now() + REFOCUS_MS;
  refocusAfter = result.ok ? { name, state: result.plugin.state, since: result.plugin.since } : null;
  giveFocusBack();
  if (refocus) {
    setTimeout(() => watch === refocusWatch && giveFocusBack(), REFOCUS_MS);
    // Decided for good by then, rows or not.
    setTimeout(() => watch === refocusWatch && giveFocusBack(true, true), REFOCUS_MS + CATCH_UP_MS);
  }
}

/** How long the button of a finished command waits for its row to say it can run again. */
const REFOCUS_MS = 1000;
/** How much longer the choice of another button waits for rows that lag behind the command's answer. */
const CATCH_UP_MS = 4000;
/** The plugin and state the last command ended in: the buttons are judged once its row shows it. */
let refocusAfter: { name: string; state: string; since: number } | null = null;
/** The button whose command took the keyboard focus away, until it can have it back. */
let refocus: HTMLButtonElement | null = null;
let refocusBy = 0;
/** Counts the commands sent: a watch belongs to the last one. */
let refocusWatch = 0;
// A click or tap anywhere is the user's own choice of where to be: the watch ends, even when
// what was clicked takes no focus (the page body then has it).
document.addEventListener('pointerdown', () => void (refocus = null), { capture: true });

/**
 * Gives the focus back to `refocus` whenever it is enabled and the focus fell to the page body,
 * until REFOCUS_MS after the command: its row says it can run when the stream's next batch
 * comes, and a batch sent before the command's answer may still disable it once more, so only
 * rows that show the command's outcome count. The focus taken anywhere else ends the watch.
 * Still disabled at the end (`last`: a stop's button once the plugin stopped), the focus goes to
 * the first enabled button beside it.
 */
function giveFocusBack(last = Date.now() >= refocusBy, force = false): void {
  if (!refocus) return;
  const focused = document.activeElement;
  const button = refocus;
  const onBody = focused === null || focused === document.body;
  if ((!onBody && focused !== button) || !button.isConnected) {
    refocus = null;
    return;
  }
  // Rows that have not caught up with the command's answer yet (a busy page or host) may show a
  // button enabled that the next batch disables: the focus would fall to the page body again.
  // The watch goes on until they have, or for CATCH_UP_MS past REFOCUS_MS.
  if (!force && !caughtUp()) return;
  if (onBody && !button.disabled) button.focus();
  if (!last) return;
  if (document.activeElement !== button) [...(button.parentElement?.querySelectorAll('button') ?? [])].find((other) => !other.disabled)?.focus();
  refocus = null;
}

/** Whether the row of the last command's plugin shows the state the command's answer ended in, or a later one. */
function caughtUp(): boolean {
  if (!refocusAfter) return true;
  const row = plugins.get(refocusAfter.name);
  // A later entry into any state is later news: the plugin may have moved on (failed right after
  // a start, say) before a batch showed the state the answer had.
  return row !== undefined && (row.since > refocusAfter.since || (row.state === refocusAfter.state && row.since >= refocusAfter.since));
}

/** Set when the host refused the token last given, until another is. */
let tokenRefused = false;
/** The check of the token last given, while the host has not answered it: the controls stay locked. */
let tokenCheck = 0;
let tokenChecking = false;

/** How long the page waits before it asks again about a token the host did not answer for. */
const TOKEN_RECHECK_MS = 5000;

function refreshControls(): void {
  const enabled = controls.token !== null && !tokenChecking;
  table.setControls(enabled);
  detail.setControls(enabled);
  const locked = tokenChecking
    ? 'read-only until the host takes the token (asking it…)'
    : tokenRefused
      ? 'read-only: the host refused that token; enter the one it printed'
      : 'read-only: enter the token printed by the host';
  setText(byId('token-state'), enabled ? 'controls unlocked' : locked);
  byId('token-form').classList.toggle('unlocked', enabled);
  byId('token-form').classList.toggle('refused', !enabled && tokenRefused);
}

/** Asks the host whether the token held opens the controls; they open only once it says so. */
async function checkToken(): Promise<void> {
  const check = ++tokenCheck;
  tokenRefused = false;
  tokenChecking = controls.token !== null;
  refreshControls();
  const verdict = await controls.check();
  // A token given meanwhile has a check of its own.
  if (check !== tokenCheck) return;
  // No answer (the host away, an error): still locked, and asked again a moment later.
  if (verdict === 'unknown') {
    setTimeout(() => check === tokenCheck && void checkToken(), TOKEN_RECHECK_MS);
    return;
  }
  tokenChecking = false;
  tokenRefused = verdict === 'refused';
  refreshControls();
}

function render(): void {
  const now = Date.now();
  let reshaped = full || removed.size > 0;
  if (full) table.keepOnly(new Set(plugins.keys()));
  for (const name of removed) table.remove(name);
  const rows = full ? [...plugins.values()] : [...changed.values()];
  // Rows whose state changed since the last frame, whether they came one by one or in a full
  // refresh (a host state change sends every row). After a new connection, those whose state
  // differs from the one shown, whenever it changed: a dashboard started again dates the plugins
  // it never saw change from its own start. The first frame has nothing to compare with.
  const moved = full
    ? lastFrame > 0
      ? rows.filter((row) => (connected ? shown.get(row.name) !== row.state : row.since > lastFrame))
      : []
    : [...changed.values()];
  connected = false;
  if (full) shown.clear();
  for (const row of rows) {
    const before = table.size;
    table.update(row);
    shown.set(row.name, row.state);
    if (table.size !== before) reshaped = true;
  }
  for (const name of removed) shown.delete(name);
  for (const row of moved) if (row.since > 0 && row.since <= now) latency.add(now - row.since);
  lastFrame = now;
  if (full) shapes.clear();
  for (const name of removed) shapes.delete(name);
  if (shapeChanged(rows) || reshaped) graphShape = true;
  for (const row of rows) graphRows.set(row.name, row);
  if (full || (selected !== null && (changed.has(selected) || removed.has(selected)))) showSelected();
  if (reshaped) refreshFilterOptions();
  schedulePanels();
  setText(byId('host-state'), hostState);
  byId('host-state').className = `badge ${stateClass(hostState)}`;
  renderCounts();
  renderShown();
  const report = latency.report();
  if (report.count > 0) setText(byId('lag'), `page delay p50 ${report.p50} ms · p95 ${report.p95} ms · max ${report.max} ms (${report.count} changes)`);
  changed.clear();
  removed.clear();
  full = false;
  giveFocusBack();
}

function renderPanels(): void {
  if (graphShape) graph.render(plugins.values());
  else for (const row of graphRows.values()) graph.update(row);
  graphShape = false;
  graphRows.clear();
  // A new connection's recent records first, then what came after them: the panels may be drawn
  // before the table's frame that took the snapshot in.
  if (fresh) timeline.reset(fresh);
  fresh = null;
  if (records.length > 0) timeline.add(records.splice(0));
}

/** Dependencies last drawn, per plugin: the graph is laid out again only when they change. */
const shapes = new Map<string, string>();
function shapeChanged(rows: readonly DashboardPlugin[]): boolean {
  let any = false;
  for (const row of rows) {
    const shape = row.dependencies.join(',');
    if (shapes.get(row.name) === shape) continue;
    shapes.set(row.name, shape);
    any = true;
  }
  return any;
}

function renderCounts(): void {
  const counts = new Map<string, number>();
  for (const plugin of plugins.values()) {
    const top = plugin.state.split('.')[0]!;
    counts.set(top, (counts.get(top) ?? 0) + 1);
  }
  const parts = [...counts].sort().map(([state, n]) => el('span', { class: `count ${stateClass(state)}` }, `${n} ${state}`));
  byId('counts').replaceChildren(el('span', {}, `${plugins.size} plugins`), ...parts);
}

function refreshFilterOptions(): void {
  const select = byId<HTMLSelectElement>('timeline-filter');
  const value = select.value;
  const options = [el('option', { value: '' }, 'all actors'), el('option', { value: 'manager' }, 'manager')];
  for (const name of [...plugins.keys()].sort()) options.push(el('option', { value: name }, name));
  select.replaceChildren(...options);
  select.value = plugins.has(value) || value === 'manager' ? value : '';
}

function receive(message: Exclude<LiveMessage, { type: 'heartbeat' }>): void {
  if (message.type === 'snapshot') {
    plugins.clear();
    for (const plugin of message.snapshot.plugins) plugins.set(plugin.name, plugin);
    hostState = message.snapshot.state;
    full = true;
    connected = true;
    fresh = message.recent;
    records.length = 0;
    byId('timeline-section').classList.toggle('no-inspection', !message.snapshot.inspection);
    // The fresh picture is here (drawn in the next frame): what the page shows is current again.
    document.body.classList.remove('stale');
  } else if (message.type === 'plugins') {
    hostState = message.state;
    if (message.full) {
      plugins.clear();
      full = true;
    }
    for (const plugin of message.plugins) {
      plugins.set(plugin.name, plugin);
      changed.set(plugin.name, plugin);
    }
    for (const name of message.removed) {
      plugins.delete(name);
      changed.delete(name);
      removed.add(name);
    }
  } else {
    for (const record of message.records) records.push(record);
    // A hidden tab gets no animation frames: keep only what the timeline could show.
    if (records.length > MAX_PENDING_RECORDS) records.splice(0, records.length - MAX_PENDING_RECORDS);
    schedulePanels();
    return;
  }
  schedule();
}

/**
 * The time between two heartbeats, as the last snapshot said (the server's default until one
 * came). A stream that brought nothing, a heartbeat at least, for twice that and a second more
 * has stalled (a proxy or a network holding the socket): it is dropped for a new one. It is
 * looked at every second, so a stall is noticed within 2 × heartbeatMs + 2 s.
 */
let heartbeatMs = 15_000;
const STALL_SLACK_MS = 1000;
const WATCH_EVERY_MS = 1000;

function connect(): void {
  const source = new EventSource('/api/events');
  const status = byId('connection');
  let heard = Date.now();
  const down = () => {
    setText(status, 'reconnecting…');
    status.className = 'down';
    delete status.dataset['reason'];
    // What the page shows is as of the moment the connection went: dimmed until it is back.
    document.body.classList.add('stale');
  };
  // Watched from the start, while it connects too: a request may get no answer at all, and a
  // stream may stall before its first message.
  const watchdog = window.setInterval(() => {
    if (source.readyState === EventSource.CLOSED || Date.now() - heard <= 2 * heartbeatMs + STALL_SLACK_MS) return;
    clearInterval(watchdog);
    source.close();
    down();
    connect();
  }, WATCH_EVERY_MS);
  source.onopen = () => {
    // A stream that opens again after an outage starts its count afresh.
    heard = Date.now();
    setText(status, 'live');
    status.className = 'live';
    delete status.dataset['reason'];
  };
  source.onerror = () => {
    down();
    // EventSource gives up for good on an answer that is not a stream (the server's limit of
    // live streams, a proxy's error page): connect again later, as it would after a lost connection.
    if (source.readyState === EventSource.CLOSED) {
      clearInterval(watchdog);
      setTimeout(connect, RETRY_CLOSED_MS);
      void refusedBecause(status);
    }
  };
  for (const type of ['snapshot', 'plugins', 'inspection', 'heartbeat'] as const) {
    source.addEventListener(type, (event) => {
      heard = Date.now();
      const message = JSON.parse((event as MessageEvent<string>).data) as LiveMessage;
      if (message.type === 'heartbeat') return;
      if (message.type === 'snapshot') heartbeatMs = message.heartbeatMs;
      receive(message);
    });
  }
}

/**
 * Why the stream was refused, which EventSource does not tell: a HEAD of it gets the same answer.
 * The host's limit of live streams is said (`data-reason` holds the code); anything else stays
 * `reconnecting…`.
 */
async function refusedBecause(status: HTMLElement): Promise<void> {
  const response = await fetch('/api/events', { method: 'HEAD' }).catch(() => null);
  if (response?.status !== 503 || status.className !== 'down') return;
  status.dataset['reason'] = 'LIMIT_REACHED';
  setText(status, 'reconnecting… (the host serves no more pages at once; close one)');
}

async function loadChart(): Promise<void> {
  const response = await fetch('/api/chart');
  const body = (await response.json()) as DashboardChart;
  chart.mount(body.svg);
  showSelected();
}

function renderShown(): void {
  const shown = table.shown();
  setText(byId('shown'), shown === null || shown === table.size ? '' : `${shown} shown`);
}

byId<HTMLInputElement>('filter').addEventListener('input', (event) => {
  table.filter((event.target as HTMLInputElement).value);
  renderShown();
});
const timelineFilter = () =>
  timeline.setFilter(byId<HTMLSelectElement>('timeline-filter').value, byId<HTMLInputElement>('microsteps').checked);
byId('timeline-filter').addEventListener('change', timelineFilter);
byId('microsteps').addEventListener('change', timelineFilter);
byId<HTMLFormElement>('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>('token');
  controls.token = input.value;
  input.value = '';
  void checkToken();
});
byId('token-forget').addEventListener('click', () => {
  controls.token = null;
  tokenCheck += 1;
  tokenChecking = false;
  tokenRefused = false;
  refreshControls();
});

/** For operators and tests: how far the page lags behind the host. */
Object.assign(window, { pluginFactoryDashboard: { latency: () => latency.report(), resetLatency: () => latency.clear() } });

void checkToken();
showSelected();
connect();
void loadChart();
