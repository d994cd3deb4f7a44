/**
 * The daemon's own network namespace is recognised by identity (device + inode of the nsfs
 * file), whatever path names it: /proc/self/ns/net, /proc/<own pid>/ns/net, a symlink, a bind
 * mount (root). A namespace of its own (root: `ip netns add`) is not.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NetnsError, NetnsErrorCode, inspectPodNetns, isOwnNetns, refuseOwnNetns } from '../../../../src/tunnel/netns/index.js';
import { VxlanPodNetwork } from '../../../../src/tunnel/pod-network.js';
import { runCommand } from '../../../../src/util/run-command.js';
import { pino } from 'pino';
import { makeTempDir, rejectionOf, removeDir } from '../../../helpers/async.js';
import { TestNet, netnsTestsUnavailable } from '../../../helpers/netns.js';
import { mountTestsUnavailable } from '../../../helpers/mounts.js';

const netnsSkip = await netnsTestsUnavailable();
const rootSkip = await mountTestsUnavailable('a bind mount');

let dir: string | undefined;
const mounts: string[] = [];
let net: TestNet | undefined;
afterEach(async () => {
  for (const m of mounts.splice(0)) await runCommand(['umount', m]).catch(() => undefined);
  await net?.cleanup();
  net = undefined;
  await removeDir(dir);
  dir = undefined;
});
afterAll(async () => {
  for (const m of mounts.splice(0)) await runCommand(['umount', '-l', m]).catch(() => undefined);
});

async function isHostError(p: Promise<unknown>): Promise<NetnsError> {
  const err = await rejectionOf(p);
  expect(err).toBeInstanceOf(NetnsError);
  expect((err as NetnsError).code).toBe(NetnsErrorCode.POD_NETNS_IS_HOST);
  return err as NetnsError;
}

describe('isOwnNetns', () => {
  it('is true for every path to the daemon\'s own namespace', async () => {
    dir = await makeTempDir('caa-netns-id-');
    const link = join(dir, 'hostnet');
    await symlink('/proc/self/ns/net', link);
    expect(await isOwnNetns('/proc/self/ns/net')).toBe(true);
    expect(await isOwnNetns(`/proc/${process.pid}/ns/net`)).toBe(true);
    expect(await isOwnNetns(link)).toBe(true);
  });

  it('is false for what is not a namespace, does not exist, or is empty', async () => {
    dir = await makeTempDir('caa-netns-id-');
    await writeFile(join(dir, 'plain'), '');
    expect(await isOwnNetns(join(dir, 'plain'))).toBe(false);
    expect(await isOwnNetns(join(dir, 'missing'))).toBe(false);
    expect(await isOwnNetns('')).toBe(false);
    // Another namespace type of the same process is another inode.
    expect(await isOwnNetns('/proc/self/ns/mnt')).toBe(false);
  });

  it.skipIf(rootSkip !== undefined)(`is true for a bind mount of it${rootSkip ? ` (skipped: ${rootSkip})` : ''}`, async () => {
    dir = await makeTempDir('caa-netns-id-');
    const target = join(dir, 'bound');
    await writeFile(target, '');
    await runCommand(['mount', '--bind', '/proc/self/ns/net', target]);
    mounts.push(target);
    expect(await isOwnNetns(target)).toBe(true);
    await isHostError(refuseOwnNetns(target));
  });

  it.skipIf(netnsSkip !== undefined)(`is false for a namespace of its own${netnsSkip ? ` (skipped: ${netnsSkip})` : ''}`, async () => {
    net = await TestNet.create('caa-ownns', ['pod']);
    expect(await isOwnNetns(net.ns('pod'))).toBe(false);
    await expect(refuseOwnNetns(net.ns('pod'))).resolves.toBeUndefined();
  });
});

describe('the pod network refuses the host\'s namespace before touching anything', () => {
  it('inspectPodNetns (CreateVM) and VxlanPodNetwork (CreateVM, StartVM) throw POD_NETNS_IS_HOST', async () => {
    const err = await isHostError(inspectPodNetns('/proc/self/ns/net'));
    expect(err.message).toBe("pod network namespace /proc/self/ns/net is the daemon's own (host) network namespace; a peer pod needs a network namespace of its own");
    const podNet = new VxlanPodNetwork({ hostInterface: '', vxlanPort: 4789, externalNetViaPodVm: false, podSubnetCidrs: [], logger: pino({ level: 'silent' }) });
    await isHostError(podNet.prepare('/proc/self/ns/net', 555000, 0, AbortSignal.timeout(10_000)));
    const cfg = {
      podip: '10.244.1.21/24',
      'pod-hw-addr': '0a:58:0a:f4:01:15',
      interface: 'eth0',
      'worker-node-ip': '10.224.0.5/16',
      'tunnel-type': 'vxlan',
      routes: [],
      neighbors: null,
      mtu: 1450,
      index: 0,
      'vxlan-port': 4789,
      'vxlan-id': 555000,
      dedicated: false,
      'external-net-via-pod-vm': false,
    };
    await isHostError(podNet.connect('/proc/self/ns/net', cfg, '127.0.0.1', AbortSignal.timeout(10_000)));
  });

  it('…also through a symlink', async () => {
    dir = await makeTempDir('caa-netns-id-');
    await mkdir(join(dir, 'netns'));
    const link = join(dir, 'netns', 'cni-1234');
    await symlink('/proc/self/ns/net', link);
    await isHostError(inspectPodNetns(link));
  });
});
