/**
 * NodeCapacity against the fake kube-apiserver (RBAC mode): the JSON patch of nodes/<node>/status.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeCapacity, jsonPointerToken } from '../../../src/k8s/node-capacity.js';
import { rejectionOf } from '../../helpers/async.js';
import { FAST_RETRY, forbidden, startKube, type KubeUnderTest } from '../../helpers/kube.js';

let k: KubeUnderTest;
beforeEach(async () => {
  k = await startKube();
});
afterEach(async () => {
  await k.close();
});

const capacity = (node = 'node-a'): NodeCapacity => new NodeCapacity(k.apis, { nodeName: node, logger: k.logger, retry: FAST_RETRY });
const status = (): { capacity: Record<string, string>; allocatable: Record<string, string> } =>
  k.fake.object('nodes', undefined, 'node-a')!.status as { capacity: Record<string, string>; allocatable: Record<string, string> };

describe('NodeCapacity', () => {
  it('sets capacity and allocatable of the extended resource, keeping the rest', async () => {
    await capacity().set('kata.peerpods.io/vm', 10);
    expect(status().capacity).toEqual({ cpu: '4', memory: '16Gi', pods: '110', 'kata.peerpods.io/vm': '10' });
    expect(status().allocatable['kata.peerpods.io/vm']).toBe('10');
    const [patch] = k.fake.requestsTo('PATCH');
    expect(patch).toMatchObject({ path: '/api/v1/nodes/node-a/status', contentType: 'application/json-patch+json', verb: 'patch', resource: 'nodes/status' });
    expect(patch!.body).toEqual([
      { op: 'add', path: '/status/capacity/kata.peerpods.io~1vm', value: '10' },
      { op: 'add', path: '/status/allocatable/kata.peerpods.io~1vm', value: '10' },
    ]);
    expect(await capacity().get('kata.peerpods.io/vm')).toBe(10);
    await capacity().set('kata.peerpods.io/vm', 3);
    expect(await capacity().get('kata.peerpods.io/vm')).toBe(3);
    expect(await capacity().get('example.com/other')).toBeUndefined();
    expect(forbidden(k.fake)).toEqual([]);
  });

  it('retries a 500 and rejects NOT_FOUND for an unknown node', async () => {
    k.fake.inject({ method: 'PATCH', status: 500, times: 1 });
    await capacity().set('kata.peerpods.io/vm', 2);
    expect(k.fake.requestsTo('PATCH').map((r) => r.status)).toEqual([500, 200]);
    expect(await rejectionOf(capacity('node-x').set('kata.peerpods.io/vm', 1))).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('refuses a count that is not a whole number ≥ 0 without calling the API', async () => {
    for (const n of [-1, 1.5, Number.NaN]) await expect(capacity().set('kata.peerpods.io/vm', n)).rejects.toThrow(RangeError);
    expect(k.fake.requests).toEqual([]);
  });

  it('escapes JSON-pointer tokens', () => {
    expect(jsonPointerToken('a/b~c')).toBe('a~1b~0c');
  });
});
