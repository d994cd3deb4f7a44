/**
 * TtrpcClient against a fake server built on `net`, which answers when, how and in what order a
 * test says — or never.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { Code, TtrpcError } from '../../../src/ttrpc/codes.js';
import { TtrpcClient } from '../../../src/ttrpc/client.js';
import { sleep, waitFor, withTimeout } from '../../helpers/async.js';
import { MAX_DATA, TYPE_DATA, TYPE_RESPONSE, rawFrame, responseBody } from '../../helpers/raw-ttrpc.js';
import { startFakeServer, writeBigFrame, type FakeServer } from '../../helpers/ttrpc-fixtures.js';
import { ttrpcFailure } from '../../helpers/ttrpc-failure.js';

let fake: FakeServer;

beforeEach(async () => {
  fake = await startFakeServer();
});

afterEach(async () => {
  await fake?.stop();
});

const echo = (r: Parameters<FakeServer['onRequest']>[0]): void => r.reply({ payload: r.request.payload });

describe('requests on the wire', () => {
  it('uses stream ids 1, 3, 5… and sends service, method, payload and metadata', async () => {
    fake.onRequest = echo;
    const client = await fake.connectClient();
    expect((await client.call('a.B', 'C', Buffer.from('one'))).toString()).toBe('one');
    expect((await client.call('a.B', 'D', Buffer.from('two'), { metadata: [{ key: 'k', value: 'v' }] })).toString()).toBe(
      'two',
    );
    expect((await client.call('x.Y', 'Z', new Uint8Array(0))).length).toBe(0);
    expect(fake.requests.map((r) => r.streamId)).toEqual([1, 3, 5]);
    expect(fake.requests.map((r) => r.frame.type)).toEqual([1, 1, 1]);
    expect(fake.requests.map((r) => r.flags)).toEqual([0, 0, 0]);
    const [a, b, c] = fake.requests.map((r) => r.request);
    expect([a!.service, a!.method, Buffer.from(a!.payload).toString(), a!.timeoutNano]).toEqual(['a.B', 'C', 'one', 0n]);
    expect(b!.metadata.map((kv) => [kv.key, kv.value])).toEqual([['k', 'v']]);
    expect([c!.service, c!.method, c!.payload.length]).toEqual(['x.Y', 'Z', 0]);
  });

  it('reassembles a response delivered one byte at a time', async () => {
    const client = await fake.connectClient();
    fake.onRequest = (r) => {
      const bytes = rawFrame(r.streamId, TYPE_RESPONSE, responseBody({ payload: Buffer.from('slowly') }));
      void (async () => {
        for (const b of bytes) {
          r.socket.write(Buffer.from([b]));
          await sleep(1);
        }
      })();
    };
    expect((await client.call('s', 'm', new Uint8Array(0))).toString()).toBe('slowly');
  });
});

describe('many calls in flight', () => {
  it('matches out-of-order responses to their calls by stream id', async () => {
    const client = await fake.connectClient();
    const order: number[] = [];
    const calls = [0, 1, 2, 3, 4].map((i) =>
      client.call('s', 'm', Buffer.from(`req-${i}`)).then((reply) => {
        order.push(i);
        return reply.toString();
      }),
    );
    expect(client.inFlight).toBe(5);
    const reqs = await fake.waitForRequests(5);
    expect(reqs.map((r) => r.streamId)).toEqual([1, 3, 5, 7, 9]);
    // Answer in the order 5th, 2nd, 4th, 1st, 3rd, each with a payload naming its request.
    for (const idx of [4, 1, 3, 0, 2]) {
      const r = reqs[idx]!;
      r.reply({ payload: Buffer.from(`reply-to-${Buffer.from(r.request.payload).toString()}`) });
      await sleep(5);
    }
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4].map((i) => `reply-to-req-${i}`));
    expect(order).toEqual([4, 1, 3, 0, 2]);
    expect(client.inFlight).toBe(0);
  });

  it('handles many responses arriving in one chunk, in reverse order', async () => {
    const client = await fake.connectClient();
    const calls = Array.from({ length: 50 }, (_, i) => client.call('s', 'm', Buffer.from(String(i))));
    const reqs = await fake.waitForRequests(50);
    const chunk = Buffer.concat(
      [...reqs].reverse().map((r) => rawFrame(r.streamId, TYPE_RESPONSE, responseBody({ payload: Buffer.from(`#${Buffer.from(r.request.payload).toString()}`) }))),
    );
    reqs[0]!.socket.write(chunk);
    const replies = await Promise.all(calls);
    expect(replies.map((b) => b.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `#${i}`));
  });

  it('ignores responses for unknown streams and Data frames', async () => {
    const client = await fake.connectClient();
    const call = client.call('s', 'm', new Uint8Array(0));
    const [r] = await fake.waitForRequests(1);
    r!.socket.write(rawFrame(99, TYPE_RESPONSE, responseBody({ code: 5, message: 'not yours' })));
    r!.socket.write(rawFrame(1, TYPE_DATA, Buffer.from('data')));
    await sleep(20);
    expect(client.inFlight).toBe(1);
    r!.reply({ payload: Buffer.from('mine') });
    expect((await call).toString()).toBe('mine');
  });
});

describe('lost connections', () => {
  it('fails every pending call with UNAVAILABLE when the server closes the socket', async () => {
    const client = await fake.connectClient();
    const calls = [1, 2, 3].map(() => ttrpcFailure(client.call('s', 'never', new Uint8Array(0))));
    const reqs = await fake.waitForRequests(3);
    reqs[0]!.socket.destroy();
    const errors = await Promise.all(calls);
    expect(errors.map((e) => e.code)).toEqual([Code.UNAVAILABLE, Code.UNAVAILABLE, Code.UNAVAILABLE]);
    await withTimeout(client.closed, 2_000, 'client.closed');
    expect(client.isClosed).toBe(true);
    expect(client.inFlight).toBe(0);
    // Later calls fail at once, without waiting.
    expect((await ttrpcFailure(client.call('s', 'm', new Uint8Array(0)))).code).toBe(Code.UNAVAILABLE);
  });

  it('fails pending calls with UNAVAILABLE when the server half-closes', async () => {
    const client = await fake.connectClient();
    const call = ttrpcFailure(client.call('s', 'never', new Uint8Array(0)));
    const [r] = await fake.waitForRequests(1);
    r!.socket.end();
    expect((await call).code).toBe(Code.UNAVAILABLE);
  });

  it('close() fails calls in flight with UNAVAILABLE and resolves `closed`', async () => {
    const client = await fake.connectClient();
    const call = ttrpcFailure(client.call('s', 'never', new Uint8Array(0)));
    await fake.waitForRequests(1);
    client.close();
    const err = await call;
    expect(err.code).toBe(Code.UNAVAILABLE);
    await withTimeout(client.closed, 2_000, 'client.closed');
    await waitFor(() => fake.sockets.size === 0, 'the fake server to see the close');
  });

  it('rejects with UNAVAILABLE when nothing listens at the path', async () => {
    const err = await ttrpcFailure(TtrpcClient.connectUnix(join(fake.path, '..', 'nobody.sock')));
    expect(err.code).toBe(Code.UNAVAILABLE);
    expect(err.message).toMatch(/connect/);
  });
});

describe('deadlines and cancellation', () => {
  it('sends timeoutMs as timeout_nano and fails with DEADLINE_EXCEEDED locally', async () => {
    const client = await fake.connectClient();
    const started = Date.now();
    const call = ttrpcFailure(client.call('s', 'slow', new Uint8Array(0), { timeoutMs: 50 }));
    const [r] = await fake.waitForRequests(1);
    expect(r!.request.timeoutNano).toBe(50_000_000n);
    const err = await call;
    expect(err.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(client.inFlight).toBe(0);
    // A late answer is dropped and the connection keeps working.
    r!.reply({ payload: Buffer.from('late') });
    fake.onRequest = echo;
    expect((await client.call('s', 'm', Buffer.from('next'))).toString()).toBe('next');
  });

  it('does not expire a timeoutMs longer than setTimeout can hold (30 days) at once', async () => {
    fake.onRequest = (r) => setTimeout(() => echo(r), 50);
    const client = await fake.connectClient();
    const thirtyDays = 30 * 24 * 3600 * 1000; // 2 592 000 000 ms > 2^31-1
    const reply = await client.call('s', 'm', Buffer.from('patience'), { timeoutMs: thirtyDays });
    expect(reply.toString()).toBe('patience');
    expect(fake.requests[0]!.request.timeoutNano).toBe(BigInt(thirtyDays) * 1_000_000n);
  });

  it('rounds fractional milliseconds to whole nanoseconds', async () => {
    fake.onRequest = echo;
    const client = await fake.connectClient();
    await client.call('s', 'm', new Uint8Array(0), { timeoutMs: 1500.0000004 });
    await client.call('s', 'm', new Uint8Array(0), { timeoutMs: 0 });
    expect(fake.requests.map((r) => r.request.timeoutNano)).toEqual([1_500_000_000n, 0n]);
  });

  it('sends a Go-style fractional deadline to the nanosecond, clamps huge ones to int64, never sends a tiny one as 0 (= none)', async () => {
    fake.onRequest = echo;
    const client = await fake.connectClient();
    for (const timeoutMs of [299_999.986254, 1e-9, 1e300, Infinity]) await client.call('s', 'm', new Uint8Array(0), { timeoutMs });
    expect(fake.requests.map((r) => r.request.timeoutNano)).toEqual([299_999_986_254n, 1n, 2n ** 63n - 1024n, 2n ** 63n - 1024n]);
  });

  it('a negative timeoutMs is a deadline already past: DEADLINE_EXCEEDED at once, nothing sent', async () => {
    fake.onRequest = echo;
    const client = await fake.connectClient();
    expect((await ttrpcFailure(client.call('s', 'm', new Uint8Array(0), { timeoutMs: -0.05 }))).code).toBe(Code.DEADLINE_EXCEEDED);
    const viaSendRaw = await new Promise<TtrpcError | undefined>((resolve) => client.sendRaw(Buffer.alloc(0), -1, (err) => resolve(err)));
    expect(viaSendRaw?.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(client.inFlight).toBe(0);
    expect((await client.call('s', 'm', Buffer.from('next'))).toString()).toBe('next');
    expect(fake.requests).toHaveLength(1);
  });

  it('fails with CANCELLED when the signal aborts', async () => {
    const client = await fake.connectClient();
    const ac = new AbortController();
    const call = ttrpcFailure(client.call('s', 'slow', new Uint8Array(0), { signal: ac.signal }));
    await fake.waitForRequests(1);
    ac.abort();
    const err = await call;
    expect(err.code).toBe(Code.CANCELLED);
    expect(client.inFlight).toBe(0);
  });

  it('fails with CANCELLED at once, writing nothing, when the signal is already aborted', async () => {
    const client = await fake.connectClient();
    const err = await ttrpcFailure(client.call('s', 'm', new Uint8Array(0), { signal: AbortSignal.abort() }));
    expect(err.code).toBe(Code.CANCELLED);
    await sleep(20);
    expect(fake.bytesReceived()).toBe(0);
  });

  it('uses a TtrpcError abort reason as is, and a TimeoutError as DEADLINE_EXCEEDED', async () => {
    const client = await fake.connectClient();
    const ac = new AbortController();
    const call = ttrpcFailure(client.call('s', 'slow', new Uint8Array(0), { signal: ac.signal }));
    await fake.waitForRequests(1);
    ac.abort(new TtrpcError(Code.ABORTED, 'shim went away'));
    expect(await call).toMatchObject({ code: Code.ABORTED, message: 'shim went away' });
    const err = await ttrpcFailure(client.call('s', 'slow', new Uint8Array(0), { signal: AbortSignal.timeout(20) }));
    expect(err.code).toBe(Code.DEADLINE_EXCEEDED);
  });
});

describe('message size limits', () => {
  it('refuses an oversized request locally with RESOURCE_EXHAUSTED and writes nothing', async () => {
    fake.onRequest = echo;
    const client = await fake.connectClient();
    const err = await ttrpcFailure(client.call('s', 'm', Buffer.alloc(MAX_DATA)));
    expect(err.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/exceed maximum message size of 4194304/);
    await sleep(30);
    expect(fake.bytesReceived()).toBe(0);
    expect(client.inFlight).toBe(0);
    // The stream id was not used up either.
    await client.call('s', 'm', Buffer.from('small'));
    expect(fake.requests.map((r) => r.streamId)).toEqual([1]);
  });

  it('sends a request of exactly 4 MiB', async () => {
    fake.onRequest = (r) => r.reply({ payload: Buffer.from(String(r.frame.length)) });
    const client = await fake.connectClient();
    // Envelope: 0a 01 73 (service "s") + 12 01 6d (method "m") + 1a <4-byte varint> payload = 11 + payload.
    const reply = await client.call('s', 'm', Buffer.alloc(MAX_DATA - 11, 1));
    expect(reply.toString()).toBe(String(MAX_DATA));
  });

  it('fails only the affected call when a response is oversized, and the next call works', async () => {
    const client = await fake.connectClient();
    // The call fails as soon as the header is read, long before the body is through: watch it now.
    const big = ttrpcFailure(client.call('s', 'big', new Uint8Array(0)));
    const [r] = await fake.waitForRequests(1);
    await writeBigFrame(r!.socket, r!.streamId, TYPE_RESPONSE, MAX_DATA + 1);
    const err = await big;
    expect(err.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/4194305/);
    fake.onRequest = echo;
    expect((await client.call('s', 'm', Buffer.from('after big'))).toString()).toBe('after big');
    expect(fake.requests.map((q) => q.streamId)).toEqual([1, 3]);
    expect(client.isClosed).toBe(false);
  });
});

describe('response status', () => {
  it('treats an absent status as success', async () => {
    fake.onRequest = (r) => r.reply({ omitStatus: true, payload: Buffer.from('no status') });
    const client = await fake.connectClient();
    expect((await client.call('s', 'm', new Uint8Array(0))).toString()).toBe('no status');
  });

  it('treats an empty Response (zero-length frame) as success with an empty payload', async () => {
    fake.onRequest = (r) => r.socket.write(rawFrame(r.streamId, TYPE_RESPONSE, Buffer.alloc(0)));
    const client = await fake.connectClient();
    expect((await client.call('s', 'm', new Uint8Array(0))).length).toBe(0);
  });

  it('treats code 0 as success even with a message', async () => {
    fake.onRequest = (r) => r.reply({ code: 0, message: 'fine', payload: Buffer.from('ok') });
    const client = await fake.connectClient();
    expect((await client.call('s', 'm', new Uint8Array(0))).toString()).toBe('ok');
  });

  it('rejects with the status code, message and details of an error', async () => {
    const detail = toBinary(AnySchema, create(AnySchema, { typeUrl: 'type.googleapis.com/x.Y', value: Buffer.from('zz') }));
    fake.onRequest = (r) => r.reply({ code: Code.FAILED_PRECONDITION, message: 'nope', details: [detail] });
    const client = await fake.connectClient();
    const err = await ttrpcFailure(client.call('s', 'm', new Uint8Array(0)));
    expect(err.code).toBe(Code.FAILED_PRECONDITION);
    expect(err.message).toBe('nope');
    expect(err.details.map((d) => Buffer.from(d).toString('hex'))).toEqual([Buffer.from(detail).toString('hex')]);
  });

  it('rejects an undecodable response with INTERNAL and keeps the connection', async () => {
    fake.onRequest = (r) => {
      if (r.streamId === 1) r.socket.write(rawFrame(r.streamId, TYPE_RESPONSE, Buffer.from([0x0a, 0x09, 0x08])));
      else echo(r);
    };
    const client = await fake.connectClient();
    const err = await ttrpcFailure(client.call('s', 'm', new Uint8Array(0)));
    expect(err.code).toBe(Code.INTERNAL);
    expect((await client.call('s', 'm', Buffer.from('fine'))).toString()).toBe('fine');
  });
});
