/** AdmissionReview v1 fixtures (test/fixtures/webhook) through the handler, as the API server sends them. */
import { describe, expect, it } from 'vitest';
import { admit, parseAdmissionReview, reviewAdmission } from '../../../src/webhook/admission.js';
import { ANNOTATION_GPUS, ANNOTATION_MEMORY, ANNOTATION_VCPUS, type MutateOptions } from '../../../src/webhook/mutate.js';
import { fixture } from './fixtures.js';
import { applyPatch, decodePatch } from './json-patch.js';

const OPTIONS: MutateOptions = { targetRuntimeClass: 'kata-remote', podVmExtendedResource: 'kata.peerpods.io/vm' };
const VM = { requests: { 'kata.peerpods.io/vm': '1' }, limits: { 'kata.peerpods.io/vm': '1' } };

interface Review {
  request: { uid: string; object: { metadata: { annotations?: Record<string, string> }; spec: { containers: Array<{ resources?: unknown }>; initContainers?: Array<{ resources?: unknown }> } } };
}

describe('AdmissionReview handling', () => {
  it('a kata-remote pod: JSONPatch (base64) with the sizing annotations and the VM resource, uid echoed', async () => {
    const body = await fixture('review-kata-pod.json');
    const d = reviewAdmission(body, OPTIONS);
    expect(d.outcome).toBe('mutated');
    expect(d.review).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '0a5c8f2e-1b3d-4e6f-8a9b-0c1d2e3f4a5b', allowed: true, patchType: 'JSONPatch' },
    });
    const pod = (JSON.parse(body) as Review).request.object;
    const out = applyPatch(pod, decodePatch(d.review.response.patch!));
    // cpu: requests 0.5 + 0.25 + 1 (init) = 1.75, limits 1.5 + 0.25 = 1.75 ≥ request → 2 vCPUs;
    // memory: requests 704Mi, limits 1152Mi ≥ request → 1152 MiB.
    expect(out.metadata.annotations).toEqual({ [ANNOTATION_VCPUS]: '2', [ANNOTATION_MEMORY]: '1152' });
    expect(out.spec.containers.map((c) => c.resources)).toEqual([VM, {}]);
    expect(out.spec.initContainers!.map((c) => c.resources)).toEqual([{}]);
  });

  it('a GPU pod with annotations already: each key added, the stale vCPU count replaced, others kept', async () => {
    const body = await fixture('review-gpu-pod.json');
    const d = reviewAdmission(body, OPTIONS);
    const out = applyPatch((JSON.parse(body) as Review).request.object, decodePatch(d.review.response.patch!));
    expect(out.metadata.annotations).toEqual({
      [ANNOTATION_VCPUS]: '2',
      [ANNOTATION_MEMORY]: '954', // 1G = 10^9 bytes = 953.7 MiB, rounded up
      [ANNOTATION_GPUS]: '2',
      'team/owner': 'ml-infra',
    });
  });

  it('a pod of another runtime class is allowed untouched (no patch)', async () => {
    const d = reviewAdmission(await fixture('review-other-runtimeclass.json'), OPTIONS);
    expect(d.outcome).toBe('skipped');
    expect(d.review.response).toEqual({ uid: 'c4d3e2f1-0a9b-4c8d-9e7f-6a5b4c3d2e1f', allowed: true });
  });

  it('a pod with a malformed quantity is denied, naming the container and the value', async () => {
    const d = reviewAdmission(await fixture('review-bad-quantity.json'), OPTIONS);
    expect(d.outcome).toBe('denied');
    expect(d.review.response).toEqual({
      uid: '5f6e7d8c-9b0a-4b1c-8d2e-3f4a5b6c7d8e',
      allowed: false,
      status: { code: 400, reason: 'BadRequest', message: expect.stringMatching(/^peer-pods webhook: container "app": resources\.limits\.cpu = "2x" is invalid/) },
    });
  });

  it('an already mutated pod (reinvocation) is allowed without a patch', async () => {
    const body = await fixture('review-kata-pod.json');
    const review = JSON.parse(body) as Review;
    review.request.object = applyPatch(review.request.object, decodePatch(reviewAdmission(body, OPTIONS).review.response.patch!));
    const again = reviewAdmission(JSON.stringify(review), OPTIONS);
    expect(again.outcome).toBe('unchanged');
    expect(again.review.response).toEqual({ uid: review.request.uid, allowed: true });
  });

  it('other kinds, operations and subresources pass untouched', () => {
    const base = { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'n', subResource: undefined, object: { spec: { runtimeClassName: 'kata-remote', containers: [{ name: 'a' }] } } };
    expect(admit({ ...base, operation: 'UPDATE' }, OPTIONS)).toMatchObject({ outcome: 'skipped', reason: 'operation UPDATE, not CREATE' });
    expect(admit({ ...base, kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, OPTIONS)).toMatchObject({ outcome: 'skipped', reason: 'the object is a apps/Deployment, not a Pod' });
    expect(admit({ ...base, subResource: 'ephemeralcontainers' }, OPTIONS)).toMatchObject({ outcome: 'skipped' });
    expect(admit(base, OPTIONS).outcome).toBe('mutated');
  });
});

describe('malformed reviews', () => {
  const review = (request: unknown, extra: Record<string, unknown> = {}): string => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request, ...extra });
  it.each([
    ['not JSON', '{"apiVersion": ', /^the body is not JSON: /],
    ['a JSON array', '[]', /^the body is not a JSON object/],
    ['v1beta1', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u', object: {} } }), /^apiVersion is "admission.k8s.io\/v1beta1"; this webhook speaks admission.k8s.io\/v1 only/],
    ['another kind', review({ uid: 'u', object: {} }, { kind: 'TokenReview' }), /^kind is "TokenReview", expected AdmissionReview/],
    ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /^the AdmissionReview has no request$/],
    ['no uid', review({ object: {} }), /^request\.uid is missing/],
    ['an empty uid', review({ uid: '', object: {} }), /^request\.uid is missing/],
    ['no object', review({ uid: 'u' }), /^request\.object is missing or not an object/],
    ['a null object', review({ uid: 'u', object: null }), /^request\.object is missing or not an object/],
  ])('%s → MALFORMED_REVIEW', (_, body, message) => {
    expect(() => parseAdmissionReview(body)).toThrow(expect.objectContaining({ code: 'MALFORMED_REVIEW', message: expect.stringMatching(message) }));
  });

  it('bytes are read as UTF-8', () => {
    expect(parseAdmissionReview(Buffer.from(review({ uid: 'ü', object: {} }))).uid).toBe('ü');
  });
});
