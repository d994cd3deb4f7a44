/**
 * PodEvents against the fake kube-apiserver (RBAC mode): fields, aggregation of repeats, never rejecting.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PodEvents, type PodEventsOptions } from '../../../src/k8s/events.js';
import { resourceByPlural } from '../../fakes/kube/index.js';
import { FAST_RETRY, forbidden, startKube, warnings, type KubeUnderTest } from '../../helpers/kube.js';

let k: KubeUnderTest;
let clock: Date;
beforeEach(async () => {
  k = await startKube();
  clock = new Date('2026-03-01T10:00:00.000Z');
});
afterEach(async () => {
  await k.close();
});

const POD = { name: 'web', namespace: 'ns', uid: '2f1c-uid' };

function events(options: Partial<PodEventsOptions> = {}): PodEvents {
  return new PodEvents(k.apis, { nodeName: 'node-a', logger: k.logger, retry: FAST_RETRY, now: () => clock, ...options });
}

const advance = (ms: number): void => {
  clock = new Date(clock.getTime() + ms);
};

describe('PodEvents', () => {
  it('posts a core/v1 Event about the pod with source, reporting fields and timestamps', async () => {
    await events().warning(POD, 'VMCreateFailed', 'creating the VM failed: capacity');
    const [e, ...rest] = k.fake.events('ns');
    expect(rest).toEqual([]);
    expect(e).toMatchObject({
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'web', namespace: 'ns', uid: '2f1c-uid' },
      type: 'Warning',
      reason: 'VMCreateFailed',
      message: 'creating the VM failed: capacity',
      source: { component: 'cloud-api-adaptor', host: 'node-a' },
      reportingComponent: 'cloud-api-adaptor',
      reportingInstance: 'node-a',
      count: 1,
    });
    expect(e!.metadata.name).toMatch(/^web\.[0-9a-f]+$/);
    expect(new Date(e!.firstTimestamp as string).getTime()).toBe(clock.getTime());
    expect(new Date(e!.lastTimestamp as string).getTime()).toBe(clock.getTime());
    await events().normal({ name: 'web', namespace: 'ns' }, 'VMCreated', 'created instance i-1');
    const normal = k.fake.events('ns').find((x) => x.reason === 'VMCreated')!;
    expect(normal.type).toBe('Normal');
    expect((normal.involvedObject as Record<string, unknown>).uid).toBeUndefined();
    expect(forbidden(k.fake)).toEqual([]);
  });

  it('counts repeats within 10 minutes on the earlier Event (merge patch), and starts a new one after', async () => {
    const ev = events();
    await ev.warning(POD, 'ProxyTimeout', 'no answer from the VM');
    advance(60_000);
    await ev.warning(POD, 'ProxyTimeout', 'no answer from the VM');
    advance(9 * 60_000);
    await ev.warning(POD, 'ProxyTimeout', 'no answer from the VM');
    let list = k.fake.events('ns');
    expect(list.length).toBe(1);
    expect(list[0]!.count).toBe(3);
    expect(new Date(list[0]!.lastTimestamp as string).getTime()).toBe(clock.getTime());
    expect(new Date(list[0]!.firstTimestamp as string).getTime()).toBe(clock.getTime() - 10 * 60_000);
    const patches = k.fake.requestsTo('PATCH');
    expect(patches.map((p) => p.contentType)).toEqual(['application/merge-patch+json', 'application/merge-patch+json']);
    expect(patches[1]!.path).toBe(`/api/v1/namespaces/ns/events/${list[0]!.metadata.name}`);

    // Another message is another Event; the same one after a quiet 10 minutes too.
    await ev.warning(POD, 'ProxyTimeout', 'something else');
    advance(10 * 60_000 + 1);
    await ev.warning(POD, 'ProxyTimeout', 'no answer from the VM');
    list = k.fake.events('ns');
    expect(list.map((e) => [e.message, e.count])).toEqual(
      expect.arrayContaining([
        ['no answer from the VM', 3],
        ['something else', 1],
        ['no answer from the VM', 1],
      ]),
    );
    expect(list.length).toBe(3);
  });

  it('a burst of identical calls makes one Event', async () => {
    const ev = events();
    await Promise.all(Array.from({ length: 5 }, () => ev.warning(POD, 'Burst', 'same')));
    const list = k.fake.events('ns');
    expect(list.length).toBe(1);
    expect(list[0]!.count).toBe(5);
    expect(k.fake.requestsTo('POST').length).toBe(1);
  });

  it('cuts the message to 1024 characters', async () => {
    await events().warning(POD, 'Long', 'x'.repeat(5000));
    expect((k.fake.events('ns')[0]!.message as string).length).toBe(1024);
  });

  it('starts a new Event when the earlier one expired', async () => {
    const ev = events();
    await ev.normal(POD, 'VMCreated', 'created');
    const first = k.fake.events('ns')[0]!;
    k.fake.store.delete(resourceByPlural('events'), 'ns', first.metadata.name);
    await ev.normal(POD, 'VMCreated', 'created');
    const list = k.fake.events('ns');
    expect(list.length).toBe(1);
    expect(list[0]!.metadata.name).not.toBe(first.metadata.name);
    expect(list[0]!.count).toBe(1);
  });

  it('never rejects; failures are logged at warn at most once a minute', async () => {
    k.fake.inject({ pathPrefix: '/api/v1/namespaces/ns/events', status: 500 });
    const ev = events();
    await expect(ev.warning(POD, 'A', 'one')).resolves.toBeUndefined();
    await expect(ev.warning(POD, 'B', 'two')).resolves.toBeUndefined();
    await expect(ev.normal(POD, 'C', 'three')).resolves.toBeUndefined();
    expect(warnings(k.logs).length).toBe(1);
    expect(warnings(k.logs)[0]!.msg).toContain('could not record the Event');
    advance(61_000);
    await ev.warning(POD, 'D', 'four');
    const w = warnings(k.logs);
    expect(w.length).toBe(2);
    expect(w[1]!.suppressed).toBe(2);
    // RBAC refusals are no different for the caller.
    k.fake.clearFaults();
    k.fake.rbacTable = [];
    await expect(ev.warning(POD, 'E', 'five')).resolves.toBeUndefined();
    expect(k.fake.events()).toEqual([]);
  });

  it('draws a new name when the first one is taken', async () => {
    k.fake.inject({ method: 'POST', status: 409, reason: 'AlreadyExists', times: 1 });
    await events().normal(POD, 'VMCreated', 'created');
    const posts = k.fake.requestsTo('POST').map((r) => (r.body as { metadata: { name: string } }).metadata.name);
    expect(posts.length).toBe(2);
    expect(posts[0]).not.toBe(posts[1]);
    expect(k.fake.events('ns').map((e) => e.metadata.name)).toEqual([posts[1]]);
  });

  it('flush() waits for calls in flight', async () => {
    k.fake.inject({ method: 'POST', delayMs: 100, times: 1 });
    const ev = events();
    void ev.normal(POD, 'VMCreated', 'created');
    expect(k.fake.events()).toEqual([]);
    await ev.flush();
    expect(k.fake.events().length).toBe(1);
  });
});
