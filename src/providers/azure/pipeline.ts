/**
 * Two policies every Azure SDK client of the provider gets, so that each HTTP request to Resource
 * Manager (long-running-operation polls included) is paced in one place:
 *
 * - `caaRateLimiter` (per call, before the SDK's retry policy): waits out a throttling window, then
 *   takes a slot of the shared RateLimiter for the request and its retries.
 * - `caaThrottleWindow` (per attempt): when Resource Manager answers 429 (or 503) with Retry-After,
 *   opens a window in which no new request starts. Azure throttles per subscription and principal,
 *   so one 429 speaks for every call this daemon makes; the SDK itself retries the throttled
 *   request after the same Retry-After.
 */
import type { ComputeManagementClientOptionalParams } from '@azure/arm-compute';
import { ProviderError } from '../errors.js';
import type { RateLimiter } from '../rate-limiter.js';
import { sleep } from '../../util/backoff.js';

type PolicyConfig = NonNullable<ComputeManagementClientOptionalParams['additionalPolicies']>[number];
type Policy = PolicyConfig['policy'];
type PolicyResponse = Awaited<ReturnType<Policy['sendRequest']>>;

/** Longest window one Retry-After may open (a broken header must not stall the daemon). */
const MAX_WINDOW_MS = 5 * 60_000;

export class ThrottleWindow {
  private until = 0;
  private opened = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Keeps new requests back for `ms` from now (a longer window already open wins). */
  hold(ms: number): void {
    const until = this.now() + Math.min(Math.max(0, ms), MAX_WINDOW_MS);
    if (until > this.until) {
      this.until = until;
      this.opened++;
    }
  }

  /** How many times a window was opened (for tests and logs). */
  get windowsOpened(): number {
    return this.opened;
  }

  remainingMs(): number {
    return Math.max(0, this.until - this.now());
  }

  async wait(signal: AbortSignal | undefined): Promise<void> {
    for (let left = this.remainingMs(); left > 0; left = this.remainingMs()) {
      try {
        await sleep(left, signal);
      } catch {
        throw new ProviderError('CANCELLED', 'cancelled while waiting out Azure\'s Retry-After');
      }
    }
  }
}

/** Retry-After of a throttling answer in ms (the headers core-rest-pipeline also honours), or undefined. */
export function retryAfterMs(response: Pick<PolicyResponse, 'status' | 'headers'>, now = Date.now()): number | undefined {
  if (response.status !== 429 && response.status !== 503) return undefined;
  for (const [header, factor] of [['retry-after-ms', 1], ['x-ms-retry-after-ms', 1], ['retry-after', 1000]] as const) {
    const raw = response.headers.get(header);
    if (raw === undefined || raw.trim() === '') continue;
    const n = Number(raw);
    if (Number.isFinite(n)) return Math.max(0, n * factor);
    if (header === 'retry-after') {
      const at = Date.parse(raw);
      if (Number.isFinite(at)) return Math.max(0, at - now);
    }
  }
  return undefined;
}

export function pacingPolicies(limiter: RateLimiter, window: ThrottleWindow): PolicyConfig[] {
  const limit: Policy = {
    name: 'caaRateLimiter',
    sendRequest: async (request, next) => {
      const signal = request.abortSignal as AbortSignal | undefined;
      await window.wait(signal);
      return limiter.run(() => next(request), signal);
    },
  };
  const observe: Policy = {
    name: 'caaThrottleWindow',
    sendRequest: async (request, next) => {
      const response = await next(request);
      const ms = retryAfterMs(response);
      if (ms !== undefined) window.hold(ms);
      return response;
    },
  };
  return [
    { policy: limit, position: 'perCall' },
    { policy: observe, position: 'perRetry' },
  ];
}
