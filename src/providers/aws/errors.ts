/**
 * EC2 error codes → the provider contract's kinds. EC2 puts its code in the SDK error's `name`
 * (e.g. `InsufficientInstanceCapacity`); network failures carry a Node `code` instead.
 */
import { ProviderError, type ProviderErrorCode } from '../errors.js';

const byCode: Record<string, ProviderErrorCode> = {
  InsufficientInstanceCapacity: 'CAPACITY',
  InsufficientHostCapacity: 'CAPACITY',
  InsufficientCapacity: 'CAPACITY',
  InsufficientReservedInstanceCapacity: 'CAPACITY',
  InsufficientAddressCapacity: 'CAPACITY',
  // "The requested configuration is currently not supported": a type that this zone does not offer.
  Unsupported: 'CAPACITY',
  InstanceLimitExceeded: 'QUOTA',
  VcpuLimitExceeded: 'QUOTA',
  AddressLimitExceeded: 'QUOTA',
  VolumeLimitExceeded: 'QUOTA',
  ResourceLimitExceeded: 'QUOTA',
  MaxIOPSLimitExceeded: 'QUOTA',
  RequestLimitExceeded: 'THROTTLED',
  Throttling: 'THROTTLED',
  ThrottlingException: 'THROTTLED',
  AuthFailure: 'UNAUTHORIZED',
  UnauthorizedOperation: 'UNAUTHORIZED',
  InvalidClientTokenId: 'UNAUTHORIZED',
  SignatureDoesNotMatch: 'UNAUTHORIZED',
  ExpiredToken: 'UNAUTHORIZED',
  RequestExpired: 'UNAUTHORIZED',
  OptInRequired: 'UNAUTHORIZED',
  Blocked: 'UNAUTHORIZED',
  MissingParameter: 'INVALID_REQUEST',
  InvalidParameter: 'INVALID_REQUEST',
  InvalidParameterValue: 'INVALID_REQUEST',
  InvalidParameterCombination: 'INVALID_REQUEST',
  InvalidBlockDeviceMapping: 'INVALID_REQUEST',
  IdempotentParameterMismatch: 'INVALID_REQUEST',
  InternalError: 'UNAVAILABLE',
  InternalFailure: 'UNAVAILABLE',
  ServiceUnavailable: 'UNAVAILABLE',
  Unavailable: 'UNAVAILABLE',
};

/** Network-level failures worth a retry. */
const transientNodeCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The EC2 error code of an SDK error, or '' for anything else. */
export function ec2ErrorCode(err: unknown): string {
  const e = err as SdkErrorShape;
  return e?.$metadata !== undefined && typeof e.name === 'string' ? e.name : '';
}

export function classifyAwsError(err: unknown, action: string, signal?: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const message = `EC2 ${action}: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message ?? String(err)}`;
  if (signal?.aborted || e.name === 'AbortError') return new ProviderError('CANCELLED', message, { cause: err });
  const code = ec2ErrorCode(err);
  let kind: ProviderErrorCode | undefined = byCode[code];
  if (!kind && code.endsWith('.NotFound')) kind = 'NOT_FOUND';
  if (!kind && code.endsWith('.Malformed')) kind = 'INVALID_REQUEST';
  if (!kind && code.startsWith('Invalid')) kind = 'INVALID_REQUEST';
  if (!kind && e.code && transientNodeCodes.has(e.code)) kind = 'UNAVAILABLE';
  if (!kind && e.name === 'TimeoutError') kind = 'UNAVAILABLE';
  if (!kind && (e.$metadata?.httpStatusCode ?? 0) >= 500) kind = 'UNAVAILABLE';
  return new ProviderError(kind ?? 'INTERNAL', message, { cause: err });
}
