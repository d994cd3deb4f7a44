/**
 * ttrpc's `timeout_nano` ↔ milliseconds. On the wire it is an int64 of nanoseconds the caller still
 * waits, computed by Go's client as "time until the context's deadline" at the moment of sending — so
 * it is almost never whole milliseconds (e.g. 299999986254). 0 means no deadline; a negative value is
 * a deadline that passed on the way.
 */

/** The largest double that fits an int64 (2^63 − 1024): timeouts beyond it are sent as this. */
const MAX_TIMEOUT_NANO = 9_223_372_036_854_774_784;

/**
 * The caller's deadline in ms from now, in `CallOptions.timeoutMs`'s terms: undefined = none (0 on the
 * wire), -1 = already past (negative on the wire). Otherwise positive, maybe fractional or huge.
 */
export function timeoutNanoToMs(timeoutNano: number): number | undefined {
  if (timeoutNano === 0) return undefined;
  return timeoutNano < 0 ? -1 : timeoutNano / 1e6;
}

/**
 * A relative deadline in ms as `timeout_nano`: undefined, 0 or NaN = no deadline (0); a positive
 * duration never rounds down to 0 nor overflows int64. Negative durations are the caller's to refuse.
 */
export function msToTimeoutNano(ms: number | undefined): number {
  if (ms === undefined || !(ms > 0)) return 0;
  return Math.min(MAX_TIMEOUT_NANO, Math.max(1, Math.round(ms * 1e6)));
}
