/**
 * The three rate-limiter keys every cloud provider reads (`<PREFIX>_API_RATE_LIMIT`, `_API_BURST`,
 * `_API_MAX_IN_FLIGHT`), built from one set of numbers: the test helpers use `UNTHROTTLED`, the
 * provider benchmarks each case they measure.
 */
export interface ApiLimits {
  /** Calls per second. */
  rate: number;
  burst: number;
  maxInFlight: number;
}

/** High enough that no test ever waits for the limiter. */
export const UNTHROTTLED: ApiLimits = { rate: 1000, burst: 1000, maxInFlight: 64 };

export function apiLimitEnv(prefix: 'AWS' | 'AZURE' | 'IBMCLOUD', limits: ApiLimits): Record<string, string> {
  return {
    [`${prefix}_API_RATE_LIMIT`]: String(limits.rate),
    [`${prefix}_API_BURST`]: String(limits.burst),
    [`${prefix}_API_MAX_IN_FLIGHT`]: String(limits.maxInFlight),
  };
}
