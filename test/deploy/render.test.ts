/**
 * Every kustomization under deploy/ renders offline with kustomize v4.5.4, and every object it renders
 * passes the Kubernetes OpenAPI schema of its kind (cert-manager's kinds: hand checks).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployCopy, kustomizationDirs, type DeployCopy, type K8sObject } from './kustomize.js';
import { isHandChecked, validateObject } from './k8s-validate.js';

const dirs = kustomizationDirs();
let copy: DeployCopy;
const rendered = new Map<string, K8sObject[]>();

beforeAll(async () => {
  copy = await deployCopy();
  for (const d of dirs) rendered.set(d, await copy.build(d));
});
afterAll(async () => {
  await copy?.close();
});

describe('deploy/ kustomizations', () => {
  it('are the base, the webhook and one per overlay', () => {
    expect(dirs).toEqual(expect.arrayContaining(['base', 'overlays/aws', 'webhook']));
  });

  it.each(dirs)('%s renders, and every object validates against its schema', (dir) => {
    const objects = rendered.get(dir)!;
    expect(objects.length).toBeGreaterThan(0);
    const problems = objects.flatMap((o) => validateObject(o).map((p) => `${o.kind}/${o.metadata?.name}: ${p}`));
    expect(problems).toEqual([]);
  });

  it.each(dirs)('%s: every object has a name, and no two objects share kind, namespace and name', (dir) => {
    const objects = rendered.get(dir)!;
    const ids = objects.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(objects.every((o) => typeof o.metadata?.name === 'string' && o.metadata.name !== '')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('the schemas reject a broken object (the validation is real)', () => {
    const ds = rendered.get('base')!.find((o) => o.kind === 'DaemonSet')!;
    const broken = structuredClone(ds) as K8sObject & { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
    broken.spec.template.spec.containers[0]!.image = 42;
    delete broken.spec.template.spec.containers[0]!.name;
    expect(validateObject(broken).join(' ')).toMatch(/must have required property name/);
    expect(validateObject({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x' } })).toEqual([
      expect.stringMatching(/no schema for example.com\/v1\/Thing/),
    ]);
  });

  it('only cert-manager objects are checked by hand, and the hand checks catch a broken Certificate', () => {
    const all = [...rendered.values()].flat();
    expect([...new Set(all.filter(isHandChecked).map((o) => `${o.apiVersion}/${o.kind}`))].sort()).toEqual([
      'cert-manager.io/v1/Certificate',
      'cert-manager.io/v1/Issuer',
    ]);
    const cert = structuredClone(all.find((o) => o.kind === 'Certificate')!) as K8sObject & { spec: Record<string, unknown> };
    delete cert.spec.secretName;
    cert.spec.duration = '90 days';
    expect(validateObject(cert)).toEqual(['spec.secretName is required', 'spec.duration must be a Go duration']);
  });
});
