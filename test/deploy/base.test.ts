/**
 * The base's objects say what the daemon needs on a node: the DaemonSet (host network, mounts, capabilities,
 * probes, rolling update), the RuntimeClass, the PeerPod CRD and the namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonOptions } from '../../src/config/daemon-config.js';
import { parseGoDuration } from '../../src/config/duration.js';
import { deployCopy, findOne, type DeployCopy, type K8sObject } from './kustomize.js';

interface Probe {
  httpGet: { path: string; port: number; host?: string };
}
interface Container {
  name: string;
  image: string;
  command: string[];
  envFrom: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  env: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  securityContext: { privileged?: boolean; capabilities?: { add?: string[] } };
  startupProbe: Probe;
  livenessProbe: Probe;
  readinessProbe: Probe;
  ports?: unknown[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }>;
}
interface DaemonSetSpec {
  selector: { matchLabels: Record<string, string> };
  updateStrategy: { type: string; rollingUpdate: { maxUnavailable: number | string; maxSurge: number | string } };
  template: {
    metadata: { labels: Record<string, string> };
    spec: {
      serviceAccountName: string;
      hostNetwork: boolean;
      dnsPolicy: string;
      nodeSelector: Record<string, string>;
      terminationGracePeriodSeconds: number;
      containers: Container[];
      volumes: Array<{ name: string; hostPath?: { path: string; type?: string } }>;
    };
  };
}

/** The probe port the daemon will serve (reference §5.6: PROBE_PORT, default 8000). */
const PROBE_PORT = 8000;

let copy: DeployCopy;
let base: K8sObject[];
let ds: K8sObject & { spec: DaemonSetSpec };
let con: Container;

beforeAll(async () => {
  copy = await deployCopy();
  base = await copy.build('base');
  ds = findOne(base, 'DaemonSet', 'cloud-api-adaptor-daemonset') as typeof ds;
  con = ds.spec.template.spec.containers[0]!;
});
afterAll(async () => {
  await copy?.close();
});

describe('deploy/base: DaemonSet', () => {
  it('is cloud-api-adaptor-daemonset in confidential-containers-system, labelled app=cloud-api-adaptor', () => {
    expect(ds.metadata.namespace).toBe('confidential-containers-system');
    expect(ds.metadata.labels?.app).toBe('cloud-api-adaptor');
    expect(ds.spec.selector.matchLabels).toEqual({ app: 'cloud-api-adaptor' });
    expect(ds.spec.template.metadata.labels.app).toBe('cloud-api-adaptor');
    expect(ds.spec.template.spec.serviceAccountName).toBe('cloud-api-adaptor');
  });

  it('runs on worker nodes in the host network', () => {
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.nodeSelector).toEqual({ 'node.kubernetes.io/worker': '' });
  });

  it('has one container, cloud-api-adaptor-con, image `cloud-api-adaptor` (overlays replace it), started by entrypoint.sh', () => {
    expect(ds.spec.template.spec.containers.map((c) => c.name)).toEqual(['cloud-api-adaptor-con']);
    expect(con.image).toBe('cloud-api-adaptor');
    expect(con.command).toEqual(['/usr/local/bin/entrypoint.sh']);
  });

  it('is not privileged and adds exactly NET_ADMIN and SYS_ADMIN', () => {
    expect(con.securityContext.privileged).toBe(false);
    expect([...(con.securityContext.capabilities?.add ?? [])].sort()).toEqual(['NET_ADMIN', 'SYS_ADMIN']);
  });

  it('mounts the host paths the daemon works in', () => {
    const volumes = new Map(ds.spec.template.spec.volumes.map((v) => [v.name, v.hostPath]));
    const mounts = con.volumeMounts.map((m) => ({ ...m, host: volumes.get(m.name) }));
    const byPath = new Map(mounts.map((m) => [m.mountPath, m]));
    expect(byPath.get('/run/peerpod')).toMatchObject({ host: { path: '/run/peerpod' } });
    expect(byPath.get('/run/netns')).toMatchObject({ host: { path: '/run/netns' }, mountPropagation: 'HostToContainer' });
    expect(byPath.get('/run/xtables.lock')).toMatchObject({ host: { path: '/run/xtables.lock', type: 'FileOrCreate' } });
    expect(byPath.get('/lib/modules')).toMatchObject({ host: { path: '/lib/modules' }, readOnly: true });
    expect(byPath.get('/run/kata-containers/shared/direct-volumes')).toMatchObject({
      host: { path: '/run/kata-containers/shared/direct-volumes', type: 'DirectoryOrCreate' },
    });
    expect(byPath.get('/var/lib/kubelet/device-plugins')).toMatchObject({ host: { path: '/var/lib/kubelet/device-plugins', type: 'Directory' } });
    expect(daemonOptions.devicePluginDir.default).toBe('/var/lib/kubelet/device-plugins');
    expect(mounts.every((m) => m.host !== undefined)).toBe(true);
    expect(mounts).toHaveLength(6);
  });

  it('the daemon\'s default paths are under the mounted /run/peerpod', () => {
    for (const o of [daemonOptions.socket, daemonOptions.podsDir, daemonOptions.stateDir]) expect(o.default.startsWith('/run/peerpod/')).toBe(true);
  });

  it('takes its configuration from peer-pods-cm and peer-pods-secret, NODE_NAME and POD_UID from the downward API', () => {
    expect(con.envFrom).toEqual([{ configMapRef: { name: 'peer-pods-cm' } }, { secretRef: { name: 'peer-pods-secret' } }]);
    expect(con.env).toEqual([
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
    ]);
  });

  it('probes /startup, /healthz and /readyz on the daemon probe port over loopback, and declares no port', () => {
    expect(con.startupProbe.httpGet).toEqual({ host: '127.0.0.1', path: '/startup', port: PROBE_PORT });
    expect(con.livenessProbe.httpGet).toEqual({ host: '127.0.0.1', path: '/healthz', port: PROBE_PORT });
    expect(con.readinessProbe.httpGet).toEqual({ host: '127.0.0.1', path: '/readyz', port: PROBE_PORT });
    // With hostNetwork a containerPort is a hostPort: it would keep the surge pod off the node.
    expect(con.ports).toBeUndefined();
  });

  it('requests and limits CPU and memory', () => {
    expect(Object.keys(con.resources.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
    expect(Object.keys(con.resources.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
  });

  it('rolls with maxUnavailable 0 / maxSurge 1', () => {
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  });

  it('gives the daemon a little more than SHUTDOWN_GRACE to stop', () => {
    const graceSeconds = parseGoDuration(daemonOptions.shutdownGraceMs.default) / 1000;
    const t = ds.spec.template.spec.terminationGracePeriodSeconds;
    expect(t).toBeGreaterThan(graceSeconds);
    expect(t).toBeLessThanOrEqual(graceSeconds + 10);
  });
});

describe('deploy/base: RuntimeClass, CRD, namespace', () => {
  it('RuntimeClass kata-remote: handler, overhead, worker nodes', () => {
    const rc = findOne(base, 'RuntimeClass', 'kata-remote');
    expect(rc.handler).toBe('kata-remote');
    expect(rc.overhead).toEqual({ podFixed: { memory: '120Mi', cpu: '250m' } });
    expect(rc.scheduling).toEqual({ nodeSelector: { 'node.kubernetes.io/worker': '' } });
  });

  it('PeerPod CRD: namespaced v1alpha1 with status subresource, spec.cloudProvider, spec.instanceID, status.cleand', () => {
    const crd = findOne(base, 'CustomResourceDefinition', 'peerpods.confidentialcontainers.org') as K8sObject & {
      spec: {
        group: string;
        scope: string;
        names: { kind: string; plural: string };
        versions: Array<{ name: string; served: boolean; storage: boolean; subresources?: { status?: object }; schema: { openAPIV3Schema: { properties: Record<string, { properties?: Record<string, { type: string }> }> } } }>;
      };
    };
    expect(crd.spec.group).toBe('confidentialcontainers.org');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: 'PeerPod', plural: 'peerpods' });
    expect(crd.spec.versions.map((v) => v.name)).toEqual(['v1alpha1']);
    const v = crd.spec.versions[0]!;
    expect(v).toMatchObject({ served: true, storage: true, subresources: { status: {} } });
    const props = v.schema.openAPIV3Schema.properties;
    expect(props.spec?.properties).toEqual({
      cloudProvider: expect.objectContaining({ type: 'string' }),
      instanceID: expect.objectContaining({ type: 'string' }),
    });
    expect(props.status?.properties).toEqual({ cleand: expect.objectContaining({ type: 'boolean' }) });
  });

  it('the namespace allows the privileged pod the daemon is', () => {
    const ns = findOne(base, 'Namespace', 'confidential-containers-system');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('privileged');
    const namespaced = base.filter((o) => ['DaemonSet', 'ServiceAccount'].includes(o.kind));
    expect(namespaced.map((o) => o.metadata.namespace)).toEqual(['confidential-containers-system', 'confidential-containers-system']);
  });
});
