/**
 * Errors as the fake raises them: VPC and Global Tagging answer `{errors: [{code, message, more_info,
 * target}], trace, status_code}`; IAM answers `{errorCode: "BXNIM…", errorMessage, context}`.
 */

/** Codes whose HTTP status is not 400. */
const STATUS_BY_CODE: Record<string, number> = {
  not_found: 404,
  not_authorized: 401,
  forbidden: 403,
  rate_limit_exceeded: 429,
  internal_error: 500,
  service_unavailable: 503,
  instance_delete_conflict: 409,
  http_request_size_exceeded: 413,
};

const DEFAULT_MESSAGES: Record<string, string> = {
  not_authorized: 'The provided token is invalid or has expired.',
  rate_limit_exceeded: 'Too many requests: the API rate limit of the account is exceeded.',
  internal_error: 'An internal error occurred.',
  service_unavailable: 'The service is temporarily unavailable.',
  insufficient_capacity: 'There is not enough capacity for the requested instance profile in the zone.',
  over_quota: 'The request would exceed the quota of the account.',
};

export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 400;
}

export class VpcError extends Error {
  override readonly name = 'VpcError';
  constructor(
    readonly code: string,
    message: string = DEFAULT_MESSAGES[code] ?? `Injected ${code}`,
    readonly status: number = statusForCode(code),
    readonly target?: { name: string; type: 'field' | 'parameter' | 'header'; value?: unknown },
    /** Seconds, for a `Retry-After` header. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** An IAM token-service error (its own body shape). */
export class IamError extends Error {
  override readonly name = 'IamError';
  constructor(
    readonly errorCode: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export function errorBody(e: VpcError, trace: string): Record<string, unknown> {
  return {
    errors: [
      {
        code: e.code,
        message: e.message,
        more_info: `https://cloud.ibm.com/docs/vpc?topic=vpc-rias-error-messages#${e.code.replace(/_/g, '-')}`,
        ...(e.target ? { target: e.target } : {}),
      },
    ],
    trace,
    status_code: e.status,
  };
}

export function iamErrorBody(e: IamError, iamUrl: string): Record<string, unknown> {
  return { errorCode: e.errorCode, errorMessage: e.message, context: { requestId: 'fake', url: iamUrl } };
}

export const notFound = (what: string, id: string): VpcError => new VpcError('not_found', `${what} not found: ${id}`, 404);

export const missing = (field: string): VpcError => new VpcError('missing_field', `Missing required field: ${field}`, 400, { name: field, type: 'field' });

export const invalid = (code: string, message: string, field?: string, value?: unknown): VpcError =>
  new VpcError(code, message, 400, field ? { name: field, type: 'field', value } : undefined);
