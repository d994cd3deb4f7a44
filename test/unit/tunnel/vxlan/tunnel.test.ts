/**
 * The VXLAN tunnel end to end in namespaces (root only): worker side in "host"/"pod", VM side in
 * "vm" and its podns, traffic from "peer" to the pod IP that now lives in the VM.
 */
import { describe, expect, it } from 'vitest';
import { parseApfJson, renderApfJson } from '../../../../src/podvm/apf-config.js';
import { inspectPodNetns, podNetworkConfig } from '../../../../src/tunnel/netns/index.js';
import {
  setupVmPodNetwork,
  setupWorkerTunnel,
  teardownVmPodNetwork,
  teardownWorkerTunnel,
  type VmPodNetwork,
  type WorkerTunnel,
} from '../../../../src/tunnel/vxlan/index.js';
import { skipOrRequirePodNetwork } from '../../../helpers/pod-network.js';
import { EMPTY_RAW, labPerTest, labUnavailable, type LabPod, type VxlanLab } from './lab.js';

const skipReason = await labUnavailable();
skipOrRequirePodNetwork(skipReason, 'the VXLAN tunnel tests');

describe.skipIf(skipReason !== undefined)('VXLAN pod tunnel (root, namespaces)', () => {
  const newLab = labPerTest('vxt');

  async function connect(l: VxlanLab, p: LabPod, o: { mtuCeiling?: number } = {}): Promise<{ worker: WorkerTunnel; vm: VmPodNetwork }> {
    const worker = await setupWorkerTunnel({ podNetns: p.podNetns, podInterface: 'eth0', vmIp: p.vmIp, vni: p.vni, port: 4789, hostNetns: l.host });
    const vm = await setupVmPodNetwork(p.cfg, { podNetnsName: p.podnsName, vmNetns: p.vmNetns, ...o });
    return { worker, vm };
  }

  async function disconnect(l: VxlanLab, p: LabPod): Promise<void> {
    await teardownWorkerTunnel({ podNetns: p.podNetns, podInterface: 'eth0', vmIp: p.vmIp, vni: p.vni, port: 4789, hostNetns: l.host });
    await teardownVmPodNetwork(p.cfg, { podNetnsName: p.podnsName, vmNetns: p.vmNetns });
  }

  const links = async (l: VxlanLab, ns: string): Promise<string[]> =>
    (JSON.parse(await l.run(ns, ['ip', '-json', 'link', 'show'])) as { ifname: string }[]).map((x) => x.ifname).sort();
  const raw = async (l: VxlanLab, ns: string): Promise<string[]> => (await l.run(ns, ['iptables', '-t', 'raw', '-S'])).trim().split('\n');
  const qdiscs = async (l: VxlanLab, ns: string): Promise<string> => l.run(ns, ['tc', 'qdisc', 'show']);

  it('carries ping and TCP from a cluster peer to the pod IP in the VM; teardown leaves nothing', async () => {
    const l = await newLab();
    const p = l.pod(0);
    const { worker, vm } = await connect(l, p);
    expect(worker).toMatchObject({ tunnelInterface: 'vxlan1', temporaryName: `ppvx${p.vni}`, mtu: 1500, vni: p.vni, port: 4789 });
    expect(vm).toMatchObject({ interface: 'eth0', underlayInterface: 'u0v', underlayMtu: 1500, mtu: 1450, createdPodNetns: true, vni: p.vni });
    expect(vm.routes).toEqual(['10.244.0.0/24 dev eth0 proto kernel scope link', '0.0.0.0/0 via 10.244.0.1 dev eth0 proto boot']);

    // Worker side as the reference describes it.
    expect(await raw(l, l.host)).toEqual([
      ...EMPTY_RAW,
      '-N peerpod-OUTPUT',
      '-N peerpod-PREROUTING',
      '-A PREROUTING -j peerpod-PREROUTING',
      '-A OUTPUT -j peerpod-OUTPUT',
      `-A peerpod-OUTPUT -d ${p.vmIp}/32 -p udp -m comment --comment "peerpod [vni:${p.vni}]" -m udp --dport 4789 -j NOTRACK`,
      `-A peerpod-PREROUTING -s ${p.vmIp}/32 -p udp -m comment --comment "peerpod [vni:${p.vni}]" -m udp --dport 4789 -j NOTRACK`,
    ]);
    const vx = JSON.parse(await l.run(p.podNetns, ['ip', '-json', '-details', 'link', 'show', 'dev', 'vxlan1'])) as {
      mtu: number;
      operstate: string;
      linkinfo: { info_kind: string; info_data: { id: number; remote: string; port: number; learning: boolean } };
    }[];
    expect(vx[0]).toMatchObject({ mtu: 1500, linkinfo: { info_kind: 'vxlan', info_data: { id: p.vni, remote: p.vmIp, port: 4789, learning: false } } });
    expect(await l.run(p.podNetns, ['tc', 'filter', 'show', 'dev', 'eth0', 'ingress'])).toMatch(/mirred \(Egress Redirect to device vxlan1\)/);
    expect(await l.run(p.podNetns, ['tc', 'filter', 'show', 'dev', 'vxlan1', 'ingress'])).toMatch(/mirred \(Egress Redirect to device eth0\)/);
    expect(await links(l, l.host)).toEqual(['lo', 'u0']); // the device left the worker namespace

    // VM side: the pod interface in podns with the pod's MAC and IP.
    const podIf = JSON.parse(await l.run(p.podnsPath, ['ip', '-json', '-details', 'address', 'show', 'dev', 'eth0'])) as {
      address: string;
      mtu: number;
      addr_info: { local: string; prefixlen: number }[];
      linkinfo: { info_kind: string };
    }[];
    expect(podIf[0]).toMatchObject({ address: p.podMac, mtu: 1450, linkinfo: { info_kind: 'vxlan' } });
    expect(podIf[0]?.addr_info.filter((a) => a.local === p.podIp && a.prefixlen === 24)).toHaveLength(1);
    expect(await raw(l, p.vmNetns)).toContain(
      `-A peerpod-OUTPUT -d ${p.hostIp}/32 -p udp -m comment --comment "peerpod [vni:${p.vni}]" -m udp --dport 4789 -j NOTRACK`,
    );

    await l.ping(l.peer, p.podIp);
    // 1450 bytes fit the VM's MTU without fragmentation.
    await l.ping(l.peer, p.podIp, { size: 1422, dontFragment: true, count: 2 });
    // The VM answers (the worker's pod namespace has the same IP but never sees the traffic).
    const { remote } = await l.tcpEcho(0, 4 << 20);
    expect(remote).toBe('10.244.0.1');
    // And the VM's pod reaches the cluster through its replayed default route.
    await l.ping(p.podnsPath, '10.244.0.1', { count: 2 });

    await disconnect(l, p);
    expect(await links(l, l.host)).toEqual(['lo', 'u0']);
    expect(await links(l, p.podNetns)).toEqual(['eth0', 'lo']);
    expect(await links(l, p.vmNetns)).toEqual(['lo', 'u0v']);
    expect(await qdiscs(l, p.podNetns)).not.toMatch(/ingress/);
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
    expect(await raw(l, p.vmNetns)).toEqual(EMPTY_RAW);
    expect((await l.run(l.host, ['ip', 'netns', 'list'])).split('\n').map((s) => s.split(' ')[0])).not.toContain(p.podnsName);
    // Without the redirects the worker's pod namespace answers for its own IP again.
    await l.ping(l.peer, p.podIp, { count: 1 });
  });

  it('consumes the pod-network object exactly as CAA inspects it and ships it in apf.json', async () => {
    const l = await newLab();
    const p = l.pod(0);
    const recorded = podNetworkConfig({
      pod: await inspectPodNetns(p.podNetns),
      host: { workerNodeIp: `${p.hostIp}/24`, dedicated: false },
      vni: p.vni,
      port: 4789,
      index: 0,
      externalNetViaPodVm: false,
    });
    const shipped = parseApfJson(renderApfJson({ 'pod-network': recorded, 'pod-namespace': 'default', 'pod-name': 'p' }))['pod-network'];
    expect(shipped).toBeTruthy();
    await setupWorkerTunnel({ podNetns: p.podNetns, podInterface: recorded.interface, vmIp: p.vmIp, vni: p.vni, port: 4789, hostNetns: l.host });
    const vm = await setupVmPodNetwork(shipped!, { podNetnsName: p.podnsName, vmNetns: p.vmNetns });
    expect(vm).toMatchObject({ interface: 'eth0', mtu: 1450 });
    expect((await l.tcpEcho(0, 1 << 20)).remote).toBe('10.244.0.1');
    await l.ping(p.podnsPath, '10.244.0.1', { count: 1 });
    await disconnect(l, p);
  });

  it('serves two pods with different VNIs from one worker namespace; tearing one down leaves the other working', async () => {
    const l = await newLab({ pods: 2 });
    const [a, b] = [l.pod(0), l.pod(1)];
    // Concurrently: the chains are created once, under the module's lock.
    await Promise.all([connect(l, a), connect(l, b)]);
    await l.ping(l.peer, a.podIp);
    await l.ping(l.peer, b.podIp);
    expect((await raw(l, l.host)).filter((r) => r.startsWith('-A peerpod-'))).toHaveLength(4);

    await disconnect(l, a);
    const rules = await raw(l, l.host);
    expect(rules).toContain('-N peerpod-OUTPUT');
    expect(rules.filter((r) => r.includes('peerpod [vni:'))).toEqual([
      `-A peerpod-OUTPUT -d ${b.vmIp}/32 -p udp -m comment --comment "peerpod [vni:${b.vni}]" -m udp --dport 4789 -j NOTRACK`,
      `-A peerpod-PREROUTING -s ${b.vmIp}/32 -p udp -m comment --comment "peerpod [vni:${b.vni}]" -m udp --dport 4789 -j NOTRACK`,
    ]);
    await l.ping(l.peer, b.podIp);
    expect((await l.tcpEcho(1, 1 << 20)).remote).toBe('10.244.0.1');
    expect(await links(l, a.podNetns)).toEqual(['eth0', 'lo']);

    await disconnect(l, b);
    expect(await raw(l, l.host)).toEqual(EMPTY_RAW);
  });

  it('carries jumbo frames: underlay 9000, pod MTU 8950 → 8950 in the VM', async () => {
    const l = await newLab({ underlayMtu: 9000, podMtu: 8950 });
    const p = l.pod(0);
    const { worker, vm } = await connect(l, p);
    expect(worker.mtu).toBe(8950);
    expect(vm.mtu).toBe(8950);
    // 8922 + 28 = 8950 bytes, not fragmented anywhere.
    await l.ping(l.peer, p.podIp, { size: 8922, dontFragment: true, count: 2 });
    expect((await l.tcpEcho(0, 4 << 20)).remote).toBe('10.244.0.1');
    await disconnect(l, p);
  });

  it('applies the MTU ceiling in the VM', async () => {
    const l = await newLab({ underlayMtu: 9000, podMtu: 8950 });
    const p = l.pod(0);
    const { vm } = await connect(l, p, { mtuCeiling: 4000 });
    expect(vm.mtu).toBe(4000);
    await l.ping(l.peer, p.podIp, { size: 3972, dontFragment: true, count: 2 });
    await disconnect(l, p);
  });

  it('replays /32 pod IPs (PTP-style) with a gateway-less route to the gateway first', async () => {
    const l = await newLab();
    const p = l.pod(0);
    const cfg = {
      ...p.cfg,
      podip: `${p.podIp}/32`,
      routes: [
        { dst: '0.0.0.0/0', gw: '10.244.0.1', dev: 'eth0' },
        { dst: '10.244.0.1/32', gw: '', dev: 'eth0', scope: 'link' as const },
      ],
      neighbors: [{ ip: '10.244.0.1', 'hw-addr': '02:00:00:00:00:01', dev: 'eth0', state: 'permanent' as const }],
    };
    await setupWorkerTunnel({ podNetns: p.podNetns, vmIp: p.vmIp, vni: p.vni, hostNetns: l.host });
    const vm = await setupVmPodNetwork(cfg, { podNetnsName: p.podnsName, vmNetns: p.vmNetns });
    expect(vm.routes).toEqual(['10.244.0.1/32 dev eth0 scope link', '0.0.0.0/0 via 10.244.0.1 dev eth0']);
    expect(vm.neighbors).toEqual(['10.244.0.1 lladdr 02:00:00:00:00:01 dev eth0 nud permanent']);
    const routes = await l.run(p.podnsPath, ['ip', '-4', 'route', 'show']);
    expect(routes).toMatch(/^default via 10\.244\.0\.1 dev eth0/m);
    expect(routes).not.toMatch(/10\.244\.0\.0\/24/);
    expect(await l.run(p.podnsPath, ['ip', 'neigh', 'show', '10.244.0.1'])).toMatch(/lladdr 02:00:00:00:00:01 PERMANENT/);
    await teardownWorkerTunnel({ podNetns: p.podNetns, vmIp: p.vmIp, vni: p.vni, hostNetns: l.host });
    await teardownVmPodNetwork(cfg, { podNetnsName: p.podnsName, vmNetns: p.vmNetns });
    expect(await raw(l, p.vmNetns)).toEqual(EMPTY_RAW);
  });
});
