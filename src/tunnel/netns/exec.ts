/**
 * The one wrapper for the network tools the pod-network code runs (`ip`, `tc`, `iptables`), in
 * the daemon's own network namespace or in another one entered with `nsenter --net=<path>`.
 * Any netns path works: a named one (`/var/run/netns/cni-…`) or a process's (`/proc/<pid>/ns/net`).
 * Failures are `CommandError`s from `runCommand`: they name the full argv, the exit code and stderr.
 */
import { messageOf } from '../../util/errors.js';
import { statfs } from 'node:fs/promises';
import { runCommand, type RunOptions } from '../../util/run-command.js';
import { NetnsError, NetnsErrorCode, describeNetns } from './errors.js';

export interface NetToolOptions extends RunOptions {
  /** Network namespace path to run in; `undefined` = the current namespace. */
  netns?: string;
}

/** `argv`, prefixed with `nsenter --net=<path>` when a namespace path is given. */
export function inNetns(netnsPath: string | undefined, argv: readonly string[]): string[] {
  if (netnsPath === undefined) return [...argv];
  if (netnsPath === '') throw new TypeError('empty network namespace path');
  return ['nsenter', `--net=${netnsPath}`, ...argv];
}

function run(argv: readonly string[], opts: NetToolOptions): Promise<string> {
  const runOpts: RunOptions = {};
  if (opts.signal) runOpts.signal = opts.signal;
  if (opts.timeoutMs !== undefined) runOpts.timeoutMs = opts.timeoutMs;
  return runCommand(inNetns(opts.netns, argv), runOpts);
}

/** `ip <args>`; resolves with stdout. */
export function ip(args: readonly string[], opts: NetToolOptions = {}): Promise<string> {
  return run(['ip', ...args], opts);
}

/** `tc <args>`; resolves with stdout. */
export function tc(args: readonly string[], opts: NetToolOptions = {}): Promise<string> {
  return run(['tc', ...args], opts);
}

/** `iptables -w <args>`: `-w` makes concurrent callers wait for the xtables lock instead of failing. */
export function iptables(args: readonly string[], opts: NetToolOptions = {}): Promise<string> {
  return run(['iptables', '-w', ...args], opts);
}

/**
 * `ip -json <args>`, parsed. Empty output reads as `[]`. The shape is not checked: `T` is what the
 * caller expects `ip` to print. Output that is not JSON throws `NetnsError` `UNEXPECTED_OUTPUT`.
 */
export async function ipJson<T>(args: readonly string[], opts: NetToolOptions = {}): Promise<T> {
  const argv = ['ip', '-json', ...args];
  const out = (await run(argv, opts)).trim();
  if (out === '') return [] as T;
  try {
    return JSON.parse(out) as T;
  } catch (err) {
    const shown = out.length > 200 ? `${out.slice(0, 200)}…` : out;
    throw new NetnsError(
      NetnsErrorCode.UNEXPECTED_OUTPUT,
      `${inNetns(opts.netns, argv).join(' ')} printed no JSON (${describeNetns(opts.netns)}): ${shown}`,
      { netns: opts.netns, cause: err },
    );
  }
}

/** `f_type` of nsfs, the file system of namespace files (bind mounts and `/proc/<pid>/ns/*`). */
const NSFS_MAGIC = 0x6e736673;

/**
 * Why `path` cannot be entered as a namespace (`'does not exist'`, `'is not a namespace file …'`,
 * `'cannot be opened (EACCES)'`), or `undefined` when it is a namespace file. A mount point left
 * behind by a crashed teardown is an ordinary empty file and is reported as such.
 */
export async function netnsProblem(path: string): Promise<string | undefined> {
  if (path === '') return 'is empty';
  try {
    const s = await statfs(path);
    return s.type === NSFS_MAGIC ? undefined : 'is not a namespace file (a stale mount point?)';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'does not exist';
    return `cannot be opened (${code ?? messageOf(err)})`;
  }
}

/** True when `path` is a namespace file that can be entered (e.g. `/var/run/netns/cni-…`). */
export async function netnsExists(path: string): Promise<boolean> {
  return (await netnsProblem(path)) === undefined;
}
