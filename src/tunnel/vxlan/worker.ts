/**
 * The worker side of a peer pod's VXLAN tunnel (reference §3.7 "Setup (worker, at StartVM)" and
 * "Teardown", Go `tunneler/vxlan/workernode.go`).
 *
 * The VXLAN device is created in the worker's namespace (`hostNetns`), so its UDP socket and
 * underlay route stay there, then moved into the pod's namespace and renamed `vxlan1`. Two tc
 * ingress redirects make the pod namespace a pure L2 pipe between the CNI's `eth0` and the tunnel:
 * whatever the cluster sends to the pod goes to the VM, and the VM's answers go out of `eth0`.
 * CAA owns the pod namespace's tc configuration: tear-down removes the ingress qdiscs of both.
 */
import { messageOf } from '../../util/errors.js';
import { CommandError } from '../../util/run-command.js';
import { ip, netnsProblem, tc, type NetToolOptions } from '../netns/exec.js';
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
import { addNotrackRules, deleteNotrackRules, deleteNotrackRulesForVni, notrackRules } from './iptables.js';

export const DEFAULT_VXLAN_PORT = 4789;
/** Name of the tunnel device in the pod namespace (Go `PodInterfaceName`). */
export const DEFAULT_TUNNEL_INTERFACE = 'vxlan1';
export const DEFAULT_POD_INTERFACE = 'eth0';

/** The device's name in the worker namespace before it moves: unique per VNI and at most 15 bytes. */
export function temporaryDeviceName(vni: number): string {
  return `ppvx${vni}`;
}

export interface WorkerTunnelOptions {
  /** The pod's network namespace path, e.g. `/var/run/netns/cni-…`. */
  podNetns: string;
  /** The CNI interface of the pod (default `eth0`). */
  podInterface?: string;
  /** The pod VM's IPv4 address (the remote end of the tunnel). */
  vmIp: string;
  vni: number;
  /** VXLAN UDP port (default 4789). */
  port?: number;
  /** The namespace playing the worker's root namespace; undefined = the current one. */
  hostNetns?: string;
  /** Tunnel device name in the pod namespace (default `vxlan1`). */
  tunnelInterface?: string;
  signal?: AbortSignal;
}

export interface WorkerTeardownOptions extends Omit<WorkerTunnelOptions, 'vmIp'> {
  /**
   * The VM's IP the rules were made for. When unknown (`undefined` or `''`), it is read from the
   * tunnel device, and without one every rule that names the VNI goes.
   */
  vmIp?: string;
}

export interface WorkerTunnel {
  podNetns: string;
  hostNetns: string | undefined;
  podInterface: string;
  tunnelInterface: string;
  /** The name the device had in the worker namespace. */
  temporaryName: string;
  vmIp: string;
  vni: number;
  port: number;
  /** MTU of the tunnel device (= the pod interface's). */
  mtu: number;
}

export interface WorkerTeardownResult {
  /** What was removed, one line per object (commands in the form that created them). */
  removed: string[];
  /** True when the pod namespace did not exist any more (only worker-side rules were left). */
  podNetnsGone: boolean;
  /** Devices left alone because they are not this tunnel (e.g. `vxlan1` is not a VXLAN or has another VNI). */
  skipped: string[];
}

function nsOpts(netns: string | undefined, signal?: AbortSignal): NetToolOptions {
  const o: NetToolOptions = {};
  if (netns !== undefined) o.netns = netns;
  if (signal) o.signal = signal;
  return o;
}

function validate(o: { podNetns: string; podInterface: string; tunnelInterface: string; vni: number; port: number; hostNetns: string | undefined }): void {
  if (o.podNetns === '') throw new VxlanError(VxlanErrorCode.INVALID_ARGUMENT, 'validate', 'pod network namespace path is empty');
  if (o.hostNetns === '') throw new VxlanError(VxlanErrorCode.INVALID_ARGUMENT, 'validate', 'host network namespace path is empty');
  checkIfName('pod interface', o.podInterface);
  checkIfName('tunnel interface', o.tunnelInterface);
  if (o.podInterface === o.tunnelInterface) {
    throw new VxlanError(VxlanErrorCode.INVALID_ARGUMENT, 'validate', `the tunnel interface cannot be the pod interface (${o.podInterface})`);
  }
  checkVni(o.vni);
  checkPort(o.port);
}

const redirect = (from: string, to: string): string[] =>
  ['filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', to];

/**
 * StartVM: NOTRACK rules in the worker namespace, the VXLAN device (remote = the VM) moved into the
 * pod namespace as `vxlan1` with the pod interface's MTU, and the tc redirects both ways. On any
 * failure it undoes what it did and throws a `VxlanError` naming the step (`DEVICE_EXISTS` when the
 * tunnel name is taken, `VNI_IN_USE`, `NOT_FOUND`, `CANCELLED`, `VXLAN_SETUP_FAILED`).
 */
export async function setupWorkerTunnel(options: WorkerTunnelOptions): Promise<WorkerTunnel> {
  const { podNetns, vmIp, vni, hostNetns, signal } = options;
  const podInterface = options.podInterface ?? DEFAULT_POD_INTERFACE;
  const tunnelInterface = options.tunnelInterface ?? DEFAULT_TUNNEL_INTERFACE;
  const port = options.port ?? DEFAULT_VXLAN_PORT;
  validate({ podNetns, podInterface, tunnelInterface, vni, port, hostNetns });
  checkIPv4('VM IP', vmIp);
  const temporaryName = temporaryDeviceName(vni);

  const host = nsOpts(hostNetns, signal);
  const pod = nsOpts(podNetns, signal);
  // Undo runs even after an abort, so without the signal.
  const hostUndo = nsOpts(hostNetns);
  const podUndo = nsOpts(podNetns);
  const undo: UndoStep[] = [];
  let step = 'check-netns';
  try {
    signal?.throwIfAborted();
    for (const [what, path] of [
      ['pod network namespace', podNetns],
      ['host network namespace', hostNetns],
    ] as const) {
      if (path === undefined) continue;
      const problem = await netnsProblem(path);
      if (problem !== undefined) throw new VxlanError(VxlanErrorCode.NOT_FOUND, step, `${what} ${path} ${problem}`);
    }

    step = 'inspect-pod';
    const podLink = await getLink(podInterface, pod);
    if (!podLink) throw new VxlanError(VxlanErrorCode.NOT_FOUND, step, `pod interface ${podInterface} does not exist in ${podNetns}`);
    if (!(podLink.mtu > 0)) throw new VxlanError(VxlanErrorCode.VXLAN_SETUP_FAILED, step, `pod interface ${podInterface} reports no MTU`);

    step = 'check-names';
    for (const [name, opts, where] of [
      [tunnelInterface, pod, `pod network namespace ${podNetns}`],
      [temporaryName, pod, `pod network namespace ${podNetns}`],
      [temporaryName, host, hostNetns === undefined ? 'the host network namespace' : `host network namespace ${hostNetns}`],
    ] as const) {
      const existing = await getLink(name, opts);
      if (existing) {
        throw new VxlanError(
          VxlanErrorCode.DEVICE_EXISTS,
          step,
          `device ${name} already exists in ${where}${existing.kind ? ` (${existing.kind}${existing.vni !== undefined ? ` VNI ${existing.vni}` : ''})` : ''}: is this pod's tunnel already set up?`,
        );
      }
    }

    step = 'iptables';
    signal?.throwIfAborted();
    const changes = await addNotrackRules(vmIp, port, vni, host);
    undo.push({ what: 'iptables NOTRACK rules', run: async () => void (await deleteNotrackRules(changes.rulesAdded, hostUndo)) });

    step = 'create-device';
    signal?.throwIfAborted();
    try {
      await ip(['link', 'add', temporaryName, 'type', 'vxlan', 'id', String(vni), 'remote', vmIp, 'dstport', String(port), 'nolearning'], host);
    } catch (err) {
      if (err instanceof CommandError && /file exists/i.test(err.stderr)) {
        throw new VxlanError(VxlanErrorCode.DEVICE_EXISTS, step, `device ${temporaryName} already exists in the host network namespace`, { cause: err });
      }
      if (err instanceof CommandError && /VNI already exists/i.test(err.stderr)) {
        throw new VxlanError(VxlanErrorCode.VNI_IN_USE, step, `another VXLAN device already uses VNI ${vni} on port ${port} in the host network namespace`, {
          cause: err,
        });
      }
      throw err;
    }
    // Where the device is now: undo deletes it there.
    let device = { name: temporaryName, opts: hostUndo };
    undo.push({ what: `VXLAN device ${temporaryName}`, run: async () => void (await ip(['link', 'del', 'dev', device.name], device.opts)) });

    step = 'move-device';
    signal?.throwIfAborted();
    await ip(['link', 'set', 'dev', temporaryName, 'netns', podNetns], host);
    device = { name: temporaryName, opts: podUndo };

    step = 'rename-device';
    await ip(['link', 'set', 'dev', temporaryName, 'name', tunnelInterface], pod);
    device = { name: tunnelInterface, opts: podUndo };

    step = 'device-up';
    await ip(['link', 'set', 'dev', tunnelInterface, 'mtu', String(podLink.mtu), 'up'], pod);

    step = 'tc-ingress-pod';
    signal?.throwIfAborted();
    await tc(['qdisc', 'add', 'dev', podInterface, 'ingress'], pod);
    undo.push({ what: `ingress qdisc of ${podInterface}`, run: async () => void (await deleteIngress(podInterface, podUndo)) });

    step = 'tc-redirect-pod';
    await tc(redirect(podInterface, tunnelInterface), pod);

    // The tunnel's own qdisc and filter go with the device, so they need no undo step of their own.
    step = 'tc-ingress-tunnel';
    await tc(['qdisc', 'add', 'dev', tunnelInterface, 'ingress'], pod);

    step = 'tc-redirect-tunnel';
    await tc(redirect(tunnelInterface, podInterface), pod);

    return { podNetns, hostNetns, podInterface, tunnelInterface, temporaryName, vmIp, vni, port, mtu: podLink.mtu };
  } catch (err) {
    const failures = await runUndo(undo);
    throw setupFailure(err, step, `VXLAN tunnel to ${vmIp} (VNI ${vni}) for pod network namespace ${podNetns}`, failures, signal);
  }
}

/**
 * StopVM: removes the tc redirects (ingress qdiscs of both devices), the tunnel device (also one
 * left under its temporary name by a crashed set-up) and the two iptables rules, then the chains
 * and their jumps when empty. Idempotent: anything already gone is skipped, also the whole pod
 * namespace. Throws `VXLAN_TEARDOWN_FAILED` (after trying every step) only for other failures.
 */
export async function teardownWorkerTunnel(options: WorkerTeardownOptions): Promise<WorkerTeardownResult> {
  const { podNetns, vni, hostNetns, signal } = options;
  const podInterface = options.podInterface ?? DEFAULT_POD_INTERFACE;
  const tunnelInterface = options.tunnelInterface ?? DEFAULT_TUNNEL_INTERFACE;
  const port = options.port ?? DEFAULT_VXLAN_PORT;
  validate({ podNetns, podInterface, tunnelInterface, vni, port, hostNetns });
  let vmIp = options.vmIp || undefined;
  if (vmIp !== undefined) checkIPv4('VM IP', vmIp);
  const temporaryName = temporaryDeviceName(vni);

  const host = nsOpts(hostNetns, signal);
  const pod = nsOpts(podNetns, signal);
  const result: WorkerTeardownResult = { removed: [], podNetnsGone: false, skipped: [] };
  const failures: { step: string; err: unknown }[] = [];
  const attempt = async (step: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (!isGone(err)) failures.push({ step, err });
    }
  };

  /** Deletes `name` in `opts.netns` if it is this tunnel's VXLAN device. */
  const deleteDevice = async (name: string, opts: NetToolOptions, where: string): Promise<void> => {
    const link = await getLink(name, opts);
    if (!link) return;
    if (link.kind !== 'vxlan' || (link.vni !== undefined && link.vni !== vni)) {
      result.skipped.push(`${name} in ${where} (${link.kind ?? 'no kind'}${link.vni !== undefined ? ` VNI ${link.vni}` : ''})`);
      return;
    }
    vmIp ??= link.remote;
    if (await unlessGone(() => ip(['link', 'del', 'dev', name], opts))) result.removed.push(`ip link add ${name} type vxlan id ${vni} (${where})`);
  };

  result.podNetnsGone = (await netnsProblem(podNetns)) !== undefined;
  if (!result.podNetnsGone) {
    for (const dev of [podInterface, tunnelInterface]) {
      await attempt(`tc-ingress-${dev === podInterface ? 'pod' : 'tunnel'}`, async () => {
        if (await deleteIngress(dev, pod)) result.removed.push(`tc qdisc add dev ${dev} ingress (${podNetns})`);
      });
    }
    await attempt('delete-device', () => deleteDevice(tunnelInterface, pod, podNetns));
    await attempt('delete-temporary-device', () => deleteDevice(temporaryName, pod, podNetns));
  }
  await attempt('delete-host-device', () => deleteDevice(temporaryName, host, hostNetns ?? 'the host network namespace'));

  await attempt('iptables', async () => {
    const removed =
      vmIp !== undefined ? await deleteNotrackRules(notrackRules(vmIp, port, vni), host) : await deleteNotrackRulesForVni(vni, host);
    result.removed.push(...removed);
  });

  if (failures.length > 0) {
    const [first, ...rest] = failures;
    const code = signal?.aborted ? VxlanErrorCode.CANCELLED : VxlanErrorCode.VXLAN_TEARDOWN_FAILED;
    throw new VxlanError(
      code,
      first!.step,
      `VXLAN tunnel tear-down (VNI ${vni}, pod network namespace ${podNetns}): ${failures.map((f) => `${f.step}: ${messageOf(f.err)}`).join('; ')}`,
      { cause: first!.err, otherErrors: rest.map((f) => f.err) },
    );
  }
  return result;
}

/** `tc qdisc del dev <dev> ingress`; false when there is none ("Invalid handle" / "Cannot find …") or no device. */
async function deleteIngress(dev: string, opts: NetToolOptions): Promise<boolean> {
  try {
    await tc(['qdisc', 'del', 'dev', dev, 'ingress'], opts);
    return true;
  } catch (err) {
    if (isGone(err) || (err instanceof CommandError && /invalid handle/i.test(err.stderr))) return false;
    throw err;
  }
}
