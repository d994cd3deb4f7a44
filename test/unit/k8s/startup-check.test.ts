/**
 * PodsReadyCheck against the fake kube-apiserver (RBAC mode): upstream's startup-probe condition (b).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PodsReadyCheck } from '../../../src/k8s/startup-check.js';
import { resourceByPlural } from '../../fakes/kube/index.js';
import { rejectionOf } from '../../helpers/async.js';
import { forbidden, startKube, warnings, type KubeUnderTest } from '../../helpers/kube.js';

let k: KubeUnderTest;
beforeEach(async () => {
  k = await startKube();
});
afterEach(async () => {
  await k.close();
});

const START = new Date('2026-03-01T10:00:00.400Z');
const before = new Date('2026-03-01T09:59:00Z');
const after = new Date('2026-03-01T10:00:05Z');
const check = (runtimeClass?: string): PodsReadyCheck => new PodsReadyCheck(k.apis, { nodeName: 'node-a', runtimeClass, logger: k.logger });

describe('PodsReadyCheck', () => {
  it('is true with no peer pods on the node', async () => {
    k.fake.addPod({ name: 'elsewhere', namespace: 'ns', nodeName: 'node-b', runtimeClassName: 'kata-remote', readySince: before });
    k.fake.addPod({ name: 'runc', namespace: 'ns', nodeName: 'node-a', readySince: before });
    expect(await check().check(START)).toBe(true);
    const [list] = k.fake.requests;
    expect(list).toMatchObject({ path: '/api/v1/pods', verb: 'list', resource: 'pods' });
    expect(list!.query.fieldSelector).toBe('spec.nodeName=node-a');
    expect(forbidden(k.fake)).toEqual([]);
  });

  it('waits for every kata-remote pod to become Ready after the start, then stays true without asking again', async () => {
    k.fake.addPod({ name: 'a', namespace: 'ns', nodeName: 'node-a', runtimeClassName: 'kata-remote', readySince: before });
    k.fake.addPod({ name: 'b', namespace: 'other', nodeName: 'node-a', runtimeClassName: 'kata-remote' });
    k.fake.addPod({ name: 'c', namespace: 'ns', nodeName: 'node-a', runtimeClassName: 'kata-remote', readySince: false });
    const c = check();
    expect(await c.check(START)).toBe(false);
    k.fake.setPodReady('ns', 'a', after);
    k.fake.setPodReady('other', 'b', after);
    expect(await c.check(START)).toBe(false);
    k.fake.setPodReady('ns', 'c', after);
    expect(await c.check(START)).toBe(true);
    const calls = k.fake.requests.length;
    k.fake.setPodReady('ns', 'a', false);
    expect(await c.check(START)).toBe(true);
    expect(k.fake.requests.length).toBe(calls);
  });

  it('compares at the second: Ready in the same second as the start counts', async () => {
    k.fake.addPod({ name: 'a', namespace: 'ns', nodeName: 'node-a', runtimeClassName: 'kata-remote', readySince: new Date('2026-03-01T10:00:00Z') });
    expect(await check().check(START)).toBe(true);
  });

  it('does not wait for pods that finished or are being deleted', async () => {
    k.fake.addPod({ name: 'job', namespace: 'ns', nodeName: 'node-a', runtimeClassName: 'kata-remote', readySince: false });
    k.fake.store.patch(resourceByPlural('pods'), 'ns', 'job', 'application/merge-patch+json', { status: { phase: 'Succeeded' } }, 'status');
    k.fake.addPod({ name: 'leaving', namespace: 'ns', nodeName: 'node-a', runtimeClassName: 'kata-remote', readySince: before });
    k.fake.store.patch(resourceByPlural('pods'), 'ns', 'leaving', 'application/merge-patch+json', { metadata: { finalizers: ['example.com/hold'] } });
    k.fake.deletePod('ns', 'leaving');
    expect(k.fake.object('pods', 'ns', 'leaving')?.metadata.deletionTimestamp).toBeDefined();
    expect(await check().check(START)).toBe(true);
  });

  it('uses the configured runtime class', async () => {
    k.fake.addPod({ name: 'a', namespace: 'ns', nodeName: 'node-a', runtimeClassName: 'kata-remote', readySince: before });
    k.fake.addPod({ name: 'b', namespace: 'ns', nodeName: 'node-a', runtimeClassName: 'my-peer-pods', readySince: after });
    expect(await check('my-peer-pods').check(START)).toBe(true);
    expect(await check().check(START)).toBe(false);
  });

  it('is false while the API fails (one warning), and rejects only on abort', async () => {
    k.fake.inject({ status: 503, times: 2 });
    const c = check();
    expect(await c.check(START)).toBe(false);
    expect(await c.check(START)).toBe(false);
    expect(warnings(k.logs).length).toBe(1);
    expect(await c.check(START)).toBe(true);
    k.fake.inject({ delayMs: 60_000 });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error('probe deadline')), 50);
    expect(await rejectionOf(check().check(START, ctl.signal))).toMatchObject({ code: 'CANCELLED' });
  });
});
