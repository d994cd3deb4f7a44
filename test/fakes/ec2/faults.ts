/**
 * Injected failures. A rule matches by action and an optional predicate on the request, fires with
 * probability `rate` (rolled on the fake's seeded random source) and at most `times` times.
 */
import { Ec2Error } from './errors.js';
import { FiringRules, matchesName, type RuleLimits } from '../fault-rules.js';

export interface FaultRule extends RuleLimits {
  /** Action name(s) to hit; all actions when left out. */
  action?: string | string[];
  /** The EC2 error code, e.g. `InsufficientInstanceCapacity`. */
  code: string;
  message?: string;
  /** HTTP status; defaults to EC2's for the code (400, or 401/412/500/503 for the usual suspects). */
  status?: number;
  /** Further narrows the match, e.g. `(p) => p.get('InstanceType') === 'm6a.large'`. */
  when?: (params: URLSearchParams) => boolean;
}

/** A rule for `failAfterEffect`: the code defaults to `InternalError` (HTTP 500). */
export type AfterEffectRule = Omit<FaultRule, 'code'> & { code?: string };

/** Rules keyed by action, firing as EC2 errors. */
export class FaultRules extends FiringRules<FaultRule, { action: string; params: URLSearchParams }, Ec2Error> {
  constructor(random: () => number) {
    super(
      (rule, req) => matchesName(rule.action, req.action) && (!rule.when || rule.when(req.params)),
      (rule) => new Ec2Error(rule.code, rule.message, rule.status),
      random,
    );
  }
}
