/**
 * The one place a duration becomes a timer. Node's timers take whole milliseconds from 1 to 2^31−1:
 * a longer delay fires after 1 ms (with a TimeoutOverflowWarning), NaN fires after 1 ms, and
 * `AbortSignal.timeout` throws ERR_OUT_OF_RANGE for anything that is not an integer 0…2^32−1 — so a
 * deadline such as the Go shim's `timeout_nano=299999986254` (299999.986254 ms) would throw. Every
 * deadline or configured duration goes through `toTimerDelay` here, and delays over the limit re-arm.
 */

/** The longest delay Node's setTimeout honours (~24.8 days). */
export const MAX_TIMER_DELAY_MS = 0x7fffffff;

/**
 * A duration in ms as a timer delay: fractional values round up (a timer must never fire before its
 * deadline), NaN and values ≤ 0 become 0 (due now), +Infinity stays Infinity (never due). The result
 * may exceed MAX_TIMER_DELAY_MS: arm it with `setLongTimeout` or `startTimeout`, never setTimeout.
 */
export function toTimerDelay(ms: number): number {
  if (!(ms > 0)) return 0; // NaN, 0, negative
  return ms === Infinity ? Infinity : Math.ceil(ms);
}

/**
 * `toTimerDelay` capped at MAX_TIMER_DELAY_MS, for a plain setTimeout in a loop that re-checks its
 * condition when the timer fires (so waking early, after ~24.8 days, only means one more round).
 */
export function clampTimerDelay(ms: number): number {
  return Math.min(toTimerDelay(ms), MAX_TIMER_DELAY_MS);
}

export interface LongTimer {
  clear(): void;
}

const NEVER: LongTimer = { clear: () => undefined };

export interface LongTimerOptions {
  /**
   * Keep the process alive while the timer is armed (a ref'd timer). Default false: an unref()ed timer,
   * for deadlines and retries that must not hold a stopping process open. A wait that is all the
   * process is doing (a CLI waiting for PODS_DIR before anything else runs) needs true.
   */
  keepAlive?: boolean;
}

/**
 * A timer for any delay (see `toTimerDelay`), unref()ed unless `keepAlive`: longer than 2^31−1 ms it
 * re-arms until due, +Infinity arms nothing. Measured on the monotonic clock, so a wall-clock jump
 * does not move it. `clear()` may be called any number of times, also after it fired.
 */
export function setLongTimeout(fn: () => void, ms: number, options: LongTimerOptions = {}): LongTimer {
  const delay = toTimerDelay(ms);
  if (delay === Infinity) return NEVER;
  let timer: NodeJS.Timeout;
  const due = performance.now() + delay;
  const arm = (left: number): void => {
    timer = setTimeout(() => {
      const rest = due - performance.now();
      // Node measures from its cached loop time, so a timer can fire a little before `due`: wait out the rest.
      if (rest > 0) arm(Math.ceil(rest));
      else fn();
    }, Math.min(left, MAX_TIMER_DELAY_MS));
    if (!options.keepAlive) timer.unref();
  };
  arm(delay);
  return { clear: () => clearTimeout(timer) };
}

/** The reason a timeout signal aborts with: the same DOMException `AbortSignal.timeout` uses. */
function timeoutError(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

export interface TimeoutHandle {
  /** Aborts with a TimeoutError DOMException when the delay has passed. */
  readonly signal: AbortSignal;
  /** Disarms the timer (the signal then never aborts); call it when the wait is over. */
  clear(): void;
}

/** A timeout signal with a handle to disarm it: for waits made per call, so long timers do not pile up. */
export function startTimeout(ms: number): TimeoutHandle {
  const controller = new AbortController();
  const delay = toTimerDelay(ms);
  if (delay === 0) {
    controller.abort(timeoutError());
    return { signal: controller.signal, clear: () => undefined };
  }
  const timer = setLongTimeout(() => controller.abort(timeoutError()), delay);
  return { signal: controller.signal, clear: () => timer.clear() };
}

/**
 * `AbortSignal.timeout` for any duration: fractional ms round up, NaN or ≤ 0 is already aborted (on
 * the next timer tick, as AbortSignal.timeout(0)), +Infinity never aborts, and over 2^31−1 ms does
 * not fire early. For fixed or configured waits; per-call waits use `startTimeout` and clear it.
 */
export function timeoutSignal(ms: number): AbortSignal {
  const delay = toTimerDelay(ms);
  if (delay <= MAX_TIMER_DELAY_MS) return AbortSignal.timeout(delay);
  return startTimeout(delay).signal;
}
