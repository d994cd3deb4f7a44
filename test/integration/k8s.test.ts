/**
 * The Kubernetes integration as the daemon will use it: a KubeConfig from loadKubeConfig (KUBECONFIG
 * pointing at the fake kube-apiserver in RBAC mode), createKubeIntegration, and one peer pod's life —
 * startup check, node capacity, pull secrets, PeerPod, events, release, pod deletion, GC, leak-reaper
 * view. Every request must fall inside the daemon's ClusterRole.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeIntegration, loadKubeConfig, type KubeIntegration } from '../../src/k8s/index.js';
import { API_CALLS, apiCallKey } from '../deploy/rbac-table.js';
import { FakeKubeApiServer } from '../fakes/kube/index.js';
import { FAST_RETRY, captureLogger, forbidden, type LogLine } from '../helpers/kube.js';

let fake: FakeKubeApiServer;
let dir: string;
let kube: KubeIntegration;
let logs: LogLine[];

beforeEach(async () => {
  fake = await FakeKubeApiServer.start({ rbac: true });
  fake.addNode({ name: 'worker-1' });
  dir = await mkdtemp(join(tmpdir(), 'k8s-int-'));
  const config = join(dir, 'kubeconfig');
  await writeFile(
    config,
    `apiVersion: v1
kind: Config
current-context: fake
clusters: [{ name: fake, cluster: { server: "${fake.url}", insecure-skip-tls-verify: true } }]
users: [{ name: fake, user: { token: daemon-token } }]
contexts: [{ name: fake, context: { cluster: fake, user: fake } }]
`,
  );
  const captured = captureLogger();
  logs = captured.logs;
  const kubeConfig = loadKubeConfig({ KUBECONFIG: config }, captured.logger, { serviceAccountDir: join(dir, 'none') });
  kube = createKubeIntegration({ kubeConfig: kubeConfig!, nodeName: 'worker-1', cloudProvider: 'aws', logger: captured.logger, retry: FAST_RETRY });
});

afterEach(async () => {
  await kube.events.flush();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const SANDBOX = '0123456789abcdef'.repeat(4);

describe('Kubernetes integration (RBAC mode)', () => {
  it("one peer pod's life, within the ClusterRole", async () => {
    const daemonStart = new Date(Date.now() - 2_000);
    // A pod left from before the rolling update, not yet Ready again.
    fake.addPod({ name: 'old', namespace: 'apps', nodeName: 'worker-1', runtimeClassName: 'kata-remote', readySince: new Date(Date.now() - 3_600_000) });
    expect(await kube.podsReady.check(daemonStart)).toBe(false);
    fake.setPodReady('apps', 'old', new Date());
    expect(await kube.podsReady.check(daemonStart)).toBe(true);

    await kube.nodeCapacity.set('kata.peerpods.io/vm', 10);
    expect(await kube.nodeCapacity.get('kata.peerpods.io/vm')).toBe(10);

    // CreateVM for pod apps/web: credentials first, then the VM, then the PeerPod and an event.
    fake.addSecret({ name: 'regcred', namespace: 'apps', type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'ghcr.io': { username: 'u', password: 'p' } } })) } });
    fake.addServiceAccount({ name: 'default', namespace: 'apps' });
    const pod = fake.addPod({ name: 'web', namespace: 'apps', nodeName: 'worker-1', runtimeClassName: 'kata-remote', imagePullSecrets: ['regcred'] });
    const authJson = await kube.pullSecrets.authJson({ name: 'web', namespace: 'apps' });
    expect(JSON.parse(authJson!)).toEqual({ auths: { 'ghcr.io': { auth: b64('u:p') } } });

    const ref = await kube.peerPods.create({ podName: 'web', podNamespace: 'apps', sandboxId: SANDBOX, instanceId: 'i-0abc', instanceName: 'podvm-web-01234567' });
    await kube.events.normal({ name: 'web', namespace: 'apps', uid: pod.metadata.uid }, 'VMCreated', 'created instance i-0abc');
    expect(fake.object('peerpods', 'apps', ref!.name)?.spec).toEqual({ cloudProvider: 'aws', instanceID: 'i-0abc' });
    expect(await kube.peerPods.ownedInstanceIds()).toEqual(new Set(['i-0abc']));

    // StopVM: the instance is deleted, then the PeerPod released; the pod goes, GC collects.
    expect(await kube.peerPods.release({ podNamespace: 'apps', sandboxId: SANDBOX, instanceId: 'i-0abc' })).toBe(1);
    await kube.events.normal({ name: 'web', namespace: 'apps', uid: pod.metadata.uid }, 'VMDeleted', 'deleted instance i-0abc');
    fake.deletePod('apps', 'web');
    fake.gc();
    expect(fake.peerPods()).toEqual([]);
    expect(await kube.peerPods.ownedInstanceIds()).toEqual(new Set());
    expect(fake.events('apps').map((e) => e.reason).sort()).toEqual(['VMCreated', 'VMDeleted']);

    // Every call was granted by the ClusterRole, and used the daemon's credentials.
    expect(forbidden(fake)).toEqual([]);
    const table = new Set(API_CALLS.map(apiCallKey));
    const used = [...new Set(fake.requests.map((r) => apiCallKey({ verb: r.verb!, group: r.group!, resource: r.resource! })))].sort();
    expect(used.filter((u) => !table.has(u))).toEqual([]);
    expect(used).toEqual(
      [
        'create confidentialcontainers.org/peerpods',
        'create core/events',
        'get core/nodes',
        'get core/pods',
        'get core/secrets',
        'get core/serviceaccounts',
        'list confidentialcontainers.org/peerpods',
        'list core/pods',
        'patch confidentialcontainers.org/peerpods',
        'patch core/nodes/status',
      ].sort(),
    );
    expect(new Set(fake.requests.map((r) => r.authorization))).toEqual(new Set(['Bearer daemon-token']));
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('a pod deleted before its VM was recorded: no PeerPod, no error, and events still never reject', async () => {
    expect(await kube.peerPods.create({ podName: 'gone', podNamespace: 'apps', sandboxId: SANDBOX, instanceId: 'i-1' })).toBeUndefined();
    expect(await kube.pullSecrets.authJson({ name: 'gone', namespace: 'apps' })).toBeUndefined();
    await expect(kube.events.warning({ name: 'gone', namespace: 'apps' }, 'VMCreateFailed', 'pod vanished')).resolves.toBeUndefined();
    expect(fake.peerPods()).toEqual([]);
    expect(forbidden(fake)).toEqual([]);
  });
});
