/**
 * One Kubernetes API call made cancellable and classified, and a retry loop around it. Every module of
 * src/k8s goes through `kubeCall`, so abort, timeout and error classification behave the same everywhere.
 */
import {
  Observable,
  PatchStrategy,
  setHeaderOptions,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { raceAbort } from '../util/abort.js';
import type { BackoffOptions } from '../util/backoff.js';
import { retry } from '../util/retry.js';
import { KubeError, asKubeError } from './errors.js';
import { timeoutSignal } from '../util/timers.js';

/** Longest wait for one apiserver answer when the caller gives no tighter deadline. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

export interface CallOptions {
  /** Bound on one HTTP exchange (default 30 s); running out is UNAVAILABLE, not CANCELLED. */
  timeoutMs?: number;
  /** Request body content type, for PATCH (`PatchStrategy.JsonPatch` / `MergePatch`). */
  contentType?: PatchStrategy;
}

/** Hands `signal` to the request, so node-fetch aborts the socket (client-node 1.4.0 has no per-call signal parameter). */
function signalMiddleware(signal: AbortSignal): ObservableMiddleware {
  return {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (rsp: ResponseContext) => new Observable(Promise.resolve(rsp)),
  };
}

/**
 * Runs one client-node call. The abort reaches the HTTP request through a middleware (the socket is
 * closed), and the call is also raced against the signal: client-node does work before the request
 * (auth plugins, exec credential helpers) that the middleware cannot interrupt, and an abort must
 * reject promptly. Errors come out as `KubeError`.
 *
 * @param what names the call in error messages, e.g. `get pod ns/name`.
 */
export async function kubeCall<T>(
  what: string,
  signal: AbortSignal | undefined,
  call: (options: ConfigurationOptions) => Promise<T>,
  options: CallOptions = {},
): Promise<T> {
  const timeout = timeoutSignal(options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let config: ConfigurationOptions = { middleware: [signalMiddleware(combined)], middlewareMergeStrategy: 'append' };
  if (options.contentType) config = setHeaderOptions('Content-Type', options.contentType, config);
  try {
    if (combined.aborted) throw combined.reason;
    return await raceAbort(call(config), combined);
  } catch (err) {
    throw asKubeError(err, what, signal);
  }
}

export interface RetryOptions {
  /** Attempts in all, including the first (default 4). */
  attempts?: number;
  backoff?: BackoffOptions;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 4, backoff: { initialMs: 200, maxMs: 5_000 } };

/**
 * Runs `fn` until it succeeds, throws a non-retryable error, or `attempts` are used up. Retryable are
 * `KubeError.retryable` (409 Conflict, 429, 5xx, network, call timeout) and whatever `alsoRetry` accepts.
 * Sleeps between attempts honour `signal`; an abort ends the loop with CANCELLED.
 */
export async function withRetries<T>(
  what: string,
  signal: AbortSignal | undefined,
  log: Logger,
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions & { alsoRetry?: (err: KubeError) => boolean } = {},
): Promise<T> {
  return retry<T, KubeError>(
    async (attempt) => {
      try {
        return await fn(attempt);
      } catch (err) {
        throw asKubeError(err, what, signal);
      }
    },
    {
      attempts: options.attempts ?? DEFAULT_RETRY.attempts,
      backoff: options.backoff ?? DEFAULT_RETRY.backoff,
      signal,
      retryable: (e) => e.retryable || (options.alsoRetry?.(e) ?? false),
      onRetry: (e, attempt, delay) => log.debug({ attempt, code: e.code, status: e.status, delayMs: Math.round(delay) }, `${what}: ${e.message}; retrying`),
      cancelled: (_e, abortErr) => asKubeError(abortErr, what, signal),
    },
  );
}

/** Kubernetes `Time` (RFC 3339, second precision, as the apiserver writes it back). */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
