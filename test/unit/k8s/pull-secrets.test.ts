/**
 * PullSecretReader against the fake kube-apiserver (RBAC mode): pod + service-account secrets → auth.json.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PullSecretReader } from '../../../src/k8s/pull-secrets.js';
import { API_CALLS } from '../../deploy/rbac-table.js';
import { rejectionOf } from '../../helpers/async.js';
import { FAST_RETRY, forbidden, startKube, warnings, type KubeUnderTest } from '../../helpers/kube.js';

let k: KubeUnderTest;
beforeEach(async () => {
  k = await startKube();
});
afterEach(async () => {
  await k.close();
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const reader = (): PullSecretReader => new PullSecretReader(k.apis, { logger: k.logger, retry: FAST_RETRY });
const auths = (json: string | undefined): Record<string, { auth: string }> => (JSON.parse(json ?? '{}') as { auths: Record<string, { auth: string }> }).auths;

function dockerConfigJson(name: string, auths: Record<string, unknown>, namespace = 'ns'): void {
  k.fake.addSecret({ name, namespace, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) } });
}

function dockerCfg(name: string, registries: Record<string, unknown>, namespace = 'ns'): void {
  k.fake.addSecret({ name, namespace, type: 'kubernetes.io/dockercfg', data: { '.dockercfg': b64(JSON.stringify(registries)) } });
}

describe('PullSecretReader.authJson', () => {
  it("merges the service account's secrets (first) with the pod's, both secret types", async () => {
    dockerCfg('sa-cfg', { 'quay.io': { auth: b64('sa:one') }, 'shared.example': { username: 'sa', password: 'wins' } });
    dockerConfigJson('pod-json', { 'ghcr.io': { username: 'me', password: 'pw' }, 'shared.example': { auth: b64('pod:loses') } });
    k.fake.addServiceAccount({ name: 'builder', namespace: 'ns', imagePullSecrets: ['sa-cfg'] });
    k.fake.addPod({ name: 'web', namespace: 'ns', serviceAccountName: 'builder', imagePullSecrets: ['pod-json'] });
    const json = await reader().authJson({ name: 'web', namespace: 'ns' });
    expect(auths(json)).toEqual({
      'ghcr.io': { auth: b64('me:pw') },
      'quay.io': { auth: b64('sa:one') },
      'shared.example': { auth: b64('sa:wins') },
    });
    expect(k.fake.requests.map((r) => `${r.verb} ${r.resource} ${r.name}`)).toEqual([
      'get pods web',
      'get serviceaccounts builder',
      'get secrets sa-cfg',
      'get secrets pod-json',
    ]);
    expect(forbidden(k.fake)).toEqual([]);
  });

  it('uses the service account `default` when the pod names none, and skips a missing secret', async () => {
    dockerConfigJson('present', { 'registry.example': { auth: b64('u:p') } });
    k.fake.addServiceAccount({ name: 'default', namespace: 'ns', imagePullSecrets: ['gone'] });
    k.fake.addPod({ name: 'web', namespace: 'ns', imagePullSecrets: ['present'] });
    const json = await reader().authJson({ name: 'web', namespace: 'ns' });
    expect(Object.keys(auths(json))).toEqual(['registry.example']);
    expect(k.fake.requestsTo('GET', '/api/v1/namespaces/ns/serviceaccounts/default').length).toBe(1);
    expect(k.logs.some((l) => l.msg.includes('ns/gone not found: skipped'))).toBe(true);
  });

  it('works without a service account object, with the pod secrets alone', async () => {
    dockerConfigJson('mine', { 'registry.example': { auth: b64('u:p') } });
    k.fake.addPod({ name: 'web', namespace: 'ns', imagePullSecrets: ['mine'] });
    expect(Object.keys(auths(await reader().authJson({ name: 'web', namespace: 'ns' })))).toEqual(['registry.example']);
  });

  it('is undefined for a missing pod, no secrets, or secrets without credentials (with a warning)', async () => {
    expect(await reader().authJson({ name: 'nope', namespace: 'ns' })).toBeUndefined();
    k.fake.addPod({ name: 'plain', namespace: 'ns' });
    expect(await reader().authJson({ name: 'plain', namespace: 'ns' })).toBeUndefined();
    k.fake.addSecret({ name: 'opaque', namespace: 'ns', stringData: { password: 'x' } });
    k.fake.addPod({ name: 'odd', namespace: 'ns', imagePullSecrets: ['opaque'] });
    expect(await reader().authJson({ name: 'odd', namespace: 'ns' })).toBeUndefined();
    expect(warnings(k.logs).map((l) => l.msg)).toEqual(['image pull secrets: secret opaque: no .dockerconfigjson or .dockercfg']);
  });

  it('is undefined when auth.json would be over 12 KiB', async () => {
    const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`registry-${i}.example.com`, { auth: b64(`user-${i}:${'p'.repeat(40)}`) }]));
    dockerConfigJson('big', many);
    k.fake.addPod({ name: 'web', namespace: 'ns', imagePullSecrets: ['big'] });
    expect(await reader().authJson({ name: 'web', namespace: 'ns' })).toBeUndefined();
    expect(k.logs.some((l) => /no auth\.json: .*over the 12288-byte limit/.test(l.msg) && l.code === 'TOO_LARGE')).toBe(true);
  });

  it('rejects with a typed error when the API refuses (not a silent skip)', async () => {
    await k.close();
    k = await startKube({ rbac: API_CALLS.filter((c) => c.resource !== 'secrets') });
    k.fake.addPod({ name: 'web', namespace: 'ns', imagePullSecrets: ['s'] });
    const err = await rejectionOf(reader().authJson({ name: 'web', namespace: 'ns' }));
    expect(err).toMatchObject({ code: 'FORBIDDEN', status: 403 });
  });
});
