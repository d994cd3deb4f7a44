/** ARM errors as the fake raises them: `{"error":{"code","message"}}` with the status ARM would use. */

const STATUS_BY_CODE: Record<string, number> = {
  InvalidAuthenticationToken: 401,
  InvalidAuthenticationTokenAudience: 401,
  ExpiredAuthenticationToken: 401,
  AuthorizationFailed: 403,
  LinkedAuthorizationFailed: 403,
  ResourceNotFound: 404,
  NotFound: 404,
  ResourceGroupNotFound: 404,
  SubscriptionNotFound: 404,
  ParentResourceNotFound: 404,
  ImageNotFound: 404,
  GalleryImageNotFound: 404,
  SkuNotAvailable: 409,
  OperationNotAllowed: 409,
  QuotaExceeded: 409,
  PropertyChangeNotAllowed: 409,
  AnotherOperationInProgress: 409,
  AllocationFailed: 409,
  ZonalAllocationFailed: 409,
  Conflict: 409,
  TooManyRequests: 429,
  InternalServerError: 500,
  InternalExecutionError: 500,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
};

const DEFAULT_MESSAGES: Record<string, string> = {
  TooManyRequests: "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:03:00.",
  SkuNotAvailable: 'The requested VM size is currently not available in this location. Please try another size or deploy to a different location or different zone.',
  AllocationFailed: 'Allocation failed. We do not have sufficient capacity for the requested VM size in this region.',
  ZonalAllocationFailed: 'Allocation failed. We do not have sufficient capacity for the requested VM size in this zone.',
  InternalServerError: 'An internal server error occurred. Please retry the request.',
  ServiceUnavailable: 'The service is temporarily unavailable.',
};

export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 400;
}

export class ArmError extends Error {
  override readonly name = 'ArmError';
  readonly status: number;

  constructor(
    readonly code: string,
    message?: string,
    status?: number,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? DEFAULT_MESSAGES[code] ?? `Injected ${code}`);
    this.status = status ?? statusForCode(code);
  }

  body(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
