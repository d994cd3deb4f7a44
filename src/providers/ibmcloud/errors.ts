/**
 * IBM API errors → the provider contract's kinds. ibm-cloud-sdk-core rejects with an Error carrying
 * `status`, the parsed body in `result` and the reply `headers`; a VPC body is `{errors: [{code,
 * message}], trace}`, an IAM body `{errorCode: "BXNIM…", errorMessage}`. Network failures have no
 * status and the axios code in `statusText`.
 */
import { ProviderError, type ProviderErrorCode } from '../errors.js';
import type { IamErrorBody, VpcErrorBody } from './vpc-types.js';

export interface SdkError {
  name?: string;
  message?: string;
  status?: number;
  statusText?: string;
  code?: unknown;
  result?: unknown;
  headers?: Record<string, string | string[] | undefined>;
}

/** Network-level failures worth a retry. */
const transientCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_NETWORK', 'ERR_BAD_RESPONSE', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

/** HTTP status of an SDK error (0 when no reply came). */
export function httpStatus(err: unknown): number {
  const s = (err as SdkError | undefined)?.status;
  return typeof s === 'number' ? s : 0;
}

/** The IBM error code (`not_found`, `over_quota`, `BXNIM0415E`, …) of an SDK error, or ''. */
export function ibmErrorCode(err: unknown): string {
  return detail(err).code;
}

function detail(err: unknown): { code: string; message: string } {
  const e = (err ?? {}) as SdkError;
  const body = (e.result ?? {}) as VpcErrorBody & IamErrorBody;
  const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
  if (first?.code) return { code: first.code, message: first.message ?? e.message ?? '' };
  if (typeof body.errorCode === 'string') return { code: body.errorCode, message: body.errorMessage ?? e.message ?? '' };
  return { code: '', message: e.message || e.statusText || String(err) };
}

/** The delay a 429 (or 503) asks for in `Retry-After` (seconds or an HTTP date), in ms; undefined without one. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const raw = (err as SdkError | undefined)?.headers?.['retry-after'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function kindOf(err: unknown, code: string, message: string): ProviderErrorCode {
  const e = (err ?? {}) as SdkError;
  const status = httpStatus(err);
  if (/capacity/.test(code)) return 'CAPACITY';
  if (/quota/.test(code)) return 'QUOTA';
  if (status === 429 || code === 'rate_limit_exceeded' || code === 'too_many_requests') return 'THROTTLED';
  if (code.startsWith('BXNIM')) return status >= 500 ? 'UNAVAILABLE' : 'UNAUTHORIZED';
  if (status === 401 || status === 403) return 'UNAUTHORIZED';
  if (status === 404) return 'NOT_FOUND';
  if (status >= 500) return 'UNAVAILABLE';
  if (status >= 400) return 'INVALID_REQUEST';
  if (status === 0 && transientCodes.has(String(e.statusText ?? ''))) return 'UNAVAILABLE';
  if (status === 0 && /CR token file/.test(message)) return 'UNAUTHORIZED';
  if (status === 0 && /timeout/i.test(message)) return 'UNAVAILABLE';
  return 'INTERNAL';
}

/** Wraps an SDK error as a ProviderError whose message names the API, the operation and IBM's code. */
export function classifyIbmError(err: unknown, api: string, operation: string, signal?: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  const { code, message } = detail(err);
  const status = httpStatus(err);
  const text = `${api} ${operation}: ${code ? `${code}: ` : status ? `HTTP ${status}: ` : ''}${message}`;
  const e = (err ?? {}) as SdkError;
  if (signal?.aborted || e.statusText === 'ERR_CANCELED' || e.name === 'CanceledError') {
    return new ProviderError('CANCELLED', `${api} ${operation}: cancelled`, { cause: err });
  }
  return new ProviderError(kindOf(err, code, message), text, { cause: err });
}
