/**
 * Where a local instance lives on the network.
 *
 * - `loopback`: the forwarder binds its own address 127.N.x.y; needs no privileges.
 * - `netns` (root): the instance gets its own network namespace `caa-<id>`, joined to the host by
 *   a veth pair with a /30 from LOCAL_NETNS_CIDR — the shape of a VM on a host-only network, which
 *   the pod network (VXLAN to the instance's IP) builds on.
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
export function netnsNames(id: string): { netns: string; hostIf: string; peerIf: string } {
  const tag = id.replace(/^local-/, '').slice(0, 10);
  return { netns: `caa-${tag}`, hostIf: `cah${tag}`, peerIf: `cai${tag}` };
}

/** The /30 number `i` of a /16 base such as 10.239.0.0/16: host end .1, instance end .2. */
export function netnsAddresses(cidr: string, i: number): { host: string; instance: string } {
  const [a, b] = cidr.split('/')[0]!.split('.').map(Number) as [number, number];
  const n = i * 4;
  return { host: `${a}.${b}.${n >> 8}.${(n & 0xff) + 1}`, instance: `${a}.${b}.${n >> 8}.${(n & 0xff) + 2}` };
}

/** Creates the namespace and the veth pair. On failure removes what it made and rethrows. */
export async function createNetns(id: string, addresses: { host: string; instance: string }, signal: AbortSignal): Promise<InstanceNetwork> {
  const { netns, hostIf, peerIf } = netnsNames(id);
  const ip = (...args: string[]) => runCommand(['ip', ...args], { signal });
  try {
    await ip('netns', 'add', netns);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peerIf);
    await ip('link', 'set', peerIf, 'netns', netns);
    await ip('addr', 'add', `${addresses.host}/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('-n', netns, 'addr', 'add', `${addresses.instance}/30`, 'dev', peerIf);
    await ip('-n', netns, 'link', 'set', peerIf, 'up');
    await ip('-n', netns, 'link', 'set', 'lo', 'up');
  } catch (err) {
    await deleteNetns({ ip: addresses.instance, netns, hostIf });
    throw err;
  }
  return { ip: addresses.instance, netns, hostIf };
}

/** Removes the namespace (its veth end goes with it, and so does the host end). Idempotent. */
export async function deleteNetns(net: InstanceNetwork): Promise<void> {
  if (net.netns) await runCommand(['ip', 'netns', 'del', net.netns]).catch(() => undefined);
  if (net.hostIf) await runCommand(['ip', 'link', 'del', net.hostIf]).catch(() => undefined);
}

/** The command prefix that runs a program inside the instance's namespace. */
export function inNetns(net: InstanceNetwork): string[] {
  return net.netns ? ['ip', 'netns', 'exec', net.netns] : [];
}
