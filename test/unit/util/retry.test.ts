import { describe, expect, it } from 'vitest';
import { retry, type RetryOptions } from '../../../src/util/retry.js';

/** A sleep that records the delays asked for and returns at once (or rejects like the real one). */
function fakeSleep(): { delays: number[]; sleep: NonNullable<RetryOptions['sleep']> } {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms, signal) => {
      delays.push(ms);
      signal?.throwIfAborted();
    },
  };
}

/** A function failing with `failures` in turn, then answering `ok`; it records the attempt numbers it was given. */
function flaky<T>(failures: unknown[], ok: T): { fn: (attempt: number) => Promise<T>; attempts: number[] } {
  const attempts: number[] = [];
  return {
    attempts,
    fn: async (attempt) => {
      attempts.push(attempt);
      if (attempts.length <= failures.length) throw failures[attempts.length - 1];
      return ok;
    },
  };
}

const noJitter = { initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 0 };

describe('retry', () => {
  it('returns the first success without waiting', async () => {
    const s = fakeSleep();
    const f = flaky([], 'done');
    await expect(retry(f.fn, { sleep: s.sleep })).resolves.toBe('done');
    expect(f.attempts).toEqual([1]);
    expect(s.delays).toEqual([]);
  });

  it('retries failures on the backoff schedule, telling onRetry each one, until a success', async () => {
    const s = fakeSleep();
    const errs = [new Error('a'), new Error('b'), new Error('c')];
    const f = flaky(errs, 42);
    const seen: [unknown, number, number][] = [];
    const result = await retry(f.fn, { backoff: noJitter, sleep: s.sleep, onRetry: (err, attempt, delay) => seen.push([err, attempt, delay]) });
    expect(result).toBe(42);
    expect(f.attempts).toEqual([1, 2, 3, 4]);
    expect(s.delays).toEqual([100, 200, 400]);
    expect(seen).toEqual([
      [errs[0], 1, 100],
      [errs[1], 2, 200],
      [errs[2], 3, 400],
    ]);
  });

  it('stops after `attempts` and throws the last failure, or what giveUp makes of it', async () => {
    const errs = [new Error('1'), new Error('2'), new Error('3')];
    const f = flaky(errs, 'never');
    await expect(retry(f.fn, { attempts: 2, sleep: fakeSleep().sleep })).rejects.toBe(errs[1]);
    expect(f.attempts).toEqual([1, 2]);

    const g = flaky(errs, 'never');
    const err = await retry(g.fn, { attempts: 3, sleep: fakeSleep().sleep, giveUp: (e, attempt) => new Error(`${(e as Error).message} (after ${attempt} attempts)`) }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('3 (after 3 attempts)');
  });

  it('attempts below 1 still run the function once', async () => {
    const f = flaky([new Error('x')], 'never');
    await expect(retry(f.fn, { attempts: 0, sleep: fakeSleep().sleep })).rejects.toThrow('x');
    expect(f.attempts).toEqual([1]);
  });

  it('a failure retryable() refuses ends the loop at once, without a wait', async () => {
    const s = fakeSleep();
    const fatal = Object.assign(new Error('fatal'), { fatal: true });
    const f = flaky([new Error('transient'), fatal], 'never');
    const asked: number[] = [];
    const retryable = (err: unknown, attempt: number): boolean => {
      asked.push(attempt);
      return !(err as { fatal?: boolean }).fatal;
    };
    await expect(retry(f.fn, { sleep: s.sleep, retryable })).rejects.toBe(fatal);
    expect(f.attempts).toEqual([1, 2]);
    expect(asked).toEqual([1, 2]);
    expect(s.delays).toHaveLength(1);
  });

  it('with no attempts limit it keeps going until the function succeeds', async () => {
    const f = flaky(Array.from({ length: 9 }, (_, i) => new Error(`e${i}`)), 'tenth');
    await expect(retry(f.fn, { sleep: fakeSleep().sleep })).resolves.toBe('tenth');
    expect(f.attempts).toHaveLength(10);
  });

  it('delayMs chooses the wait; the backoff schedule moves on only when it asks for the next delay', async () => {
    const s = fakeSleep();
    // The second and fourth failures name their own wait (a Retry-After).
    const errs = [{ after: undefined }, { after: 5_000 }, { after: undefined }, { after: 7 }, { after: undefined }];
    const f = flaky(errs, 'ok');
    await retry<string, { after: number | undefined }>(f.fn, { backoff: noJitter, sleep: s.sleep, delayMs: (err, next) => err.after ?? next() });
    expect(s.delays).toEqual([100, 5_000, 200, 7, 400]);
  });

  it('a signal aborted during an attempt ends the loop through giveUp, without a wait', async () => {
    const s = fakeSleep();
    const ac = new AbortController();
    const failure = new Error('failed as the signal aborted');
    const fn = async (): Promise<never> => {
      ac.abort(new Error('stop'));
      throw failure;
    };
    await expect(retry(fn, { signal: ac.signal, sleep: s.sleep })).rejects.toBe(failure);
    await expect(retry(fn, { signal: ac.signal, sleep: s.sleep, giveUp: () => 'given up' })).rejects.toBe('given up');
    expect(s.delays).toEqual([]);
  });

  it('an abort during the wait rejects with the reason, or what cancelled() makes of it (real sleep)', async () => {
    const reason = new Error('closing');
    const failure = new Error('unreachable');
    const start = (cancelled?: RetryOptions['cancelled']): Promise<unknown> => {
      const ac = new AbortController();
      // The wait would be 10 minutes; the abort comes as soon as the first attempt has failed.
      const p = retry(
        async () => {
          setImmediate(() => ac.abort(reason));
          throw failure;
        },
        { signal: ac.signal, backoff: { initialMs: 600_000, jitter: 0 }, cancelled },
      );
      return p.catch((e: unknown) => e);
    };
    expect(await start()).toBe(reason);
    const seen: unknown[] = [];
    const made = await start((err, why) => {
      seen.push(err, why);
      return new Error('cancelled while waiting to retry');
    });
    expect((made as Error).message).toBe('cancelled while waiting to retry');
    expect(seen).toEqual([failure, reason]);
  });

  it('a function that throws synchronously is handled like one that rejects', async () => {
    let calls = 0;
    const fn = (): Promise<string> => {
      calls++;
      if (calls === 1) throw new Error('sync');
      return Promise.resolve('second');
    };
    await expect(retry(fn, { sleep: fakeSleep().sleep })).resolves.toBe('second');
  });
});
