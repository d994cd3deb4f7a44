/**
 * The daemon in a child process, for the benches that measure it from outside (lifecycle, memory):
 * run from plain JavaScript, as production runs dist/ (the tsx loader alone holds ≈ 60 MiB more), it
 * prints `READY <socket> <dir>` once it serves (see child-daemon-main.ts). CPU and memory come
 * from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot, transpileClosure } from '../test/helpers/transpile.js';

export interface BenchDaemon {
  child: ChildProcess;
  pid: number;
  /** The Hypervisor socket. */
  socket: string;
  /** The daemon's own folder (PODS_DIR, state); removed by `stopBenchDaemon`. */
  dir: string;
}

/**
 * `main` (a path under the repository, e.g. bench/memory/daemon-main.ts) and what it imports, as JavaScript
 * in a new folder, which the caller removes when done (`stopBenchDaemon` removes only the daemon's own `dir`).
 */
export async function transpileDaemonMain(main: string, prefix: string): Promise<string> {
  const js = await mkdtemp(join(tmpdir(), prefix));
  await transpileClosure([join(repoRoot, main)], js);
  return js;
}

/** Runs the transpiled `main` and waits for its READY line; on rejection the child has exited and there is nothing to stop. */
export async function startBenchDaemon(js: string, main: string, options: { nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<BenchDaemon> {
  const script = join(js, main.replace(/\.ts$/, '.js'));
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...options.env },
  });
  const ready = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => l.startsWith('READY ') && resolve(l));
    child.once('exit', (c) => reject(new Error(`daemon exited with ${c}`)));
  });
  const [, socket, dir] = ready.split(' ');
  return { child, pid: child.pid!, socket: socket!, dir: dir! };
}

/** `SIGTERM` lets the daemon drain; `SIGKILL` when only its memory mattered. */
export async function stopBenchDaemon(d: BenchDaemon, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const exited = new Promise((r) => d.child.once('exit', r));
  d.child.kill(signal);
  await exited;
  await rm(d.dir, { recursive: true, force: true });
}

/** Resident set size now and at its peak (VmHWM), in KiB. */
export async function memKiB(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0), hwm: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) };
}
