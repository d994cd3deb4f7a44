import { create, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AllocateRequestSchema,
  ContainerAllocateRequestSchema,
  ContainerAllocateResponseSchema,
  ContainerPreferredAllocationRequestSchema,
  ListAndWatchResponseSchema,
  PreferredAllocationRequestSchema,
} from '../../../src/proto/gen/deviceplugin/v1beta1/api_pb.js';
import {
  allocateResponse,
  checkCount,
  checkResourceName,
  deviceIds,
  deviceList,
  MAX_DEVICE_COUNT,
  preferredAllocation,
} from '../../../src/k8s/device-plugin/devices.js';
import { isDevicePluginError } from '../../../src/k8s/device-plugin/errors.js';

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    return isDevicePluginError(err) ? err.code : 'not a DevicePluginError';
  }
  return undefined;
}

describe('device list', () => {
  it('has stable IDs peerpod-vm-0..n-1 of at most 63 characters, all with one health', () => {
    expect(deviceIds(3)).toEqual(['peerpod-vm-0', 'peerpod-vm-1', 'peerpod-vm-2']);
    expect(deviceIds(0)).toEqual([]);
    const big = deviceList(MAX_DEVICE_COUNT, false);
    expect(big.devices).toHaveLength(MAX_DEVICE_COUNT);
    expect(new Set(big.devices.map((d) => d.ID)).size).toBe(MAX_DEVICE_COUNT);
    expect(big.devices.every((d) => d.health === 'Unhealthy' && d.ID.length <= 63)).toBe(true);
    // Well under the 4 MiB a gRPC peer accepts by default.
    expect(toBinary(ListAndWatchResponseSchema, big).length).toBeLessThan(4 * 1024 * 1024);
  });

  it('checkCount accepts whole numbers 0..MAX_DEVICE_COUNT only', () => {
    expect(codeOf(() => checkCount(0))).toBeUndefined();
    expect(codeOf(() => checkCount(10))).toBeUndefined();
    expect(codeOf(() => checkCount(MAX_DEVICE_COUNT))).toBeUndefined();
    for (const bad of [-1, 1.5, NaN, Infinity, MAX_DEVICE_COUNT + 1]) expect(codeOf(() => checkCount(bad)), String(bad)).toBe('INVALID_CONFIG');
  });

  it('checkResourceName accepts <domain>/<name> extended resource names only', () => {
    for (const ok of ['kata.peerpods.io/vm', 'example.com/peer-pod_vm.1', 'vendor/x']) expect(codeOf(() => checkResourceName(ok)), ok).toBeUndefined();
    for (const bad of ['vm', '', '/vm', 'kata.peerpods.io/', 'kubernetes.io/vm', 'x.kubernetes.io/vm', 'Kata.io/vm', 'a/b/c', 'kata.peerpods.io/-vm', `a.io/${'n'.repeat(64)}`]) {
      expect(codeOf(() => checkResourceName(bad)), bad).toBe('INVALID_CONFIG');
    }
  });
});

describe('Allocate', () => {
  it('answers one empty ContainerAllocateResponse per container request, in order', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string(), { maxLength: 3 }), { maxLength: 6 }), (containers) => {
        const req = create(AllocateRequestSchema, { containerRequests: containers.map((ids) => create(ContainerAllocateRequestSchema, { devicesIds: ids })) });
        const res = allocateResponse(req);
        expect(res.containerResponses).toHaveLength(containers.length);
        for (const c of res.containerResponses) expect(toBinary(ContainerAllocateResponseSchema, c)).toHaveLength(0);
      }),
    );
  });
});

describe('GetPreferredAllocation', () => {
  it('takes the must-include IDs, then available ones in order, up to the size, no duplicates', () => {
    const one = (available: string[], must: string[], size: number): string[] =>
      preferredAllocation(
        create(PreferredAllocationRequestSchema, {
          containerRequests: [create(ContainerPreferredAllocationRequestSchema, { availableDeviceIDs: available, mustIncludeDeviceIDs: must, allocationSize: size })],
        }),
      ).containerResponses[0]!.deviceIDs;
    expect(one(['a', 'b', 'c'], [], 2)).toEqual(['a', 'b']);
    expect(one(['a', 'b', 'c'], ['c'], 2)).toEqual(['c', 'a']);
    expect(one(['a', 'b'], ['b', 'b'], 1)).toEqual(['b']);
    expect(one(['a'], [], 3)).toEqual(['a']);
    expect(one(['a', 'b'], ['a', 'b'], 1)).toEqual(['a', 'b']);
  });

  it('never repeats an ID, always includes the must-include IDs, never exceeds max(size, must-include)', () => {
    const id = fc.constantFrom<string>('a', 'b', 'c', 'd', 'e');
    fc.assert(
      fc.property(fc.array(id), fc.array(id), fc.integer({ min: 0, max: 6 }), (available, must, size) => {
        const got = preferredAllocation(
          create(PreferredAllocationRequestSchema, {
            containerRequests: [create(ContainerPreferredAllocationRequestSchema, { availableDeviceIDs: available, mustIncludeDeviceIDs: must, allocationSize: size })],
          }),
        ).containerResponses[0]!.deviceIDs;
        expect(new Set(got).size).toBe(got.length);
        for (const m of must) expect(got).toContain(m);
        expect(got.length).toBeLessThanOrEqual(Math.max(size, new Set(must).size));
        for (const g of got) expect(available.includes(g) || must.includes(g)).toBe(true);
      }),
    );
  });
});
