/**
 * The daemon as production assembles it (src/cli/compose-daemon.ts), with the fake kube-apiserver
 * in RBAC mode: PeerPod per instance and its release, Events on the Pod, image-pull secrets in the
 * VM's user-data, the startup probe's pods-Ready condition, PeerPod claims honoured by the reaper.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { composeDaemon, type ComposedDaemon } from '../../src/cli/compose-daemon.js';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { ProviderError } from '../../src/providers/errors.js';
import { TtrpcClient, serviceClient } from '../../src/ttrpc/index.js';
import { TtrpcServer } from '../../src/ttrpc/server.js';
import { IDENTITY_METHOD, IDENTITY_SERVICE, identityResponse } from '../../src/tunnel/forwarder-identity.js';
import { SANDBOX_ID, shimAnnotations, type DaemonHarness } from '../helpers/daemon-harness.js';

type HvClient = Awaited<ReturnType<DaemonHarness['hypervisor']>>;
import { captureLogger, forbidden, startKube, type KubeUnderTest } from '../helpers/kube.js';
import { MemoryProvider } from '../fakes/memory-provider.js';
import { request } from '../providers/contract/provider-contract.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(): Promise<{ kube: KubeUnderTest; provider: MemoryProvider; a: ComposedDaemon; hv: () => Promise<HvClient>; dir: string }> {
  const kube = await startKube();
  cleanups.push(() => kube.close());
  const dir = await mkdtemp(join(tmpdir(), 'caa-kube-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'kubeconfig'), kube.fake.kubeConfig().exportConfig());
  // The instance's forwarder, on loopback (plain TCP, --disable-tls): it answers the agent proxy's
  // identity check with the test's sandbox id. Before, the proxy dialled the fake instance address
  // 10.99.0.10 through the machine's default route.
  const forwarder = new TtrpcServer();
  forwarder.register(IDENTITY_SERVICE, { [IDENTITY_METHOD]: () => Buffer.from(identityResponse(SANDBOX_ID)) });
  const listener = createServer();
  forwarder.serve(listener);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => forwarder.shutdown(0));
  cleanups.push(() => new Promise<void>((r) => listener.close(() => r())));
  const forwarderPort = String((listener.address() as AddressInfo).port);
  const config = loadDaemonConfig({
    flags: { socket: join(dir, 'hv.sock'), 'pods-dir': join(dir, 'pods'), 'state-dir': join(dir, 'state'), 'node-name': 'node-a', 'cluster-name': 'test', 'disable-tls': true, 'forwarder-port': forwarderPort },
    env: { PROBE_PORT: '0', CAPACITY_MODE: 'node-status', REAPER_PERIOD: '0s', REAPER_GRACE: '0s' },
  });
  const provider = new MemoryProvider();
  provider.ips = ['127.0.0.1'];
  const { logger } = captureLogger();
  const a = await composeDaemon({ config, provider, logger, env: { KUBECONFIG: join(dir, 'kubeconfig') } });
  await a.daemon.start();
  cleanups.push(() => a.stop());
  const clients: TtrpcClient[] = [];
  cleanups.push(async () => clients.forEach((c) => c.close()));
  const hv = async () => {
    const c = await TtrpcClient.connectUnix(config.socket);
    clients.push(c);
    return serviceClient(c, Hypervisor);
  };
  return { kube, provider, a, hv, dir };
}

const annotations = (pod: string) => shimAnnotations({ 'io.kubernetes.cri.sandbox-name': pod, 'io.kubernetes.cri.sandbox-namespace': 'default' });

describe('the assembled daemon with a Kubernetes API', () => {
  it('creates a PeerPod owned by the Pod for the instance, puts pull secrets in user-data, releases the PeerPod after the delete', async () => {
    const { kube, provider, a, hv } = await setup();
    const dockerConfig = Buffer.from(JSON.stringify({ auths: { 'registry.example': { auth: Buffer.from('u:p').toString('base64') } } })).toString('base64');
    kube.fake.addSecret({ name: 'pull', type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': dockerConfig } });
    const pod = kube.fake.addPod({ name: 'web', nodeName: 'node-a', runtimeClassName: 'kata-remote', imagePullSecrets: ['pull'] });
    const h = await hv();
    await h.createVM({ id: SANDBOX_ID, annotations: annotations('web'), networkNamespacePath: '' });
    await h.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 });
    const inst = [...provider.instances.values()][0]!;
    expect(inst.userData).toContain('/run/peerpod/auth.json');
    expect(inst.userData).toContain('registry.example');

    const until = Date.now() + 5_000;
    while (kube.fake.peerPods('default').length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const [pp] = kube.fake.peerPods('default');
    expect(pp).toBeDefined();
    const meta = pp!.metadata as { finalizers?: string[]; ownerReferences?: { uid: string; kind: string; controller: boolean }[] };
    expect(meta.finalizers).toEqual(['peer.pod/finalizer']);
    expect(meta.ownerReferences?.[0]).toMatchObject({ kind: 'Pod', uid: (pod.metadata as { uid: string }).uid, controller: true });
    expect(pp!.spec).toMatchObject({ cloudProvider: 'memory', instanceID: inst.id });

    await h.stopVM({ id: SANDBOX_ID });
    await a.daemon.manager.whenIdle();
    const gone = Date.now() + 5_000;
    while ((kube.fake.peerPods('default')[0]?.metadata as { finalizers?: string[] } | undefined)?.finalizers?.length && Date.now() < gone) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((kube.fake.peerPods('default')[0]!.metadata as { finalizers?: string[] }).finalizers ?? []).toEqual([]);
    expect(forbidden(kube.fake)).toEqual([]);
  });

  it('posts a PeerPodVMCreateFailed Event on the Pod when the cloud refuses', async () => {
    const { kube, provider, hv } = await setup();
    kube.fake.addPod({ name: 'big', nodeName: 'node-a', runtimeClassName: 'kata-remote' });
    provider.fault = (op) => {
      if (op === 'create') throw new ProviderError('CAPACITY', 'InsufficientInstanceCapacity for m6a.large in us-east-1a; tried c6a.large');
    };
    const h = await hv();
    await h.createVM({ id: SANDBOX_ID, annotations: annotations('big'), networkNamespacePath: '' });
    await expect(h.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 })).rejects.toThrow(/CAPACITY/);
    const until = Date.now() + 5_000;
    while (kube.fake.events('default').length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const events = kube.fake.events('default') as unknown as { reason: string; type: string; message: string; involvedObject: { name: string; kind: string } }[];
    expect(events.map((e) => [e.type, e.reason, e.involvedObject.kind, e.involvedObject.name])).toEqual([['Warning', 'PeerPodVMCreateFailed', 'Pod', 'big']]);
    expect(events[0]!.message).toBe('CAPACITY: InsufficientInstanceCapacity for m6a.large in us-east-1a; tried c6a.large');
  });

  it('the startup probe waits for the kata-remote pods of the node to be Ready since start; node capacity is patched', async () => {
    const { kube, a } = await setup();
    const port = a.probes.port;
    kube.fake.addPod({ name: 'old', nodeName: 'node-a', runtimeClassName: 'kata-remote', readySince: new Date(Date.now() - 3_600_000) });
    expect((await fetch(`http://127.0.0.1:${port}/startup`)).status).toBe(500);
    kube.fake.setPodReady('default', 'old', new Date(Date.now() + 1_000));
    expect((await fetch(`http://127.0.0.1:${port}/startup`)).status).toBe(200);
    const node = kube.fake.object('nodes', undefined, 'node-a') as unknown as { status: { capacity: Record<string, string> } };
    expect(node.status.capacity['kata.peerpods.io/vm']).toBe('10');
  });

  it('one metrics sink serves the daemon and the probe server: a StartVM shows in /metrics', async () => {
    const { a, hv } = await setup();
    const h = await hv();
    await h.createVM({ id: SANDBOX_ID, annotations: annotations('web'), networkNamespacePath: '' });
    await h.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 });
    const text = await (await fetch(`http://127.0.0.1:${a.probes.port}/metrics`)).text();
    expect(text).toContain('caa_provider_calls_total{provider="memory",operation="create",code="ok"} 1');
    expect(text).toContain('caa_sandboxes{phase="running"} 1');
    expect(text).toContain('caa_startvm_phase_seconds_count{phase="total"} 1');
  });

  it('the reaper leaves alone an instance a PeerPod claims, and deletes an unclaimed one', async () => {
    const { kube, provider, a } = await setup();
    kube.fake.addPod({ name: 'claimed', nodeName: 'node-a' });
    const claimed = await provider.createInstance(request({ clusterName: 'test', nodeName: 'node-a' }), AbortSignal.timeout(5_000));
    const leaked = await provider.createInstance(request({ clusterName: 'test', nodeName: 'node-a' }), AbortSignal.timeout(5_000));
    await a.kube!.peerPods.create({ podName: 'claimed', podNamespace: 'default', sandboxId: 'c'.repeat(64), instanceId: claimed.id });
    // REAPER_GRACE is 0s here: the first pass deletes.
    const r = await a.daemon.reaper.runOnce(AbortSignal.timeout(5_000));
    expect(r.deleted.map((i) => i.id)).toEqual([leaked.id]);
    expect((await a.daemon.reaper.runOnce(AbortSignal.timeout(5_000))).deleted).toEqual([]);
    expect([...provider.instances.keys()]).toEqual([claimed.id]);
  });
});
