/**
 * How every IBM API call is made: each HTTP attempt takes a token and a slot of the shared rate
 * limiter (so the limiter counts real requests, and a call waiting out `Retry-After` holds no slot),
 * runs under the caller's signal plus a per-attempt timeout, and its failure is classified. 429 waits
 * for `Retry-After` (else backs off), 5xx and network errors back off with jitter, a 401 renews the
 * IAM token once. Anything else is returned to the caller at once.
 */
import type { Logger } from 'pino';
import { ProviderError } from '../errors.js';
import type { RateLimiter } from '../rate-limiter.js';
import { raceAbort } from '../../util/abort.js';
import type { BackoffOptions } from '../../util/backoff.js';
import { retry } from '../../util/retry.js';
import type { RenewableAuthenticator } from './auth.js';
import { classifyIbmError, httpStatus, retryAfterMs } from './errors.js';
import { setLongTimeout } from '../../util/timers.js';

export interface CallPolicyOptions {
  limiter: RateLimiter;
  auth: RenewableAuthenticator;
  /** Attempts per call (≥ 1). */
  maxAttempts: number;
  /** One HTTP attempt (token fetch included) may take this long; default 60 s. */
  attemptTimeoutMs?: number;
  /** The longest `Retry-After` honoured; longer ones are cut to this. Default 60 s. */
  maxRetryAfterMs?: number;
  backoff?: BackoffOptions;
  log?: Logger;
}

export type ApiName = 'VPC' | 'Global Tagging';

export class CallPolicy {
  constructor(private readonly o: CallPolicyOptions) {}

  async run<T>(api: ApiName, operation: string, signal: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let renewed = false;
    /** The SDK's own error behind the last failure: its status and Retry-After decide the next step. */
    let raw: unknown;
    const once = async (): Promise<T> => {
      const generation = this.o.auth.generation;
      try {
        return await this.o.limiter.run(() => this.attempt(api, operation, signal, fn), signal);
      } catch (err) {
        raw = err;
        const perr = classifyIbmError(err, api, operation, signal);
        if (perr.code === 'CANCELLED' || httpStatus(err) !== 401 || renewed) throw perr;
        // A token IAM issued but the API refuses (revoked, clock skew): one fresh token, one more try
        // that does not count as an attempt.
        renewed = true;
        this.o.auth.renew(generation);
        this.o.log?.debug({ api, operation }, `${api} ${operation} answered 401; renewing the IAM token`);
        return once();
      }
    };
    return retry<T, ProviderError>(once, {
      attempts: this.o.maxAttempts,
      backoff: { initialMs: 200, maxMs: 5_000, ...this.o.backoff },
      signal,
      retryable: (perr) => perr.code === 'THROTTLED' || perr.code === 'UNAVAILABLE',
      delayMs: (_perr, next) => Math.min(this.o.maxRetryAfterMs ?? 60_000, retryAfterMs(raw) ?? next()),
      onRetry: (perr, attempt, delay) =>
        this.o.log?.debug(
          { api, operation, attempt, code: perr.code, retryInMs: Math.round(delay), retryAfter: retryAfterMs(raw) !== undefined },
          `${perr.message}; retrying`,
        ),
      giveUp: (perr, attempt) => {
        if (perr.code === 'CANCELLED' || attempt <= 1) return perr;
        return new ProviderError(perr.code, `${perr.message} (after ${attempt} attempts)`, { cause: perr.cause ?? raw });
      },
      cancelled: (perr) => new ProviderError('CANCELLED', `${api} ${operation}: cancelled while waiting to retry (${perr.message})`, { cause: raw }),
    });
  }

  /** One HTTP attempt; rejects as soon as the signal aborts, even if the token fetch hangs. */
  private async attempt<T>(api: ApiName, operation: string, signal: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = this.o.attemptTimeoutMs ?? 60_000;
    // A plain controller and timer: cheaper per request than AbortSignal.any + AbortSignal.timeout.
    const attempt = new AbortController();
    const onAbort = (): void => attempt.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const timer = setLongTimeout(() => attempt.abort(new Error(`no reply within ${timeoutMs / 1000}s`)), timeoutMs);
    try {
      return await raceAbort(fn(attempt.signal), attempt.signal);
    } catch (err) {
      if (attempt.signal.aborted && !signal.aborted) {
        throw new ProviderError('UNAVAILABLE', `${api} ${operation}: no reply within ${timeoutMs / 1000}s`, { cause: err });
      }
      throw err;
    } finally {
      timer.clear();
      signal.removeEventListener('abort', onAbort);
    }
  }
}

