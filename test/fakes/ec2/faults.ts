/**
 * Injected failures. A rule matches by action and an optional predicate on the request, fires with
 * probability `rate` (rolled on the fake's seeded random source) and at most `times` times.
 */
import { Ec2Error } from './errors.js';

export interface FaultRule {
  /** Action name(s) to hit; all actions when left out. */
  action?: string | string[];
  /** The EC2 error code, e.g. `InsufficientInstanceCapacity`. */
  code: string;
  message?: string;
  /** HTTP status; defaults to EC2's for the code (400, or 401/412/500/503 for the usual suspects). */
  status?: number;
  /** Probability 0..1 that a matching request fails; default 1. */
  rate?: number;
  /** Fail at most this many requests, then the rule retires. */
  times?: number;
  /** Further narrows the match, e.g. `(p) => p.get('InstanceType') === 'm6a.large'`. */
  when?: (params: URLSearchParams) => boolean;
}

/** A rule for `failAfterEffect`: the code defaults to `InternalError` (HTTP 500). */
export type AfterEffectRule = Omit<FaultRule, 'code'> & { code?: string };

interface LiveRule {
  rule: FaultRule;
  remaining: number;
}

export class FaultRules {
  private rules: LiveRule[] = [];

  constructor(private readonly random: () => number) {}

  add(rule: FaultRule): () => void {
    const live: LiveRule = { rule, remaining: rule.times ?? Infinity };
    this.rules.push(live);
    return () => {
      this.rules = this.rules.filter((r) => r !== live);
    };
  }

  clear(): void {
    this.rules = [];
  }

  /** The error the first firing rule calls for, if any; a firing rule uses up one of its `times`. */
  take(action: string, params: URLSearchParams): Ec2Error | undefined {
    for (const live of this.rules) {
      const { rule } = live;
      if (live.remaining <= 0 || !matchesAction(rule.action, action)) continue;
      if (rule.when && !rule.when(params)) continue;
      const rate = rule.rate ?? 1;
      // Only rate-limited rules draw from the random source, so adding an always-on rule does not
      // change which requests a seeded rate-based rule hits.
      if (rate < 1 && !(this.random() < rate)) continue;
      live.remaining--;
      if (live.remaining <= 0) this.rules = this.rules.filter((r) => r !== live);
      return new Ec2Error(rule.code, rule.message, rule.status);
    }
    return undefined;
  }
}

function matchesAction(wanted: string | string[] | undefined, action: string): boolean {
  if (wanted === undefined) return true;
  return Array.isArray(wanted) ? wanted.includes(action) : wanted === action;
}
