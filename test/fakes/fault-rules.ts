/**
 * The core the fakes' injected-failure rules share: a rule matches a request (by name and predicate,
 * as each fake's matcher says), fires with probability `rate` rolled on a seeded random source, and
 * retires after `times` firings. What a firing turns into (an error, a status reason) stays with each fake.
 */
import { seededRandom } from '../../bench/stats.js';

export interface RuleLimits {
  /** Probability 0..1 that a matching request fires the rule; default 1. */
  rate?: number;
  /** Fire at most this many times, then the rule retires. */
  times?: number;
}

interface Live<R> {
  rule: R;
  remaining: number;
}

/** Whether `value` is one of the `wanted` names (every value when left out). */
export function matchesName(wanted: string | string[] | undefined, value: string): boolean {
  if (wanted === undefined) return true;
  return Array.isArray(wanted) ? wanted.includes(value) : wanted === value;
}

export class RuleSet<R extends RuleLimits, Q> {
  private rules: Live<R>[] = [];

  /** `random` may be left out only by sets whose rules never have a `rate`. */
  constructor(
    private readonly matches: (rule: R, req: Q) => boolean,
    private readonly random?: () => number,
  ) {}

  /** Adds a rule; returns its remover. */
  add(rule: R): () => void {
    const live: Live<R> = { rule, remaining: rule.times ?? Infinity };
    this.rules.push(live);
    return () => {
      this.rules = this.rules.filter((r) => r !== live);
    };
  }

  clear(): void {
    this.rules = [];
  }

  /** The first rule that fires for `req`, if any; a firing rule uses up one of its `times`. */
  take(req: Q): R | undefined {
    for (const live of this.rules) {
      const { rule } = live;
      if (live.remaining <= 0 || !this.matches(rule, req)) continue;
      const rate = rule.rate ?? 1;
      // Only rate-limited rules draw from the random source, so adding an always-on rule does not
      // change which requests a seeded rate-based rule hits.
      if (rate < 1) {
        if (!this.random) throw new Error('fault rule with a rate but no random source');
        if (!(this.random() < rate)) continue;
      }
      live.remaining--;
      if (live.remaining <= 0) this.rules = this.rules.filter((r) => r !== live);
      return rule;
    }
    return undefined;
  }
}

/** A RuleSet whose firing rule turns into what the fake answers with (an error, a status reason): `fire`. */
export class FiringRules<R extends RuleLimits, Q, F> extends RuleSet<R, Q> {
  constructor(
    matches: (rule: R, req: Q) => boolean,
    private readonly firing: (rule: R, req: Q) => F,
    random?: () => number,
  ) {
    super(matches, random);
  }

  /** What the first firing rule for `req` calls for, if any; a firing rule uses up one of its `times`. */
  fire(req: Q): F | undefined {
    const rule = this.take(req);
    return rule && this.firing(rule, req);
  }
}

/**
 * A fake's injected failures on both sides of a call's effect: `before` (the call fails and changes
 * nothing) and `after` (it takes effect, then its reply is replaced), drawing on one seeded random
 * source that `reseed` restarts.
 */
export class CallFaults<R extends RuleLimits, Q, F> {
  private readonly random: ReseedableRandom;
  readonly before: FiringRules<R, Q, F>;
  readonly after: FiringRules<R, Q, F>;

  constructor(seed: number, rules: (random: () => number) => FiringRules<R, Q, F>) {
    this.random = new ReseedableRandom(seed);
    this.before = rules(this.random.next);
    this.after = rules(this.random.next);
  }

  clear(): void {
    this.before.clear();
    this.after.clear();
  }

  reseed(seed: number): void {
    this.random.reseed(seed);
  }
}

/** A seeded random source that `reseed` restarts in place, so rule sets holding `next` follow it. */
export class ReseedableRandom {
  private draw: () => number;

  constructor(seed: number) {
    this.draw = seededRandom(seed);
  }

  readonly next = (): number => this.draw();

  reseed(seed: number): void {
    this.draw = seededRandom(seed);
  }
}
