/**
 * Azure errors → the provider contract's kinds. Three shapes reach us: a `RestError` from a request
 * (HTTP status, ARM error `code` and `details.error`), an `Error` from a long-running operation that
 * ended `Failed` (core-lro writes "The long-running operation has failed. <code>. <message>"), and
 * errors of @azure/identity (`AuthenticationError`, `CredentialUnavailableError`).
 */
import { ProviderError, type ProviderErrorCode } from '../errors.js';

const byCode: Record<string, ProviderErrorCode> = {
  // No capacity for this size here and now: the next allowed size may fit.
  SkuNotAvailable: 'CAPACITY',
  AllocationFailed: 'CAPACITY',
  ZonalAllocationFailed: 'CAPACITY',
  OverconstrainedAllocationRequest: 'CAPACITY',
  OverconstrainedZonalAllocationRequest: 'CAPACITY',
  QuotaExceeded: 'QUOTA',
  TooManyRequests: 'THROTTLED',
  SubscriptionRequestsThrottled: 'THROTTLED',
  InvalidAuthenticationToken: 'UNAUTHORIZED',
  InvalidAuthenticationTokenTenant: 'UNAUTHORIZED',
  ExpiredAuthenticationToken: 'UNAUTHORIZED',
  AuthenticationFailed: 'UNAUTHORIZED',
  AuthorizationFailed: 'UNAUTHORIZED',
  LinkedAuthorizationFailed: 'UNAUTHORIZED',
  ResourceNotFound: 'NOT_FOUND',
  NotFound: 'NOT_FOUND',
  ResourceGroupNotFound: 'NOT_FOUND',
  ParentResourceNotFound: 'NOT_FOUND',
  SubscriptionNotFound: 'NOT_FOUND',
  ImageNotFound: 'NOT_FOUND',
  GalleryImageNotFound: 'NOT_FOUND',
  InvalidParameter: 'INVALID_REQUEST',
  InvalidRequestContent: 'INVALID_REQUEST',
  InvalidResourceReference: 'INVALID_REQUEST',
  BadRequest: 'INVALID_REQUEST',
  PropertyChangeNotAllowed: 'INVALID_REQUEST',
  OperationNotAllowed: 'INVALID_REQUEST', // unless its message is about a quota, below
  InternalServerError: 'UNAVAILABLE',
  InternalExecutionError: 'UNAVAILABLE',
  ServiceUnavailable: 'UNAVAILABLE',
  GatewayTimeout: 'UNAVAILABLE',
  RetryableError: 'UNAVAILABLE',
  OSProvisioningTimedOut: 'UNAVAILABLE',
  AllocationTimedout: 'UNAVAILABLE',
};

/** Network-level failures worth a retry (as Node and the pipeline's RestError name them). */
const transientNodeCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'REQUEST_SEND_ERROR']);

/** What @azure/identity throws when no token could be had (the pipeline reports AuthenticationRequiredError). */
const IDENTITY_ERRORS = new Set(['AuthenticationError', 'AuthenticationRequiredError', 'CredentialUnavailableError', 'AggregateAuthenticationError']);

const LRO_FAILED = /^The long-running operation has failed\. ([A-Za-z0-9_.]+)\. ([\s\S]*)$/;

interface ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  statusCode?: number;
  details?: { error?: { code?: string; message?: string } };
  errorResponse?: { error?: string; errorDescription?: string };
}

/** The ARM error code and message of an SDK error, or '' for the code when it has none. */
export function armError(err: unknown): { code: string; message: string; status?: number } {
  const e = (err ?? {}) as ErrorShape;
  const message = e.message ?? String(err);
  const lro = LRO_FAILED.exec(message);
  if (lro) return { code: lro[1]!, message: lro[2]!.trim() };
  if (e.name === 'RestError') {
    const detail = e.details?.error;
    // The paging helper keeps ARM's code but not its message.
    const paging = /^Pagination failed with unexpected statusCode (\d+)$/.exec(message);
    return { code: detail?.code ?? e.code ?? '', message: detail?.message ?? (paging ? `HTTP ${paging[1]} while listing` : message), status: e.statusCode };
  }
  return { code: '', message };
}

/** The ARM error code carried by a ProviderError's cause (or by any SDK error), '' if none. */
export function armErrorCode(err: unknown): string {
  return armError(err instanceof ProviderError ? err.cause : err).code;
}

/**
 * "Operation could not be completed as it results in exceeding approved standardDCASv5Family Cores
 * quota. Additional details - … Current Limit: 10, Current Usage: 8, Additional Required: 4 …" → the
 * quota's name and figures, for an error that says which limit to raise.
 */
export function quotaOf(message: string): string | undefined {
  const name = /exceeding approved (.+?) quota/i.exec(message)?.[1] ?? /quota (?:for|of) ['"]?([\w .-]+?)['"]? (?:is|was|has been) exceeded/i.exec(message)?.[1];
  if (!name) return undefined;
  const figure = (label: string): string | undefined => new RegExp(`${label}:\\s*(\\d+)`, 'i').exec(message)?.[1];
  const [limit, usage, required] = [figure('Current Limit'), figure('Current Usage'), figure('Additional Required')];
  const figures = [limit && `limit ${limit}`, usage && `in use ${usage}`, required && `asked for ${required} more`].filter(Boolean).join(', ');
  return figures ? `${name} (${figures})` : name;
}

export function classifyAzureError(err: unknown, action: string, signal?: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = (err ?? {}) as ErrorShape;
  const { code, message: armMessage, status } = armError(err);
  const message = `Azure ${action}: ${code ? `${code}: ` : ''}${armMessage}`;
  if (signal?.aborted || e.name === 'AbortError') return new ProviderError('CANCELLED', message, { cause: err });
  if (IDENTITY_ERRORS.has(e.name ?? '')) {
    const text = e.errorResponse?.errorDescription ?? e.message ?? String(err);
    // MSAL wraps Entra's answer in timestamps and trace ids; the AADSTS line is what an operator needs.
    const detail = /AADSTS\d+:.*?(?= - |\r?\n|$)/.exec(text)?.[0] ?? text.split('\n')[0];
    return new ProviderError('UNAUTHORIZED', `Azure credentials (${action}): ${detail}`, { cause: err });
  }
  const quota = quotaOf(armMessage);
  if ((code === 'OperationNotAllowed' || code === 'QuotaExceeded') && quota) {
    return new ProviderError('QUOTA', `Azure quota ${quota} exhausted (${action}: ${code}: ${armMessage})`, { cause: err });
  }
  let kind: ProviderErrorCode | undefined = byCode[code];
  if (!kind && status === 429) kind = 'THROTTLED';
  if (!kind && (status === 401 || status === 403)) kind = 'UNAUTHORIZED';
  if (!kind && status === 404) kind = 'NOT_FOUND';
  if (!kind && (status === 400 || status === 409)) kind = 'INVALID_REQUEST';
  if (!kind && status !== undefined && status >= 500) kind = 'UNAVAILABLE';
  if (!kind && e.code && transientNodeCodes.has(e.code)) kind = 'UNAVAILABLE';
  return new ProviderError(kind ?? 'INTERNAL', message, { cause: err });
}
