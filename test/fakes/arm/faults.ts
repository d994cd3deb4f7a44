/**
 * Injected failures. A rule matches by operation (e.g. `virtualMachines.createOrUpdate`) and an
 * optional predicate on the request, fires with probability `rate` (rolled on the fake's seeded random
 * source) and at most `times` times. Where it strikes:
 *
 * - `before` (default): the request fails with the error and changes nothing.
 * - `after`: the request takes effect, then its reply is replaced by the error, or with
 *   `reset: true` the connection is cut (a reply lost on the way).
 * - `async`: a VM create or delete is accepted (201/202), and its long-running operation ends
 *   `Failed` with the error (how AllocationFailed arrives in real Azure).
 */
import { ArmError } from './errors.js';

/** What a rule's predicate sees. */
export interface FakeRequest {
  operation: string;
  method: string;
  path: string;
  query: URLSearchParams;
  /** Parsed JSON body (undefined without one). */
  body: unknown;
  /** `properties.hardwareProfile.vmSize` of a VM PUT, for convenience. */
  vmSize?: string;
}

export type FaultPhase = 'before' | 'after' | 'async';

export interface ArmFaultRule {
  /** Operation name(s) to hit; all ARM operations when left out. */
  operation?: string | string[];
  /** ARM error code, e.g. `SkuNotAvailable`. */
  code: string;
  message?: string;
  /** HTTP status; defaults to ARM's for the code (409, 429, 5xx, else 400). */
  status?: number;
  phase?: FaultPhase;
  /** `after` only: cut the connection instead of answering. */
  reset?: boolean;
  /** Adds `Retry-After: <seconds>` to the error reply. */
  retryAfterSeconds?: number;
  /** Probability 0..1 that a matching request fails; default 1. */
  rate?: number;
  /** Fail at most this many requests, then the rule retires. */
  times?: number;
  when?: (req: FakeRequest) => boolean;
}

interface LiveRule {
  rule: ArmFaultRule;
  remaining: number;
}

export interface Firing {
  error: ArmError;
  reset: boolean;
}

export class FaultRules {
  private rules: LiveRule[] = [];

  constructor(private readonly random: () => number) {}

  add(rule: ArmFaultRule): () => void {
    const live: LiveRule = { rule, remaining: rule.times ?? Infinity };
    this.rules.push(live);
    return () => {
      this.rules = this.rules.filter((r) => r !== live);
    };
  }

  clear(): void {
    this.rules = [];
  }

  /** The first rule of `phase` that fires for `req`, if any; a firing rule uses up one of its `times`. */
  take(phase: FaultPhase, req: FakeRequest): Firing | undefined {
    for (const live of this.rules) {
      const { rule } = live;
      if ((rule.phase ?? 'before') !== phase || live.remaining <= 0 || !matches(rule.operation, req.operation)) continue;
      if (rule.when && !rule.when(req)) continue;
      const rate = rule.rate ?? 1;
      // Only rate-limited rules draw from the random source, so an always-on rule does not shift
      // which requests a seeded rate-based rule hits.
      if (rate < 1 && !(this.random() < rate)) continue;
      live.remaining--;
      if (live.remaining <= 0) this.rules = this.rules.filter((r) => r !== live);
      const headers: Record<string, string> = rule.retryAfterSeconds !== undefined ? { 'retry-after': String(rule.retryAfterSeconds) } : {};
      return { error: new ArmError(rule.code, rule.message, rule.status, headers), reset: rule.reset === true };
    }
    return undefined;
  }
}

function matches(wanted: string | string[] | undefined, operation: string): boolean {
  if (wanted === undefined) return true;
  return Array.isArray(wanted) ? wanted.includes(operation) : wanted === operation;
}
