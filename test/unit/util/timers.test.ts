/**
 * src/util/timers.ts: every duration, of any shape, becomes a timer that neither throws nor fires
 * early. Node's own timers refuse (AbortSignal.timeout: ERR_OUT_OF_RANGE for fractional, negative or
 * > 2^32−1) or misfire (setTimeout: after 1 ms for NaN or > 2^31−1, with a TimeoutOverflowWarning).
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MAX_TIMER_DELAY_MS,
  clampTimerDelay,
  setLongTimeout,
  startTimeout,
  timeoutSignal,
  toTimerDelay,
} from '../../../src/util/timers.js';
import { sleep } from '../../../src/util/backoff.js';
import { sleep as sleepMs } from '../../helpers/async.js';

/** Every shape a deadline or a configured duration can take, the Go shim's included. */
const anyDuration = fc.oneof(
  fc.double(), // NaN, ±Infinity, ±0, subnormals, ±1.7e308
  fc.double({ min: 0, max: 2 ** 33, noNaN: true }),
  fc.integer({ min: 0, max: 2 ** 33 }).map((n) => n + 0.000001), // nanosecond leftovers, as Go sends
  fc.constantFrom(299_999.986254, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 30 * 86_400_000, -1, -0.05, 0),
);

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * A clock the test moves by hand: performance.now() reads `now`, and setTimeout only records what
 * it was armed with (the test fires the timers itself, in order).
 */
function fakeClock(start: number): { now: number; armed: { fn: () => void; ms: number }[] } {
  const clock = { now: start, armed: [] as { fn: () => void; ms: number }[] };
  vi.spyOn(performance, 'now').mockImplementation(() => clock.now);
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms: number) => {
    clock.armed.push({ fn, ms });
    return { unref: () => undefined } as unknown as NodeJS.Timeout;
  }) as typeof setTimeout);
  return clock;
}

describe('toTimerDelay', () => {
  it('is 0 for NaN and ≤ 0, Infinity for Infinity, else the duration rounded up to a whole ms', () => {
    fc.assert(
      fc.property(anyDuration, (ms) => {
        const d = toTimerDelay(ms);
        if (!(ms > 0)) return d === 0;
        if (ms === Infinity) return d === Infinity;
        return Number.isInteger(d) && d >= ms && (d === ms || d - 1 < ms);
      }),
    );
    expect(toTimerDelay(299_999.986254)).toBe(300_000);
  });

  it('clampTimerDelay stays within what setTimeout honours', () => {
    fc.assert(fc.property(anyDuration, (ms) => {
      const d = clampTimerDelay(ms);
      return Number.isInteger(d) && d >= 0 && d <= MAX_TIMER_DELAY_MS;
    }));
  });
});

describe('setLongTimeout', () => {
  it('only ever arms setTimeout with a whole delay from 0 to 2^31−1, and nothing for Infinity', () => {
    const armed: unknown[] = [];
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((_fn: () => void, ms: number) => {
      armed.push(ms);
      return { unref: () => undefined } as unknown as NodeJS.Timeout;
    }) as typeof setTimeout);
    fc.assert(
      fc.property(anyDuration, (ms) => {
        armed.length = 0;
        setLongTimeout(() => undefined, ms);
        if (ms === Infinity) return armed.length === 0;
        return armed.length === 1 && Number.isInteger(armed[0]) && (armed[0] as number) >= 0 && (armed[0] as number) <= MAX_TIMER_DELAY_MS;
      }),
    );
  });

  it('over 2^31−1 ms it re-arms for what is left and fires once the whole delay has passed, not before', () => {
    const clock = fakeClock(5_000);
    const armed = clock.armed;
    let fired = 0;
    const total = 3 * MAX_TIMER_DELAY_MS + 0.25;
    setLongTimeout(() => fired++, total);
    // Each firing: time moves on by what that timer was armed for.
    for (let round = 0; round < 3; round++) {
      const t = armed[round]!;
      expect(t.ms).toBe(MAX_TIMER_DELAY_MS);
      clock.now += t.ms;
      t.fn();
      expect(fired).toBe(0);
    }
    expect(armed[3]!.ms).toBe(1); // the 0.25 ms left, rounded up
    clock.now += 1;
    armed[3]!.fn();
    expect(fired).toBe(1);
    expect(armed).toHaveLength(4);
  });

  it('a timer Node fires before the deadline (its loop clock lags) waits out the rest', () => {
    const clock = fakeClock(0);
    const armed = clock.armed;
    let fired = false;
    setLongTimeout(() => (fired = true), 100);
    clock.now = 97;
    armed[0]!.fn();
    expect(fired).toBe(false);
    expect(armed[1]!.ms).toBe(3);
    clock.now = 100;
    armed[1]!.fn();
    expect(fired).toBe(true);
  });
});

describe('timeoutSignal and startTimeout', () => {
  it('never throw, for any duration (AbortSignal.timeout throws for most of these)', () => {
    fc.assert(
      fc.property(anyDuration, (ms) => {
        const s = timeoutSignal(ms);
        const h = startTimeout(ms);
        h.clear();
        return s instanceof AbortSignal && h.signal instanceof AbortSignal;
      }),
    );
  });

  it('a fractional deadline aborts with a TimeoutError, like AbortSignal.timeout', async () => {
    const s = timeoutSignal(3.000001);
    await new Promise<void>((resolve) => s.addEventListener('abort', () => resolve(), { once: true }));
    expect((s.reason as Error).name).toBe('TimeoutError');
  });

  it('NaN and negative durations are due at once', async () => {
    for (const ms of [NaN, -1, -0.05]) {
      expect(startTimeout(ms).signal.aborted).toBe(true);
      const s = timeoutSignal(ms);
      await new Promise<void>((resolve) => (s.aborted ? resolve() : s.addEventListener('abort', () => resolve(), { once: true })));
      expect((s.reason as Error).name).toBe('TimeoutError');
    }
  });

  it('durations beyond 2^31−1 ms and Infinity do not fire early, and no TimeoutOverflowWarning is raised', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const signals = [2 ** 31, 2 ** 32 + 0.5, 30 * 86_400_000, Infinity].flatMap((ms) => [timeoutSignal(ms), startTimeout(ms).signal]);
      const slept = sleep(2 ** 31 + 7).then(() => 'woke');
      // A plain setTimeout would have fired these after 1 ms; give them many times that.
      const outcome = await Promise.race([slept, new Promise((r) => setTimeout(() => r('still asleep'), 50))]);
      expect(outcome).toBe('still asleep');
      expect(signals.filter((s) => s.aborted)).toHaveLength(0);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('startTimeout().clear() disarms it', async () => {
    const h = startTimeout(5);
    h.clear();
    await sleepMs(30);
    expect(h.signal.aborted).toBe(false);
  });
});

describe('keepAlive', () => {
  // A process whose only work is the wait: with an unref()ed timer Node exits before it fires
  // (the owner-lock wait once exited 0 this way), a ref'd one keeps it running until it wakes.
  const BACKOFF = new URL('../../../src/util/backoff.ts', import.meta.url).pathname;
  const run = (keepAlive: boolean) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { sleep } from ${JSON.stringify(BACKOFF)}; await sleep(100, undefined, { keepAlive: ${keepAlive} }); console.log('woke');`], {
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('a keepAlive sleep holds the process until it wakes; the default one does not', () => {
    expect(run(true).stdout).toContain('woke');
    expect(run(false).stdout).not.toContain('woke');
  });
});
