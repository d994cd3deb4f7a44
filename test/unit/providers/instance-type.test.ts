import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../../src/providers/errors.js';
import { candidateTypes, fallbackCandidates, selectInstanceType, sortInstanceTypes, type InstanceTypeInfo } from '../../../src/providers/instance-type.js';

const types: InstanceTypeInfo[] = sortInstanceTypes([
  { name: 'g5.xlarge', vcpus: 4, memoryMiB: 16384, gpus: 1 },
  { name: 'm6a.2xlarge', vcpus: 8, memoryMiB: 32768, gpus: 0 },
  { name: 'm6a.large', vcpus: 2, memoryMiB: 8192, gpus: 0 },
  { name: 'c6a.large', vcpus: 2, memoryMiB: 4096, gpus: 0 },
  { name: 'g5.12xlarge', vcpus: 48, memoryMiB: 196608, gpus: 4 },
]);
const allowed = types.map((t) => t.name);
const spec = (o: Partial<{ instanceType: string; vcpus: number; memoryMiB: number; gpus: number }>) => ({ instanceType: '', vcpus: 0, memoryMiB: 0, gpus: 0, ...o });

describe('instance-type selection (reference §4.1)', () => {
  it('sorts by GPUs, memory, vCPUs', () => {
    expect(types.map((t) => t.name)).toEqual(['c6a.large', 'm6a.large', 'm6a.2xlarge', 'g5.xlarge', 'g5.12xlarge']);
  });
  it('an explicit machine_type wins', () => {
    expect(selectInstanceType({ spec: spec({ instanceType: 'm6a.2xlarge', vcpus: 1, memoryMiB: 1 }), specList: types, defaultType: 'm6a.large', allowed })).toBe('m6a.2xlarge');
  });
  it('GPUs → the smallest type with enough GPUs, vCPUs and memory', () => {
    expect(selectInstanceType({ spec: spec({ gpus: 1 }), specList: types, defaultType: 'm6a.large', allowed })).toBe('g5.xlarge');
    expect(selectInstanceType({ spec: spec({ gpus: 2 }), specList: types, defaultType: 'm6a.large', allowed })).toBe('g5.12xlarge');
  });
  it('vCPUs and memory → the first non-GPU type with enough of both', () => {
    expect(selectInstanceType({ spec: spec({ vcpus: 2, memoryMiB: 6000 }), specList: types, defaultType: 'c6a.large', allowed })).toBe('m6a.large');
    expect(selectInstanceType({ spec: spec({ vcpus: 4, memoryMiB: 100 }), specList: types, defaultType: 'c6a.large', allowed })).toBe('m6a.2xlarge');
  });
  it('only one of vCPUs / memory → the default', () => {
    expect(selectInstanceType({ spec: spec({ vcpus: 8 }), specList: types, defaultType: 'c6a.large', allowed })).toBe('c6a.large');
  });
  it('nothing large enough → the default', () => {
    expect(selectInstanceType({ spec: spec({ vcpus: 64, memoryMiB: 1 << 20 }), specList: types, defaultType: 'm6a.large', allowed })).toBe('m6a.large');
  });
  it('a type outside the allow-list is refused with INVALID_REQUEST', () => {
    try {
      selectInstanceType({ spec: spec({ instanceType: 'x9.huge' }), specList: types, defaultType: 'm6a.large', allowed });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).code).toBe('INVALID_REQUEST');
      expect((err as ProviderError).message).toMatch(/requested instance type x9.huge is not part of supported instance types list/);
    }
  });
  it('an empty allow-list accepts only the default', () => {
    expect(selectInstanceType({ spec: spec({}), specList: [], defaultType: 'm6a.large', allowed: [] })).toBe('m6a.large');
    expect(() => selectInstanceType({ spec: spec({ instanceType: 'c6a.large' }), specList: [], defaultType: 'm6a.large', allowed: [] })).toThrow(/not part of supported/);
  });
});

describe('fallbackCandidates (capacity fallback order)', () => {
  const list = sortInstanceTypes([
    { name: 'm6a.large', vcpus: 2, memoryMiB: 8192, gpus: 0 },
    { name: 'c6a.large', vcpus: 2, memoryMiB: 4096, gpus: 0 },
    { name: 'r6a.large', vcpus: 2, memoryMiB: 16384, gpus: 0 },
    { name: 'm6a.xlarge', vcpus: 4, memoryMiB: 16384, gpus: 0 },
    { name: 'g5.xlarge', vcpus: 4, memoryMiB: 16384, gpus: 1 },
  ]);
  const allowed = list.map((t) => t.name);
  const spec = (s: Partial<{ instanceType: string; vcpus: number; memoryMiB: number; gpus: number }>) => ({ instanceType: '', vcpus: 0, memoryMiB: 0, gpus: 0, ...s });

  it('after the selected type, the other allowed types that fit the request, smallest first, never a GPU type for a non-GPU pod', () => {
    expect(fallbackCandidates({ spec: spec({ vcpus: 2, memoryMiB: 4096 }), specList: list, defaultType: 'm6a.large', allowed, selected: 'c6a.large' })).toEqual([
      'c6a.large',
      'm6a.large',
      'r6a.large',
      'm6a.xlarge',
    ]);
  });

  it('a pod that asked for nothing never falls back to a smaller type than the selected one', () => {
    expect(fallbackCandidates({ spec: spec({}), specList: list, defaultType: 'm6a.large', allowed, selected: 'm6a.large' })).toEqual([
      'm6a.large',
      'r6a.large',
      'm6a.xlarge',
    ]);
  });

  it('a GPU pod falls back only to types with enough GPUs', () => {
    expect(fallbackCandidates({ spec: spec({ gpus: 1 }), specList: list, defaultType: 'm6a.large', allowed, selected: 'g5.xlarge' })).toEqual(['g5.xlarge']);
  });

  it('an explicit machine_type, or an empty allow-list, means no fallback', () => {
    expect(fallbackCandidates({ spec: spec({ instanceType: 'c6a.large' }), specList: list, defaultType: 'm6a.large', allowed, selected: 'c6a.large' })).toEqual(['c6a.large']);
    expect(fallbackCandidates({ spec: spec({}), specList: list, defaultType: 'm6a.large', allowed: [], selected: 'm6a.large' })).toEqual(['m6a.large']);
  });
});

describe('candidateTypes (what a create tries, in order)', () => {
  it('the selected type first, then the larger non-GPU types that fit; an explicit machine_type alone', () => {
    expect(candidateTypes({ spec: spec({}), specList: types, defaultType: 'm6a.large', allowed })).toEqual(['m6a.large', 'm6a.2xlarge']);
    expect(candidateTypes({ spec: spec({ instanceType: 'c6a.large' }), specList: types, defaultType: 'm6a.large', allowed })).toEqual(['c6a.large']);
    expect(candidateTypes({ spec: spec({ gpus: 1 }), specList: types, defaultType: 'm6a.large', allowed })[0]).toBe('g5.xlarge');
  });
});
