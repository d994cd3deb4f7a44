/**
 * Child processes for the tunnel benchmark. Each child runs in its own process group (socat with
 * `fork` spawns one process per connection), so stopping kills the whole group; a process `exit`
 * hook SIGKILLs every group still alive and removes registered temp dirs, also after an error or
 * Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

const liveGroups = new Set<number>();
const tempDirs = new Set<string>();
let hooked = false;

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
  // Without handlers SIGINT/SIGTERM end the process without the `exit` event.
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
}

/** Removes `dir` at process exit unless `forgetTempDir` was called (it was removed normally). */
export function registerTempDir(dir: string): void {
  hookExit();
  tempDirs.add(dir);
}

export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** The last few KiB of stdout and stderr, for error messages and log scraping. */
  output(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const KEEP_OUTPUT = 16 << 10;

/**
 * Spawns `command` in a new process group and resolves once a line of its stdout or stderr matches
 * `ready` (with the match), or rejects when it exits or `timeoutMs` passes first.
 */
export function spawnChild(
  name: string,
  command: string,
  args: readonly string[],
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<{ child: Child; match: RegExpMatchArray }> {
  hookExit();
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = proc.pid;
  if (pid === undefined) return Promise.reject(new Error(`${name}: spawn ${command} failed`));
  liveGroups.add(pid);
  let out = '';
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      // The leader is gone; anything it forked still belongs to the group.
      killGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
      resolve();
    }),
  );
  let stopping: Promise<void> | undefined;
  const child: Child = {
    name,
    pid,
    output: () => out,
    stop(graceMs = 2_000) {
      stopping ??= (async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) return exited;
        killGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, match?: RegExpMatchArray): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        void child.stop(0);
        reject(err);
      } else resolve({ child, match: match! });
    };
    const timer = setTimeout(() => finish(new Error(`${name} not ready after ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
    for (const stream of [proc.stdout, proc.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        out = (out + line + '\n').slice(-KEEP_OUTPUT);
        const m = line.match(ready);
        if (m) finish(undefined, m);
      });
    }
    proc.once('error', (e) => finish(new Error(`${name}: ${e.message}`)));
    proc.once('exit', (code, signal) => finish(new Error(`${name} exited (${code ?? signal}) before it was ready; output:\n${out}`)));
  });
}
