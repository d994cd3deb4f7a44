import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from '../../../src/util/backoff.js';

describe('backoff', () => {
  it('doubles up to the cap, jittered within ±20 %', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000 });
    const delays = Array.from({ length: 8 }, () => b.next());
    const bases = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(bases[i]! * 0.8);
      expect(d).toBeLessThanOrEqual(Math.min(1000, bases[i]! * 1.2));
    });
    b.reset();
    expect(b.next()).toBeLessThanOrEqual(120);
  });
  it('sleep rejects with the abort reason', async () => {
    const c = new AbortController();
    const p = sleep(10_000, c.signal);
    c.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});
