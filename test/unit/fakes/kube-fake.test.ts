/**
 * The fake kube-apiserver itself: Kubernetes semantics that the src/k8s tests lean on (metadata,
 * Status errors, finalizers, GC, patches, selectors, watch, RBAC, faults), through plain HTTP and
 * through client-node.
 */
import { Watch } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { API_CALLS } from '../../deploy/rbac-table.js';
import { FakeKubeApiServer } from '../../fakes/kube/index.js';
import { waitFor } from '../../helpers/async.js';

let fake: FakeKubeApiServer;
afterEach(async () => {
  await fake?.close();
});

const PP = '/apis/confidentialcontainers.org/v1alpha1/namespaces/ns/peerpods';

async function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${fake.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': contentType },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const peerPod = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'confidentialcontainers.org/v1alpha1',
  kind: 'PeerPod',
  metadata: { name, ...extra },
  spec: { cloudProvider: 'aws', instanceID: `i-${name}` },
});

describe('fake kube-apiserver: objects', () => {
  it('sets server metadata on create, honours generateName, and answers Status errors', async () => {
    fake = await FakeKubeApiServer.start();
    const created = await call('POST', PP, peerPod('', { generateName: 'web-resource-' }));
    expect(created.status).toBe(201);
    const meta = created.json.metadata as Record<string, string>;
    expect(meta.name).toMatch(/^web-resource-[a-z0-9]{5}$/);
    expect(meta.namespace).toBe('ns');
    expect(meta.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(meta.resourceVersion)).toBeGreaterThan(0);
    expect(meta.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const again = await call('POST', PP, peerPod(meta.name!));
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409 });

    const missing = await call('GET', `${PP}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'peerpods.confidentialcontainers.org "nope" not found' });

    const bad = await call('POST', PP, peerPod('Bad_Name'));
    expect(bad.status).toBe(422);
    expect(bad.json.reason).toBe('Invalid');
    const badLabel = await call('POST', PP, peerPod('ok', { labels: { a: 'x'.repeat(64) } }));
    expect(badLabel.status).toBe(422);
  });

  it('deletes objects with finalizers only once the last finalizer is gone, and refuses new ones meanwhile', async () => {
    fake = await FakeKubeApiServer.start();
    await call('POST', PP, peerPod('p', { finalizers: ['a/one', 'b/two'] }));
    const del = await call('DELETE', `${PP}/p`);
    expect(del.status).toBe(200);
    expect(fake.object('peerpods', 'ns', 'p')?.metadata.deletionTimestamp).toBeDefined();

    const add = await call('PATCH', `${PP}/p`, [{ op: 'add', path: '/metadata/finalizers/-', value: 'c/three' }], 'application/json-patch+json');
    expect(add.status).toBe(422);

    expect((await call('PATCH', `${PP}/p`, [{ op: 'remove', path: '/metadata/finalizers/0' }], 'application/json-patch+json')).status).toBe(200);
    expect(fake.object('peerpods', 'ns', 'p')?.metadata.finalizers).toEqual(['b/two']);
    expect((await call('PATCH', `${PP}/p`, { metadata: { finalizers: null } }, 'application/merge-patch+json')).status).toBe(200);
    expect(fake.object('peerpods', 'ns', 'p')).toBeUndefined();
  });

  it('gc() deletes objects whose owner is gone (by uid), honouring finalizers, and leaves the others', async () => {
    fake = await FakeKubeApiServer.start();
    const pod = fake.addPod({ name: 'web', namespace: 'ns' });
    const owned = (name: string, uid: string, finalizers?: string[]): Record<string, unknown> =>
      peerPod(name, { finalizers, ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'web', uid, controller: true }] });
    await call('POST', PP, owned('live', pod.metadata.uid));
    await call('POST', PP, owned('orphan', 'not-the-uid'));
    await call('POST', PP, owned('held', 'not-the-uid', ['peer.pod/finalizer']));
    expect(fake.gc()).toBe(2);
    expect(fake.peerPods('ns').map((p) => p.metadata.name)).toEqual(['held', 'live']);
    expect(fake.object('peerpods', 'ns', 'held')?.metadata.deletionTimestamp).toBeDefined();

    fake.deletePod('ns', 'web');
    expect(fake.gc()).toBe(1);
    expect(fake.peerPods('ns').map((p) => p.metadata.name)).toEqual(['held']);
  });

  it('applies JSON and merge patches, with test ops, preconditions and the status subresource', async () => {
    fake = await FakeKubeApiServer.start();
    fake.addNode({ name: 'n1' });
    const failedTest = await call('PATCH', '/api/v1/nodes/n1', [{ op: 'test', path: '/spec/unschedulable', value: true }], 'application/json-patch+json');
    expect(failedTest.status).toBe(422);
    const stale = await call('PATCH', '/api/v1/nodes/n1', { metadata: { resourceVersion: '1' }, spec: { unschedulable: true } }, 'application/merge-patch+json');
    expect(stale.status).toBe(409);
    expect(stale.json.reason).toBe('Conflict');
    expect((await call('PATCH', '/api/v1/nodes/n1', { a: 1 }, 'text/plain')).status).toBe(415);

    // Status written through the main resource is ignored; through /status it lands.
    await call('PATCH', '/api/v1/nodes/n1', { status: { capacity: { x: '1' } } }, 'application/merge-patch+json');
    expect((fake.object('nodes', undefined, 'n1')?.status as { capacity: Record<string, string> }).capacity.x).toBeUndefined();
    const ok = await call('PATCH', '/api/v1/nodes/n1/status', [{ op: 'add', path: '/status/capacity/example.com~1vm', value: '3' }], 'application/json-patch+json');
    expect(ok.status).toBe(200);
    expect((fake.object('nodes', undefined, 'n1')?.status as { capacity: Record<string, string> }).capacity['example.com/vm']).toBe('3');
  });

  it('lists with label and field selectors, across namespaces, page by page', async () => {
    fake = await FakeKubeApiServer.start();
    fake.addPod({ name: 'a', namespace: 'x', nodeName: 'n1', labels: { app: 'web', tier: 'front' } });
    fake.addPod({ name: 'b', namespace: 'y', nodeName: 'n1', labels: { app: 'db' } });
    fake.addPod({ name: 'c', namespace: 'y', nodeName: 'n2', labels: { app: 'web' } });
    const names = async (q: string): Promise<string[]> =>
      ((await call('GET', `/api/v1/pods?${q}`)).json.items as Array<{ metadata: { name: string } }>).map((p) => p.metadata.name);
    expect(await names('fieldSelector=spec.nodeName%3Dn1')).toEqual(['a', 'b']);
    expect(await names('labelSelector=app%3Dweb')).toEqual(['a', 'c']);
    expect(await names('labelSelector=app%20in%20(db,web),!tier')).toEqual(['b', 'c']);
    expect(await names('labelSelector=app!%3Dweb')).toEqual(['b']);
    expect(((await call('GET', '/api/v1/namespaces/y/pods')).json.items as unknown[]).length).toBe(2);
    const page1 = await call('GET', '/api/v1/pods?limit=2');
    expect((page1.json.items as unknown[]).length).toBe(2);
    const cont = (page1.json.metadata as { continue: string }).continue;
    expect(await names(`limit=2&continue=${encodeURIComponent(cont)}`)).toEqual(['c']);
  });

  it('streams watch events as JSON lines (client-node Watch)', async () => {
    fake = await FakeKubeApiServer.start();
    fake.addPod({ name: 'a', namespace: 'ns', nodeName: 'n1' });
    fake.addPod({ name: 'other', namespace: 'ns', nodeName: 'n2' });
    const seen: string[] = [];
    const watch = new Watch(fake.kubeConfig());
    const ctl = await watch.watch('/api/v1/pods', { fieldSelector: 'spec.nodeName=n1' }, (type, obj: { metadata: { name: string; resourceVersion: string } }) => {
      seen.push(`${type} ${obj.metadata.name}`);
    }, () => undefined);
    await waitFor(() => seen.length === 1, 'the initial ADDED');
    fake.setPodReady('ns', 'a', new Date());
    fake.deletePod('ns', 'a');
    fake.deletePod('ns', 'other');
    await waitFor(() => seen.length === 3, 'MODIFIED and DELETED');
    expect(seen).toEqual(['ADDED a', 'MODIFIED a', 'DELETED a']);
    ctl.abort();
  });
});

describe('fake kube-apiserver: RBAC mode and faults', () => {
  it('refuses calls outside the table with a Forbidden Status, and allows those in it', async () => {
    fake = await FakeKubeApiServer.start({ rbac: true });
    fake.addSecret({ name: 's', namespace: 'ns', stringData: { k: 'v' } });
    const list = await call('GET', '/api/v1/namespaces/ns/secrets');
    expect(list.status).toBe(403);
    expect(list.json).toMatchObject({ reason: 'Forbidden', code: 403 });
    expect(list.json.message).toContain('cannot list resource "secrets" in API group "" in the namespace "ns"');
    const get = await call('GET', '/api/v1/namespaces/ns/secrets/s');
    expect(get.status).toBe(200);
    expect((get.json.data as Record<string, string>).k).toBe(Buffer.from('v').toString('base64'));
    expect((await call('DELETE', '/api/v1/namespaces/ns/secrets/s')).status).toBe(403);
    expect(fake.requests.map((r) => `${r.verb} ${r.resource} ${r.status}`)).toEqual(['list secrets 403', 'get secrets 200', 'delete secrets 403']);
  });

  it('refuses blockOwnerDeletion on a pod without update on pods/finalizers (OwnerReferencesPermissionEnforcement)', async () => {
    fake = await FakeKubeApiServer.start({ rbac: API_CALLS.filter((c) => c.resource !== 'pods/finalizers') });
    const pod = fake.addPod({ name: 'web', namespace: 'ns' });
    const ref = { apiVersion: 'v1', kind: 'Pod', name: 'web', uid: pod.metadata.uid, controller: true };
    const refused = await call('POST', PP, peerPod('p1', { ownerReferences: [{ ...ref, blockOwnerDeletion: true }] }));
    expect(refused.status).toBe(403);
    expect(refused.json.message).toContain('cannot set blockOwnerDeletion');
    expect(fake.peerPods()).toEqual([]);
    expect((await call('POST', PP, peerPod('p2', { ownerReferences: [ref] }))).status).toBe(201);
    fake.rbac = true;
    expect((await call('POST', PP, peerPod('p3', { ownerReferences: [{ ...ref, blockOwnerDeletion: true }] }))).status).toBe(201);
  });

  it('injects faults by method and path, a given number of times, before or after the write', async () => {
    fake = await FakeKubeApiServer.start();
    fake.inject({ method: 'POST', pathPrefix: '/apis/confidentialcontainers.org/', status: 500, times: 2 });
    expect((await call('POST', PP, peerPod('a'))).status).toBe(500);
    expect((await call('GET', `${PP}`)).status).toBe(200);
    expect((await call('POST', PP, peerPod('a'))).status).toBe(500);
    expect((await call('POST', PP, peerPod('a'))).status).toBe(201);
    fake.inject({ method: 'POST', status: 503, afterEffect: true, times: 1 });
    expect((await call('POST', PP, peerPod('b'))).status).toBe(503);
    expect(fake.object('peerpods', 'ns', 'b')).toBeDefined();
    expect(fake.requests.filter((r) => r.fault).length).toBe(3);
  });

  it('rate-limited faults hit a seeded share of requests', async () => {
    fake = await FakeKubeApiServer.start({ seed: 42 });
    fake.addNode({ name: 'n1' });
    fake.inject({ status: 503, rate: 0.5 });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await call('GET', '/api/v1/nodes/n1')).status);
    const failed = statuses.filter((s) => s === 503).length;
    expect(failed).toBeGreaterThan(5);
    expect(failed).toBeLessThan(35);
  });
});
