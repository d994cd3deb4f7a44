/** Failures of the mutating webhook, each with a stable `code`. */
import { codedError } from '../util/coded-error.js';

/**
 * Codes:
 * - `INVALID_QUANTITY`: a resource quantity that is not a Kubernetes quantity (`2x`, `1.2.3`, `--1`, …).
 * - `QUANTITY_OUT_OF_RANGE`: a quantity that parses but is beyond what the webhook computes with (huge exponent,
 *   negative amount).
 * - `INVALID_POD`: the reviewed object is not a pod the webhook can read (no spec, containers that are not a
 *   list, …).
 * - `MALFORMED_REVIEW`: the request body is not an AdmissionReview v1 with a request, a uid and an object.
 * - `BODY_TOO_LARGE`: the request body is larger than the server accepts.
 * - `CERTIFICATE_UNUSABLE`: the serving certificate or key cannot be read, does not parse, or the two do not
 *   match.
 */
export class WebhookError extends codedError('WebhookError', ['INVALID_QUANTITY', 'QUANTITY_OUT_OF_RANGE', 'INVALID_POD', 'MALFORMED_REVIEW', 'BODY_TOO_LARGE', 'CERTIFICATE_UNUSABLE']) {}

export const WebhookErrorCode = WebhookError.Code;
export type WebhookErrorCode = WebhookError['code'];

/** A quantity that does not parse or is out of range; `input` is the text as given. */
export type QuantityErrorCode = typeof WebhookErrorCode.INVALID_QUANTITY | typeof WebhookErrorCode.QUANTITY_OUT_OF_RANGE;

export class QuantityError extends WebhookError {
  override readonly name = 'QuantityError';
  declare readonly code: QuantityErrorCode;

  constructor(
    code: QuantityErrorCode,
    readonly input: string,
    message: string,
  ) {
    super(code, message);
  }
}

export const isWebhookError = (err: unknown, code?: WebhookErrorCode): err is WebhookError => WebhookError.is(err, code);
