/**
 * The one retry loop: run `fn` until it succeeds, a failure is not worth repeating, the attempts are
 * used up or `signal` aborts, sleeping a backoff delay (src/util/backoff.ts) between attempts. What
 * differs between callers — which failures to repeat, a server's Retry-After, what error to end with —
 * is a hook; the loop itself is written once.
 */
import { Backoff, sleep, type BackoffOptions } from './backoff.js';

export interface RetryOptions<E = unknown> {
  /**
   * Attempts in all, the first included (≥ 1; default unlimited: then only `retryable` or `signal` end it,
   * so a caller that leaves it unlimited must pass one of them or loop for ever on a lasting failure).
   */
  attempts?: number;
  /** The delays between attempts (default: Backoff's defaults). */
  backoff?: BackoffOptions;
  /** Ends the loop and, while it sleeps between attempts, the sleep. */
  signal?: AbortSignal;
  /** Whether `err` may be tried again (default: every failure may). */
  retryable?(err: E, attempt: number): boolean;
  /**
   * The wait before the next attempt. `next` takes the backoff's next delay (moving its schedule on);
   * a hook that honours a server's Retry-After calls it only when the server named none. Default `next()`.
   */
  delayMs?(err: E, next: () => number): number;
  /** Called before each wait, e.g. to log the failure and the delay. */
  onRetry?(err: E, attempt: number, delayMs: number): void;
  /**
   * The error the loop ends with when `err` is not retried (not retryable, attempts used up, or
   * `signal` aborted during the attempt). Default: `err` itself.
   */
  giveUp?(err: E, attempt: number): unknown;
  /** The error the loop ends with when `signal` aborts a wait after `err`. Default: the signal's reason. */
  cancelled?(err: E, reason: unknown): unknown;
  /**
   * The sleep between attempts (tests); default `sleep` of backoff.ts, which honours the signal. Its timer
   * never keeps the process alive on its own (no keepAlive): a loop's owner keeps the process up.
   */
  sleep?(ms: number, signal: AbortSignal | undefined): Promise<void>;
}

/**
 * Runs `fn(attempt)` (attempt counts from 1) with retries as `options` say. Its failures reach the
 * hooks as `E`: a caller whose `fn` always throws one kind of error (it classifies what it catches)
 * names that kind.
 */
export async function retry<T, E = unknown>(fn: (attempt: number) => Promise<T>, options: RetryOptions<E> = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? Infinity);
  const backoff = new Backoff(options.backoff);
  const next = (): number => backoff.next();
  const { signal } = options;
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    let err: E;
    try {
      return await fn(attempt);
    } catch (e) {
      err = e as E;
    }
    const again = attempt < attempts && !signal?.aborted && (options.retryable?.(err, attempt) ?? true);
    if (!again) throw options.giveUp ? options.giveUp(err, attempt) : err;
    const delay = options.delayMs ? options.delayMs(err, next) : next();
    options.onRetry?.(err, attempt, delay);
    try {
      await wait(delay, signal);
    } catch (reason) {
      throw options.cancelled ? options.cancelled(err, reason) : reason;
    }
  }
}
