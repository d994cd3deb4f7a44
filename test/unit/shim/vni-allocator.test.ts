import { describe, expect, it } from 'vitest';
import { DEFAULT_VXLAN_MIN_ID, VniAllocator, allocateIndex } from '../../../src/shim/vni-allocator.js';

describe('allocateIndex', () => {
  it('gives the lowest index not in use', () => {
    expect(allocateIndex([])).toBe(0);
    expect(allocateIndex([0, 1, 2])).toBe(3);
    expect(allocateIndex([1, 2])).toBe(0);
    expect(allocateIndex([0, 2, 3])).toBe(1);
    expect(allocateIndex(new Set([0, 0, 1]))).toBe(2);
  });
});

describe('VniAllocator', () => {
  it('VNI = min id + index; the default min id is VXLAN_MIN_ID\'s default', () => {
    expect(new VniAllocator(() => [], 7000).reserve()).toMatchObject({ index: 0, vni: 7000 });
    expect(new VniAllocator(() => [0, 1]).reserve()).toMatchObject({ index: 2, vni: DEFAULT_VXLAN_MIN_ID + 2 });
  });

  it('a reserved index is not handed out again until released', () => {
    const a = new VniAllocator(() => []);
    const first = a.reserve();
    const second = a.reserve();
    expect([first.index, second.index]).toEqual([0, 1]);
    expect(a.reservedCount).toBe(2);
    first.release();
    expect(a.reservedCount).toBe(1);
    expect(a.reserve().index).toBe(0);
  });

  it('reads the held indexes at every reserve (a sandbox recorded, or one removed)', () => {
    const held = new Set<number>();
    const a = new VniAllocator(() => held);
    const lease = a.reserve();
    held.add(lease.index); // the sandbox records it, then the lease goes
    lease.release();
    expect(a.reserve().index).toBe(1);
    held.clear();
    expect(a.reserve().index).toBe(0);
  });

  it('release is idempotent and frees only its own index', () => {
    const a = new VniAllocator(() => []);
    const l0 = a.reserve();
    a.reserve();
    l0.release();
    l0.release();
    expect(a.reservedCount).toBe(1);
    expect(a.reserve().index).toBe(0);
  });
});
