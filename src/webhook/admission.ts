/**
 * AdmissionReview v1 in and out: reads the API server's request, runs the pod mutation, and answers with
 * a base64 JSON Patch. Pure (no I/O); the HTTP layer only moves bytes.
 */
import { messageOf } from '../util/errors.js';
import { WebhookError, WebhookErrorCode, isWebhookError } from './errors.js';
import { mutatePod, type MutateOptions, type PodMutation } from './mutate.js';
import { isObject, type JsonObject } from './pod.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_KIND = 'AdmissionReview';

/** The fields of `request` the webhook uses. */
export interface AdmissionRequest {
  uid: string;
  /** `request.kind` (group/version/kind of the object), when given. */
  kind: { group: string; version: string; kind: string } | undefined;
  operation: string | undefined;
  namespace: string | undefined;
  subResource: string | undefined;
  object: JsonObject;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  patch?: string;
  status?: { code: number; reason: string; message: string };
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  response: AdmissionResponse;
}

/** What happened, for the log line. */
export interface AdmissionDecision {
  review: AdmissionReviewResponse;
  /** `mutated`, `unchanged` (already in peer-pod form), `skipped` (not ours) or `denied`. */
  outcome: 'mutated' | 'unchanged' | 'skipped' | 'denied';
  /** Why the pod was skipped or denied. */
  reason?: string;
  mutation?: PodMutation;
}

function malformed(message: string): WebhookError {
  return new WebhookError(WebhookErrorCode.MALFORMED_REVIEW, message);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Parses the body of a POST to the webhook. Throws WebhookError `MALFORMED_REVIEW` with a message saying
 * what is wrong (not JSON, another apiVersion or kind, no request, no uid, no object); the server answers
 * those with HTTP 400.
 */
export function parseAdmissionReview(body: string | Uint8Array): AdmissionRequest {
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw malformed(`the body is not JSON: ${messageOf(err)}`);
  }
  if (!isObject(doc)) throw malformed('the body is not a JSON object (expected an AdmissionReview)');
  if (doc.apiVersion !== ADMISSION_API_VERSION) {
    throw malformed(`apiVersion is ${JSON.stringify(doc.apiVersion ?? null)}; this webhook speaks ${ADMISSION_API_VERSION} only (admissionReviewVersions: ["v1"])`);
  }
  if (doc.kind !== ADMISSION_KIND) throw malformed(`kind is ${JSON.stringify(doc.kind ?? null)}, expected ${ADMISSION_KIND}`);
  const request = doc.request;
  if (!isObject(request)) throw malformed('the AdmissionReview has no request');
  const uid = request.uid;
  if (typeof uid !== 'string' || uid === '') throw malformed('request.uid is missing (it must be echoed in the response)');
  if (!isObject(request.object)) throw malformed('request.object is missing or not an object (a Pod CREATE carries the pod)');
  const kind = isObject(request.kind)
    ? { group: str(request.kind.group) ?? '', version: str(request.kind.version) ?? '', kind: str(request.kind.kind) ?? '' }
    : undefined;
  return {
    uid,
    kind,
    operation: str(request.operation),
    namespace: str(request.namespace),
    subResource: str(request.subResource),
    object: request.object,
  };
}

function wrap(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

/** Decides one request. Never throws for a bad pod: that is an `allowed: false` answer naming the problem. */
export function admit(request: AdmissionRequest, options: MutateOptions): AdmissionDecision {
  const allow = (outcome: AdmissionDecision['outcome'], reason?: string): AdmissionDecision => ({
    review: wrap({ uid: request.uid, allowed: true }),
    outcome,
    ...(reason === undefined ? {} : { reason }),
  });
  // The MutatingWebhookConfiguration sends only Pod CREATE; anything else passes untouched.
  if (request.kind && (request.kind.group !== '' || request.kind.kind !== 'Pod')) {
    return allow('skipped', `the object is a ${request.kind.group ? `${request.kind.group}/` : ''}${request.kind.kind}, not a Pod`);
  }
  if (request.operation !== undefined && request.operation !== 'CREATE') return allow('skipped', `operation ${request.operation}, not CREATE`);
  if (request.subResource) return allow('skipped', `subresource ${request.subResource}`);

  let mutation: PodMutation;
  try {
    mutation = mutatePod(request.object, options);
  } catch (err) {
    if (!isWebhookError(err)) throw err;
    return {
      review: wrap({ uid: request.uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: `peer-pods webhook: ${err.message}` } }),
      outcome: 'denied',
      reason: err.message,
    };
  }
  if (mutation.skipped !== undefined) return { ...allow('skipped', mutation.skipped), mutation };
  if (mutation.patch.length === 0) return { ...allow('unchanged'), mutation };
  return {
    review: wrap({
      uid: request.uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(mutation.patch)).toString('base64'),
    }),
    outcome: 'mutated',
    mutation,
  };
}

/** Body → decision; a malformed review throws WebhookError `MALFORMED_REVIEW` (HTTP 400). */
export function reviewAdmission(body: string | Uint8Array, options: MutateOptions): AdmissionDecision & { request: AdmissionRequest } {
  const request = parseAdmissionReview(body);
  return { ...admit(request, options), request };
}
