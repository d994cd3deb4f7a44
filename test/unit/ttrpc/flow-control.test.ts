/**
 * TtrpcServer flow control: a connection runs at most `maxCallsPerConnection` calls at once and
 * reads no more requests while its answers are not being read. Nothing is refused: the calls that
 * had to wait complete once room is made. Observed through what cannot depend on timing — how many
 * handlers run at once, whether the server stopped reading — never through RSS or durations.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { TtrpcServer } from '../../../src/ttrpc/server.js';
import { deferred, sleep, waitFor, withTimeout, type Deferred } from '../../helpers/async.js';
import { RawConnections, pipelinedRequests } from '../../helpers/raw-ttrpc.js';
import { startServer, type LiveServer } from '../../helpers/ttrpc-fixtures.js';

let live: LiveServer | undefined;
const raws = new RawConnections();
afterEach(async () => {
  await raws.closeAll();
  await live?.stop();
  live = undefined;
});

/** Handlers that count how many run at once and wait for the test's word. */
function blockingService(server: TtrpcServer, gate: { release: Deferred<void> }, seen: { started: number; active: number; maxActive: number }): void {
  server.register('test.Flow', {
    Block: async (payload) => {
      seen.started++;
      seen.active++;
      seen.maxActive = Math.max(seen.maxActive, seen.active);
      await gate.release.promise;
      seen.active--;
      return payload;
    },
  });
}

/** A `Wait` handler that never answers: it counts the calls it started and rejects each one once it is cancelled. */
function waitingService(server: TtrpcServer, seen: { started: number; aborted: number }): void {
  server.register('test.Flow', {
    Wait: (_payload, ctx) =>
      new Promise<Uint8Array>((_, reject) => {
        seen.started++;
        ctx.signal.addEventListener('abort', () => {
          seen.aborted++;
          reject(ctx.signal.reason);
        });
      }),
  });
}

/** `count` pipelined calls of test.Flow/`method`. */
function pipelined(count: number, method: string, payload: (i: number) => Uint8Array): Buffer {
  return pipelinedRequests(count, (i) => ({ service: 'test.Flow', method, payload: payload(i) }));
}

describe('calls in flight per connection', () => {
  it('runs at most maxCallsPerConnection at once, stops reading meanwhile, and completes the others afterwards', async () => {
    const gate = { release: deferred() };
    const seen = { started: 0, active: 0, maxActive: 0 };
    live = await startServer((s) => blockingService(s, gate, seen), { maxCallsPerConnection: 4 });
    const client = await live.connect();
    const calls = Array.from({ length: 40 }, (_, i) => client.call('test.Flow', 'Block', Buffer.from(`call ${i}`)));

    await waitFor(() => seen.started === 4 && live!.ttrpc.pausedConnections === 1, 'four calls running and the connection paused');
    // Let every request the client wrote reach the server: none may start while four run.
    await sleep(50);
    expect(seen.started).toBe(4);
    expect(live.ttrpc.callsInFlight).toBe(4);

    gate.release.resolve();
    const answers = await withTimeout(Promise.all(calls), 5_000, 'all 40 calls');
    expect(answers.map((a) => a.toString())).toEqual(Array.from({ length: 40 }, (_, i) => `call ${i}`));
    expect(seen.maxActive).toBe(4);
    expect(seen.started).toBe(40);
    await waitFor(() => live!.ttrpc.pausedConnections === 0, 'the connection reading again');
  });

  it('counts each connection on its own', async () => {
    const gate = { release: deferred() };
    const seen = { started: 0, active: 0, maxActive: 0 };
    live = await startServer((s) => blockingService(s, gate, seen), { maxCallsPerConnection: 2 });
    const a = await live.connect();
    const b = await live.connect();
    const calls = [...Array.from({ length: 5 }, () => a.call('test.Flow', 'Block', Buffer.from('a'))), ...Array.from({ length: 5 }, () => b.call('test.Flow', 'Block', Buffer.from('b')))];
    await waitFor(() => seen.started === 4 && live!.ttrpc.pausedConnections === 2, 'two calls on each connection');
    gate.release.resolve();
    await withTimeout(Promise.all(calls), 5_000, 'all calls');
    expect(seen.maxActive).toBe(4);
  });

  it('caps calls on all connections together at maxCallsInFlight, handing room to the waiting connections', async () => {
    const gate = { release: deferred() };
    const seen = { started: 0, active: 0, maxActive: 0 };
    live = await startServer((s) => blockingService(s, gate, seen), { maxCallsPerConnection: 10, maxCallsInFlight: 3 });
    const clients = await Promise.all([live.connect(), live.connect(), live.connect()]);
    const calls = clients.flatMap((c, i) => Array.from({ length: 4 }, (_, j) => c.call('test.Flow', 'Block', Buffer.from(`${i}.${j}`))));
    await waitFor(() => seen.started === 3 && live!.ttrpc.pausedConnections >= 1, 'three calls running, the rest waiting');
    await sleep(50);
    expect(seen.started).toBe(3);
    expect(live.ttrpc.callsInFlight).toBe(3);
    gate.release.resolve();
    const answers = await withTimeout(Promise.all(calls), 5_000, 'all 12 calls');
    expect(answers.map(String)).toEqual(clients.flatMap((_, i) => Array.from({ length: 4 }, (_, j) => `${i}.${j}`)));
    expect(seen.maxActive).toBe(3);
    expect(live.ttrpc.callsInFlight).toBe(0);
  });

  it('notices a client that goes away while at its cap, and cancels its calls', async () => {
    const seen = { started: 0, aborted: 0 };
    live = await startServer((s) => waitingService(s, seen), { maxCallsPerConnection: 2 });
    const client = await live.connect();
    // 640 KiB of requests: more than a paused socket would buffer, less than the server holds.
    for (let i = 0; i < 20; i++) client.call('test.Flow', 'Wait', Buffer.alloc(32 * 1024, 1)).catch(() => undefined);
    await waitFor(() => seen.started === 2 && live!.ttrpc.pausedConnections === 1, 'two calls waiting, the others held');
    client.close();
    await waitFor(() => seen.aborted === 2 && live!.ttrpc.callsInFlight === 0 && live!.ttrpc.connectionCount === 0, 'the calls cancelled');
    expect(seen.started).toBe(2);
  });

  it('cuts off a client that pipelines over 1 MiB of requests beyond its cap', async () => {
    const seen = { started: 0, aborted: 0 };
    live = await startServer((s) => waitingService(s, seen), { maxCallsPerConnection: 1 });
    const raw = await raws.open(live.path);
    raw.socket.write(pipelined(40, 'Wait', () => Buffer.alloc(64 * 1024, 5)));
    await waitFor(() => raw.closed, 'the server to close the connection', 5_000);
    await waitFor(() => seen.aborted === 1 && live!.ttrpc.callsInFlight === 0, 'the running call cancelled');
  });

  it('refuses a cap that is not a positive integer', () => {
    expect(() => new TtrpcServer({ maxCallsPerConnection: 0 })).toThrow(/maxCallsPerConnection/);
    expect(() => new TtrpcServer({ maxCallsPerConnection: 1.5 })).toThrow(/maxCallsPerConnection/);
    expect(() => new TtrpcServer({ maxCallsInFlight: -1 })).toThrow(/maxCallsInFlight/);
  });
});

describe('a client that does not read its answers', () => {
  const CALLS = 400;
  const ANSWER = 32 * 1024;

  it('makes the server stop reading its requests; once it reads, every call is answered', async () => {
    let started = 0;
    live = await startServer(
      (s) =>
        s.register('test.Flow', {
          Big: () => {
            started++;
            return Buffer.alloc(ANSWER, 7);
          },
        }),
      { writeBufferLimit: 256 * 1024 },
    );
    const raw = await raws.open(live.path);
    const socket: Socket = raw.socket;
    socket.pause(); // never read, for now
    // 1 KiB requests: 400 KiB in several chunks, so the server has more to read after its first answers.
    socket.write(pipelined(CALLS, 'Big', () => Buffer.alloc(1024, 1)));

    await waitFor(() => live!.ttrpc.pausedConnections === 1, 'the server to stop reading the connection', 5_000);
    const atPause = started;
    await sleep(50);
    // Stopped: no call started since, and far fewer than were sent (12.5 MiB of answers would be).
    expect(started).toBe(atPause);
    expect(started).toBeLessThan(CALLS / 4);

    socket.resume();
    await waitFor(() => raw.received.length === CALLS, `all ${CALLS} answers`, 10_000);
    expect(started).toBe(CALLS);
    expect(new Set(raw.received.map((f) => f.streamId)).size).toBe(CALLS);
    expect(raw.received.every((f) => f.length > ANSWER)).toBe(true);
  });
});
