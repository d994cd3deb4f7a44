/**
 * Checks rendered objects against the Kubernetes OpenAPI schemas (kubernetes-models' compiled validators).
 * The validators check types, enums and required fields; they accept unknown fields (the OpenAPI schemas do
 * not close their objects), so the manifest tests also assert each field they rely on by name.
 *
 * cert-manager's Issuer and Certificate have no schema here: they are checked by hand (apiVersion, kind and
 * the fields cert-manager requires), see `checkCertManager`.
 */
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { RuntimeClass } from 'kubernetes-models/node.k8s.io/v1/RuntimeClass';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { K8sObject } from './kustomize.js';

type Validating = new (data: never) => { validate(): void };

const models: Record<string, Validating> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'node.k8s.io/v1/RuntimeClass': RuntimeClass,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const GO_DURATION = /^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/;
const ISSUER_TYPES = ['selfSigned', 'ca', 'acme', 'vault', 'venafi'];
const KEY_USAGES = new Set([
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment',
  'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing',
  'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing',
  'microsoft sgc', 'netscape sgc',
]);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** cert-manager.io/v1 Issuer and Certificate, by hand (no OpenAPI schema ships for them). */
function checkCertManager(o: K8sObject): string[] {
  const problems: string[] = [];
  const spec = o.spec;
  if (!isNonEmptyString(o.metadata?.name)) problems.push('metadata.name is required');
  if (!isObj(spec)) return [...problems, 'spec is required'];
  if (o.kind === 'Issuer' || o.kind === 'ClusterIssuer') {
    const types = ISSUER_TYPES.filter((t) => spec[t] !== undefined);
    if (types.length !== 1) problems.push(`spec must have exactly one issuer type of ${ISSUER_TYPES.join(', ')} (has ${types.join(', ') || 'none'})`);
    if (spec.ca !== undefined && !(isObj(spec.ca) && isNonEmptyString(spec.ca.secretName))) problems.push('spec.ca.secretName is required');
    return problems;
  }
  // Certificate
  if (!isNonEmptyString(spec.secretName)) problems.push('spec.secretName is required');
  const ref = spec.issuerRef;
  if (!isObj(ref) || !isNonEmptyString(ref.name)) problems.push('spec.issuerRef.name is required');
  else {
    if (ref.kind !== undefined && !['Issuer', 'ClusterIssuer'].includes(ref.kind as string)) problems.push('spec.issuerRef.kind must be Issuer or ClusterIssuer');
    if (ref.group !== undefined && ref.group !== 'cert-manager.io') problems.push('spec.issuerRef.group must be cert-manager.io for a built-in issuer');
  }
  const identities = ['commonName', 'dnsNames', 'ipAddresses', 'uris', 'emailAddresses', 'literalSubject'].filter((k) => spec[k] !== undefined);
  if (identities.length === 0) problems.push('spec needs at least one of commonName, dnsNames, ipAddresses, uris, emailAddresses');
  for (const k of ['dnsNames', 'ipAddresses', 'uris', 'emailAddresses', 'usages']) {
    if (spec[k] !== undefined && !(Array.isArray(spec[k]) && (spec[k] as unknown[]).every(isNonEmptyString))) problems.push(`spec.${k} must be a list of strings`);
  }
  for (const k of ['duration', 'renewBefore']) {
    if (spec[k] !== undefined && !(typeof spec[k] === 'string' && GO_DURATION.test(spec[k]))) problems.push(`spec.${k} must be a Go duration`);
  }
  if (Array.isArray(spec.usages)) {
    for (const u of spec.usages) if (!KEY_USAGES.has(u as string)) problems.push(`spec.usages: unknown usage ${JSON.stringify(u)}`);
  }
  const pk = spec.privateKey;
  if (pk !== undefined) {
    if (!isObj(pk)) problems.push('spec.privateKey must be an object');
    else {
      if (pk.algorithm !== undefined && !['RSA', 'ECDSA', 'Ed25519'].includes(pk.algorithm as string)) problems.push('spec.privateKey.algorithm must be RSA, ECDSA or Ed25519');
      if (pk.algorithm === 'ECDSA' && pk.size !== undefined && ![256, 384, 521].includes(pk.size as number)) problems.push('spec.privateKey.size for ECDSA must be 256, 384 or 521');
      if (pk.rotationPolicy !== undefined && !['Always', 'Never'].includes(pk.rotationPolicy as string)) problems.push('spec.privateKey.rotationPolicy must be Always or Never');
    }
  }
  return problems;
}

const handChecked: Record<string, (o: K8sObject) => string[]> = {
  'cert-manager.io/v1/Issuer': checkCertManager,
  'cert-manager.io/v1/ClusterIssuer': checkCertManager,
  'cert-manager.io/v1/Certificate': checkCertManager,
};

/** Problems with one object ([] = valid). An apiVersion/kind with neither a schema nor a hand check is a problem. */
export function validateObject(o: K8sObject): string[] {
  const key = `${o.apiVersion}/${o.kind}`;
  const Model = models[key];
  if (Model) {
    try {
      new Model(o as never).validate();
      return [];
    } catch (err) {
      return [(err as Error).message];
    }
  }
  const check = handChecked[key];
  if (check) return check(o);
  return [`no schema for ${key}: add its kubernetes-models class (or a hand check) to test/deploy/k8s-validate.ts`];
}

/** True when the object's type is checked by hand, not by an OpenAPI schema. */
export function isHandChecked(o: K8sObject): boolean {
  return `${o.apiVersion}/${o.kind}` in handChecked;
}
