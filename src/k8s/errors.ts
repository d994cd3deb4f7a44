/**
 * What kind of failure a Kubernetes API call met, with the HTTP status kept, so that callers decide
 * retry / skip / fail on a stable `code` and never parse apiserver messages.
 */
import { ApiException } from '@kubernetes/client-node';
import { codedError } from '../util/coded-error.js';
import { messageOf } from '../util/errors.js';

/**
 * Codes:
 * - `NOT_FOUND`: 404: the object (or its namespace) does not exist.
 * - `ALREADY_EXISTS`: 409 AlreadyExists: a create named an object that exists.
 * - `CONFLICT`: 409 Conflict: an optimistic-concurrency clash (stale resourceVersion); re-read and retry.
 * - `FORBIDDEN`: 403: RBAC (or an admission plugin) refused the call: the ClusterRole lacks a rule.
 * - `UNAUTHORIZED`: 401: the service-account token was refused.
 * - `INVALID`: 400 / 415 / 422: the request itself is wrong (bad name, bad patch, failed `test` op).
 * - `THROTTLED`: 429: the apiserver asked us to slow down.
 * - `UNAVAILABLE`: 5xx, a network error or a call timeout: a retry may work.
 * - `CANCELLED`: the caller's signal aborted the call.
 * - `CONFIG`: the kubeconfig or in-cluster configuration cannot be used.
 * - `INTERNAL`: anything else (an unexpected status, a body that does not parse).
 *
 * `retryable`: the same call may succeed later unchanged (CONFLICT, THROTTLED, UNAVAILABLE).
 */
export class KubeError extends codedError('KubeError', ['NOT_FOUND', 'ALREADY_EXISTS', 'CONFLICT', 'FORBIDDEN', 'UNAUTHORIZED', 'INVALID', 'THROTTLED', 'UNAVAILABLE', 'CANCELLED', 'CONFIG', 'INTERNAL'], { retryable: ['CONFLICT', 'THROTTLED', 'UNAVAILABLE'] }) {
  /** The HTTP status of the apiserver's answer; undefined when there was none (network, abort). */
  readonly status: number | undefined;
  /** The `reason` of the apiserver's `Status` body (`NotFound`, `AlreadyExists`, `Invalid`, …). */
  readonly reason: string | undefined;

  constructor(code: KubeErrorCode, message: string, options: { status?: number; reason?: string; cause?: unknown } = {}) {
    super(code, message, options);
    this.status = options.status;
    this.reason = options.reason;
  }
}

export const KubeErrorCode = KubeError.Code;
export type KubeErrorCode = KubeError['code'];

export const isKubeError = (err: unknown, code?: KubeErrorCode): err is KubeError => KubeError.is(err, code);

/** The code of an HTTP status (and the Status `reason`, which splits 409). */
export function codeOfStatus(status: number, reason?: string): KubeErrorCode {
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return reason === 'AlreadyExists' ? 'ALREADY_EXISTS' : 'CONFLICT';
  if (status === 403) return 'FORBIDDEN';
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 400 || status === 415 || status === 422) return 'INVALID';
  if (status === 429) return 'THROTTLED';
  if (status >= 500) return 'UNAVAILABLE';
  return 'INTERNAL';
}

interface StatusBody {
  reason?: string;
  message?: string;
}

/** The apiserver's `Status` document, when the body is one. */
function statusBody(body: unknown): StatusBody {
  let doc = body;
  if (typeof body === 'string') {
    try {
      doc = JSON.parse(body);
    } catch {
      return body.trim() === '' ? {} : { message: body.slice(0, 200) };
    }
  }
  if (typeof doc !== 'object' || doc === null) return {};
  const { reason, message } = doc as Record<string, unknown>;
  return { reason: typeof reason === 'string' ? reason : undefined, message: typeof message === 'string' ? message : undefined };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * Classifies whatever a client-node call threw. `what` names the call for the message
 * (`get pod ns/name`). An abort of `callerSignal` is CANCELLED; any other abort (the per-call
 * timeout) is UNAVAILABLE, since the apiserver did not answer in time.
 */
export function asKubeError(err: unknown, what: string, callerSignal?: AbortSignal): KubeError {
  if (err instanceof KubeError) return err;
  if (callerSignal?.aborted) {
    const reason = callerSignal.reason as unknown;
    const text = reason instanceof Error ? reason.message : String(reason);
    return new KubeError('CANCELLED', `${what}: cancelled: ${text}`, { cause: err });
  }
  if (err instanceof ApiException) {
    const status = Number(err.code);
    const body = statusBody(err.body);
    const code = codeOfStatus(status, body.reason);
    return new KubeError(code, `${what}: HTTP ${status}${body.reason ? ` ${body.reason}` : ''}${body.message ? `: ${body.message}` : ''}`, {
      status,
      reason: body.reason,
      cause: err,
    });
  }
  const e = err as { name?: unknown; code?: unknown; type?: unknown; message?: unknown } | undefined;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
    return new KubeError('UNAVAILABLE', `${what}: no answer in time`, { cause: err });
  }
  if ((typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) || e?.type === 'system' || e?.name === 'FetchError') {
    return new KubeError('UNAVAILABLE', `${what}: ${String(e?.message ?? err)}`, { cause: err });
  }
  return new KubeError('INTERNAL', `${what}: ${messageOf(err)}`, { cause: err });
}
