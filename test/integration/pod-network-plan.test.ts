/**
 * How the shim service drives pod networking: VNI allocation that survives restarts, the worker
 * side set up at StartVM and removed at StopVM, failures that leave nothing behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TtrpcError } from '../../src/ttrpc/codes.js';
import { DaemonHarness, shimAnnotations } from '../helpers/daemon-harness.js';
import { FakePodNetwork } from '../fakes/pod-network.js';

let h: DaemonHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const id = (n: number) => `sandbox${n}`;
const annotations = (n: number) => shimAnnotations({ 'io.kubernetes.cri.sandbox-name': `pod${n}` });

/** CreateVM, one after another, for pods `ns`, each in its own namespace /var/run/netns/cni-<n>. */
async function createPods(hv: Awaited<ReturnType<DaemonHarness['hypervisor']>>, ...ns: number[]): Promise<void> {
  for (const n of ns) await hv.createVM({ id: id(n), annotations: annotations(n), networkNamespacePath: `/var/run/netns/cni-${n}` });
}

describe('pod network plan', () => {
  it('gives each live sandbox its own VNI, reuses freed ones, and carries the plan into user-data', async () => {
    const net = new FakePodNetwork();
    h = await DaemonHarness.start({ podNetwork: net });
    const hv = await h.hypervisor();
    await createPods(hv, 1, 2);
    expect(h.daemon.manager.get(id(1))?.network?.vni).toBe(555000);
    expect(h.daemon.manager.get(id(2))?.network?.vni).toBe(555001);
    await hv.stopVM({ id: id(1) });
    await createPods(hv, 3);
    expect(h.daemon.manager.get(id(3))?.network?.vni).toBe(555000);
    // Concurrent CreateVMs never share a VNI.
    await Promise.all([4, 5, 6].map((n) => hv.createVM({ id: id(n), annotations: annotations(n), networkNamespacePath: `/var/run/netns/cni-${n}` })));
    const vnis = [2, 3, 4, 5, 6].map((n) => h!.daemon.manager.get(id(n))?.network?.vni);
    expect(new Set(vnis).size).toBe(5);

    await hv.startVM({ id: id(2) });
    const userData = [...h.provider.instances.values()][0]!.userData;
    expect(userData).toContain('"vxlan-id": 555001');
    expect(userData).toContain('"podip": "10.244.1.21/24"');
  });

  it('a restarted daemon never hands out a VNI still in use', async () => {
    const net = new FakePodNetwork();
    h = await DaemonHarness.start({ podNetwork: net });
    let hv = await h.hypervisor();
    await createPods(hv, 1, 2);
    await hv.startVM({ id: id(2) });
    await hv.stopVM({ id: id(1) });
    await h.settle();
    await h.restart();
    hv = await h.hypervisor();
    await createPods(hv, 3, 4);
    expect(h.daemon.manager.get(id(2))?.network?.vni).toBe(555001);
    expect(h.daemon.manager.get(id(3))?.network?.vni).toBe(555000);
    expect(h.daemon.manager.get(id(4))?.network?.vni).toBe(555002);
  });

  it('StartVM connects the worker side to the VM IP; StopVM disconnects after the instance is gone', async () => {
    const net = new FakePodNetwork();
    h = await DaemonHarness.start({ podNetwork: net });
    const hv = await h.hypervisor();
    await createPods(hv, 1);
    await hv.startVM({ id: id(1) });
    expect(net.connected.get('/var/run/netns/cni-1')).toEqual({ vni: 555000, vmIp: '10.99.0.10' });
    await hv.stopVM({ id: id(1) });
    await h.settle();
    expect(net.connected.size).toBe(0);
    expect(net.events.at(-1)).toBe('disconnect /var/run/netns/cni-1 555000 10.99.0.10');
    expect(h.provider.instances.size).toBe(0);
  });

  it('a failed inspection fails CreateVM clearly and leaves no sandbox', async () => {
    const net = new FakePodNetwork();
    net.failPrepare = Object.assign(new Error('no default route in /var/run/netns/cni-9'), { code: 'NO_DEFAULT_ROUTE' });
    h = await DaemonHarness.start({ podNetwork: net });
    const hv = await h.hypervisor();
    const err = (await hv.createVM({ id: id(9), annotations: annotations(9), networkNamespacePath: '/var/run/netns/cni-9' }).catch((e: unknown) => e)) as TtrpcError;
    expect(err.code).toBe(9);
    expect(err.message).toMatch(/pod network of \/var\/run\/netns\/cni-9: no default route/);
    expect(h.daemon.manager.size).toBe(0);
  });

  it('a failed worker-side set-up fails StartVM and deletes the instance', async () => {
    const net = new FakePodNetwork();
    net.failConnect = new Error('vxlan device ppvx555000 exists');
    h = await DaemonHarness.start({ podNetwork: net });
    const hv = await h.hypervisor();
    await createPods(hv, 1);
    const err = (await hv.startVM({ id: id(1) }).catch((e: unknown) => e)) as TtrpcError;
    expect(err.message).toMatch(/vxlan device ppvx555000 exists/);
    await h.settle();
    expect(h.provider.instances.size).toBe(0);
    expect(net.events.filter((e) => e.startsWith('disconnect'))).toEqual([]);
  });

  it('a pod without a network namespace gets no pod network', async () => {
    const net = new FakePodNetwork();
    h = await DaemonHarness.start({ podNetwork: net });
    const hv = await h.hypervisor();
    await hv.createVM({ id: id(1), annotations: annotations(1), networkNamespacePath: '' });
    await hv.startVM({ id: id(1) });
    expect(net.events).toEqual([]);
    expect([...h.provider.instances.values()][0]!.userData).toContain('"pod-network": null');
  });
});
