/**
 * Exponential backoff with full jitter and unref()ed timers, the one retry delay used everywhere
 * (shape after grpc-js's backoff-timeout). Its timers never keep the process alive on their own, unless
 * a caller of `sleep` asks for `keepAlive`.
 */
import { setLongTimeout, type LongTimerOptions } from './timers.js';

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  multiplier?: number;
  /** 0 = no jitter, 1 = delay drawn uniformly from [0, d]; default 0.2 (±20 %). */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  private nextMs: number;
  private readonly o: Required<BackoffOptions>;

  constructor(options: BackoffOptions = {}) {
    this.o = {
      initialMs: options.initialMs ?? 100,
      maxMs: options.maxMs ?? 30_000,
      multiplier: options.multiplier ?? 2,
      jitter: options.jitter ?? 0.2,
      random: options.random ?? Math.random,
    };
    this.nextMs = this.o.initialMs;
  }

  /** The next delay, moving the schedule on. */
  next(): number {
    const base = this.nextMs;
    this.nextMs = Math.min(this.o.maxMs, base * this.o.multiplier);
    const spread = base * this.o.jitter;
    return Math.max(0, Math.min(this.o.maxMs, base - spread + this.o.random() * 2 * spread));
  }

  reset(): void {
    this.nextMs = this.o.initialMs;
  }
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts first. The timer does not
 * keep the process alive unless `options.keepAlive` (see LongTimerOptions).
 */
export function sleep(ms: number, signal?: AbortSignal, options: LongTimerOptions = {}): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      timer.clear();
      reject(signal!.reason);
    };
    // Any duration (a Retry-After of days, fractional ms): a plain setTimeout would fire after 1 ms.
    const timer = setLongTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms, options);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
