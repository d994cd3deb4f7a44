/**
 * What kind of failure a provider met, so that the shim alone decides to retry, fall back to another
 * instance type, or fail (as virtual-kubelet's errdefs). Providers classify; they never decide.
 */
import { codedError } from '../util/coded-error.js';
import { messageOf } from '../util/errors.js';
import { abortMessage } from '../util/abort.js';

/**
 * Codes:
 * - `CAPACITY`: the cloud has no capacity for this instance type/zone right now.
 * - `QUOTA`: an account or project limit is reached.
 * - `THROTTLED`: the API rate-limited us.
 * - `NOT_FOUND`: the resource does not exist (delete treats this as success).
 * - `INVALID_CONFIG`: the provider's configuration is wrong (missing image, bad subnet, …): retrying will not
 *   help.
 * - `INVALID_REQUEST`: this request cannot be served as asked (e.g. an instance type outside the allowed list).
 * - `UNAUTHORIZED`: credentials were refused.
 * - `UNAVAILABLE`: the cloud API failed or could not be reached; a retry may work.
 * - `CANCELLED`: the caller's signal aborted the operation.
 * - `INTERNAL`: anything else.
 *
 * `retryable`: the same call may succeed later without a change of configuration (THROTTLED, UNAVAILABLE, CAPACITY).
 */
export class ProviderError extends codedError('ProviderError', ['CAPACITY', 'QUOTA', 'THROTTLED', 'NOT_FOUND', 'INVALID_CONFIG', 'INVALID_REQUEST', 'UNAUTHORIZED', 'UNAVAILABLE', 'CANCELLED', 'INTERNAL'], { retryable: ['THROTTLED', 'UNAVAILABLE', 'CAPACITY'] }) {
  /** Id of an instance the failed call did create, so the caller can delete it. */
  readonly partialInstanceId: string | undefined;

  constructor(code: ProviderErrorCode, message: string, options: { partialInstanceId?: string; cause?: unknown } = {}) {
    super(code, message, options);
    this.partialInstanceId = options.partialInstanceId;
  }
}

export const ProviderErrorCode = ProviderError.Code;
export type ProviderErrorCode = ProviderError['code'];

export const isProviderError = (err: unknown, code?: ProviderErrorCode): err is ProviderError => ProviderError.is(err, code);

/** Wraps whatever a provider threw; an abort becomes CANCELLED. */
export function asProviderError(err: unknown, signal?: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  if (signal?.aborted) return new ProviderError('CANCELLED', `cancelled: ${abortMessage(signal)}`, { cause: err });
  return new ProviderError('INTERNAL', messageOf(err), { cause: err });
}
