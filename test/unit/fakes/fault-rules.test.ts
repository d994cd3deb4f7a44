/**
 * The pieces the three cloud fakes share: fault rules that fire as the cloud's error (FiringRules),
 * the before / after pair on one seeded source (CallFaults), and cloud-fake-kit's tables.
 */
import { describe, expect, it } from 'vitest';
import { CallFaults, FiringRules, matchesName, type RuleLimits } from '../../fakes/fault-rules.js';
import { currentRows, seededTable } from '../../fakes/cloud-fake-kit.js';

interface Rule extends RuleLimits {
  op?: string;
  code: string;
}

const rules = (random?: () => number): FiringRules<Rule, string, string> =>
  new FiringRules<Rule, string, string>((rule, op) => matchesName(rule.op, op), (rule, op) => `${rule.code} on ${op}`, random);

describe('FiringRules', () => {
  it('turns the first matching rule into what the fake answers, and retires it after `times`', () => {
    const set = rules();
    set.add({ op: 'create', code: 'Capacity', times: 2 });
    set.add({ code: 'Internal' });
    expect(set.fire('create')).toBe('Capacity on create');
    expect(set.fire('create')).toBe('Capacity on create');
    expect(set.fire('create')).toBe('Internal on create');
    expect(set.fire('delete')).toBe('Internal on delete');
  });

  it('a removed rule no longer fires; nothing matching gives undefined', () => {
    const set = rules();
    const remove = set.add({ op: 'create', code: 'Capacity' });
    remove();
    expect(set.fire('create')).toBeUndefined();
  });
});

describe('CallFaults', () => {
  /** Which of `n` create calls a 50 % rule fires on. */
  const pattern = (faults: CallFaults<Rule, string, string>, n: number): boolean[] => Array.from({ length: n }, () => faults.before.fire('create') !== undefined);

  it('before and after are separate sets; clear empties both', () => {
    const faults = new CallFaults<Rule, string, string>(1, rules);
    faults.before.add({ code: 'Before' });
    faults.after.add({ code: 'After' });
    expect([faults.before.fire('x'), faults.after.fire('x')]).toEqual(['Before on x', 'After on x']);
    faults.clear();
    expect([faults.before.fire('x'), faults.after.fire('x')]).toEqual([undefined, undefined]);
  });

  it('rate-based rules follow the seed: the same seed fires on the same calls, reseed starts the sequence again', () => {
    const a = new CallFaults<Rule, string, string>(7, rules);
    const b = new CallFaults<Rule, string, string>(7, rules);
    a.before.add({ code: 'Flaky', rate: 0.5 });
    b.before.add({ code: 'Flaky', rate: 0.5 });
    const first = pattern(a, 40);
    expect(pattern(b, 40)).toEqual(first);
    expect(first).toContain(true);
    expect(first).toContain(false);
    a.reseed(7);
    expect(pattern(a, 40)).toEqual(first);
  });
});

describe('cloud-fake-kit', () => {
  it('seededTable keys the seeds and copies them, so a test changing the state leaves the seeds alone', () => {
    const seeds = [{ id: 'a', size: 1 }, { id: 'b', size: 2 }];
    const table = seededTable(seeds, (s) => s.id);
    expect([...table.keys()]).toEqual(['a', 'b']);
    table.get('a')!.size = 99;
    expect(seeds[0]!.size).toBe(1);
  });

  it('currentRows brings the lifecycle up to date before reading the table', () => {
    const table = new Map<string, string>([['i-1', 'pending']]);
    const model = { tick: () => void table.set('i-1', 'running') };
    expect(currentRows(model, table)).toEqual(['running']);
  });
});
