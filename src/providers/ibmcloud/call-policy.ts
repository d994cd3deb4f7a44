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
import { Backoff, sleep, type BackoffOptions } from '../../util/backoff.js';
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
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000, ...this.o.backoff });
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      const generation = this.o.auth.generation;
      let err: unknown;
      try {
        return await this.o.limiter.run(() => this.attempt(api, operation, signal, fn), signal);
      } catch (e) {
        err = e;
      }
      const perr = classifyIbmError(err, api, operation, signal);
      if (perr.code === 'CANCELLED') throw perr;
      if (httpStatus(err) === 401 && !renewed) {
        // A token IAM issued but the API refuses (revoked, clock skew): one fresh token, one more try.
        renewed = true;
        this.o.auth.renew(generation);
        this.o.log?.debug({ api, operation }, `${api} ${operation} answered 401; renewing the IAM token`);
        attempt--;
        continue;
      }
      const retryable = perr.code === 'THROTTLED' || perr.code === 'UNAVAILABLE';
      if (!retryable || attempt >= this.o.maxAttempts) {
        if (attempt <= 1) throw perr;
        throw new ProviderError(perr.code, `${perr.message} (after ${attempt} attempts)`, { cause: perr.cause ?? err });
      }
      const asked = retryAfterMs(err);
      const delay = Math.min(this.o.maxRetryAfterMs ?? 60_000, asked ?? backoff.next());
      this.o.log?.debug({ api, operation, attempt, code: perr.code, retryInMs: Math.round(delay), retryAfter: asked !== undefined }, `${perr.message}; retrying`);
      try {
        await sleep(delay, signal);
      } catch {
        throw new ProviderError('CANCELLED', `${api} ${operation}: cancelled while waiting to retry (${perr.message})`, { cause: err });
      }
    }
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

