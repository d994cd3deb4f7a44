/**
 * A client-side limiter every cloud provider puts in front of its API: a token bucket (calls per
 * second with a burst) plus a cap on calls in flight. A burst of 100 pods then reaches the cloud as
 * a steady stream instead of a storm that the cloud answers with throttling errors for everyone in
 * the account. Waiters are served first come, first served.
 */
import { ProviderError } from './errors.js';
import { clampTimerDelay } from '../util/timers.js';

export interface RateLimiterOptions {
  /** Tokens added per second; 0 or Infinity = no rate limit. */
  ratePerSecond: number;
  /** Bucket size: how many calls may start at once after a quiet period (≥ 1). */
  burst: number;
  /** Calls that may be in flight at once; 0 or Infinity = unlimited. */
  maxInFlight: number;
  /** Clock (ms), for tests. */
  now?: () => number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export interface RateLimiterStats {
  /** Calls currently holding a slot. */
  inFlight: number;
  /** Largest `inFlight` seen. */
  peakInFlight: number;
  /** Calls waiting for a token or a slot. */
  queued: number;
  /** Calls started. */
  started: number;
}

export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly stats = { inFlight: 0, peakInFlight: 0, started: 0 };

  constructor(private readonly options: RateLimiterOptions) {
    if (!(options.burst >= 1)) throw new RangeError('burst must be at least 1');
    this.now = options.now ?? (() => performance.now());
    this.tokens = options.burst;
    this.last = this.now();
  }

  /** Runs `fn` once a token and a slot are free. The slot is held until `fn` settles. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  snapshot(): RateLimiterStats {
    return { ...this.stats, queued: this.queue.length };
  }

  /** Fails every waiter (provider teardown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new ProviderError('CANCELLED', 'the provider is shutting down'));
    }
  }

  private acquire(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(cancelled(signal));
    if (this.queue.length === 0 && this.tryTake()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(cancelled(signal!));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  private release(): void {
    this.stats.inFlight--;
    this.drain();
  }

  /** Takes a token and a slot if both are free right now. */
  private tryTake(): boolean {
    const { maxInFlight } = this.options;
    if (maxInFlight > 0 && Number.isFinite(maxInFlight) && this.stats.inFlight >= maxInFlight) return false;
    this.refill();
    if (this.rateLimited() && this.tokens < 1) return false;
    if (this.rateLimited()) this.tokens -= 1;
    this.stats.inFlight++;
    this.stats.started++;
    if (this.stats.inFlight > this.stats.peakInFlight) this.stats.peakInFlight = this.stats.inFlight;
    return true;
  }

  private rateLimited(): boolean {
    const r = this.options.ratePerSecond;
    return r > 0 && Number.isFinite(r);
  }

  private refill(): void {
    const t = this.now();
    if (this.rateLimited()) {
      this.tokens = Math.min(this.options.burst, this.tokens + ((t - this.last) / 1000) * this.options.ratePerSecond);
    }
    this.last = t;
  }

  private drain(): void {
    while (this.queue.length > 0 && this.tryTake()) {
      const w = this.queue.shift()!;
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
    this.schedule();
  }

  /** When waiters are blocked on tokens (not slots), wake up when the next token is due. */
  private schedule(): void {
    if (this.timer || this.queue.length === 0 || !this.rateLimited()) return;
    const { maxInFlight } = this.options;
    if (maxInFlight > 0 && Number.isFinite(maxInFlight) && this.stats.inFlight >= maxInFlight) return; // a release will drain
    this.refill();
    const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) / this.options.ratePerSecond) * 1000));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, clampTimerDelay(waitMs)); // a tiny rate may ask for more than 2^31 ms: schedule() re-checks
  }
}

function cancelled(signal: AbortSignal): ProviderError {
  const reason = signal.reason as { message?: string } | undefined;
  return new ProviderError('CANCELLED', `cancelled while waiting for the API rate limiter: ${reason?.message ?? String(signal.reason)}`);
}
