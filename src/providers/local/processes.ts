/**
 * Starting and stopping the detached processes of a local instance. They are detached so that a
 * daemon restart leaves them running, as a cloud VM would be.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { sleep } from '../../util/backoff.js';

/** How to run a Node entry point of ours: compiled `.js` directly, TypeScript sources through tsx. */
export function nodeCommand(entry: URL): string[] {
  const path = entry.pathname;
  return path.endsWith('.ts') ? [process.execPath, '--import', 'tsx', path] : [process.execPath, path];
}

/** How a process ended: its exit code, or the signal that ended it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Spawned {
  pid: number;
  /**
   * Settles when the process ends (while this daemon runs; a detached child outlives a restart). Never
   * rejects: a spawn that failed resolves `{ code: null, signal: null }`.
   */
  exited: Promise<ProcessExit>;
}

export function spawnDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Spawned {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('empty command');
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env });
    // A spawn failure (ENOENT) arrives as an 'error' event: without a listener it would end the daemon.
    const exited = new Promise<ProcessExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    return { pid: child.pid, exited };
  } finally {
    closeSync(fd);
  }
}

/** "exit code 1", "signal SIGKILL". */
export function describeExit(exit: ProcessExit): string {
  if (exit.signal) return `signal ${exit.signal}`;
  return exit.code === null ? 'an unknown status' : `exit code ${exit.code}`;
}

/** Longest log line quoted in an error. */
const MAX_LINE = 400;

/**
 * The last line a process wrote to its log (stdout and stderr share the file): a program's own
 * last word before it exits. A pino JSON line gives its `msg` (and `err`). Undefined when the log
 * is empty or unreadable.
 */
export async function lastLogLine(logFile: string): Promise<string | undefined> {
  let text: string;
  try {
    const fh = await open(logFile, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 8192);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
  const line = text.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
  if (line === undefined) return undefined;
  let shown = line;
  try {
    const o = JSON.parse(line) as { msg?: unknown; err?: unknown };
    if (typeof o.msg === 'string') shown = typeof o.err === 'string' ? `${o.msg}: ${o.err}` : o.msg;
  } catch {
    // a plain line (console.error)
  }
  return shown.length > MAX_LINE ? `${shown.slice(0, MAX_LINE)}…` : shown;
}

/** Whether `pid` is alive and its command line mentions `marker` (so a recycled pid is never killed). */
export async function isOurs(pid: number, marker: string): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(marker);
  } catch {
    return false;
  }
}

/**
 * Pids of live processes whose command line mentions `marker` (an instance's folder). Finds the
 * processes of an instance whose create was interrupted between spawning them and recording them.
 */
export async function findByMarker(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    if (await isOurs(Number(name), marker)) pids.push(Number(name));
  }
  return pids;
}

/**
 * Resolves once `pid` is no longer our process (gone, or the pid reused by another), polling every
 * `pollMs`; rejects with the signal's reason when it aborts first (without a signal it polls until the
 * process is gone: callers pass none only after SIGKILL). For processes we did not start in
 * this process (no exit event to wait on).
 */
export async function processGone(pid: number, marker: string, pollMs: number, signal?: AbortSignal): Promise<void> {
  while (await isOurs(pid, marker)) await sleep(pollMs, signal);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, marker: string, graceMs = 2000): Promise<void> {
  if (!(await isOurs(pid, marker))) return;
  try {
    process.kill(-pid, 'SIGTERM'); // the whole process group: tsx runs the real program as a child
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!(await isOurs(pid, marker))) return;
    await sleep(25);
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  await processGone(pid, marker, 25);
}
