/**
 * The daemon's RBAC is exactly the Kubernetes API calls it makes: every row of the table in rbac-table.ts is
 * granted, and nothing else is (no `*`, no extra verb, resource or group). The same table is in docs/deploy.md.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, deployCopy, findOne, type DeployCopy, type K8sObject } from './kustomize.js';
import { API_CALLS, apiCallKey as key } from './rbac-table.js';

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Every (verb, group, resource) a rule grants; `*` is kept as is so that it shows up as extra. */
function grants(rule: PolicyRule): string[] {
  const out: string[] = [];
  for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) for (const verb of rule.verbs) out.push(key({ verb, group, resource }));
  return out;
}

let copy: DeployCopy;
let base: K8sObject[];
beforeAll(async () => {
  copy = await deployCopy();
  base = await copy.build('base');
});
afterAll(async () => {
  await copy?.close();
});

/** The roles bound to the daemon's service account, with the rules they hold. */
function rulesOfDaemon(): { rules: PolicyRule[]; bindings: K8sObject[] } {
  const ds = findOne(base, 'DaemonSet', 'cloud-api-adaptor-daemonset') as K8sObject & { spec: { template: { spec: { serviceAccountName: string } } } };
  const sa = { name: ds.spec.template.spec.serviceAccountName, namespace: ds.metadata.namespace };
  const bindings = base.filter((o) => {
    if (o.kind !== 'ClusterRoleBinding' && o.kind !== 'RoleBinding') return false;
    const subjects = (o.subjects ?? []) as Array<{ kind: string; name: string; namespace?: string }>;
    return subjects.some((s) => s.kind === 'ServiceAccount' && s.name === sa.name && s.namespace === sa.namespace);
  });
  const rules = bindings.flatMap((b) => {
    const ref = b.roleRef as { kind: string; name: string };
    const role = findOne(base, ref.kind, ref.name);
    return role.rules as PolicyRule[];
  });
  return { rules, bindings };
}

describe('RBAC of the daemon', () => {
  it('the service account exists in the DaemonSet namespace and is bound', () => {
    const { bindings } = rulesOfDaemon();
    expect(bindings.map((b) => `${b.kind}/${b.metadata.name}`)).toEqual(['ClusterRoleBinding/cloud-api-adaptor']);
    expect(findOne(base, 'ServiceAccount', 'cloud-api-adaptor').metadata.namespace).toBe('confidential-containers-system');
  });

  it('grants every API call of the table', () => {
    const granted = new Set(rulesOfDaemon().rules.flatMap(grants));
    expect(API_CALLS.map(key).filter((k) => !granted.has(k))).toEqual([]);
  });

  it('grants nothing more: no `*`, no call outside the table, no non-resource URL', () => {
    const { rules } = rulesOfDaemon();
    const wanted = new Set(API_CALLS.map(key));
    expect(rules.flatMap(grants).filter((g) => !wanted.has(g))).toEqual([]);
    const all = rules.flatMap((r) => [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs]);
    expect(all.filter((x) => x.includes('*'))).toEqual([]);
    expect(rules.filter((r) => r.nonResourceURLs !== undefined)).toEqual([]);
  });

  it('no other binding in the base gives anyone anything', () => {
    const roles = base.filter((o) => ['ClusterRole', 'Role'].includes(o.kind)).map((o) => o.metadata.name);
    const bindings = base.filter((o) => ['ClusterRoleBinding', 'RoleBinding'].includes(o.kind)).map((o) => o.metadata.name);
    expect(roles).toEqual(['cloud-api-adaptor']);
    expect(bindings).toEqual(['cloud-api-adaptor']);
  });

  it('the webhook gets no RBAC and no token', async () => {
    const webhook = await copy.build('webhook');
    expect(webhook.filter((o) => /Role/.test(o.kind))).toEqual([]);
    expect(findOne(webhook, 'ServiceAccount').automountServiceAccountToken).toBe(false);
  });

  it('docs/deploy.md lists the same calls', async () => {
    const doc = await readFile(join(REPO, 'docs/deploy.md'), 'utf8');
    // Rows like: | `get` | `confidentialcontainers.org` | `peerpods` | why |
    const rows = [...doc.matchAll(/^\| `([a-z]+)` \| `([^`]*)` \| `([^`]+)` \|/gm)].map(([, verb, group, resource]) =>
      key({ verb: verb!, group: group === 'core' ? '' : group!, resource: resource! }),
    );
    expect(rows.sort()).toEqual(API_CALLS.map(key).sort());
  });
});
