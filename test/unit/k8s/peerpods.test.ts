/**
 * PeerPodRegistry against the fake kube-apiserver (RBAC mode: only the daemon's ClusterRole).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKubeError, KubeError } from '../../../src/k8s/errors.js';
import {
  NODE_ANNOTATION,
  NODE_LABEL,
  PEERPOD_FINALIZER,
  PeerPodRegistry,
  SANDBOX_ANNOTATION,
  SANDBOX_LABEL,
  peerPodName,
  type PeerPodRegistryOptions,
} from '../../../src/k8s/peerpods.js';
import { API_CALLS } from '../../deploy/rbac-table.js';
import { resourceByPlural } from '../../fakes/kube/index.js';
import { rejectionOf } from '../../helpers/async.js';
import { FAST_RETRY, forbidden, startKube, type KubeUnderTest } from '../../helpers/kube.js';

const SANDBOX = 'a'.repeat(32) + 'b'.repeat(32);
const PP_PATH = '/apis/confidentialcontainers.org/v1alpha1/namespaces/ns/peerpods';

let k: KubeUnderTest;
beforeEach(async () => {
  k = await startKube();
});
afterEach(async () => {
  await k.close();
});

function registry(options: Partial<PeerPodRegistryOptions> = {}): PeerPodRegistry {
  return new PeerPodRegistry(k.apis, { nodeName: 'node-a', cloudProvider: 'aws', logger: k.logger, retry: FAST_RETRY, ...options });
}

const req = (extra: Record<string, string> = {}) => ({ podName: 'web', podNamespace: 'ns', sandboxId: SANDBOX, instanceId: 'i-0123', instanceName: 'podvm-web-aaaaaaaa', ...extra });

describe('PeerPodRegistry.create', () => {
  it('creates a PeerPod owned by the pod, held by the finalizer, labelled with node and sandbox', async () => {
    const pod = k.fake.addPod({ name: 'web', namespace: 'ns', nodeName: 'node-a' });
    const ref = await registry().create(req());
    expect(ref?.name).toMatch(/^web-resource-[a-z0-9]{5}$/);
    const [pp, ...others] = k.fake.peerPods('ns');
    expect(others).toEqual([]);
    expect(pp!.metadata.name).toBe(ref!.name);
    expect(pp!.metadata.uid).toBe(ref!.uid);
    expect(pp!.metadata.finalizers).toEqual([PEERPOD_FINALIZER]);
    expect(pp!.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Pod', name: 'web', uid: pod.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(pp!.spec).toEqual({ cloudProvider: 'aws', instanceID: 'i-0123' });
    expect(pp!.metadata.labels).toEqual({ [NODE_LABEL]: 'node-a', [SANDBOX_LABEL]: SANDBOX.slice(0, 63) });
    expect(pp!.metadata.annotations?.[SANDBOX_ANNOTATION]).toBe(SANDBOX);
    expect(pp!.metadata.annotations?.[NODE_ANNOTATION]).toBe('node-a');
    expect(k.fake.requests.map((r) => `${r.verb} ${r.resource}`)).toEqual(['get pods', 'create peerpods']);
    expect(forbidden(k.fake)).toEqual([]);
  });

  it('makes a valid name from the longest pod name, and valid labels from a long node name', async () => {
    const long = `${'p'.repeat(240)}.x-y`;
    k.fake.addPod({ name: long, namespace: 'ns' });
    const node = `${'n'.repeat(62)}.-tail`;
    const ref = await registry({ nodeName: node }).create(req({ podName: long }));
    expect(ref!.name.length).toBeLessThanOrEqual(253);
    expect(ref!.name).toMatch(/^p+-resource-[a-z0-9]{5}$/);
    expect(k.fake.peerPods('ns')[0]!.metadata.labels?.[NODE_LABEL]).toBe('n'.repeat(62));
    expect(peerPodName('web', 'abcde')).toBe('web-resource-abcde');
  });

  it('skips a pod that does not exist (or is another pod of that name) without an error', async () => {
    expect(await registry().create(req())).toBeUndefined();
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    expect(await registry().create(req({ podUid: 'some-older-uid' }))).toBeUndefined();
    expect(k.fake.peerPods()).toEqual([]);
    expect(k.fake.requestsTo('POST')).toEqual([]);
    expect(k.logs.filter((l) => /no PeerPod object for instance i-0123/.test(l.msg)).length).toBe(2);
  });

  it('retries a conflict and a 500, without leaving two objects', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    k.fake.inject({ method: 'POST', pathPrefix: PP_PATH, status: 409, reason: 'Conflict', times: 1 });
    k.fake.inject({ method: 'POST', pathPrefix: PP_PATH, status: 500, times: 1 });
    const ref = await registry().create(req());
    expect(ref).toBeDefined();
    expect(k.fake.requestsTo('POST', PP_PATH).map((r) => r.status)).toEqual([409, 500, 201]);
    expect(k.fake.peerPods('ns').length).toBe(1);
  });

  it('after a lost reply (500 once the object was written) finds the object instead of making a second', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    k.fake.inject({ method: 'POST', pathPrefix: PP_PATH, status: 500, afterEffect: true, times: 1 });
    const ref = await registry().create(req());
    expect(k.fake.peerPods('ns').map((p) => p.metadata.name)).toEqual([ref!.name]);
    expect(k.fake.requestsTo('POST', PP_PATH).length).toBe(1);
  });

  it('draws a new name when the first one is taken', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    k.fake.inject({ method: 'POST', pathPrefix: PP_PATH, status: 409, reason: 'AlreadyExists', times: 1 });
    expect(await registry().create(req())).toBeDefined();
    const names = k.fake.requestsTo('POST', PP_PATH).map((r) => (r.body as { metadata: { name: string } }).metadata.name);
    expect(names.length).toBe(2);
    expect(names[0]).not.toBe(names[1]);
  });

  it('gives up after the attempts with a typed error carrying the status', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    k.fake.inject({ method: 'POST', pathPrefix: PP_PATH, status: 503 });
    const err = await rejectionOf(registry().create(req()));
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', status: 503, retryable: true });
    expect(k.fake.requestsTo('POST', PP_PATH).length).toBe(FAST_RETRY.attempts);
  });

  it('does not retry a refusal: FORBIDDEN once, with the status', async () => {
    await k.close();
    k = await startKube({ rbac: API_CALLS.filter((c) => !(c.resource === 'peerpods' && c.verb === 'create')) });
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    const err = await rejectionOf(registry().create(req()));
    expect(isKubeError(err, 'FORBIDDEN')).toBe(true);
    expect((err as KubeError).status).toBe(403);
    expect(k.fake.requestsTo('POST').length).toBe(1);
  });

  it('honours an abort: a hung apiserver, an already-aborted signal, and a backoff sleep', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    k.fake.inject({ method: 'GET', pathPrefix: '/api/v1/namespaces/ns/pods/', delayMs: 60_000, times: 1 });
    const ctl = new AbortController();
    const started = Date.now();
    setTimeout(() => ctl.abort(new Error('shim gave up')), 50);
    const err = await rejectionOf(registry().create(req(), ctl.signal));
    expect(err).toMatchObject({ code: 'CANCELLED' });
    expect((err as Error).message).toContain('shim gave up');
    expect(Date.now() - started).toBeLessThan(2_000);

    const before = k.fake.requests.length;
    expect(await rejectionOf(registry().create(req(), AbortSignal.abort(new Error('already'))))).toMatchObject({ code: 'CANCELLED' });
    expect(k.fake.requests.length).toBe(before);

    k.fake.inject({ method: 'POST', status: 503 });
    const slow = new AbortController();
    const t0 = Date.now();
    const p = registry({ retry: { attempts: 5, backoff: { initialMs: 30_000 } } }).create(req(), slow.signal);
    setTimeout(() => slow.abort(new Error('stop')), 100);
    expect(await rejectionOf(p)).toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('a call with no answer within callTimeoutMs is UNAVAILABLE (retryable), not CANCELLED', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    k.fake.inject({ method: 'GET', delayMs: 60_000 });
    const err = await rejectionOf(registry({ callTimeoutMs: 100, retry: { attempts: 2, backoff: { initialMs: 1 } } }).create(req()));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', status: undefined });
    expect(k.fake.requestsTo('GET').length).toBe(2);
  });
});

describe('PeerPodRegistry.release and ownedInstanceIds', () => {
  it('drops the finalizer; GC then deletes the PeerPod once the pod is gone', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    const r = registry();
    const ref = await r.create(req());
    expect(await r.release({ podNamespace: 'ns', sandboxId: SANDBOX, instanceId: 'i-0123' })).toBe(1);
    const pp = k.fake.object('peerpods', 'ns', ref!.name);
    expect(pp?.metadata.finalizers).toEqual([]);
    const patch = k.fake.requestsTo('PATCH').at(-1)!;
    expect(patch.contentType).toBe('application/json-patch+json');
    expect(patch.body).toEqual([
      { op: 'test', path: '/metadata/finalizers/0', value: PEERPOD_FINALIZER },
      { op: 'remove', path: '/metadata/finalizers/0' },
    ]);
    expect(k.fake.gc()).toBe(0);
    k.fake.deletePod('ns', 'web');
    expect(k.fake.gc()).toBe(1);
    expect(k.fake.peerPods()).toEqual([]);
    // Idempotent: nothing left to release.
    expect(await r.release({ podNamespace: 'ns', sandboxId: SANDBOX })).toBe(0);
    expect(forbidden(k.fake)).toEqual([]);
  });

  it('without release, GC only marks the PeerPod (peerpod-ctrl still sees it); release then lets it go', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    const r = registry();
    const ref = await r.create(req());
    k.fake.deletePod('ns', 'web');
    expect(k.fake.gc()).toBe(1);
    expect(k.fake.object('peerpods', 'ns', ref!.name)?.metadata.deletionTimestamp).toBeDefined();
    expect(await r.ownedInstanceIds()).toEqual(new Set(['i-0123']));
    expect(await r.release({ podNamespace: 'ns', sandboxId: SANDBOX, instanceId: 'i-0123' })).toBe(1);
    expect(k.fake.peerPods()).toEqual([]);
  });

  it('removes only our finalizer, only for the instance asked, and retries 409/500/422 answers', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    const r = registry();
    const a = await r.create(req());
    const b = await r.create(req({ instanceId: 'i-other' }));
    k.fake.store.patch(resourceByPlural('peerpods'), 'ns', a!.name, 'application/json-patch+json', [{ op: 'add', path: '/metadata/finalizers/0', value: 'example.com/keep' }]);
    k.fake.inject({ method: 'PATCH', status: 409, reason: 'Conflict', times: 1 });
    k.fake.inject({ method: 'PATCH', status: 500, times: 1 });
    k.fake.inject({ method: 'PATCH', status: 422, reason: 'Invalid', times: 1 });
    expect(await r.release({ podNamespace: 'ns', sandboxId: SANDBOX, instanceId: 'i-0123' })).toBe(1);
    expect(k.fake.object('peerpods', 'ns', a!.name)?.metadata.finalizers).toEqual(['example.com/keep']);
    expect(k.fake.object('peerpods', 'ns', b!.name)?.metadata.finalizers).toEqual([PEERPOD_FINALIZER]);
    expect(k.fake.requestsTo('PATCH').map((x) => x.status)).toEqual([409, 500, 422, 200]);
  });

  it('releases every PeerPod of the sandbox when no instance is named, counting across retries', async () => {
    k.fake.addPod({ name: 'web', namespace: 'ns' });
    const r = registry();
    await r.create(req());
    const second = await r.create(req({ instanceId: 'i-second' }));
    k.fake.inject({ method: 'PATCH', pathPrefix: `${PP_PATH}/${second!.name}`, status: 500, times: 1 });
    expect(await r.release({ podNamespace: 'ns', sandboxId: SANDBOX })).toBe(2);
    expect(k.fake.peerPods('ns').map((p) => p.metadata.finalizers)).toEqual([[], []]);
  });

  it("lists the instance ids of this node's PeerPods in every namespace", async () => {
    for (const ns of ['ns', 'other']) k.fake.addPod({ name: 'web', namespace: ns });
    k.fake.addPod({ name: 'db', namespace: 'ns' });
    const longNode = 'n'.repeat(70);
    await registry().create(req());
    await registry().create(req({ podNamespace: 'other', sandboxId: 'c'.repeat(64), instanceId: 'i-2' }));
    await registry({ nodeName: 'node-b' }).create(req({ podName: 'db', sandboxId: 'd'.repeat(64), instanceId: 'i-b' }));
    // Two node names alike in their first 63 characters: the label matches both, the annotation tells them apart.
    await registry({ nodeName: longNode }).create(req({ podName: 'db', sandboxId: 'e'.repeat(64), instanceId: 'i-long' }));
    await registry({ nodeName: `${longNode}x` }).create(req({ podName: 'db', sandboxId: 'f'.repeat(64), instanceId: 'i-longx' }));
    expect(await registry().ownedInstanceIds()).toEqual(new Set(['i-0123', 'i-2']));
    expect(await registry({ nodeName: longNode }).ownedInstanceIds()).toEqual(new Set(['i-long']));
    const list = k.fake.requestsTo('GET', '/apis/confidentialcontainers.org/v1alpha1/peerpods').at(-1)!;
    expect(list.query.labelSelector).toBe(`${NODE_LABEL}=${'n'.repeat(63)}`);
    expect(forbidden(k.fake)).toEqual([]);
  });

  it('ownedInstanceIds rejects (never an empty set) when the list fails', async () => {
    k.fake.inject({ method: 'GET', status: 500 });
    expect(await rejectionOf(registry().ownedInstanceIds())).toMatchObject({ code: 'UNAVAILABLE', status: 500 });
  });
});
