/**
 * Injected failures. A rule matches by operation (e.g. `create_instance`) and an optional predicate on
 * the request, fires with probability `rate` (rolled on the fake's seeded random source) and at most
 * `times` times. Start-failure rules decide, at creation, that an instance will end `failed` with a
 * status reason (IBM's way of reporting no capacity after answering 201).
 */
import { VpcError } from './errors.js';
import { FiringRules, matchesName, type RuleLimits } from '../fault-rules.js';
import type { FakeInstance, FakeStatusReason } from './resources.js';

/** What a predicate sees of a request. */
export interface FakeRequest {
  operation: string;
  method: string;
  path: string;
  /** Path parameters, e.g. `{ id }`. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON (VPC, Tagging) or the form (IAM) as an object; undefined without a body. */
  body: unknown;
}

export interface FaultRule extends RuleLimits {
  /** Operation name(s); all operations when left out. */
  operation?: string | string[];
  /** IBM error code; default `internal_error`. */
  code?: string;
  message?: string;
  /** HTTP status; default the code's (429 for rate_limit_exceeded, 500 internal_error, …, else 400). */
  status?: number;
  /** Sent as `Retry-After`. */
  retryAfterSeconds?: number;
  when?: (req: FakeRequest) => boolean;
}

export interface StartFailureRule {
  /** Profiles whose instances fail; all when left out. */
  profile?: string | string[];
  /** Status reason code; default `cannot_start_capacity`. */
  code?: string;
  message?: string;
  times?: number;
  when?: (instance: FakeInstance) => boolean;
}

/** Rules keyed by operation, firing as IBM errors. */
export class FaultRules extends FiringRules<FaultRule, FakeRequest, VpcError> {
  constructor(random: () => number) {
    super(
      (rule, req) => matchesName(rule.operation, req.operation) && (!rule.when || rule.when(req)),
      (rule) => new VpcError(rule.code ?? 'internal_error', rule.message, rule.status, undefined, rule.retryAfterSeconds),
      random,
    );
  }
}

/** Rules keyed by instance profile, deciding at creation that an instance will end `failed`. */
export class StartFailures extends FiringRules<StartFailureRule, FakeInstance, FakeStatusReason> {
  constructor() {
    super(
      (rule, instance) => matchesName(rule.profile, instance.profile) && (!rule.when || rule.when(instance)),
      (rule, instance) => {
        const code = rule.code ?? 'cannot_start_capacity';
        return { code, message: rule.message ?? (code === 'cannot_start_capacity' ? `Insufficient capacity for profile ${instance.profile} in zone ${instance.zone}.` : `The instance could not start (${code}).`) };
      },
    );
  }
}
