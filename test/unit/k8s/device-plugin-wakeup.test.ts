import { describe, expect, it } from 'vitest';
import { Wakeup } from '../../../src/k8s/device-plugin/wakeup.js';
import { rejectionOf } from '../../helpers/async.js';

describe('Wakeup', () => {
  it('a notify while nobody waits ends the next wait at once; otherwise the timer or abort ends it', async () => {
    const w = new Wakeup();
    w.notify();
    const t0 = Date.now();
    await w.wait(10_000);
    expect(Date.now() - t0).toBeLessThan(1_000);

    const waiting = w.wait(10_000);
    w.notify();
    await waiting;

    const t1 = Date.now();
    await w.wait(30);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(25);

    const ac = new AbortController();
    const aborted = w.wait(10_000, ac.signal);
    ac.abort(new Error('stop'));
    expect(await rejectionOf(aborted)).toMatchObject({ message: 'stop' });
    // The aborted waiter is gone: a later notify is kept for the next wait.
    w.notify();
    await w.wait(10_000);
  });
});
