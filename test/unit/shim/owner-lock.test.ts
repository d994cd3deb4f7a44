/**
 * PODS_DIR ownership (shim/owner-lock.ts): one owner, an explicit handover, dead owners taken over,
 * live ones waited for up to OWNER_WAIT.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OWNER_FILE, OwnerLock, OwnerLockError, SUCCESSOR_FILE, processStartTime, type OwnerRecord } from '../../../src/shim/owner-lock.js';
import { makeTempDir, rejectionOf, removeDir } from '../../helpers/async.js';

let dir: string;
const locks: OwnerLock[] = [];
let logs: { msg: string; level: number }[];

const logger = () => pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string; level: number }) });
const fast = { heartbeatMs: 30, staleMs: 1_000, pollMs: 10 };

async function acquire(extra: { waitMs?: number; podUid?: string; staleMs?: number } = {}): Promise<OwnerLock> {
  const lock = await OwnerLock.acquire({ dir, waitMs: 10_000, logger: logger(), ...fast, ...extra });
  locks.push(lock);
  return lock;
}

function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/** A lock file as another daemon would have written it. */
async function writeHolder(overrides: Partial<OwnerRecord>): Promise<string> {
  const record: OwnerRecord = {
    version: 1,
    token: 'other-token',
    pid: process.pid,
    pidNamespace: 'pid:[1]',
    bootId: bootId(),
    processStart: processStartTime(process.pid),
    host: 'elsewhere',
    podUid: '',
    predecessorPodUid: '',
    since: new Date().toISOString(),
    ...overrides,
  };
  const text = JSON.stringify(record);
  await writeFile(join(dir, OWNER_FILE), text);
  return text;
}

async function ownToken(): Promise<string | undefined> {
  return ((JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as OwnerRecord).token);
}

const logged = (text: string): boolean => logs.some((l) => l.msg.includes(text));

beforeEach(async () => {
  dir = await makeTempDir('caa-owner-');
  logs = [];
});

afterEach(async () => {
  for (const l of locks.splice(0)) await l.release();
  await removeDir(dir);
});

describe('OwnerLock', () => {
  it('takes a free PODS_DIR at once and names this process in the lock; release removes it', async () => {
    const lock = await acquire();
    const record = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as OwnerRecord;
    expect(record).toMatchObject({ version: 1, pid: process.pid, token: lock.record.token, bootId: bootId() });
    expect(record.processStart).toBe(processStartTime(process.pid));
    expect(record.processStart).toMatch(/^\d+$/);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over at once from a daemon whose pid is gone (same pid namespace: a SIGKILLed daemon)', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((r) => child.once('exit', r));
    await writeHolder({ pid, pidNamespace: (await import('node:fs')).readlinkSync('/proc/self/ns/pid'), processStart: '1' });
    const lock = await acquire({ waitMs: 0 });
    expect(await ownToken()).toBe(lock.record.token);
    expect(logged(`took over PODS_DIR ${dir} from a dead daemon (pid ${pid} on elsewhere`)).toBe(true);
    expect(logged(`pid ${pid} no longer exists`)).toBe(true);
  });

  it('does not count a recycled pid as alive (same pid, another start time)', async () => {
    await writeHolder({ pid: process.pid, pidNamespace: (await import('node:fs')).readlinkSync('/proc/self/ns/pid'), processStart: '7' });
    const lock = await acquire({ waitMs: 0 });
    expect(await ownToken()).toBe(lock.record.token);
    expect(logged(`pid ${process.pid} now belongs to another process`)).toBe(true);
  });

  it('a lock written before a reboot is dead', async () => {
    await writeHolder({ bootId: '00000000-0000-0000-0000-000000000000' });
    const lock = await acquire({ waitMs: 0 });
    expect(await ownToken()).toBe(lock.record.token);
    expect(logged('the machine has rebooted since it started')).toBe(true);
  });

  it('another pid namespace with a stale heartbeat is dead (a crashed pod)', async () => {
    await writeHolder({});
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, OWNER_FILE), old, old);
    const lock = await acquire({ waitMs: 0 });
    expect(await ownToken()).toBe(lock.record.token);
    expect(logged('stale after 1 s')).toBe(true);
  });

  it('a lock of an earlier container of this pod (same POD_UID, another pid namespace) is dead: the kubelet restarted us', async () => {
    await writeHolder({ podUid: 'pod-1' });
    const lock = await acquire({ waitMs: 0, podUid: 'pod-1' });
    expect(await ownToken()).toBe(lock.record.token);
    expect(logged('it was an earlier container of this pod (pod-1)')).toBe(true);
  });

  it('a live owner that does not hand over: gives up after OWNER_WAIT with a clear error and leaves the lock alone', async () => {
    // Another pid namespace, heartbeat fresh (written just now): alive, and it never answers.
    const text = await writeHolder({ pid: 4242, host: 'node-7', podUid: 'pod-old' });
    const err = await rejectionOf(acquire({ waitMs: 300 }));
    expect(err).toBeInstanceOf(OwnerLockError);
    expect((err as OwnerLockError).code).toBe('PODS_DIR_OWNED');
    expect((err as Error).message).toContain(`PODS_DIR ${dir} is owned by another cloud-api-adaptor (pid 4242 on node-7 (pod pod-old)`);
    expect((err as Error).message).toContain('within OWNER_WAIT=0.3s');
    expect((err as Error).message).toContain('raise OWNER_WAIT / --owner-wait');
    expect(logged('asked it to hand over')).toBe(true);
    // The lock is untouched, and our request to hand over is withdrawn.
    expect(await readFile(join(dir, OWNER_FILE), 'utf8')).toBe(text);
    expect(await readdir(dir)).toEqual([OWNER_FILE]);
  });

  it('hands over: the owner sees the successor, releases, and the successor takes the lock', async () => {
    const old = await acquire({ podUid: 'pod-old' });
    const newcomer = acquire({ podUid: 'pod-new' });
    const end = await old.ended;
    expect(end.reason).toBe('successor');
    expect(end.detail).toContain(`a successor is waiting: pid ${process.pid}`);
    expect(end.detail).toContain('(pod pod-new)');
    // Draining: the owner still holds the lock until it releases.
    expect(await ownToken()).toBe(old.record.token);
    await old.release();
    const lock = await newcomer;
    expect(await ownToken()).toBe(lock.record.token);
    expect(lock.record.predecessorPodUid).toBe('pod-old');
    expect(await readdir(dir)).toEqual([OWNER_FILE]);
    expect(logged(`PODS_DIR ${dir} handed over by pid ${process.pid}`)).toBe(true);
  });

  it('a draining owner keeps its heartbeat (across pid namespaces the heartbeat is all a successor sees)', async () => {
    const old = await acquire();
    const newcomer = acquire();
    await old.ended;
    const { stat } = await import('node:fs/promises');
    const before = (await stat(join(dir, OWNER_FILE))).mtimeMs;
    await new Promise((r) => setTimeout(r, 10 * fast.heartbeatMs));
    expect((await stat(join(dir, OWNER_FILE))).mtimeMs).toBeGreaterThan(before);
    expect(await ownToken()).toBe(old.record.token);
    await old.release();
    await newcomer;
  });

  it('the pod that handed over does not ask for the lock back (the kubelet restarted its container)', async () => {
    await writeHolder({ podUid: 'pod-new', predecessorPodUid: 'pod-old' });
    const err = await rejectionOf(acquire({ waitMs: 200, podUid: 'pod-old' }));
    expect(err).toBeInstanceOf(OwnerLockError);
    expect(logged('this pod (pod-old) handed PODS_DIR')).toBe(true);
    expect(logged('asked it to hand over')).toBe(false);
    expect(await readdir(dir)).toEqual([OWNER_FILE]);
  });

  it('an owner whose lock was taken ends with "lost"', async () => {
    const lock = await acquire();
    await writeHolder({ token: 'usurper', host: 'other-host' });
    const end = await lock.ended;
    expect(end).toEqual({ reason: 'lost', detail: expect.stringContaining(`PODS_DIR ${dir} is now owned by pid ${process.pid} on other-host`) as string });
    await lock.release();
    // Not ours any more: release leaves it.
    expect(await ownToken()).toBe('usurper');
  });

  // fast: heartbeat 30 ms, staleMs 1 s. A request 300 ms old has missed ten rewrites (its newcomer was
  // killed), though it is younger than staleMs.
  it.each([
    ['a stale request (a newcomer that gave up long ago)', 60_000],
    ['a request no longer rewritten (its newcomer was killed)', 300],
  ])('%s does not make the owner hand over', async (_name, ageMs) => {
    await writeFile(join(dir, SUCCESSOR_FILE), JSON.stringify({ token: 'gone', pid: 1, host: 'x', podUid: '', since: '' }));
    const old = new Date(Date.now() - ageMs);
    await utimes(join(dir, SUCCESSOR_FILE), old, old);
    const lock = await acquire();
    const result = await Promise.race([lock.ended.then(() => 'ended'), new Promise((r) => setTimeout(() => r('still owner'), 300))]);
    expect(result).toBe('still owner');
  });

  it('an abort while waiting stops the wait and withdraws the request', async () => {
    await writeHolder({});
    const ac = new AbortController();
    const p = OwnerLock.acquire({ dir, waitMs: 60_000, logger: logger(), ...fast, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stopping')), 100);
    expect((await rejectionOf(p)) as Error).toHaveProperty('message', 'stopping');
    expect(await readdir(dir)).toEqual([OWNER_FILE]);
  });
});
