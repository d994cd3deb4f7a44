import { describe, expect, it } from 'vitest';
import { raceAbort } from '../../../src/util/abort.js';

describe('raceAbort', () => {
  it('settles like the promise when the signal stays quiet', async () => {
    const c = new AbortController();
    await expect(raceAbort(Promise.resolve(7), c.signal)).resolves.toBe(7);
    await expect(raceAbort(Promise.reject(new Error('boom')), c.signal)).rejects.toThrow('boom');
  });

  it('rejects with the reason (or reasonOf) once the signal aborts, also when it had already; a late rejection is swallowed', async () => {
    const c = new AbortController();
    let fail!: (e: Error) => void;
    const slow = new Promise<number>((_, reject) => (fail = reject));
    const raced = raceAbort(slow, c.signal, (s) => new Error(`mapped: ${String(s.reason)}`));
    c.abort('stop');
    await expect(raced).rejects.toThrow('mapped: stop');
    fail(new Error('late')); // must not surface as an unhandled rejection
    await expect(raceAbort(Promise.reject(new Error('late too')), c.signal)).rejects.toBe('stop');
  });
});
