/**
 * Builds and drives `ttrpc-peer`, the Go containerd/ttrpc reference peer (test/interop/go), for the
 * interop tests and the benchmark. Without Go or Debian's ttrpc sources the build reports a reason
 * instead of failing, so callers can skip; a compile error still throws.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');
const buildScript = join(here, 'build-go.sh');
export const goPeerPath = join(repoRoot, '.tmp/interop/ttrpc-peer');

/** Exit codes of build-go.sh that mean "tooling not installed" (skip) rather than "broken" (fail). */
const MISSING_TOOLING = new Set([2, 3]);

let build: Promise<string | undefined> | undefined;
let skipReason: string | undefined;

/** Builds the peer once per process. Resolves to its path, or undefined when Go/ttrpc are missing. */
export function buildGoPeer(): Promise<string | undefined> {
  build ??= new Promise((resolvePath, reject) => {
    execFile('sh', [buildScript], { cwd: repoRoot, timeout: 300_000 }, (err, _stdout, stderr) => {
      if (!err) return resolvePath(goPeerPath);
      const code = typeof err.code === 'number' ? err.code : undefined;
      if (code !== undefined && MISSING_TOOLING.has(code)) {
        skipReason = stderr.trim() || `build-go.sh exited ${code}`;
        return resolvePath(undefined);
      }
      if (err.code === 'ENOENT') {
        skipReason = `cannot run sh: ${err.message}`;
        return resolvePath(undefined);
      }
      reject(new Error(`building ttrpc-peer failed: ${err.message}\n${stderr}`));
    });
  });
  return build;
}

/** Why buildGoPeer resolved to undefined. */
export function goPeerSkipReason(): string | undefined {
  return skipReason;
}

export interface ReadyProcess {
  readonly child: ChildProcess;
  /** stderr so far, for failure messages. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns a long-running process and resolves once it prints a line equal to `marker` on stdout. */
export function spawnReady(
  command: string,
  args: readonly string[],
  options: { marker?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ReadyProcess> {
  const { marker = 'READY', timeoutMs = 15_000 } = options;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const proc: ReadyProcess = {
    child,
    stderr: () => err,
    stop: (graceMs = 2_000) => stopChild(child, exited, graceMs),
  };
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => {
      void proc.stop(0);
      reject(new Error(`${command} not ready after ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.trim() !== marker) return;
      clearTimeout(timer);
      lines.close();
      child.stdout!.resume(); // keep draining so the child never blocks on a full pipe
      resolveReady(proc);
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code ?? signal}) before ${marker}; stderr: ${err}`));
    });
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Starts `ttrpc-peer server --socket PATH` and waits for READY. */
export function startGoServer(bin: string, socket: string): Promise<ReadyProcess> {
  return spawnReady(bin, ['server', '--socket', socket]);
}

/** One JSON line of `ttrpc-peer client` output. */
export interface GoResult {
  call: string;
  code: number;
  message?: string;
  /** The error never came off the wire (the Go client's own context ended first). */
  local?: boolean;
  elapsedMs: number;
  [field: string]: unknown;
}

/** Runs `ttrpc-peer client --socket PATH --scenario NAME` to completion and parses its output. */
export function runGoClient(bin: string, socket: string, scenario: string, timeoutMs = 20_000): Promise<GoResult[]> {
  return new Promise((resolveResults, reject) => {
    execFile(bin, ['client', '--socket', socket, '--scenario', scenario], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`ttrpc-peer client ${scenario} failed: ${err.message}\n${stderr}`));
      try {
        resolveResults(
          stdout
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => JSON.parse(l) as GoResult),
        );
      } catch (e) {
        reject(new Error(`unparsable ttrpc-peer output (${(e as Error).message}): ${stdout}`));
      }
    });
  });
}
