/**
 * loadKubeConfig: in-cluster (service-account files in a temp dir, an https fake apiserver with its own
 * CA), KUBECONFIG files, and no cluster at all.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../../src/k8s/kube-config.js';
import { FakeKubeApiServer } from '../../fakes/kube/index.js';
import { captureLogger } from '../../helpers/kube.js';
import { testPki } from '../../helpers/test-certs.js';

let fake: FakeKubeApiServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function tempDir(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'kubecfg-'));
  return dir;
}

function kubeconfigYaml(server: string, name = 'fake', namespace?: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `current-context: ${name}`,
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    `    server: ${server}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    `- name: ${name}`,
    '  user:',
    `    token: token-of-${name}`,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${name}`,
    ...(namespace ? [`    namespace: ${namespace}`] : []),
    '',
  ].join('\n');
}

describe('loadKubeConfig', () => {
  it('without a cluster: undefined and one info line', () => {
    const { logger, logs } = captureLogger();
    expect(loadKubeConfig({}, logger, { serviceAccountDir: '/nonexistent' })).toBeUndefined();
    expect(logs.map((l) => [l.level, l.msg])).toEqual([[30, 'no Kubernetes API: PeerPod objects, events, pull secrets and node capacity are off']]);
  });

  it('in a pod: https to KUBERNETES_SERVICE_HOST:PORT with the mounted CA and token', async () => {
    const pki = await testPki('kubernetes.default.svc', '127.0.0.1');
    fake = await FakeKubeApiServer.start({ tls: pki.server });
    fake.addNode({ name: 'node-a' });
    const sa = await tempDir();
    await writeFile(join(sa, 'token'), 'sa-token-1');
    await writeFile(join(sa, 'ca.crt'), pki.ca);
    await writeFile(join(sa, 'namespace'), 'confidential-containers-system\n');
    const { logger, logs } = captureLogger();
    const kc = loadKubeConfig({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(fake.port), KUBECONFIG: '/ignored' }, logger, { serviceAccountDir: sa });
    expect(kc?.getCurrentCluster()?.server).toBe(`https://127.0.0.1:${fake.port}`);
    expect(kc?.getContextObject(kc.getCurrentContext())?.namespace).toBe('confidential-containers-system');
    const node = await kc!.makeApiClient(CoreV1Api).readNode({ name: 'node-a' });
    expect(node.metadata?.name).toBe('node-a');
    expect(fake.requests.map((r) => r.authorization)).toEqual(['Bearer sa-token-1']);
    expect(logs.some((l) => l.msg === 'Kubernetes API: in-cluster service account')).toBe(true);
  });

  it('brackets an IPv6 service address', async () => {
    const sa = await tempDir();
    await writeFile(join(sa, 'token'), 't');
    const { logger } = captureLogger();
    const kc = loadKubeConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, logger, { serviceAccountDir: sa });
    expect(kc?.getCurrentCluster()?.server).toBe('https://[fd00::1]:443');
  });

  it('in a pod without a token: falls back to KUBECONFIG, with a warning', async () => {
    fake = await FakeKubeApiServer.start();
    const d = await tempDir();
    await writeFile(join(d, 'config'), kubeconfigYaml(fake.url));
    const { logger, logs } = captureLogger();
    const kc = loadKubeConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: join(d, 'config') }, logger, {
      serviceAccountDir: join(d, 'no-sa'),
    });
    expect(kc?.getCurrentCluster()?.server).toBe(fake.url);
    expect(logs.filter((l) => l.level === 40).length).toBe(1);
  });

  it('from KUBECONFIG files: the first definition of a name wins, and the client reaches the server', async () => {
    fake = await FakeKubeApiServer.start();
    fake.addNode({ name: 'node-a' });
    const d = await tempDir();
    await writeFile(join(d, 'one'), kubeconfigYaml(fake.url));
    await writeFile(join(d, 'two'), kubeconfigYaml('http://127.0.0.1:9', 'fake'));
    await writeFile(join(d, 'three'), kubeconfigYaml('http://127.0.0.1:9', 'spare'));
    const { logger } = captureLogger();
    const kc = loadKubeConfig({ KUBECONFIG: [join(d, 'one'), join(d, 'two'), join(d, 'three')].join(':') }, logger, { serviceAccountDir: '/nonexistent' });
    expect(kc?.getCurrentCluster()?.server).toBe(fake.url);
    expect(kc?.getContexts().map((c) => c.name)).toEqual(['fake', 'spare']);
    await kc!.makeApiClient(CoreV1Api).readNode({ name: 'node-a' });
    expect(fake.requests.map((r) => r.authorization)).toEqual(['Bearer token-of-fake']);
  });

  it('a KUBECONFIG that cannot be loaded is a CONFIG error, not silence', async () => {
    const d = await tempDir();
    await writeFile(join(d, 'bad'), 'clusters: [');
    const { logger } = captureLogger();
    expect(() => loadKubeConfig({ KUBECONFIG: join(d, 'missing') }, logger, { serviceAccountDir: '/nonexistent' })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    expect(() => loadKubeConfig({ KUBECONFIG: join(d, 'bad') }, logger, { serviceAccountDir: '/nonexistent' })).toThrow(/KUBECONFIG file/);
  });
});
