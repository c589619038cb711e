/**
 * Child processes for the tests that run programs the way a user does (the CLI, the demo, the
 * examples): each in its own process group, so that `killAll()` in afterEach leaves nothing
 * behind, with its output collected.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root, where every program is started. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Run {
  child: ChildProcess;
  /** stdout so far. */
  out(): string;
  /** stderr so far. */
  err(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: Run[] = [];

/** Starts `command args` from the project root, in a process group of its own. */
export function startProcess(command: string, args: string[], env: Record<string, string> = {}, stdoutTo: 'pipe' | number = 'pipe', stderrTo: 'pipe' | number = 'pipe'): Run {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdoutTo, stderrTo],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const run: Run = { child, out: () => stdout, err: () => stderr, exited };
  runs.push(run);
  return run;
}

/** Resolves with the exit of `run`, or rejects after `ms`. */
export async function exitOf(run: Run, ms = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms\n--- stdout\n${run.out()}\n--- stderr\n${run.err()}`)), ms);
  });
  try {
    return await Promise.race([run.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `pattern` appears in the run's stdout (or stderr with `stream: 'err'`). */
export async function waitFor(
  run: Run,
  pattern: RegExp,
  options: { stream?: 'out' | 'err'; ms?: number } = {},
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + (options.ms ?? 15_000);
  const text = options.stream === 'err' ? run.err : run.out;
  for (;;) {
    const match = text().match(pattern);
    if (match) return match;
    if (run.child.exitCode !== null || run.child.signalCode !== null || Date.now() > deadline) {
      throw new Error(`no ${pattern} in the output\n--- stdout\n${run.out()}\n--- stderr\n${run.err()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Kills every program still running (its whole process group); for afterEach. */
export function killAll(): void {
  for (const run of runs.splice(0)) {
    if (run.child.exitCode !== null || run.child.signalCode !== null || run.child.pid === undefined) continue;
    try {
      process.kill(-run.child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Whether `script` (util-linux) is there and can give a program a pseudo-terminal here. */
export const HAS_SCRIPT = existsSync('/usr/bin/script') && spawnSync('script', ['-qfc', 'true', '/dev/null'], { stdio: 'ignore', timeout: 5000 }).status === 0;

/**
 * Runs `command` (from the project root) on a pseudo-terminal until it prints
 * `kill -INT <pid>` and what follows it (it serves), then hangs the terminal up: its master end closed, which
 * ends the session's shell and sends the program SIGHUP. Resolves with the program's exit
 * status as a shell reports it (`134` for SIGABRT), kept by a shell that ignores the hangup.
 */
export async function exitAfterHangup(command: string[], ms = 20_000): Promise<{ status: string; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-pty-'));
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  const status = join(dir, 'status');
  await writeFile(join(dir, 'run.sh'), `trap '' HUP\n${command.map(quote).join(' ')}\necho $? > ${quote(status)}\n`);
  // With SHELL=/bin/sh, `script` runs `sh -c 'sh run.sh'` (dash does not exec the one command),
  // so the outer sh leads the terminal's session: it dies of the hangup and the kernel then
  // sends SIGHUP to the program, as a closed terminal window does.
  const script = spawn('script', ['-qfc', `sh ${quote(join(dir, 'run.sh'))}`, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, SHELL: '/bin/sh' },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  let output = '';
  script.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  try {
    const deadline = Date.now() + ms;
    const pause = () => new Promise((resolve) => setTimeout(resolve, 25));
    let pid: number | undefined;
    while (pid === undefined) {
      const found = /kill -INT (\d+)(?=\D)/.exec(output); // the whole pid: what follows it is read too
      if (found) pid = Number(found[1]);
      else if (Date.now() > deadline) throw new Error(`no pid in the output:\n${output}`);
      else await pause();
    }
    script.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 100));
    try {
      // In case the session was led by a shell that execs (bash) and only ignored the hangup.
      process.kill(pid, 'SIGHUP');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error; // already gone, by the kernel's SIGHUP
    }
    while (!existsSync(status)) {
      if (Date.now() > deadline) throw new Error(`no exit after the hangup:\n${output}`);
      await pause();
    }
    return { status: (await readFile(status, 'utf8')).trim(), output };
  } finally {
    script.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}
