/**
 * Where a local instance lives on the network.
 *
 * - `loopback`: the forwarder binds its own address 127.N.x.y; needs no privileges.
 * - `netns` (root): the instance gets its own network namespace `caa-<id>`, joined by a veth pair
 *   to a host bridge `caabr<N>` that holds the first address of LOCAL_NETNS_CIDR — a VM on a
 *   host-only network, like libvirt's virbr0. The bridge is the worker's underlay for the pod
 *   network (the VXLAN between the worker and the instance).
 */
import { runCommand } from '../../util/run-command.js';

export interface InstanceNetwork {
  /** The address the daemon dials (IPs[0]). */
  ip: string;
  /** netns mode: the namespace and the host end of the veth. */
  netns?: string;
  hostIf?: string;
}

export type NetworkMode = 'loopback' | 'netns';

/** Namespace and link names derived from the instance id (link names are at most 15 characters). */
export function netnsNames(id: string): { netns: string; hostIf: string; peerIf: string; podNetns: string } {
  const tag = id.replace(/^local-/, '').slice(0, 10);
  return { netns: `caa-${tag}`, hostIf: `cah${tag}`, peerIf: `cai${tag}`, podNetns: `caa-${tag}-pod` };
}

/** The host bridge of a LOCAL_NETNS_CIDR: its name and address (`A.B.0.1/16`). */
export function bridgeFor(cidr: string): { name: string; address: string } {
  const [a, b] = cidr.split('/')[0]!.split('.');
  return { name: `caabr${b}`, address: `${a}.${b}.0.1/16` };
}

/** The address of instance slot `i` (from 0) in A.B.0.0/16, skipping .0.0, the bridge's .0.1 and .255.255. */
export function netnsAddress(cidr: string, i: number): string {
  const [a, b] = cidr.split('/')[0]!.split('.').map(Number) as [number, number];
  const n = i + 2;
  if (n > 0xfffe) throw new RangeError('no address left');
  return `${a}.${b}.${n >> 8}.${n & 0xff}`;
}

/** Creates the host bridge when it is missing. Idempotent. */
export async function ensureBridge(cidr: string, signal?: AbortSignal): Promise<string> {
  const { name, address } = bridgeFor(cidr);
  const exists = await runCommand(['ip', 'link', 'show', name], { signal }).then(() => true, () => false);
  if (!exists) {
    await runCommand(['ip', 'link', 'add', name, 'type', 'bridge'], { signal }).catch(async (err: unknown) => {
      // Another create won the race: fine.
      if (!(await runCommand(['ip', 'link', 'show', name]).then(() => true, () => false))) throw err;
    });
    await runCommand(['ip', 'addr', 'replace', address, 'dev', name], { signal });
    await runCommand(['ip', 'link', 'set', name, 'up'], { signal });
  }
  return name;
}

/** Removes the host bridge (when the last instance is gone). Idempotent. */
export async function deleteBridge(cidr: string): Promise<void> {
  await runCommand(['ip', 'link', 'del', bridgeFor(cidr).name]).catch(() => undefined);
}

/** Creates the namespace and the veth pair on the bridge. On failure removes what it made and rethrows. */
export async function createNetns(id: string, cidr: string, address: string, signal: AbortSignal): Promise<InstanceNetwork> {
  const { netns, hostIf, peerIf } = netnsNames(id);
  const ip = (...args: string[]) => runCommand(['ip', ...args], { signal });
  try {
    const bridge = await ensureBridge(cidr, signal);
    await ip('netns', 'add', netns);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peerIf);
    await ip('link', 'set', peerIf, 'netns', netns);
    await ip('link', 'set', hostIf, 'master', bridge);
    await ip('link', 'set', hostIf, 'up');
    await ip('-n', netns, 'addr', 'add', `${address}/16`, 'dev', peerIf);
    await ip('-n', netns, 'link', 'set', peerIf, 'up');
    await ip('-n', netns, 'link', 'set', 'lo', 'up');
  } catch (err) {
    await deleteNetns({ ip: address, netns, hostIf });
    throw err;
  }
  return { ip: address, netns, hostIf };
}

/** Removes the namespaces (the veth goes with them). Idempotent. */
export async function deleteNetns(net: InstanceNetwork & { podNetns?: string }): Promise<void> {
  if (net.podNetns) await runCommand(['ip', 'netns', 'del', net.podNetns]).catch(() => undefined);
  if (net.netns) await runCommand(['ip', 'netns', 'del', net.netns]).catch(() => undefined);
  if (net.hostIf) await runCommand(['ip', 'link', 'del', net.hostIf]).catch(() => undefined);
}

/**
 * The command prefix that runs a program inside the instance's namespace. `nsenter --net` rather
 * than `ip netns exec`: the latter also gives the program a private mount namespace, and a pod
 * namespace the forwarder then adds with `ip netns add` would be invisible (and unremovable) outside.
 */
export function inNetns(net: InstanceNetwork): string[] {
  return net.netns ? ['nsenter', `--net=/run/netns/${net.netns}`] : [];
}
