/**
 * CreateVM (and StartVM of a state saved before the check existed) refuses the daemon's own
 * network namespace as a pod's with INVALID_ARGUMENT, before anything is made: StartVM would
 * otherwise bridge the host's default-route interface into the pod's VXLAN. A namespace of the
 * pod's own is still accepted.
 */
import { access, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TtrpcError } from '../../src/ttrpc/codes.js';
import { runCommand } from '../../src/util/run-command.js';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { TestNet, netnsTestsUnavailable } from '../helpers/netns.js';
import { FakePodNetwork } from '../fakes/pod-network.js';
import { mountTestsUnavailable } from '../helpers/mounts.js';

const INVALID_ARGUMENT = 3;
const netnsSkip = await netnsTestsUnavailable();
const rootSkip = await mountTestsUnavailable('a bind mount');
const exists = (p: string) => access(p).then(() => true, () => false);

let h: DaemonHarness | undefined;
let net: TestNet | undefined;
const mounts: string[] = [];
afterEach(async () => {
  for (const m of mounts.splice(0)) await runCommand(['umount', m]).catch(() => undefined);
  await net?.cleanup();
  net = undefined;
  await h?.close();
  h = undefined;
});
afterAll(async () => {
  for (const m of mounts.splice(0)) await runCommand(['umount', '-l', m]).catch(() => undefined);
});

async function refused(harness: DaemonHarness, netnsPath: string): Promise<TtrpcError> {
  const hv = await harness.hypervisor();
  const err = await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: netnsPath }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TtrpcError);
  expect((err as TtrpcError).code).toBe(INVALID_ARGUMENT);
  expect((err as TtrpcError).message).toBe(
    `networkNamespacePath ${JSON.stringify(netnsPath)} is the daemon's own (host) network namespace; a peer pod needs a network namespace of its own`,
  );
  // Nothing made: no sandbox, no folder, no inspection; the daemon keeps serving.
  expect(harness.daemon.manager.size).toBe(0);
  expect(await exists(join(harness.config.podsDir, SANDBOX_ID))).toBe(false);
  await hv.createVM({ id: 'next', annotations: shimAnnotations(), networkNamespacePath: '' });
  await hv.stopVM({ id: 'next' });
  return err as TtrpcError;
}

describe('the host network namespace is no pod namespace', () => {
  it('CreateVM with /proc/self/ns/net → INVALID_ARGUMENT, with or without pod networking', async () => {
    const podNetwork = new FakePodNetwork();
    h = await DaemonHarness.start({ podNetwork });
    await refused(h, '/proc/self/ns/net');
    await refused(h, `/proc/${process.pid}/ns/net`);
    expect(podNetwork.events).toEqual([]);
    await h.close();
    h = await DaemonHarness.start();
    await refused(h, '/proc/self/ns/net');
  });

  it('CreateVM with a symlink to it → INVALID_ARGUMENT', async () => {
    h = await DaemonHarness.start({ podNetwork: new FakePodNetwork() });
    const link = join(h.dir, 'cni-host');
    await symlink('/proc/self/ns/net', link);
    await refused(h, link);
  });

  it.skipIf(rootSkip !== undefined)(`CreateVM with a bind mount of it → INVALID_ARGUMENT${rootSkip ? ` (skipped: ${rootSkip})` : ''}`, async () => {
    h = await DaemonHarness.start({ podNetwork: new FakePodNetwork() });
    const target = join(h.dir, 'cni-bound');
    await writeFile(target, '');
    await runCommand(['mount', '--bind', '/proc/self/ns/net', target]);
    mounts.push(target);
    await refused(h, target);
  });

  it.skipIf(netnsSkip !== undefined)(`a namespace of the pod's own is accepted${netnsSkip ? ` (skipped: ${netnsSkip})` : ''}`, async () => {
    net = await TestNet.create('caa-hostns', ['pod']);
    const podNetwork = new FakePodNetwork();
    h = await DaemonHarness.start({ podNetwork });
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: net.ns('pod') });
    expect(podNetwork.events).toEqual([`prepare ${net.ns('pod')} 555000`]);
    await hv.startVM({ id: SANDBOX_ID });
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('running');
  });

  it('StartVM of a saved state naming the host namespace → INVALID_ARGUMENT before any cloud call', async () => {
    const podNetwork = new FakePodNetwork();
    h = await DaemonHarness.start({ podNetwork });
    await (await h.hypervisor()).createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '/var/run/netns/cni-1' });
    await h.stopDaemon();
    // As an older version would have saved it.
    const file = join(h.config.podsDir, SANDBOX_ID, 'state.json');
    const state = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...state, netnsPath: '/proc/self/ns/net' }));
    await h.restart();
    const err = await (await h.hypervisor()).startVM({ id: SANDBOX_ID }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TtrpcError);
    expect((err as TtrpcError).code).toBe(INVALID_ARGUMENT);
    expect(h.provider.calls.filter((c) => c.op === 'create')).toEqual([]);
    expect(podNetwork.events.filter((e) => e.startsWith('connect'))).toEqual([]);
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('created');
    // StopVM still removes it.
    await (await h.hypervisor()).stopVM({ id: SANDBOX_ID });
    expect(h.daemon.manager.size).toBe(0);
  });
});
