/**
 * deploy/webhook hangs together: the MutatingWebhookConfiguration reaches the Service, the Service the pods,
 * the pods read the certificate cert-manager writes, and the CA injected is that certificate's. The settings
 * are reference §5.2's, and the Deployment's environment is what `cloud-api-adaptor webhook` reads.
 */
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_PATH, MUTATE_PATH, loadWebhookConfig, webhookOptions } from '../../src/webhook/index.js';
import { deployCopy, findOne, type DeployCopy, type K8sObject } from './kustomize.js';

const NS = 'peer-pods-webhook-system';

interface Container {
  image: string;
  env: Array<{ name: string; value: string }>;
  ports: Array<{ name: string; containerPort: number }>;
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  startupProbe: { httpGet: { scheme: string; path: string; port: string | number } };
  livenessProbe: { httpGet: { scheme: string; path: string; port: string | number } };
  readinessProbe: { httpGet: { scheme: string; path: string; port: string | number } };
}
interface Webhook {
  name: string;
  admissionReviewVersions: string[];
  clientConfig: { service: { name: string; namespace: string; path: string; port: number } };
  rules: Array<{ operations: string[]; apiGroups: string[]; apiVersions: string[]; resources: string[] }>;
  failurePolicy: string;
  reinvocationPolicy: string;
  sideEffects: string;
  namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
  matchConditions?: Array<{ name: string; expression: string }>;
}

let copy: DeployCopy;
let objects: K8sObject[];
let deployment: K8sObject & {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        securityContext: { runAsNonRoot: boolean; runAsUser: number; fsGroup?: number };
        containers: Container[];
        volumes: Array<{ name: string; secret?: { secretName: string } }>;
      };
    };
  };
};
let container: Container;
let env: Record<string, string>;
let webhook: Webhook;

beforeAll(async () => {
  copy = await deployCopy();
  objects = await copy.build('webhook');
  deployment = findOne(objects, 'Deployment') as typeof deployment;
  container = deployment.spec.template.spec.containers[0]!;
  env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
  const mwc = findOne(objects, 'MutatingWebhookConfiguration') as K8sObject & { webhooks: Webhook[] };
  expect(mwc.webhooks).toHaveLength(1);
  webhook = mwc.webhooks[0]!;
});
afterAll(async () => {
  await copy?.close();
});

describe('deploy/webhook', () => {
  it('lives in its own namespace', () => {
    expect(findOne(objects, 'Namespace', NS)).toBeDefined();
    const namespaced = objects.filter((o) => !['Namespace', 'MutatingWebhookConfiguration'].includes(o.kind));
    expect(namespaced.filter((o) => o.metadata.namespace !== NS).map((o) => o.kind)).toEqual([]);
  });

  it('runs two non-root replicas without privileges, kept available through drains', () => {
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBe(65532);
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const pdb = findOne(objects, 'PodDisruptionBudget') as K8sObject & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } };
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
  });

  it("sets only the webhook's keys, and they parse", () => {
    const known = new Set(Object.values(webhookOptions).flatMap((o) => o.env));
    expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
    const config = loadWebhookConfig({ flags: {}, env });
    expect(config).toMatchObject({ targetRuntimeClass: 'kata-remote', podVmExtendedResource: 'kata.peerpods.io/vm', port: 8443 });
  });

  it('is reached through the Service on the container port', () => {
    const svc = findOne(objects, 'Service') as K8sObject & { spec: { selector: Record<string, string>; ports: Array<{ port: number; targetPort: string | number }> } };
    expect(svc.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    const port = svc.spec.ports.find((p) => p.port === webhook.clientConfig.service.port)!;
    expect(port).toBeDefined();
    const target = container.ports.find((p) => p.name === port.targetPort || p.containerPort === port.targetPort)!;
    expect(target.containerPort).toBe(Number(env.WEBHOOK_PORT));
    expect(webhook.clientConfig.service).toEqual({ name: svc.metadata.name, namespace: NS, path: MUTATE_PATH, port: 443 });
  });

  it('probes /healthz over HTTPS', () => {
    for (const p of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      expect(p.httpGet).toMatchObject({ scheme: 'HTTPS', path: HEALTH_PATH, port: 'https' });
    }
  });

  it('is mwebhook.peerpods.io for Pod CREATE: Fail, IfNeeded, no side effects, v1 reviews', () => {
    expect(webhook.name).toBe('mwebhook.peerpods.io');
    expect(webhook.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    expect(webhook.failurePolicy).toBe('Fail');
    expect(webhook.reinvocationPolicy).toBe('IfNeeded');
    expect(webhook.sideEffects).toBe('None');
    expect(webhook.admissionReviewVersions).toEqual(['v1']);
  });

  it('leaves its own namespace and kube-system alone', () => {
    expect(webhook.namespaceSelector.matchExpressions).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NS, 'kube-system'] }]);
  });

  it("is sent only pods of the Deployment's TARGET_RUNTIMECLASS", () => {
    const expressions = (webhook.matchConditions ?? []).map((c) => c.expression);
    expect(expressions).toEqual([`has(object.spec.runtimeClassName) && object.spec.runtimeClassName == '${env.TARGET_RUNTIMECLASS}'`]);
  });

  it("serves cert-manager's certificate for the Service name, and the API server trusts its CA", () => {
    const cert = findOne(objects, 'Certificate') as K8sObject & { spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } } };
    const issuer = findOne(objects, cert.spec.issuerRef.kind, cert.spec.issuerRef.name);
    expect(issuer.metadata.namespace).toBe(NS);
    const svc = webhook.clientConfig.service;
    expect(cert.spec.dnsNames).toContain(`${svc.name}.${svc.namespace}.svc`);
    const mwc = findOne(objects, 'MutatingWebhookConfiguration');
    expect(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${cert.metadata.namespace}/${cert.metadata.name}`);
    // The Secret cert-manager writes is mounted where the server reads tls.crt and tls.key.
    const volume = deployment.spec.template.spec.volumes.find((v) => v.secret?.secretName === cert.spec.secretName)!;
    expect(volume).toBeDefined();
    const mount = container.volumeMounts.find((m) => m.name === volume.name)!;
    expect(mount.readOnly).toBe(true);
    expect(env.WEBHOOK_CERT_FILE).toBe(`${mount.mountPath}/tls.crt`);
    expect(env.WEBHOOK_KEY_FILE).toBe(`${mount.mountPath}/tls.key`);
    expect(dirname(webhookOptions.certFile.default)).toBe(mount.mountPath);
    // Non-root reads the files through the group fsGroup gives them.
    expect(deployment.spec.template.spec.securityContext.fsGroup).toBe(65532);
  });

  it('replaces the image with a tagged one', () => {
    expect(container.image).toMatch(/^[^:]+\/[^:]+-webhook:[\w.-]+$/);
    expect(container.image).not.toMatch(/:latest$/);
  });
});
