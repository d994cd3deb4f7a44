/**
 * The pod VM side of the VXLAN tunnel (reference §3.7 "Pod-VM side", Go `tunneler/vxlan/podnode.go`
 * and `podnetwork/podnode.go`): what the agent-protocol-forwarder does at boot with the
 * `pod-network` object of apf.json (`PodNetworkConfig`, exactly as CAA wrote it).
 *
 * `vxlan0` is created in the VM's namespace over the underlay towards the worker, moved into the
 * pod namespace (`podns`, where kata-agent puts the containers) and given the pod's name, MAC and
 * IP, so the containers see the same interface as the pod had on the worker. Routes and permanent
 * neighbours recorded on the worker are replayed there.
 *
 * Deviation from upstream: the MTU is `min(pod MTU, underlay MTU − 50, ceiling)` instead of
 * `min(pod MTU, 1450)`, so a jumbo-frame underlay carries jumbo frames.
 */
import { messageOf } from '../../util/errors.js';
import { isIPv4, isIPv6 } from 'node:net';
import type { ApfRoute, PodNetworkConfig } from '../../podvm/apf-config.js';
import { CommandError } from '../../util/run-command.js';
import { ip, ipJson, netnsProblem, type NetToolOptions } from '../netns/exec.js';
import {
  checkIfName,
  checkIPv4,
  checkPort,
  checkVni,
  getLink,
  isGone,
  
  runUndo,
  setupFailure,
  unlessGone,
  type UndoStep,
} from './devices.js';
import { VxlanError, VxlanErrorCode } from './errors.js';
import { addNotrackRules, deleteNotrackRules, notrackRules } from './iptables.js';
import { DEFAULT_VXLAN_PORT } from './worker.js';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers. */
export const VXLAN_OVERHEAD = 50;
/** Default upper bound of the pod interface MTU in the VM (upstream: a fixed 1450). */
export const DEFAULT_MTU_CEILING = 9000;
export const DEFAULT_POD_NETNS_NAME = 'podns';
/** Name of the device in the VM namespace before it moves into podns. */
export const DEFAULT_VM_VXLAN_INTERFACE = 'vxlan0';
/** Where `ip netns` keeps named namespaces. */
export const NETNS_RUN_DIR = '/var/run/netns';

/**
 * The pod interface's MTU in the VM: `min(podMtu, underlayMtu − 50, ceiling)`. A `podMtu` of 0
 * (not recorded) does not count.
 */
export function vmMtu(podMtu: number, underlayMtu: number, ceiling: number = DEFAULT_MTU_CEILING): number {
  for (const [name, v] of [
    ['pod MTU', podMtu],
    ['underlay MTU', underlayMtu],
    ['MTU ceiling', ceiling],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  }
  const candidates = [underlayMtu - VXLAN_OVERHEAD, ceiling];
  if (podMtu > 0) candidates.push(podMtu);
  return Math.min(...candidates);
}

export interface VmPodNetworkOptions {
  /** Name of the pod namespace (`ip netns`), created when missing (default `podns`). */
  podNetnsName?: string;
  /** The namespace standing for the VM's root namespace; undefined = the current one. */
  vmNetns?: string;
  /** The underlay device; default: the default-route device, else the one whose subnet holds the worker IP. */
  underlayInterface?: string;
  /** Upper bound of the MTU (default 9000). */
  mtuCeiling?: number;
  /** Temporary name of the device in the VM namespace (default `vxlan0`). */
  vxlanInterface?: string;
  signal?: AbortSignal;
}

export interface VmTeardownOptions extends Omit<VmPodNetworkOptions, 'underlayInterface' | 'mtuCeiling'> {
  /** Leave the pod namespace in place (only its tunnel device goes). Default: delete it. */
  keepPodNetns?: boolean;
}

export interface VmPodNetwork {
  podNetnsName: string;
  podNetnsPath: string;
  /** This call created the pod namespace. */
  createdPodNetns: boolean;
  /** The pod interface in podns (`cfg.interface`). */
  interface: string;
  underlayInterface: string;
  underlayMtu: number;
  mtu: number;
  vni: number;
  port: number;
  workerIp: string;
  /** Routes added, as `ip route add` arguments. */
  routes: string[];
  /** Routes of `cfg.routes` that were already there (the kernel's subnet route). */
  skippedRoutes: string[];
  neighbors: string[];
}

export interface VmTeardownResult {
  removed: string[];
  skipped: string[];
}

interface Parsed {
  podAddr: string;
  podBits: number;
  workerIp: string;
  vni: number;
  port: number;
  iface: string;
  podNetnsName: string;
  podNetnsPath: string;
  vxlanInterface: string;
}

function nsOpts(netns: string | undefined, signal?: AbortSignal): NetToolOptions {
  const o: NetToolOptions = {};
  if (netns !== undefined) o.netns = netns;
  if (signal) o.signal = signal;
  return o;
}

function invalid(message: string): VxlanError {
  return new VxlanError(VxlanErrorCode.INVALID_ARGUMENT, 'validate', message);
}

function parse(cfg: PodNetworkConfig, o: VmPodNetworkOptions): Parsed {
  const [podAddr = '', bits = '', ...restPod] = cfg.podip.split('/');
  if (!isIPv4(podAddr) || restPod.length > 0 || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) {
    throw invalid(`podip ${JSON.stringify(cfg.podip)} is not an IPv4 address with a prefix length`);
  }
  const workerIp = cfg['worker-node-ip'].split('/')[0] ?? '';
  checkIPv4('worker-node-ip', workerIp);
  if (cfg['tunnel-type'] !== 'vxlan') throw invalid(`tunnel-type ${JSON.stringify(cfg['tunnel-type'])} is not supported (only "vxlan")`);
  // Go omits zero values: a missing VNI is 0; a missing port means CAA's default.
  const vni = cfg['vxlan-id'] ?? 0;
  const port = cfg['vxlan-port'] || DEFAULT_VXLAN_PORT;
  checkVni(vni);
  checkPort(port);
  checkIfName('pod interface', cfg.interface);
  const vxlanInterface = o.vxlanInterface ?? DEFAULT_VM_VXLAN_INTERFACE;
  checkIfName('VXLAN interface', vxlanInterface);
  const podNetnsName = o.podNetnsName ?? DEFAULT_POD_NETNS_NAME;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(podNetnsName) || podNetnsName === '.' || podNetnsName === '..') {
    throw invalid(`pod namespace name ${JSON.stringify(podNetnsName)} is not a valid ip-netns name`);
  }
  if (o.vmNetns === '') throw invalid('VM network namespace path is empty');
  return {
    podAddr,
    podBits: Number(bits),
    workerIp,
    vni,
    port,
    iface: cfg.interface,
    podNetnsName,
    podNetnsPath: `${NETNS_RUN_DIR}/${podNetnsName}`,
    vxlanInterface,
  };
}

const ipv4Number = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);

function inSubnet(addr: string, net: string, bits: number): boolean {
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : ~((1 << (32 - bits)) - 1) >>> 0;
  return ((ipv4Number(addr) & mask) >>> 0) === ((ipv4Number(net) & mask) >>> 0);
}

function subnetOf(addr: string, bits: number): string {
  const mask = bits === 0 ? 0 : bits === 32 ? 0xffffffff : ~((1 << (32 - bits)) - 1) >>> 0;
  const n = (ipv4Number(addr) & mask) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${bits}`;
}

/** `default`/`''` → `0.0.0.0/0` (or `::/0`), an address without a length gets its host length. */
function normalizeDst(dst: string, v6: boolean): string {
  if (dst === '' || dst === 'default') return v6 ? '::/0' : '0.0.0.0/0';
  return dst.includes('/') ? dst : `${dst}/${v6 ? 128 : 32}`;
}

interface IpAddrLink {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** The default-route device, else the device whose IPv4 subnet contains `workerIp`. */
async function findUnderlay(workerIp: string, vm: NetToolOptions): Promise<string | undefined> {
  const defaults = await ipJson<{ dev?: string }[]>(['-4', 'route', 'show', 'default'], vm);
  const viaDefault = Array.isArray(defaults) ? defaults.find((r) => r.dev)?.dev : undefined;
  if (viaDefault) return viaDefault;
  const links = await ipJson<IpAddrLink[]>(['-4', 'address', 'show'], vm);
  for (const l of Array.isArray(links) ? links : []) {
    for (const a of l.addr_info ?? []) {
      if (a.family === 'inet' && a.local && typeof a.prefixlen === 'number' && a.prefixlen > 0 && inSubnet(workerIp, a.local, a.prefixlen)) {
        return l.ifname;
      }
    }
  }
  return undefined;
}

function routeArgs(r: ApfRoute, iface: string): { args: string[]; dst: string; gw: string; dev: string; v6: boolean } {
  const v6 = (r.dst !== '' && isIPv6(r.dst.split('/')[0] ?? '')) || (r.gw !== '' && isIPv6(r.gw));
  const dst = normalizeDst(r.dst, v6);
  const dev = r.dev || iface;
  const args = [v6 ? '-6' : '-4', 'route', 'add', dst];
  if (r.gw) args.push('via', r.gw);
  args.push('dev', dev);
  if (r.protocol) args.push('proto', r.protocol);
  if (r.scope && r.scope !== 'universe') args.push('scope', r.scope);
  return { args, dst, gw: r.gw, dev, v6 };
}

async function routeExists(dst: string, gw: string, dev: string, v6: boolean, pod: NetToolOptions): Promise<boolean> {
  const routes = await ipJson<{ dst?: string; gateway?: string; dev?: string }[]>([v6 ? '-6' : '-4', 'route', 'show', 'table', 'main'], pod);
  return (Array.isArray(routes) ? routes : []).some(
    (r) => normalizeDst(r.dst ?? '', v6) === dst && (r.gateway ?? '') === gw && (r.dev ?? '') === dev,
  );
}

/**
 * Boot: NOTRACK rules for the worker's IP, `vxlan0` towards the worker moved into the pod namespace
 * (created when missing) as `cfg.interface` with the pod's MAC, MTU `vmMtu(...)` and IP; the
 * kernel's subnet route replaced by the recorded routes (gateway-less first), permanent neighbours.
 * On failure, undoes what it did and throws a `VxlanError` naming the step.
 */
export async function setupVmPodNetwork(cfg: PodNetworkConfig, options: VmPodNetworkOptions = {}): Promise<VmPodNetwork> {
  const p = parse(cfg, options);
  const { signal, vmNetns } = options;
  const ceiling = options.mtuCeiling ?? DEFAULT_MTU_CEILING;
  if (!Number.isInteger(ceiling) || ceiling < 68) throw invalid(`MTU ceiling ${ceiling} is not an integer of at least 68`);
  if (options.underlayInterface !== undefined) checkIfName('underlay interface', options.underlayInterface);

  const vm = nsOpts(vmNetns, signal);
  const pod = nsOpts(p.podNetnsPath, signal);
  const vmUndo = nsOpts(vmNetns);
  const podUndo = nsOpts(p.podNetnsPath);
  const noNs = nsOpts(undefined, signal);
  const undo: UndoStep[] = [];
  let step = 'check-netns';
  try {
    signal?.throwIfAborted();
    if (vmNetns !== undefined) {
      const problem = await netnsProblem(vmNetns);
      if (problem !== undefined) throw new VxlanError(VxlanErrorCode.NOT_FOUND, step, `VM network namespace ${vmNetns} ${problem}`);
    }

    step = 'underlay';
    const underlayInterface = options.underlayInterface ?? (await findUnderlay(p.workerIp, vm));
    if (underlayInterface === undefined) {
      throw new VxlanError(VxlanErrorCode.NOT_FOUND, step, `no underlay device: no IPv4 default route and no device whose subnet holds the worker IP ${p.workerIp}`);
    }
    const underlay = await getLink(underlayInterface, vm);
    if (!underlay) throw new VxlanError(VxlanErrorCode.NOT_FOUND, step, `underlay device ${underlayInterface} does not exist`);
    const mtu = vmMtu(cfg.mtu, underlay.mtu, ceiling);
    if (mtu < 68) throw new VxlanError(VxlanErrorCode.VXLAN_SETUP_FAILED, step, `MTU ${mtu} (underlay ${underlay.mtu} − ${VXLAN_OVERHEAD}) is below IPv4's 68`);

    step = 'pod-netns';
    const podProblem = await netnsProblem(p.podNetnsPath);
    let createdPodNetns = false;
    if (podProblem === 'does not exist') {
      await ip(['netns', 'add', p.podNetnsName], noNs);
      createdPodNetns = true;
      undo.push({ what: `network namespace ${p.podNetnsName}`, run: async () => void (await ip(['netns', 'del', p.podNetnsName], {})) });
    } else if (podProblem !== undefined) {
      throw new VxlanError(VxlanErrorCode.VXLAN_SETUP_FAILED, step, `pod network namespace ${p.podNetnsPath} ${podProblem}`);
    }

    step = 'check-names';
    for (const [name, opts, where] of [
      [p.vxlanInterface, vm, 'the VM network namespace'],
      [p.iface, pod, `pod network namespace ${p.podNetnsName}`],
      [p.vxlanInterface, pod, `pod network namespace ${p.podNetnsName}`],
    ] as const) {
      const existing = await getLink(name, opts);
      if (existing) {
        throw new VxlanError(
          VxlanErrorCode.DEVICE_EXISTS,
          step,
          `device ${name} already exists in ${where}${existing.kind ? ` (${existing.kind})` : ''}: is the pod network already set up?`,
        );
      }
    }

    step = 'iptables';
    const changes = await addNotrackRules(p.workerIp, p.port, p.vni, vm);
    undo.push({ what: 'iptables NOTRACK rules', run: async () => void (await deleteNotrackRules(changes.rulesAdded, vmUndo)) });

    step = 'create-device';
    signal?.throwIfAborted();
    try {
      await ip(
        ['link', 'add', p.vxlanInterface, 'type', 'vxlan', 'id', String(p.vni), 'remote', p.workerIp, 'dstport', String(p.port), 'dev', underlayInterface, 'nolearning'],
        vm,
      );
    } catch (err) {
      if (err instanceof CommandError && /file exists/i.test(err.stderr)) {
        throw new VxlanError(VxlanErrorCode.DEVICE_EXISTS, step, `device ${p.vxlanInterface} already exists in the VM network namespace`, { cause: err });
      }
      if (err instanceof CommandError && /VNI already exists/i.test(err.stderr)) {
        throw new VxlanError(VxlanErrorCode.VNI_IN_USE, step, `another VXLAN device already uses VNI ${p.vni} on port ${p.port}`, { cause: err });
      }
      throw err;
    }
    let device = { name: p.vxlanInterface, opts: vmUndo };
    undo.push({ what: `VXLAN device ${p.vxlanInterface}`, run: async () => void (await ip(['link', 'del', 'dev', device.name], device.opts)) });

    step = 'move-device';
    signal?.throwIfAborted();
    await ip(['link', 'set', 'dev', p.vxlanInterface, 'netns', p.podNetnsPath], vm);
    device = { name: p.vxlanInterface, opts: podUndo };

    step = 'rename-device';
    await ip(['link', 'set', 'dev', p.vxlanInterface, 'name', p.iface], pod);
    device = { name: p.iface, opts: podUndo };

    step = 'configure-device';
    const linkArgs = ['link', 'set', 'dev', p.iface, 'mtu', String(mtu)];
    if (cfg['pod-hw-addr']) linkArgs.push('address', cfg['pod-hw-addr']);
    await ip(linkArgs, pod);
    await ip(['address', 'add', cfg.podip, 'dev', p.iface], pod);

    step = 'device-up';
    await ip(['link', 'set', 'dev', p.iface, 'up'], pod);
    await ip(['link', 'set', 'dev', 'lo', 'up'], pod);

    const subnet = subnetOf(p.podAddr, p.podBits);
    if (p.podBits !== 32) {
      // PTP/GKE-style CNIs need the kernel's subnet route gone; Flannel/Calico-style configs re-add it below.
      step = 'delete-subnet-route';
      await unlessGone(() => ip(['-4', 'route', 'del', subnet, 'dev', p.iface], pod));
    }

    step = 'routes';
    const routes: string[] = [];
    const skippedRoutes: string[] = [];
    const ordered = [...cfg.routes.filter((r) => r.gw === ''), ...cfg.routes.filter((r) => r.gw !== '')];
    for (const r of ordered) {
      signal?.throwIfAborted();
      const { args, dst, gw, dev, v6 } = routeArgs(r, p.iface);
      const shown = args.slice(3).join(' ');
      if (await routeExists(dst, gw, dev, v6, pod)) {
        skippedRoutes.push(shown);
        continue;
      }
      try {
        await ip(args, pod);
      } catch (err) {
        throw new VxlanError(VxlanErrorCode.VXLAN_SETUP_FAILED, step, `cannot add route ${shown} in ${p.podNetnsName}: ${messageOf(err)}`, { cause: err });
      }
      routes.push(shown);
    }

    step = 'neighbors';
    const neighbors: string[] = [];
    for (const n of cfg.neighbors ?? []) {
      if (!n.ip || !n['hw-addr']) continue;
      const dev = n.dev || p.iface;
      const state = n.state === undefined || n.state === 'none' ? 'permanent' : n.state;
      await ip(['neighbour', 'replace', n.ip, 'lladdr', n['hw-addr'], 'dev', dev, 'nud', state], pod);
      neighbors.push(`${n.ip} lladdr ${n['hw-addr']} dev ${dev} nud ${state}`);
    }

    return {
      podNetnsName: p.podNetnsName,
      podNetnsPath: p.podNetnsPath,
      createdPodNetns,
      interface: p.iface,
      underlayInterface,
      underlayMtu: underlay.mtu,
      mtu,
      vni: p.vni,
      port: p.port,
      workerIp: p.workerIp,
      routes,
      skippedRoutes,
      neighbors,
    };
  } catch (err) {
    const failures = await runUndo(undo);
    throw setupFailure(err, step, `pod network (VNI ${p.vni}, worker ${p.workerIp}) in ${p.podNetnsName}`, failures, signal);
  }
}

/**
 * Undoes `setupVmPodNetwork`: the pod interface (if it is a VXLAN device) and a leftover `vxlan0`,
 * the NOTRACK rules (chains too when empty), then the pod namespace unless `keepPodNetns`.
 * Idempotent; throws `VXLAN_TEARDOWN_FAILED` (after trying every step) only for other failures
 * than "already gone".
 */
export async function teardownVmPodNetwork(cfg: PodNetworkConfig, options: VmTeardownOptions = {}): Promise<VmTeardownResult> {
  const p = parse(cfg, options);
  const { signal, vmNetns } = options;
  const vm = nsOpts(vmNetns, signal);
  const pod = nsOpts(p.podNetnsPath, signal);
  const result: VmTeardownResult = { removed: [], skipped: [] };
  const failures: { step: string; err: unknown }[] = [];
  const attempt = async (step: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (!isGone(err)) failures.push({ step, err });
    }
  };
  const deleteDevice = async (name: string, opts: NetToolOptions, where: string): Promise<void> => {
    const link = await getLink(name, opts);
    if (!link) return;
    if (link.kind !== 'vxlan' || (link.vni !== undefined && link.vni !== p.vni)) {
      result.skipped.push(`${name} in ${where} (${link.kind ?? 'no kind'}${link.vni !== undefined ? ` VNI ${link.vni}` : ''})`);
      return;
    }
    if (await unlessGone(() => ip(['link', 'del', 'dev', name], opts))) result.removed.push(`ip link add ${name} type vxlan id ${p.vni} (${where})`);
  };

  const podExists = (await netnsProblem(p.podNetnsPath)) === undefined;
  if (podExists) {
    // Deleted explicitly (not only with the namespace, which the kernel cleans up later) so that the
    // VNI's UDP socket is released before this returns.
    await attempt('delete-device', () => deleteDevice(p.iface, pod, p.podNetnsName));
    if (p.vxlanInterface !== p.iface) await attempt('delete-temporary-device', () => deleteDevice(p.vxlanInterface, pod, p.podNetnsName));
  }
  await attempt('delete-vm-device', () => deleteDevice(p.vxlanInterface, vm, vmNetns ?? 'the VM network namespace'));
  await attempt('iptables', async () => {
    result.removed.push(...(await deleteNotrackRules(notrackRules(p.workerIp, p.port, p.vni), vm)));
  });
  if (podExists && !options.keepPodNetns) {
    await attempt('delete-pod-netns', async () => {
      if (await unlessGone(() => ip(['netns', 'del', p.podNetnsName], nsOpts(undefined, signal)))) result.removed.push(`ip netns add ${p.podNetnsName}`);
    });
  }

  if (failures.length > 0) {
    const [first, ...rest] = failures;
    throw new VxlanError(
      signal?.aborted ? VxlanErrorCode.CANCELLED : VxlanErrorCode.VXLAN_TEARDOWN_FAILED,
      first!.step,
      `pod network tear-down (VNI ${p.vni}) in ${p.podNetnsName}: ${failures.map((f) => `${f.step}: ${messageOf(f.err)}`).join('; ')}`,
      { cause: first!.err, otherErrors: rest.map((f) => f.err) },
    );
  }
  return result;
}
