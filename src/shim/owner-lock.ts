/**
 * One daemon owns PODS_DIR at a time. Two daemons writing the same sandbox records would undo each
 * other's work, so ownership is an explicit lock with an explicit handover (docs/operations.md):
 *
 * - `PODS_DIR/.owner` names the owner (pid, pid namespace, boot id, process start time, POD_UID).
 *   It is created complete or not at all (a temporary file hard-linked into place: `link` fails
 *   with EEXIST like an O_EXCL create). The owner touches it every `heartbeatMs`.
 * - A newcomer that finds a live owner writes `PODS_DIR/.owner.successor` and keeps it fresh while
 *   it waits (up to `waitMs`); the owner sees it, drains as on SIGTERM and removes `.owner`.
 * - An owner is dead when (same pid namespace and boot) its pid is gone or now belongs to a process
 *   started at another time, when it was an earlier container of our own pod (same POD_UID), or
 *   (anywhere else: the old and new pod of a DaemonSet do not share a pid namespace) when its heartbeat
 *   is older than `staleMs`. A dead owner's lock is taken over at once.
 * - A daemon whose pod handed over (same POD_UID as the owner's predecessor: the kubelet restarted
 *   the container that just exited) does not ask for the lock back.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../util/atomic-file.js';
import { sleep } from '../util/backoff.js';
import { clampTimerDelay } from '../util/timers.js';
import { singleCodeError } from '../util/coded-error.js';

export const OWNER_FILE = '.owner';
export const SUCCESSOR_FILE = '.owner.successor';

export interface OwnerRecord {
  version: 1;
  /** Unique per acquisition: tells this lock from any later one. */
  token: string;
  pid: number;
  /** `readlink /proc/self/ns/pid`: a pid means something only inside its namespace. */
  pidNamespace: string;
  bootId: string;
  /** Field 22 of `/proc/<pid>/stat` (clock ticks after boot): a recycled pid has another one. */
  processStart: string;
  host: string;
  /** POD_UID of the owner's pod ('' outside Kubernetes). */
  podUid: string;
  /** POD_UID of the owner it took over from. */
  predecessorPodUid: string;
  since: string;
}

interface SuccessorRequest {
  token: string;
  pid: number;
  host: string;
  podUid: string;
  since: string;
}

/** Another daemon owns PODS_DIR and did not hand it over in time. */
export class OwnerLockError extends singleCodeError('OwnerLockError', 'PODS_DIR_OWNED') {}

export type OwnershipEndReason = 'successor' | 'lost';

export interface OwnershipEnd {
  reason: OwnershipEndReason;
  detail: string;
}

export interface OwnerLockOptions {
  /** PODS_DIR. */
  dir: string;
  /** How long to wait for a live owner to hand over (OWNER_WAIT). */
  waitMs: number;
  logger: Logger;
  podUid?: string;
  signal?: AbortSignal;
  /** How often the owner touches its lock (default 2 s). */
  heartbeatMs?: number;
  /** A heartbeat older than this means a dead owner (default 15 s). */
  staleMs?: number;
  /** How often a waiting daemon looks again (default 100 ms). */
  pollMs?: number;
}

// ---- this process, as /proc sees it -------------------------------------------------------

function readOr(read: () => string, fallback: string): string {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** Start time of `pid` in clock ticks after boot; '' when there is no such process (or no /proc). */
export function processStartTime(pid: number): string {
  return readOr(() => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  }, '');
}

function ownRecord(podUid: string): OwnerRecord {
  return {
    version: 1,
    token: randomBytes(12).toString('hex'),
    pid: process.pid,
    pidNamespace: readOr(() => readlinkSync('/proc/self/ns/pid'), ''),
    bootId: readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), ''),
    processStart: processStartTime(process.pid),
    host: hostname(),
    podUid,
    predecessorPodUid: '',
    since: new Date().toISOString(),
  };
}

// ---- reading the lock ---------------------------------------------------------------------

interface Holder {
  text: string;
  record: Partial<OwnerRecord> | undefined;
  mtimeMs: number;
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let record: Partial<OwnerRecord> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      record = parsed && typeof parsed === 'object' ? (parsed as Partial<OwnerRecord>) : undefined;
    } catch {
      record = undefined;
    }
    return { text, record, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether the holder is alive, and why we think so (for the log). */
function judgeHolder(h: Holder, me: OwnerRecord, staleMs: number, now = Date.now()): { alive: boolean; why: string } {
  const r = h.record;
  const age = Math.max(0, now - h.mtimeMs);
  const heartbeat = `last heartbeat ${(age / 1000).toFixed(1)} s ago`;
  if (r && typeof r.pid === 'number' && r.bootId && me.bootId && r.bootId !== me.bootId) {
    return { alive: false, why: 'the machine has rebooted since it started' };
  }
  if (r && typeof r.pid === 'number' && r.pidNamespace && r.pidNamespace === me.pidNamespace) {
    // Same pid namespace: /proc tells the truth at once, whatever the heartbeat says.
    try {
      process.kill(r.pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return { alive: false, why: `pid ${r.pid} no longer exists` };
    }
    const start = processStartTime(r.pid);
    if (start === '' || start !== r.processStart) return { alive: false, why: `pid ${r.pid} now belongs to another process` };
    return { alive: true, why: `pid ${r.pid} is running` };
  }
  if (r && r.podUid && r.podUid === me.podUid) {
    // An earlier container of this very pod: the kubelet starts a container only after the previous one exited.
    return { alive: false, why: `it was an earlier container of this pod (${r.podUid})` };
  }
  // Another pid namespace (another pod) or an unreadable record: only the heartbeat can tell.
  return age > staleMs ? { alive: false, why: `${heartbeat} (stale after ${staleMs / 1000} s)` } : { alive: true, why: heartbeat };
}

function describeHolder(h: Holder): string {
  const r = h.record;
  if (!r) return 'an unreadable owner record';
  return `pid ${r.pid} on ${r.host}${r.podUid ? ` (pod ${r.podUid})` : ''}, owner since ${r.since}`;
}

// ---- small file helpers -------------------------------------------------------------------

/** Creates `path` with `text` only if it does not exist; the content is complete from the first moment. */
async function createExclusive(path: string, text: string, token: string): Promise<boolean> {
  const tmp = `${path}.${token}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Removes `path` if its content is still `text`. Two daemons may judge the same dead owner at once. */
async function removeIfUnchanged(path: string, text: string, token: string): Promise<void> {
  const aside = `${path}.${token}.stale`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => text);
  // Someone replaced it between our read and our rename: put theirs back (unless a third took the place).
  if (moved !== text) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

async function removeIfToken(path: string, token: string): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  try {
    if ((JSON.parse(text) as { token?: string }).token === token) await removeIfUnchanged(path, text, token);
  } catch {
    // not ours
  }
}

// ---- the lock -----------------------------------------------------------------------------

export class OwnerLock {
  readonly path: string;
  /**
   * Resolves when ownership ends without `release()`: a successor asked for it, or the lock was taken.
   * After a successor's request the lock is still held and its heartbeat goes on (a draining owner is
   * alive): the caller must drain and then call `release()`, which is what the successor waits for.
   * Never resolves once `release()` has been called.
   */
  readonly ended: Promise<OwnershipEnd>;
  private endWith!: (end: OwnershipEnd) => void;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Set by `release()` or a lost lock: no more heartbeats. */
  private done = false;
  /** Set once `ended` has resolved; the heartbeat goes on (a draining owner is alive) until `release()`. */
  private ending = false;

  private constructor(
    readonly dir: string,
    readonly record: OwnerRecord,
    private readonly o: Required<Pick<OwnerLockOptions, 'heartbeatMs' | 'staleMs'>> & { logger: Logger },
  ) {
    this.path = join(dir, OWNER_FILE);
    this.ended = new Promise((resolve) => (this.endWith = resolve));
    this.timer = setInterval(() => void this.beat(), clampTimerDelay(o.heartbeatMs));
    this.timer.unref();
  }

  /**
   * Takes ownership of `dir`: at once when it is free or its owner is dead; else asks the owner to
   * hand over and waits up to `waitMs`, then throws OwnerLockError.
   */
  static async acquire(o: OwnerLockOptions): Promise<OwnerLock> {
    const heartbeatMs = o.heartbeatMs ?? 2_000;
    const staleMs = o.staleMs ?? 15_000;
    const pollMs = o.pollMs ?? 100;
    const log = o.logger;
    const me = ownRecord(o.podUid ?? '');
    const lockPath = join(o.dir, OWNER_FILE);
    const successorPath = join(o.dir, SUCCESSOR_FILE);
    await mkdir(o.dir, { recursive: true });
    const started = Date.now();
    const deadline = started + o.waitMs;
    let lastHolder: Holder | undefined;
    let deadOwner: string | undefined;
    let requestedAt = 0;
    try {
      for (;;) {
        o.signal?.throwIfAborted();
        const holder = await readHolder(lockPath);
        if (!holder) {
          me.predecessorPodUid = lastHolder?.record?.podUid ?? '';
          if (await createExclusive(lockPath, JSON.stringify(me), me.token)) {
            await removeIfToken(successorPath, me.token);
            const lock = new OwnerLock(o.dir, me, { heartbeatMs, staleMs, logger: log });
            if (deadOwner) log.warn({ dir: o.dir }, `took over PODS_DIR ${o.dir} from a dead daemon (${deadOwner})`);
            else if (lastHolder) log.info({ dir: o.dir, waitedMs: Date.now() - started }, `PODS_DIR ${o.dir} handed over by ${describeHolder(lastHolder)}`);
            log.info({ dir: o.dir, lock: lockPath }, `owner of PODS_DIR ${o.dir}`);
            return lock;
          }
          continue; // another newcomer was quicker: judge it like any owner
        }
        lastHolder = holder;
        const verdict = judgeHolder(holder, me, staleMs);
        if (!verdict.alive) {
          deadOwner = `${describeHolder(holder)}: ${verdict.why}`;
          await removeIfUnchanged(lockPath, holder.text, me.token);
          continue;
        }
        if (Date.now() >= deadline) {
          throw new OwnerLockError(
            `PODS_DIR ${o.dir} is owned by another cloud-api-adaptor (${describeHolder(holder)}; ${verdict.why}), which did not hand it over ` +
              `within OWNER_WAIT=${o.waitMs / 1000}s. Stop that daemon, give this one other paths (--pods-dir / PODS_DIR, --socket / REMOTE_HYPERVISOR_ENDPOINT), or raise OWNER_WAIT / --owner-wait.`,
          );
        }
        const handedOverByUs = o.podUid !== undefined && o.podUid !== '' && holder.record?.predecessorPodUid === o.podUid;
        if (!handedOverByUs && Date.now() - requestedAt >= heartbeatMs) {
          // (Re)written every heartbeat: a fresh request is how the owner knows we are still waiting.
          const request: SuccessorRequest = { token: me.token, pid: me.pid, host: me.host, podUid: me.podUid, since: me.since };
          await writeFileAtomic(successorPath, JSON.stringify(request), { mode: 0o644, durable: false });
          if (requestedAt === 0) {
            log.info({ dir: o.dir, waitMs: o.waitMs }, `PODS_DIR ${o.dir} is owned by ${describeHolder(holder)} (${verdict.why}); asked it to hand over, waiting up to ${o.waitMs / 1000} s`);
          }
          requestedAt = Date.now();
        } else if (handedOverByUs && requestedAt === 0) {
          requestedAt = -1;
          log.warn({ dir: o.dir }, `this pod (${o.podUid}) handed PODS_DIR ${o.dir} over to ${describeHolder(holder)}; not asking for it back (waiting up to ${o.waitMs / 1000} s for it to go)`);
        }
        // Ref'd: while a starting daemon waits for PODS_DIR nothing else holds the event loop open.
        await sleep(pollMs, o.signal, { keepAlive: true });
      }
    } catch (err) {
      await removeIfToken(successorPath, me.token);
      throw err;
    }
  }

  /** One heartbeat: still ours? touch it; a fresh successor request? end. */
  private async beat(): Promise<void> {
    if (this.busy || this.done) return;
    this.busy = true;
    try {
      const holder = await readHolder(this.path);
      if (this.done) return; // released meanwhile
      if (holder?.record?.token !== this.record.token) {
        this.done = true;
        clearInterval(this.timer);
        this.end('lost', holder ? `PODS_DIR ${this.dir} is now owned by ${describeHolder(holder)}` : `the lock ${this.path} was removed`);
        return;
      }
      const now = new Date();
      await utimes(this.path, now, now);
      if (this.ending) return;
      const successor = await readHolder(join(this.dir, SUCCESSOR_FILE));
      // A waiting newcomer rewrites its request every heartbeat; one not rewritten for three heartbeats
      // is from a newcomer that died (SIGKILL leaves the file): no handover to nobody.
      const freshMs = Math.min(this.o.staleMs, 3 * this.o.heartbeatMs);
      // `done`: released while this beat was reading; `ended` must then stay unresolved.
      if (!this.done && successor && Date.now() - successor.mtimeMs <= freshMs && successor.record?.token !== this.record.token) {
        const r = successor.record as Partial<SuccessorRequest> | undefined;
        this.end('successor', `a successor is waiting: pid ${r?.pid} on ${r?.host}${r?.podUid ? ` (pod ${r.podUid})` : ''}`);
      }
    } catch (err) {
      this.o.logger.warn({ err, lock: this.path }, 'owner heartbeat failed; trying again');
    } finally {
      this.busy = false;
    }
  }

  private end(reason: OwnershipEndReason, detail: string): void {
    if (this.ending) return;
    this.ending = true;
    this.endWith({ reason, detail });
  }

  /**
   * Stops the heartbeat and removes the lock if it is still ours (never another daemon's). Idempotent;
   * safe during a heartbeat in progress (that beat then ends nothing). The last thing an owner does.
   */
  async release(): Promise<void> {
    this.done = true;
    clearInterval(this.timer);
    await removeIfToken(this.path, this.record.token);
  }
}
