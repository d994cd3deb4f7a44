import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ANNOTATION_GPUS, ANNOTATION_MEMORY, ANNOTATION_VCPUS, mutatePod, type MutateOptions } from '../../../src/webhook/mutate.js';
import { applyPatch } from './json-patch.js';

const OPTIONS: MutateOptions = { targetRuntimeClass: 'kata-remote', podVmExtendedResource: 'kata.peerpods.io/vm' };
const VM = { requests: { 'kata.peerpods.io/vm': '1' }, limits: { 'kata.peerpods.io/vm': '1' } };

type Resources = { requests?: Record<string, string>; limits?: Record<string, string> };
interface TestPod {
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec: { runtimeClassName?: string; containers: Array<{ name: string; resources?: Resources }>; initContainers?: Array<{ name: string; resources?: Resources }> };
}

function pod(containers: Resources[], init: Resources[] = [], runtimeClassName = 'kata-remote'): TestPod {
  return {
    metadata: { name: 'p' },
    spec: {
      runtimeClassName,
      containers: containers.map((resources, i) => ({ name: `c${i}`, resources })),
      ...(init.length ? { initContainers: init.map((resources, i) => ({ name: `i${i}`, resources })) } : {}),
    },
  };
}

/** The annotations a pod gets. */
function annotationsFor(p: TestPod): Record<string, string> {
  return mutatePod(p, OPTIONS).annotations;
}

describe('mutatePod: sizing (reference §5.2)', () => {
  it.each([
    // request, limit → vCPUs
    ['500m', '1500m', '2'], // request ≠ 0 and limit ≥ request → the limit
    ['1', '1', '1'],
    ['2', '1', '2'], // limit below request → the request
    ['1500m', undefined, '2'], // no limit → the request
    ['1001m', undefined, '2'], // rounded up
    ['1000m', undefined, '1'],
    ['250m', undefined, '1'],
    ['0', '2', undefined], // zero request → nothing (the API server already copied a lone limit into the request)
    [undefined, undefined, undefined],
  ])('cpu request %s, limit %s → default_vcpus %s', (request, limit, vcpus) => {
    const r: Resources = {};
    if (request !== undefined) r.requests = { cpu: request };
    if (limit !== undefined) r.limits = { cpu: limit };
    expect(annotationsFor(pod([r]))[ANNOTATION_VCPUS]).toBe(vcpus);
  });

  it.each([
    ['128Mi', undefined, '128'],
    ['1Mi', undefined, '1'],
    ['1M', undefined, '1'], // 1e6 bytes = 0.95 MiB → 1
    ['1048577', undefined, '2'], // one byte over 1 MiB
    ['1G', undefined, '954'],
    ['1e9', undefined, '954'],
    ['1.5Gi', undefined, '1536'],
    ['512Mi', '1Gi', '1024'], // the limit
    ['2Gi', '1Gi', '2048'], // limit below request → the request
  ])('memory request %s, limit %s → default_memory %s MiB', (request, limit, mib) => {
    const r: Resources = { requests: { memory: request } };
    if (limit !== undefined) r.limits = { memory: limit };
    expect(annotationsFor(pod([r]))[ANNOTATION_MEMORY]).toBe(mib);
  });

  it('sums every container and init container, requests and limits separately', () => {
    const p = pod(
      [{ requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '1500m', memory: '1Gi' } }, { requests: { cpu: '250m', memory: '128Mi' }, limits: { cpu: '250m', memory: '128Mi' } }],
      [{ requests: { cpu: '1', memory: '64Mi' } }],
    );
    // requests: cpu 1.75, memory 704Mi; limits: cpu 1.75 (≥ request → used), memory 1152Mi.
    expect(annotationsFor(p)).toEqual({ [ANNOTATION_VCPUS]: '2', [ANNOTATION_MEMORY]: '1152' });
  });

  it('init containers alone still count', () => {
    expect(annotationsFor(pod([{}], [{ requests: { cpu: '3' } }]))).toEqual({ [ANNOTATION_VCPUS]: '3' });
  });

  it('nvidia.com/gpu requests → default_gpus', () => {
    const p = pod([{ requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } }, { requests: { 'nvidia.com/gpu': '2' }, limits: { 'nvidia.com/gpu': '2' } }]);
    expect(annotationsFor(p)).toEqual({ [ANNOTATION_GPUS]: '3' });
  });

  it('a pod asking for nothing gets no annotation but still the VM resource', () => {
    const m = mutatePod(pod([{}]), OPTIONS);
    expect(m.annotations).toEqual({});
    expect(m.patch).toEqual([{ op: 'add', path: '/spec/containers/0/resources', value: VM }]);
  });
});

describe('mutatePod: the patch', () => {
  it('clears every resources block and gives the first container one kata.peerpods.io/vm', () => {
    const p = pod([{ requests: { cpu: '1' }, limits: { cpu: '2' } }, { requests: { memory: '1Gi' } }], [{ requests: { cpu: '1' } }]);
    const out = applyPatch(p, mutatePod(p, OPTIONS).patch);
    expect(out.spec.containers.map((c) => c.resources)).toEqual([VM, {}]);
    expect(out.spec.initContainers!.map((c) => c.resources)).toEqual([{}]);
    // cpu: requests 1 + 1 = 2, limits 2 (≥ the request) → 2.
    expect(out.metadata!.annotations).toEqual({ [ANNOTATION_VCPUS]: '2', [ANNOTATION_MEMORY]: '1024' });
    expect(out.spec.containers.map((c) => c.name)).toEqual(['c0', 'c1']); // nothing else touched
  });

  it('uses POD_VM_EXTENDED_RESOURCE', () => {
    const p = pod([{ requests: { cpu: '1' } }]);
    const out = applyPatch(p, mutatePod(p, { ...OPTIONS, podVmExtendedResource: 'example.com/vm' }).patch);
    expect(out.spec.containers[0]!.resources).toEqual({ requests: { 'example.com/vm': '1' }, limits: { 'example.com/vm': '1' } });
  });

  it('adds annotations one by one to existing ones (escaped pointers), replacing a stale value', () => {
    const p = pod([{ requests: { cpu: '2' } }]);
    p.metadata!.annotations = { [ANNOTATION_VCPUS]: '1', 'team/owner': 'a' };
    const m = mutatePod(p, OPTIONS);
    expect(m.patch[0]).toEqual({ op: 'add', path: '/metadata/annotations/io.katacontainers.config.hypervisor.default_vcpus', value: '2' });
    expect(applyPatch(p, m.patch).metadata!.annotations).toEqual({ [ANNOTATION_VCPUS]: '2', 'team/owner': 'a' });
  });

  it('creates metadata when the object has none', () => {
    const p: TestPod = { spec: { runtimeClassName: 'kata-remote', containers: [{ name: 'a', resources: { requests: { memory: '1Mi' } } }] } };
    expect(applyPatch(p, mutatePod(p, OPTIONS).patch).metadata).toEqual({ annotations: { [ANNOTATION_MEMORY]: '1' } });
  });

  it('leaves pods of other runtime classes, and pods without one, alone', () => {
    expect(mutatePod(pod([{ requests: { cpu: '1' } }], [], 'kata-qemu'), OPTIONS)).toEqual({
      patch: [],
      annotations: {},
      skipped: 'runtimeClassName is "kata-qemu", not "kata-remote"',
    });
    const plain = { metadata: { name: 'x' }, spec: { containers: [{ name: 'a' }] } };
    expect(mutatePod(plain, OPTIONS).skipped).toBe('runtimeClassName is not set, not "kata-remote"');
    expect(mutatePod(pod([{}], [], 'custom'), { ...OPTIONS, targetRuntimeClass: 'custom' }).patch).not.toEqual([]);
  });

  it('is idempotent: a mutated pod gives an empty patch and keeps its annotations (reinvocation)', () => {
    const container = fc.record(
      {
        requests: fc.record({ cpu: fc.constantFrom('100m', '1', '2500m'), memory: fc.constantFrom('64Mi', '1G', '3Gi') }, { requiredKeys: [] }),
        limits: fc.record({ cpu: fc.constantFrom('1', '4'), memory: fc.constantFrom('1Gi', '8Gi'), 'nvidia.com/gpu': fc.constantFrom('1', '2') }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(container, { minLength: 1, maxLength: 4 }), fc.array(container, { maxLength: 2 }), (containers, init) => {
        const p = pod(containers, init);
        const once = applyPatch(p, mutatePod(p, OPTIONS).patch);
        const again = mutatePod(once, OPTIONS);
        expect(again.patch).toEqual([]);
        expect(once.spec.containers[0]!.resources).toEqual(VM);
      }),
    );
  });

  it('does not change its input', () => {
    const p = pod([{ requests: { cpu: '1' } }]);
    const before = structuredClone(p);
    mutatePod(p, OPTIONS);
    expect(p).toEqual(before);
  });
});

describe('mutatePod: bad pods', () => {
  it('a malformed quantity names the container, the field and the value', () => {
    const p = pod([{ requests: { cpu: '100m' } }, { limits: { cpu: '2x' } }]);
    p.spec.containers[1]!.name = 'app';
    expect(() => mutatePod(p, OPTIONS)).toThrow(expect.objectContaining({ code: 'INVALID_QUANTITY', input: '2x' }));
    expect(() => mutatePod(p, OPTIONS)).toThrow(/^container "app": resources.limits.cpu = "2x" is invalid: "2x" is not a quantity/);
  });

  it('init containers are named as such; negative amounts are refused', () => {
    expect(() => mutatePod(pod([{}], [{ requests: { memory: '1Gb' } }]), OPTIONS)).toThrow(/^init container "i0": resources.requests.memory = "1Gb" is invalid/);
    expect(() => mutatePod(pod([{ requests: { cpu: '-1' } }]), OPTIONS)).toThrow(
      expect.objectContaining({ code: 'QUANTITY_OUT_OF_RANGE', message: expect.stringMatching(/cannot be negative/) }),
    );
  });

  it('other resources are not parsed (the API server validates them)', () => {
    expect(mutatePod(pod([{ requests: { cpu: '1', 'example.com/odd': 'whatever' } }]), OPTIONS).annotations).toEqual({ [ANNOTATION_VCPUS]: '1' });
  });

  it.each([
    [null, 'the reviewed object is not a JSON object'],
    [{ metadata: {} }, 'the pod has no spec'],
    [{ metadata: 'x', spec: {} }, 'metadata must be an object'],
    [{ spec: { runtimeClassName: 7 } }, 'spec.runtimeClassName must be a string'],
    [{ spec: { runtimeClassName: 'kata-remote', containers: {} } }, 'spec.containers must be a list'],
    [{ spec: { runtimeClassName: 'kata-remote', containers: ['x'] } }, 'spec.containers[0] must be an object'],
    [{ spec: { runtimeClassName: 'kata-remote', containers: [{ name: 'a', resources: [] }] } }, 'container "a": resources must be an object'],
    [{ spec: { runtimeClassName: 'kata-remote', containers: [{ resources: { limits: { cpu: {} } } }] } }, 'container #0: resources.limits.cpu must be a quantity string, got {}'],
    [{ metadata: { annotations: { a: 1 } }, spec: {} }, 'metadata.annotations["a"] must be a string'],
  ])('%j → INVALID_POD: %s', (object, message) => {
    expect(() => mutatePod(object, OPTIONS)).toThrow(expect.objectContaining({ code: 'INVALID_POD', message }));
  });

  it('a JSON number where a quantity string belongs is read as its text', () => {
    expect(mutatePod({ spec: { runtimeClassName: 'kata-remote', containers: [{ name: 'a', resources: { requests: { cpu: 1.5 } } }] } }, OPTIONS).annotations).toEqual({
      [ANNOTATION_VCPUS]: '2',
    });
  });
});
