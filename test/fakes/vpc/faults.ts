/**
 * Injected failures. A rule matches by operation (e.g. `create_instance`) and an optional predicate on
 * the request, fires with probability `rate` (rolled on the fake's seeded random source) and at most
 * `times` times. Start-failure rules decide, at creation, that an instance will end `failed` with a
 * status reason (IBM's way of reporting no capacity after answering 201).
 */
import { VpcError } from './errors.js';
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

export interface FaultRule {
  /** Operation name(s); all operations when left out. */
  operation?: string | string[];
  /** IBM error code; default `internal_error`. */
  code?: string;
  message?: string;
  /** HTTP status; default the code's (429 for rate_limit_exceeded, 500 internal_error, …, else 400). */
  status?: number;
  /** Sent as `Retry-After`. */
  retryAfterSeconds?: number;
  /** Probability 0..1 that a matching request fails; default 1. */
  rate?: number;
  /** Fail at most this many requests, then the rule retires. */
  times?: number;
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

interface Live<R> {
  rule: R;
  remaining: number;
}

const matches = (wanted: string | string[] | undefined, value: string): boolean =>
  wanted === undefined || (Array.isArray(wanted) ? wanted.includes(value) : wanted === value);

export class FaultRules {
  private rules: Live<FaultRule>[] = [];

  constructor(private readonly random: () => number) {}

  add(rule: FaultRule): () => void {
    const live = { rule, remaining: rule.times ?? Infinity };
    this.rules.push(live);
    return () => {
      this.rules = this.rules.filter((r) => r !== live);
    };
  }

  clear(): void {
    this.rules = [];
  }

  /** The error the first firing rule calls for, if any; a firing rule uses up one of its `times`. */
  take(req: FakeRequest): VpcError | undefined {
    for (const live of this.rules) {
      const { rule } = live;
      if (live.remaining <= 0 || !matches(rule.operation, req.operation)) continue;
      if (rule.when && !rule.when(req)) continue;
      const rate = rule.rate ?? 1;
      // Only rate-limited rules draw from the random source, so that adding an always-on rule does
      // not change which requests a seeded rate-based rule hits.
      if (rate < 1 && !(this.random() < rate)) continue;
      live.remaining--;
      if (live.remaining <= 0) this.rules = this.rules.filter((r) => r !== live);
      const code = rule.code ?? 'internal_error';
      return new VpcError(code, rule.message, rule.status, undefined, rule.retryAfterSeconds);
    }
    return undefined;
  }
}

export class StartFailures {
  private rules: Live<StartFailureRule>[] = [];

  add(rule: StartFailureRule): () => void {
    const live = { rule, remaining: rule.times ?? Infinity };
    this.rules.push(live);
    return () => {
      this.rules = this.rules.filter((r) => r !== live);
    };
  }

  clear(): void {
    this.rules = [];
  }

  take(instance: FakeInstance): FakeStatusReason | undefined {
    for (const live of this.rules) {
      const { rule } = live;
      if (live.remaining <= 0 || !matches(rule.profile, instance.profile)) continue;
      if (rule.when && !rule.when(instance)) continue;
      live.remaining--;
      if (live.remaining <= 0) this.rules = this.rules.filter((r) => r !== live);
      const code = rule.code ?? 'cannot_start_capacity';
      return { code, message: rule.message ?? (code === 'cannot_start_capacity' ? `Insufficient capacity for profile ${instance.profile} in zone ${instance.zone}.` : `The instance could not start (${code}).`) };
    }
    return undefined;
  }
}
