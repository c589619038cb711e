/**
 * What the dashboard's server sends its page (the JSON API and the SSE stream). Shared by both
 * sides: the page is bundled from src/dashboard/client/, which imports these types.
 */
import type { ErrorCode } from '../errors.ts';
import type { InspectionRecord } from '../inspection/record.ts';

export type { InspectionRecord };

/** What a control token is made of: 16 to 256 letters, digits, `-`, `_`, `.` or `~`. */
export const TOKEN_PATTERN = /^[A-Za-z0-9\-_.~]{16,256}$/;

/** Commands the dashboard can send for one plugin. */
export const DASHBOARD_COMMANDS = Object.freeze(['start', 'stop', 'restart', 'reload', 'retry', 'reset'] as const);
export type DashboardCommand = (typeof DASHBOARD_COMMANDS)[number];

export interface DashboardError {
  code: ErrorCode;
  message: string;
  hook?: string;
}

/** A plugin's health, when the snapshot carries one. */
export interface DashboardHealth {
  status: string;
  message?: string;
}

/** One row of the plugin table: the snapshot's fields, redacted, plus what the chart allows now. */
export interface DashboardPlugin {
  name: string;
  version: string | null;
  /** Lifecycle state as a dotted path (`starting.hook`, `failed.retrying` …). */
  state: string;
  attempts: number;
  dependencies: string[];
  /** Which of `dependencies` are optional. */
  optionalDependencies: string[];
  error: DashboardError | null;
  errors: DashboardError[];
  timings: Record<string, number>;
  health: DashboardHealth | null;
  /** Which commands `manager.can()` allows right now. */
  can: Record<DashboardCommand, boolean>;
  /** When the dashboard saw the plugin enter its state (ms since the epoch); later for each entry of the plugin. */
  since: number;
}

export interface DashboardSnapshot {
  /** The host's state: idle, booting, running, stopping, stopped (or crashed: the manager actor itself failed). */
  state: string;
  plugins: DashboardPlugin[];
  /** Whether reload has a source of new definitions (`reload` option). */
  reload: boolean;
  /** Whether inspection events reach the timeline (a hub was given). */
  inspection: boolean;
}

/** The SSE stream `/api/events`: one named event per message, JSON data. */
export type LiveMessage =
  /** First message on every connection: the whole picture, the recent timeline, and the time between two heartbeats. */
  | { type: 'snapshot'; snapshot: DashboardSnapshot; recent: InspectionRecord[]; heartbeatMs: number }
  /** Rows that changed since the last message and plugins that are gone; `full`: every plugin is listed. */
  | { type: 'plugins'; state: string; plugins: DashboardPlugin[]; removed: string[]; full: boolean }
  /** New timeline records, oldest first. */
  | { type: 'inspection'; records: InspectionRecord[] }
  /** Sent every `heartbeatMs` while the stream is open, whatever else was sent. */
  | { type: 'heartbeat' };

/** `/api/chart`: the lifecycle chart, from its definition, with a drawing of it. */
export interface DashboardChart {
  id: string;
  /** The path of the state the chart starts in. */
  initial: string | null;
  states: Array<{ id: string; path: string; type: string; initial: string | null; description: string | null }>;
  /** `source` is the machine's id for a transition of the root (taken in every state); `event` is '' for an eventless one. */
  transitions: Array<{ source: string; target: string | null; event: string; guard: string | null }>;
  /** SVG markup; each state is a `g[data-state="path"]`, each transition a `g[data-source][data-target]`. */
  svg: string;
}

/** Error body of every refused or failed request. */
export interface ErrorBody {
  error: DashboardError;
}
