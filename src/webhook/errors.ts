/** Failures of the mutating webhook, each with a stable `code`. */
import { codedError } from '../util/coded-error.js';

export const WebhookErrorCode = {
  /** A resource quantity that is not a Kubernetes quantity (`2x`, `1.2.3`, `--1`, …). */
  INVALID_QUANTITY: 'INVALID_QUANTITY',
  /** A quantity that parses but is beyond what the webhook computes with (huge exponent, negative amount). */
  QUANTITY_OUT_OF_RANGE: 'QUANTITY_OUT_OF_RANGE',
  /** The reviewed object is not a pod the webhook can read (no spec, containers that are not a list, …). */
  INVALID_POD: 'INVALID_POD',
  /** The request body is not an AdmissionReview v1 with a request, a uid and an object. */
  MALFORMED_REVIEW: 'MALFORMED_REVIEW',
  /** The request body is larger than the server accepts. */
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  /** The serving certificate or key cannot be read, does not parse, or the two do not match. */
  CERTIFICATE_UNUSABLE: 'CERTIFICATE_UNUSABLE',
} as const;

export type WebhookErrorCode = (typeof WebhookErrorCode)[keyof typeof WebhookErrorCode];

export class WebhookError extends codedError('WebhookError', WebhookErrorCode) {}

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
