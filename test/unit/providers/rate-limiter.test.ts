import { describe, expect, it } from 'vitest';
import { isProviderError } from '../../../src/providers/errors.js';
import { RateLimiter } from '../../../src/providers/rate-limiter.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('RateLimiter', () => {
  it('never lets more than maxInFlight calls run at once', async () => {
    const limiter = new RateLimiter({ ratePerSecond: Infinity, burst: 1, maxInFlight: 3 });
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        limiter.run(async () => {
          peak = Math.max(peak, ++running);
          await tick(5);
          running--;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(limiter.snapshot()).toMatchObject({ peakInFlight: 3, inFlight: 0, queued: 0, started: 20 });
  });

  it('starts a burst at once, then one call per 1/rate seconds, in arrival order', async () => {
    let now = 0;
    const limiter = new RateLimiter({ ratePerSecond: 10, burst: 2, maxInFlight: 0, now: () => now });
    const order: number[] = [];
    const all = Array.from({ length: 4 }, (_, i) => limiter.run(async () => order.push(i)));
    await tick(0);
    expect(order).toEqual([0, 1]); // the burst
    now = 100; // one token's worth
    await tick(110);
    expect(order).toEqual([0, 1, 2]);
    now = 200;
    await tick(110);
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('keeps the long-run rate: 12 calls at 50/s with a burst of 2 take about 200 ms', async () => {
    const limiter = new RateLimiter({ ratePerSecond: 50, burst: 2, maxInFlight: 0 });
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 12 }, () => limiter.run(async () => undefined)));
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(190); // 10 calls beyond the burst at 20 ms each
  });

  it('a waiter whose signal aborts leaves the queue with CANCELLED; the others still run', async () => {
    const limiter = new RateLimiter({ ratePerSecond: Infinity, burst: 1, maxInFlight: 1 });
    let release!: () => void;
    const first = limiter.run(() => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    const second = limiter.run(async () => 'second', ac.signal);
    const third = limiter.run(async () => 'third');
    ac.abort(new Error('gone'));
    await expect(second).rejects.toSatisfy((e: unknown) => isProviderError(e, 'CANCELLED') && /gone/.test((e as Error).message));
    release();
    await first;
    await expect(third).resolves.toBe('third');
    expect(limiter.snapshot().queued).toBe(0);
  });

  it('a failing call gives its slot back', async () => {
    const limiter = new RateLimiter({ ratePerSecond: Infinity, burst: 1, maxInFlight: 1 });
    await expect(limiter.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limiter.run(async () => 7)).resolves.toBe(7);
  });

  it('close() fails the waiters', async () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, maxInFlight: 0 });
    await limiter.run(async () => undefined);
    const waiting = limiter.run(async () => undefined);
    limiter.close();
    await expect(waiting).rejects.toSatisfy((e: unknown) => isProviderError(e, 'CANCELLED'));
  });

  it('refuses a burst below 1', () => {
    expect(() => new RateLimiter({ ratePerSecond: 1, burst: 0, maxInFlight: 1 })).toThrow(/burst/);
  });
});
