/**
 * What kind of failure a provider met, so that the shim alone decides to retry, fall back to another
 * instance type, or fail (as virtual-kubelet's errdefs). Providers classify; they never decide.
 */
import { codedError } from '../util/coded-error.js';

export const ProviderErrorCode = {
  /** The cloud has no capacity for this instance type/zone right now. */
  CAPACITY: 'CAPACITY',
  /** An account or project limit is reached. */
  QUOTA: 'QUOTA',
  /** The API rate-limited us. */
  THROTTLED: 'THROTTLED',
  /** The resource does not exist (delete treats this as success). */
  NOT_FOUND: 'NOT_FOUND',
  /** The provider's configuration is wrong (missing image, bad subnet, …): retrying will not help. */
  INVALID_CONFIG: 'INVALID_CONFIG',
  /** This request cannot be served as asked (e.g. an instance type outside the allowed list). */
  INVALID_REQUEST: 'INVALID_REQUEST',
  /** Credentials were refused. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** The cloud API failed or could not be reached; a retry may work. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** The caller's signal aborted the operation. */
  CANCELLED: 'CANCELLED',
  /** Anything else. */
  INTERNAL: 'INTERNAL',
} as const;

export type ProviderErrorCode = (typeof ProviderErrorCode)[keyof typeof ProviderErrorCode];

const retryable = new Set<ProviderErrorCode>(['THROTTLED', 'UNAVAILABLE', 'CAPACITY']);

export class ProviderError extends codedError('ProviderError', ProviderErrorCode) {
  /** Id of an instance the failed call did create, so the caller can delete it. */
  readonly partialInstanceId: string | undefined;

  constructor(code: ProviderErrorCode, message: string, options: { partialInstanceId?: string; cause?: unknown } = {}) {
    super(code, message, options);
    this.partialInstanceId = options.partialInstanceId;
  }

  /** Whether the same call may succeed later without a change of configuration. */
  get retryable(): boolean {
    return retryable.has(this.code);
  }
}

export const isProviderError = (err: unknown, code?: ProviderErrorCode): err is ProviderError => ProviderError.is(err, code);

/** Wraps whatever a provider threw; an abort becomes CANCELLED. */
export function asProviderError(err: unknown, signal?: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  if (signal?.aborted) return new ProviderError('CANCELLED', `cancelled: ${String((signal.reason as Error)?.message ?? signal.reason)}`, { cause: err });
  return new ProviderError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}
