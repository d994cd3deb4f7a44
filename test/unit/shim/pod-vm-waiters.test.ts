import { describe, expect, it } from 'vitest';
import { PodVmWaiters } from '../../../src/shim/pod-vm-waiters.js';

const nginx = { podName: 'nginx', podNamespace: 'default' };

describe('PodVmWaiters', () => {
  it('wakes every waiter of the pod with the id, and only those', async () => {
    const w = new PodVmWaiters();
    const a = w.wait(nginx, new AbortController().signal);
    const b = w.wait(nginx, new AbortController().signal);
    const other = w.wait({ podName: 'nginx', podNamespace: 'shop' }, new AbortController().signal);
    expect(w.size).toBe(3);
    w.notify(nginx, 'i-7');
    expect(await a).toBe('i-7');
    expect(await b).toBe('i-7');
    expect(w.size).toBe(1);
    w.notify({ podName: 'nginx', podNamespace: 'shop' }, 'i-8');
    expect(await other).toBe('i-8');
    expect(w.size).toBe(0);
  });

  it('a notify with no waiter is a no-op; a later wait is not answered by it', async () => {
    const w = new PodVmWaiters();
    w.notify(nginx, 'i-1');
    const ac = new AbortController();
    const p = w.wait(nginx, ac.signal);
    ac.abort(new Error('deadline'));
    await expect(p).rejects.toThrow('deadline');
  });

  it('an aborted wait rejects with the signal\'s reason and is forgotten', async () => {
    const w = new PodVmWaiters();
    const ac = new AbortController();
    const p = w.wait(nginx, ac.signal);
    const reason = new Error('context deadline exceeded');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(w.size).toBe(0);
    w.notify(nginx, 'i-1'); // nothing left to wake
  });

  it('a signal already aborted rejects at once without waiting', async () => {
    const w = new PodVmWaiters();
    const reason = new Error('gone');
    await expect(w.wait(nginx, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(w.size).toBe(0);
  });
});
