/**
 * Starting and stopping the detached processes of a local instance. They are detached so that a
 * daemon restart leaves them running, as a cloud VM would be.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { sleep } from '../../util/backoff.js';

/** How to run a Node entry point of ours: compiled `.js` directly, TypeScript sources through tsx. */
export function nodeCommand(entry: URL): string[] {
  const path = entry.pathname;
  return path.endsWith('.ts') ? [process.execPath, '--import', 'tsx', path] : [process.execPath, path];
}

export function spawnDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('empty command');
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
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
  while (await isOurs(pid, marker)) await sleep(25);
}
