/**
 * A full or read-only PODS_DIR, for real: a 64 KiB tmpfs mounted over the daemon's PODS_DIR and
 * filled, or remounted read-only (root only). Each call that writes must answer a clear code
 * naming PODS_DIR, leave nothing half-made (no folder without a state, no sandbox stuck in
 * `creating`, no cloud instance), and the same id must work once the disk does.
 */
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TtrpcError } from '../../src/ttrpc/codes.js';
import { runCommand } from '../../src/util/run-command.js';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { MemoryProvider } from '../fakes/memory-provider.js';
import { mountTestsUnavailable } from '../helpers/mounts.js';

const skipReason = await mountTestsUnavailable('a tmpfs to fill');
const exists = (p: string) => access(p).then(() => true, () => false);

let h: DaemonHarness | undefined;
const mounted = new Set<string>();

async function unmountAll(): Promise<void> {
  for (const m of mounted) {
    await runCommand(['umount', m]).catch(() => runCommand(['umount', '-l', m]).catch(() => undefined));
    mounted.delete(m);
  }
}

afterEach(async () => {
  // The daemon first (it writes there), then the mount, then the harness's temp folder.
  await h?.stopDaemon().catch(() => undefined);
  await unmountAll();
  await h?.close();
  h = undefined;
});
afterAll(unmountAll);

/** A daemon whose PODS_DIR is a fresh 64 KiB tmpfs. */
async function startOnTinyDisk(provider = new MemoryProvider()): Promise<DaemonHarness> {
  const harness = await DaemonHarness.start({ provider });
  h = harness;
  await mkdir(harness.config.podsDir, { recursive: true });
  await runCommand(['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', harness.config.podsDir]);
  mounted.add(harness.config.podsDir);
  return harness;
}

/** Creates sandbox SANDBOX_ID as the shim does; returns the hypervisor client it used. */
async function createSandbox(harness: DaemonHarness) {
  const hv = await harness.hypervisor();
  await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
  return hv;
}

const fillFile = (harness: DaemonHarness) => join(harness.config.podsDir, 'fill');

/** Writes until the tmpfs is full (ENOSPC), then checks that it is. */
async function fill(harness: DaemonHarness): Promise<void> {
  try {
    await writeFile(fillFile(harness), Buffer.alloc(1024 * 1024));
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    return;
  }
  throw new Error('1 MiB fitted on a 64 KiB tmpfs');
}

const free = (harness: DaemonHarness) => rm(fillFile(harness), { force: true });

async function failure(p: Promise<unknown>): Promise<TtrpcError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TtrpcError);
  return err as TtrpcError;
}

const RESOURCE_EXHAUSTED = 8;
const UNAVAILABLE = 14;

describe.skipIf(skipReason !== undefined)(`a full or read-only PODS_DIR${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('CreateVM on a full disk: RESOURCE_EXHAUSTED naming PODS_DIR, no folder left; the same id works once there is space', async () => {
    const d = await startOnTinyDisk();
    await fill(d);
    const hv = await d.hypervisor();
    const err = await failure(hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }));
    expect(err.code).toBe(RESOURCE_EXHAUSTED);
    expect(err.message).toBe(
      `cannot write the sandbox state under PODS_DIR=${d.config.podsDir} (${join(d.config.podsDir, SANDBOX_ID, 'state.json')}): no space left on device (ENOSPC)`,
    );
    expect(await exists(join(d.config.podsDir, SANDBOX_ID))).toBe(false);
    expect(d.daemon.manager.size).toBe(0);

    // Still full: the same answer, not ALREADY_EXISTS.
    expect((await failure(hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }))).code).toBe(RESOURCE_EXHAUSTED);

    await free(d);
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await hv.startVM({ id: SANDBOX_ID });
    await hv.stopVM({ id: SANDBOX_ID });
    await d.settle();
    expect(d.provider.instances.size).toBe(0);
    expect(await exists(join(d.config.podsDir, SANDBOX_ID))).toBe(false);
  });

  it('StartVM on a full disk: RESOURCE_EXHAUSTED before any cloud call; the sandbox stays startable and stoppable', async () => {
    const d = await startOnTinyDisk();
    const hv = await createSandbox(d);
    await fill(d);
    const err = await failure(hv.startVM({ id: SANDBOX_ID }));
    expect(err.code).toBe(RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/^cannot write the sandbox state under PODS_DIR=\S+ \(\S+state\.json\): no space left on device \(ENOSPC\)$/);
    expect(d.provider.calls.filter((c) => c.op === 'create')).toEqual([]);
    expect(d.daemon.manager.get(SANDBOX_ID)?.phase).toBe('created');
    const onDisk = JSON.parse(await readFile(join(d.config.podsDir, SANDBOX_ID, 'state.json'), 'utf8'));
    expect(onDisk.phase).toBe('created');

    await free(d);
    await hv.startVM({ id: SANDBOX_ID });
    expect(d.provider.instances.size).toBe(1);
    await hv.stopVM({ id: SANDBOX_ID });
    await d.settle();
    expect(d.provider.instances.size).toBe(0);
    expect(d.daemon.manager.size).toBe(0);
  });

  it('the disk fills while the instance is being created: StartVM answers RESOURCE_EXHAUSTED and the instance is deleted', async () => {
    const provider = new MemoryProvider();
    const d = await startOnTinyDisk(provider);
    const hv = await createSandbox(d);
    provider.fault = async (op) => {
      if (op === 'create') await fill(d);
    };
    const err = await failure(hv.startVM({ id: SANDBOX_ID }));
    expect(err.code).toBe(RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/PODS_DIR=.*\(ENOSPC\)$/);
    provider.fault = undefined;
    await d.settle();
    expect(provider.instances.size).toBe(0);
    expect(d.daemon.manager.get(SANDBOX_ID)?.phase).toBe('created');
    // Removing needs no space: StopVM works on the still-full disk.
    await hv.stopVM({ id: SANDBOX_ID });
    expect(d.daemon.manager.size).toBe(0);
    expect(await exists(join(d.config.podsDir, SANDBOX_ID))).toBe(false);
  });

  it('StopVM of a running sandbox on a full disk: answers OK and the instance and folder still go', async () => {
    const d = await startOnTinyDisk();
    const hv = await createSandbox(d);
    await hv.startVM({ id: SANDBOX_ID });
    await fill(d);
    await hv.stopVM({ id: SANDBOX_ID });
    await d.settle();
    expect(d.provider.instances.size).toBe(0);
    expect(d.daemon.manager.size).toBe(0);
    expect(await exists(join(d.config.podsDir, SANDBOX_ID))).toBe(false);
    expect(d.logged('could not record the stop request')).toBe(true);
  });

  it('a read-only PODS_DIR: CreateVM and StopVM answer UNAVAILABLE naming PODS_DIR; both work once it is writable', async () => {
    const d = await startOnTinyDisk();
    const hv = await d.hypervisor();
    await hv.createVM({ id: 'kept', annotations: shimAnnotations(), networkNamespacePath: '' });
    await runCommand(['mount', '-o', 'remount,ro', d.config.podsDir]);

    const created = await failure(hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }));
    expect(created.code).toBe(UNAVAILABLE);
    expect(created.message).toBe(
      `cannot create the sandbox folder under PODS_DIR=${d.config.podsDir} (${join(d.config.podsDir, SANDBOX_ID)}): read-only file system (EROFS)`,
    );
    const stopped = await failure(hv.stopVM({ id: 'kept' }));
    expect(stopped.code).toBe(UNAVAILABLE);
    expect(stopped.message).toMatch(/^cannot remove the sandbox folder under PODS_DIR=\S+ \(\S+\/kept\): read-only file system \(EROFS\)$/);
    expect(d.daemon.manager.get('kept')?.phase).toBe('created'); // still known: a retry can finish it

    await runCommand(['mount', '-o', 'remount,rw', d.config.podsDir]);
    await hv.stopVM({ id: 'kept' });
    expect(await exists(join(d.config.podsDir, 'kept'))).toBe(false);
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    expect(d.daemon.manager.get(SANDBOX_ID)?.phase).toBe('created');
  });
});
