/**
 * Writing to the terminal: lines to stdout/stderr, errors as `code: message` (stack only when
 * verbose), and the plain-JSON forms of errors used by `--json`.
 */
import { describeThrown, isPluginFactoryError } from '../errors.ts';
import type { ErrorInfo, PluginFactoryError } from '../errors.ts';
import { printable } from '../printable.ts';

/**
 * Text from plugins or files (an error message) as one line a terminal shows as it is: control
 * characters (escapes, line breaks) written as `\u001b` and the like.
 */
export { printable as shown };

export type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export const print = (line: string, stream: Stream = process.stdout): void => {
  stream.write(`${line}\n`);
};

let claimed = false;

/** Whether stdout holds one JSON document (`claimStdout` was called): nothing else may go there. */
export const stdoutClaimed = (): boolean => claimed;

/**
 * For `--json`, whose stdout is one JSON document: from now on whatever else writes to stdout
 * (plugin code: `console.log` in a hook, a write at import) goes to stderr; the stream returned
 * writes to the real stdout.
 */
export function claimStdout(): Stream {
  claimed = true;
  const stdout = process.stdout;
  const realWrite = stdout.write.bind(stdout) as (...args: unknown[]) => boolean;
  const write = ((...args: unknown[]) => {
    documentWritten = true;
    return realWrite(...args);
  }) as typeof stdout.write;
  claimedWrite = (text) => void realWrite(text);
  const toStderr = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
  stdout.write = ((...args: unknown[]) => toStderr(...args)) as typeof stdout.write;
  return Object.assign(Object.create(stdout) as Stream, { write });
}

/** Whether the command wrote anything to the stdout it claimed. */
let documentWritten = false;
let claimedWrite: ((text: string) => void) | null = null;

/**
 * For a command that claimed stdout and failed before writing its document (an engine fault):
 * writes `document` there instead, so that stdout still holds one JSON document. False when
 * stdout was not claimed, or the command's own document went out already.
 */
export function writeFailureDocument(document: unknown): boolean {
  if (!claimed || documentWritten || claimedWrite === null) return false;
  documentWritten = true;
  claimedWrite(`${JSON.stringify(document)}\n`);
  return true;
}

/** How many causes a verbose error shows, one under the other. */
const MAX_CAUSES = 10;

/** `CODE: message` for a PluginFactoryError, the message otherwise; the stack only if verbose. */
export function formatError(error: unknown, verbose: boolean, shownAlready: ReadonlySet<unknown> = new Set()): string {
  const head = isPluginFactoryError(error) ? `${error.code}: ${printable(error.message)}` : `plugin-factory: ${printable(describeThrown(error))}`;
  if (!verbose || !(error instanceof Error) || typeof error.stack !== 'string') return head;
  // The frames only: V8 writes the message first, all its lines (as it was when the stack was
  // first read), then a line per frame. Each line escaped.
  const lines = error.stack.split('\n');
  const firstFrame = lines.findIndex((line) => /^\s+at /.test(line));
  const stack = lines
    .slice(firstFrame >= 0 ? firstFrame : String(error.message).split('\n').length)
    .map((line) => printable(line))
    .join('\n');
  // A cause that is the error itself, or one shown above, ends the chain.
  const seen = new Set(shownAlready).add(error);
  const cause = error.cause instanceof Error && !seen.has(error.cause) && seen.size <= MAX_CAUSES ? `\ncaused by: ${formatError(error.cause, true, seen)}` : '';
  return `${head}\n${stack}${cause}`;
}

/** `{ code, message }` of a plugin's validation reason. */
export const errorJson = (error: ErrorInfo): { code: string; message: string } => ({
  code: error.code,
  message: error.message,
});

/** `{ code, message, plugins }` of a host problem. */
export function problemJson(problem: PluginFactoryError): { code: string; message: string; plugins: string[] } {
  const plugins = problem.plugins ?? (problem.plugin === undefined ? [] : [problem.plugin]);
  return { code: problem.code, message: problem.message, plugins: [...plugins] };
}

const colour = (code: string) => (text: string, stream: Stream) =>
  stream.isTTY && !process.env['NO_COLOR'] && process.env['TERM'] !== 'dumb' ? `\x1b[${code}m${text}\x1b[0m` : text;

export const red = colour('31');
export const green = colour('32');
export const yellow = colour('33');
export const dim = colour('2');
