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
import { FiringRules, matchesName, type RuleLimits } from '../fault-rules.js';

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

export interface ArmFaultRule extends RuleLimits {
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
  when?: (req: FakeRequest) => boolean;
}

export interface Firing {
  error: ArmError;
  reset: boolean;
}

/** One set for all phases: a rule only fires in its own (default `before`). */
export class FaultRules extends FiringRules<ArmFaultRule, { phase: FaultPhase; req: FakeRequest }, Firing> {
  constructor(random: () => number) {
    super(
      (rule, { phase, req }) => (rule.phase ?? 'before') === phase && matchesName(rule.operation, req.operation) && (!rule.when || rule.when(req)),
      (rule) => {
        const headers: Record<string, string> = rule.retryAfterSeconds !== undefined ? { 'retry-after': String(rule.retryAfterSeconds) } : {};
        return { error: new ArmError(rule.code, rule.message, rule.status, headers), reset: rule.reset === true };
      },
      random,
    );
  }
}
