/**
 * Set-up failures undo themselves; tear-down is idempotent and survives a vanished pod namespace
 * (root only, in namespaces).
 */
import { describe, expect, it } from 'vitest';
import {
  setupVmPodNetwork,
  setupWorkerTunnel,
  teardownVmPodNetwork,
  teardownWorkerTunnel,
  VxlanError,
} from '../../../../src/tunnel/vxlan/index.js';
import { runCommand } from '../../../../src/util/run-command.js';
import { skipOrRequirePodNetwork } from '../../../helpers/pod-network.js';
import { EMPTY_RAW, labPerTest, labUnavailable, type LabPod, type VxlanLab } from './lab.js';

const skipReason = await labUnavailable();
skipOrRequirePodNetwork(skipReason, 'the VXLAN failure tests');

async function rejection(p: Promise<unknown>): Promise<VxlanError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof VxlanError) return err;
    throw err;
  }
  throw new Error('expected a VxlanError, but the call succeeded');
}

describe.skipIf(skipReason !== undefined)('VXLAN tunnel failures and tear-down (root, namespaces)', () => {
  const newLab = labPerTest('vxf');

  const workerOpts = (l: VxlanLab, p: LabPod) => ({ podNetns: p.podNetns, vmIp: p.vmIp, vni: p.vni, hostNetns: l.host });
  const vmOpts = (p: LabPod) => ({ podNetnsName: p.podnsName, vmNetns: p.vmNetns });
  const links = async (l: VxlanLab, ns: string): Promise<string[]> =>
    (JSON.parse(await l.run(ns, ['ip', '-json', 'link', 'show'])) as { ifname: string }[]).map((x) => x.ifname).sort();
  const raw = async (l: VxlanLab, ns: string): Promise<string[]> => (await l.run(ns, ['iptables', '-t', 'raw', '-S'])).trim().split('\n');
  const netnsNames = async (): Promise<string[]> => (await runCommand(['ip', 'netns', 'list'])).split('\n').map((s) => s.split(' ')[0] ?? '');

  /** The worker side of `p` as it was before any set-up. */
  async function expectWorkerPristine(l: VxlanLab, p: LabPod, i = 0): Promise<void> {
    expect(await links(l, l.host)).toEqual(expect.arrayContaining(['lo', `u${i}`]));
    expect((await links(l, l.host)).filter((n) => n.startsWith('ppvx'))).toEqual([]);
    expect(await links(l, p.podNetns)).not.toContain('vxlan1');
    expect(await l.run(p.podNetns, ['tc', 'qdisc', 'show', 'dev', 'eth0'])).not.toMatch(/ingress/);
  }

  /** The VM namespace as the lab made it: no raw rules, only its loopback and its underlay. */
  async function expectVmPristine(l: VxlanLab, p: LabPod): Promise<void> {
    expect(await raw(l, p.vmNetns)).toEqual(EMPTY_RAW);
    expect(await links(l, p.vmNetns)).toEqual(['lo', 'u0v']);
  }

  it('refuses a tunnel name that is taken, with nothing half-configured', async () => {
    const l = await newLab();
    const p = l.pod(0);
    await l.run(p.podNetns, ['ip', 'link', 'add', 'vxlan1', 'type', 'bridge']);
    const err = await rejection(setupWorkerTunnel(workerOpts(l, p)));
    expect(err).toMatchObject({ code: 'DEVICE_EXISTS', step: 'check-names' });
    expect(err.message).toMatch(/device vxlan1 already exists in pod network namespace .* \(bridge\)/);
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
    expect(await links(l, p.podNetns)).toEqual(['eth0', 'lo', 'vxlan1']);
    expect((await links(l, l.host)).filter((n) => n.startsWith('ppvx'))).toEqual([]);
    expect(await l.run(p.podNetns, ['tc', 'qdisc', 'show', 'dev', 'eth0'])).not.toMatch(/ingress/);
  });

  it('refuses a temporary name left in the worker namespace', async () => {
    const l = await newLab();
    const p = l.pod(0);
    await l.run(l.host, ['ip', 'link', 'add', `ppvx${p.vni}`, 'type', 'bridge']);
    const err = await rejection(setupWorkerTunnel(workerOpts(l, p)));
    expect(err).toMatchObject({ code: 'DEVICE_EXISTS', step: 'check-names' });
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
    expect(await links(l, p.podNetns)).toEqual(['eth0', 'lo']);
  });

  it('undoes a set-up that fails half-way and leaves other tunnels and foreign qdiscs alone', async () => {
    const l = await newLab({ pods: 2 });
    const [a, b] = [l.pod(0), l.pod(1)];
    await setupWorkerTunnel(workerOpts(l, b));
    await setupVmPodNetwork(b.cfg, vmOpts(b));
    // Someone else's ingress qdisc on the pod interface: the tc step fails after device and rules exist.
    await l.run(a.podNetns, ['tc', 'qdisc', 'add', 'dev', 'eth0', 'ingress']);
    const err = await rejection(setupWorkerTunnel(workerOpts(l, a)));
    expect(err).toMatchObject({ code: 'VXLAN_SETUP_FAILED', step: 'tc-ingress-pod' });
    expect(err.message).toMatch(/what it had done was undone/);
    expect(await links(l, a.podNetns)).toEqual(['eth0', 'lo']);
    expect(await l.run(a.podNetns, ['tc', 'qdisc', 'show', 'dev', 'eth0'])).toMatch(/ingress/); // not ours: kept
    expect((await links(l, l.host)).filter((n) => n.startsWith('ppvx'))).toEqual([]);
    // b's rules (and the shared chains) survive, and b still works.
    expect((await raw(l, l.host)).filter((r) => r.includes('peerpod [vni:'))).toHaveLength(2);
    expect((await raw(l, l.host)).filter((r) => r.includes(`vni:${a.vni}`))).toEqual([]);
    await l.ping(l.peer, b.podIp);
    expect((await l.tcpEcho(1, 256 << 10)).remote).toBe('10.244.0.1');
  });

  it('reports a VNI already used in the worker namespace as VNI_IN_USE and undoes the rules', async () => {
    const l = await newLab({ pods: 2 });
    const [a, b] = [l.pod(0), l.pod(1)];
    await setupWorkerTunnel(workerOpts(l, a));
    // Same VNI, another pod and VM; the temporary name ppvx<vni> is free again once a's device moved.
    const err = await rejection(setupWorkerTunnel({ ...workerOpts(l, b), vni: a.vni }));
    expect(err).toMatchObject({ code: 'VNI_IN_USE', step: 'create-device' });
    expect((await raw(l, l.host)).filter((r) => r.includes(b.vmIp))).toEqual([]);
    expect(await links(l, b.podNetns)).toEqual(['eth0', 'lo']);
    await teardownWorkerTunnel(workerOpts(l, a));
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
  });

  it('tears down twice, and before any set-up, without complaint', async () => {
    const l = await newLab();
    const p = l.pod(0);
    const before = await teardownWorkerTunnel(workerOpts(l, p));
    expect(before).toEqual({ removed: [], podNetnsGone: false, skipped: [] });
    await setupWorkerTunnel(workerOpts(l, p));
    await setupVmPodNetwork(p.cfg, vmOpts(p));
    const first = await teardownWorkerTunnel(workerOpts(l, p));
    expect(first.removed.length).toBeGreaterThanOrEqual(5);
    const second = await teardownWorkerTunnel(workerOpts(l, p));
    expect(second.removed).toEqual([]);
    const vmFirst = await teardownVmPodNetwork(p.cfg, vmOpts(p));
    expect(vmFirst.removed).toContain(`ip netns add ${p.podnsName}`);
    expect((await teardownVmPodNetwork(p.cfg, vmOpts(p))).removed).toEqual([]);
    await expectWorkerPristine(l, p);
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
    await expectVmPristine(l, p);
    expect(await netnsNames()).not.toContain(p.podnsName);
  });

  it('tears down after the pod namespace is gone: only the worker-side rules remain to remove', async () => {
    const l = await newLab();
    const p = l.pod(0);
    await setupWorkerTunnel(workerOpts(l, p));
    await runCommand(['ip', 'netns', 'delete', l.net.nsName('pod0')]);
    const result = await teardownWorkerTunnel(workerOpts(l, p));
    expect(result.podNetnsGone).toBe(true);
    expect(result.removed).toHaveLength(6); // two rules, two jumps, two chains
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
    expect((await links(l, l.host)).filter((n) => n.startsWith('ppvx'))).toEqual([]);
  });

  it('finds the rules without the VM IP: from the device, or by VNI when the device is gone too', async () => {
    const l = await newLab({ pods: 2 });
    const [a, b] = [l.pod(0), l.pod(1)];
    await setupWorkerTunnel(workerOpts(l, a));
    await setupWorkerTunnel(workerOpts(l, b));
    await teardownWorkerTunnel({ podNetns: a.podNetns, vni: a.vni, hostNetns: l.host });
    expect((await raw(l, l.host)).filter((r) => r.includes('peerpod [vni:'))).toHaveLength(2);
    await runCommand(['ip', 'netns', 'delete', l.net.nsName('pod1')]);
    await teardownWorkerTunnel({ podNetns: b.podNetns, vni: b.vni, hostNetns: l.host, vmIp: '' });
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
  });

  it('leaves a device that is not its tunnel alone on tear-down', async () => {
    const l = await newLab();
    const p = l.pod(0);
    await l.run(p.podNetns, ['ip', 'link', 'add', 'vxlan1', 'type', 'bridge']);
    const result = await teardownWorkerTunnel(workerOpts(l, p));
    expect(result.skipped).toEqual([`vxlan1 in ${p.podNetns} (bridge)`]);
    expect(await links(l, p.podNetns)).toContain('vxlan1');
  });

  it('VM side: refuses a pod interface name taken in podns and leaves nothing behind', async () => {
    const l = await newLab();
    const p = l.pod(0);
    await runCommand(['ip', 'netns', 'add', p.podnsName]);
    await l.run(p.podnsPath, ['ip', 'link', 'add', 'eth0', 'type', 'bridge']);
    const err = await rejection(setupVmPodNetwork(p.cfg, vmOpts(p)));
    expect(err).toMatchObject({ code: 'DEVICE_EXISTS', step: 'check-names' });
    await expectVmPristine(l, p);
    expect(await netnsNames()).toContain(p.podnsName); // not ours to delete
    expect(await links(l, p.podnsPath)).toEqual(['eth0', 'lo']);
  });

  it('VM side: undoes everything when a route cannot be added (and deletes the podns it created)', async () => {
    const l = await newLab();
    const p = l.pod(0);
    const cfg = { ...p.cfg, routes: [...p.cfg.routes, { dst: '10.99.0.0/16', gw: '10.98.0.1', dev: 'eth0' }] };
    const err = await rejection(setupVmPodNetwork(cfg, vmOpts(p)));
    expect(err).toMatchObject({ code: 'VXLAN_SETUP_FAILED', step: 'routes' });
    expect(err.message).toMatch(/cannot add route 10\.99\.0\.0\/16 via 10\.98\.0\.1 dev eth0/);
    await expectVmPristine(l, p);
    expect(await netnsNames()).not.toContain(p.podnsName);
  });

  it('VM side: a missing underlay is NOT_FOUND; an aborted set-up is CANCELLED', async () => {
    const l = await newLab();
    const p = l.pod(0);
    const cfg = { ...p.cfg, 'worker-node-ip': '10.251.7.1/24' }; // no route, no subnet towards it
    expect(await rejection(setupVmPodNetwork(cfg, vmOpts(p)))).toMatchObject({ code: 'NOT_FOUND', step: 'underlay' });
    const signal = AbortSignal.abort();
    expect(await rejection(setupVmPodNetwork(p.cfg, { ...vmOpts(p), signal }))).toMatchObject({ code: 'CANCELLED' });
    expect(await rejection(setupWorkerTunnel({ ...workerOpts(l, p), signal }))).toMatchObject({ code: 'CANCELLED' });
    expect(await netnsNames()).not.toContain(p.podnsName);
    await expectWorkerPristine(l, p);
  });

  it('a missing pod namespace or pod interface is NOT_FOUND', async () => {
    const l = await newLab();
    const p = l.pod(0);
    expect(await rejection(setupWorkerTunnel({ ...workerOpts(l, p), podNetns: '/var/run/netns/vxf-does-not-exist' }))).toMatchObject({
      code: 'NOT_FOUND',
      step: 'check-netns',
    });
    expect(await rejection(setupWorkerTunnel({ ...workerOpts(l, p), podInterface: 'eth9' }))).toMatchObject({ code: 'NOT_FOUND', step: 'inspect-pod' });
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
  });
});
