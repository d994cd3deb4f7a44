/**
 * A live TtrpcServer fed malformed and hostile input through raw sockets. After every case a fresh
 * connection must still be served, no connection may leak and no promise rejection may go unhandled.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Code } from '../../../src/ttrpc/codes.js';
import type { CallContext, TtrpcServer } from '../../../src/ttrpc/server.js';
import type { TtrpcLogger } from '../../../src/ttrpc/logger.js';
import { deferred, sleep, waitFor, withTimeout, type Deferred } from '../../helpers/async.js';
import {
  MAX_DATA,
  RawConnection,
  RawConnections,
  TYPE_DATA,
  TYPE_REQUEST,
  TYPE_RESPONSE,
  decodeResponseFrame,
  rawFrame,
  rawHeader,
  requestBody,
} from '../../helpers/raw-ttrpc.js';
import { startServer, type LiveServer } from '../../helpers/ttrpc-fixtures.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
process.on('unhandledRejection', onUnhandled);

const logged: { level: string; obj: object; msg: string | undefined }[] = [];
const logger: TtrpcLogger = {
  debug: (obj, msg) => logged.push({ level: 'debug', obj, msg }),
  info: (obj, msg) => logged.push({ level: 'info', obj, msg }),
  warn: (obj, msg) => logged.push({ level: 'warn', obj, msg }),
  error: (obj, msg) => logged.push({ level: 'error', obj, msg }),
};

const vanish: { started: Deferred<AbortSignal>; aborted: Deferred<unknown>; settled: Deferred<string> } = {
  started: deferred(),
  aborted: deferred(),
  settled: deferred(),
};

let echoCalls = 0;

/** A handler's wait that ignores its signal: it notes the start and the abort, then `how` it settles 100 ms on. */
async function outliveTheCaller(ctx: CallContext, how: string): Promise<void> {
  const v = vanish;
  v.started.resolve(ctx.signal);
  ctx.signal.addEventListener('abort', () => v.aborted.resolve(ctx.signal.reason));
  await sleep(100);
  v.settled.resolve(how);
}

function setup(server: TtrpcServer): void {
  server.register('test.Svc', {
    Echo: (payload) => {
      echoCalls++;
      return payload;
    },
    // Rejects when its signal aborts (a handler that honours cancellation).
    WaitForAbort: (_payload, ctx) => {
      const v = vanish;
      v.started.resolve(ctx.signal);
      return new Promise<Uint8Array>((_, reject) => {
        ctx.signal.addEventListener('abort', () => {
          v.aborted.resolve(ctx.signal.reason);
          reject(ctx.signal.reason);
        });
      });
    },
    // Ignores its signal and answers late, after the caller is gone.
    AnswerLate: async (_payload, ctx) => {
      await outliveTheCaller(ctx, 'answered');
      return Buffer.from('too late');
    },
    // Fails late, after the caller is gone.
    FailLate: async (_payload, ctx) => {
      await outliveTheCaller(ctx, 'failed');
      throw new Error('late failure');
    },
  });
}

let live: LiveServer;
const raws = new RawConnections();
const openRaw = (): Promise<RawConnection> => raws.open(live.path);

/** A separate, fresh connection gets a correct answer: the server keeps serving. */
async function expectStillServing(): Promise<void> {
  const client = await live.connect();
  const reply = await withTimeout(client.call('test.Svc', 'Echo', Buffer.from('still alive')), 2_000, 'a healthy call');
  expect(reply.toString()).toBe('still alive');
  const raw = await openRaw();
  const res = await raw.call(1, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('raw ok') });
  expect(res.code).toBe(Code.OK);
  expect(Buffer.from(res.payload).toString()).toBe('raw ok');
}

beforeAll(async () => {
  live = await startServer(setup, { logger });
});

afterEach(async () => {
  await raws.closeAll();
  await live.closeClients();
  // No leaked sockets: every connection is gone on the server side once the clients closed.
  await waitFor(() => live.ttrpc.connectionCount === 0, 'server connections to drain');
  expect(live.ttrpc.connectionCount).toBe(0);
  vanish.started = deferred();
  vanish.aborted = deferred();
  vanish.settled = deferred();
  expect(unhandled).toEqual([]);
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await live?.stop();
});

describe('broken framing', () => {
  it('survives a truncated header followed by a close', async () => {
    const raw = await openRaw();
    await waitFor(() => live.ttrpc.connectionCount === 1, 'the server to accept');
    await raw.write(rawHeader(20, 1, TYPE_REQUEST).subarray(0, 5));
    raw.socket.end();
    await raw.waitClosed();
    expect(raw.received).toEqual([]);
    await waitFor(() => live.ttrpc.connectionCount === 0, 'the server to drop the connection');
    expect(logged.some((l) => l.msg === 'ttrpc connection closed inside a frame')).toBe(true);
    await expectStillServing();
  });

  it('survives a truncated frame body followed by a close', async () => {
    const raw = await openRaw();
    const frame = rawFrame(1, TYPE_REQUEST, requestBody({ service: 'test.Svc', method: 'Echo', payload: Buffer.from('xyz') }));
    await raw.write(frame.subarray(0, frame.length - 2));
    raw.socket.end();
    await raw.waitClosed();
    expect(raw.received).toEqual([]);
    await expectStillServing();
  });

  it('closes a connection that speaks HTTP instead of ttrpc', async () => {
    // "GET " read as a length is 0x47455420 (> 4 MiB) and byte 8 ('H' = 0x48) is no known type.
    const raw = await openRaw();
    await raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    await raw.waitClosed();
    expect(raw.received).toEqual([]);
    await expectStillServing();
  });

  it('survives many connections of pseudo-random garbage', async () => {
    let seed = 0x2545f491;
    const rand = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    for (let round = 0; round < 40; round++) {
      const raw = await openRaw();
      const garbage = Buffer.alloc(1 + Math.floor(rand() * 300));
      for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(rand() * 256);
      // Make every other round look like a plausible small Request header with junk data.
      if (round % 2 === 0 && garbage.length > 10) {
        garbage.writeUInt32BE(garbage.length - 10, 0);
        garbage.writeUInt32BE(2 * round + 1, 4);
        garbage[8] = TYPE_REQUEST;
        garbage[9] = 0;
      }
      await raw.write(garbage);
      await sleep(5);
      raw.socket.end();
      await raw.waitClosed();
      // Whatever came back must be well-formed Response frames.
      for (const f of raw.received) {
        expect(f.type).toBe(TYPE_RESPONSE);
        const res = decodeResponseFrame(f);
        expect(res.hasStatus).toBe(true);
        expect(res.code).toBeGreaterThan(0);
      }
    }
    await expectStillServing();
  });
});

describe('frame types', () => {
  it.each([
    ['a Response frame (type 0x02) without data', rawFrame(1, TYPE_RESPONSE, Buffer.alloc(0))],
    ['a Response frame (type 0x02) with data', rawFrame(1, TYPE_RESPONSE, Buffer.from('0a00', 'hex'))],
    ['a frame of unknown type 0x07', rawFrame(1, 0x07, requestBody({ service: 'test.Svc', method: 'Echo' }))],
    ['an oversized Response frame header', rawHeader(MAX_DATA + 1, 1, TYPE_RESPONSE)],
  ])('closes the connection on %s', async (_name, bytes) => {
    const raw = await openRaw();
    const warnings = logged.filter((l) => l.level === 'warn').length;
    await raw.write(bytes);
    await raw.waitClosed();
    expect(raw.received).toEqual([]);
    expect(logged.filter((l) => l.level === 'warn').length).toBe(warnings + 1);
    await expectStillServing();
  });

  it('does not run requests that follow a connection-closing frame in the same chunk', async () => {
    const raw = await openRaw();
    const before = echoCalls;
    await raw.write(
      Buffer.concat([
        rawFrame(1, 0x07, Buffer.alloc(0)),
        rawFrame(3, TYPE_REQUEST, requestBody({ service: 'test.Svc', method: 'Echo', payload: Buffer.from('ghost') })),
      ]),
    );
    await raw.waitClosed();
    await sleep(20);
    expect(raw.received).toEqual([]);
    // The connection was condemned by the first frame: the request behind it must not be executed.
    expect(echoCalls).toBe(before);
    await expectStillServing();
  });

  it('ignores Data frames', async () => {
    const raw = await openRaw();
    await raw.sendFrame(1, TYPE_DATA, Buffer.from('stray data'));
    await raw.sendFrame(3, TYPE_DATA, Buffer.alloc(0), 0x04);
    const res = await raw.call(1, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('after data') });
    expect(res.code).toBe(Code.OK);
    expect(Buffer.from(res.payload).toString()).toBe('after data');
    await sleep(30);
    expect(raw.received).toHaveLength(1);
    expect(raw.closed).toBe(false);
    await expectStillServing();
  });

  it.each([
    ['REMOTE_CLOSED', 0x01],
    ['REMOTE_OPEN', 0x02],
  ])('answers UNIMPLEMENTED to a streaming request (%s flag)', async (_name, flags) => {
    const raw = await openRaw();
    await raw.sendRequest(1, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('s') }, flags);
    const res = await raw.nextResponse();
    expect(res).toMatchObject({ streamId: 1, code: Code.UNIMPLEMENTED, message: 'streaming calls are not supported' });
    expect((await raw.call(3, { service: 'test.Svc', method: 'Echo' })).code).toBe(Code.OK);
    await expectStillServing();
  });
});

describe('stream ids', () => {
  it('answers INVALID_ARGUMENT on an even stream id and keeps the connection', async () => {
    const raw = await openRaw();
    await raw.sendRequest(2, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('even') });
    const res = await raw.nextResponse();
    expect(res).toMatchObject({
      streamId: 2,
      code: Code.INVALID_ARGUMENT,
      message: 'StreamID must be odd for client initiated streams',
    });
    expect(res.payload.length).toBe(0);
    const ok = await raw.call(3, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('odd') });
    expect(ok.code).toBe(Code.OK);
    await expectStillServing();
  });

  // A stream id that is not above the last one used on the connection: the connection lives on.
  it.each([
    ['re-used', 1, 1, 3],
    ['decreasing', 5, 3, 7],
  ])('answers INVALID_ARGUMENT on a %s stream id', async (_kind, first, again, next) => {
    const raw = await openRaw();
    expect((await raw.call(first, { service: 'test.Svc', method: 'Echo' })).code).toBe(Code.OK);
    await raw.sendRequest(again, { service: 'test.Svc', method: 'Echo' });
    expect(await raw.nextResponse()).toMatchObject({
      streamId: again,
      code: Code.INVALID_ARGUMENT,
      message: 'StreamID cannot be re-used and must increment',
    });
    expect((await raw.call(next, { service: 'test.Svc', method: 'Echo' })).code).toBe(Code.OK);
    await expectStillServing();
  });

  it('accepts the largest odd stream id', async () => {
    const raw = await openRaw();
    const res = await raw.call(0xffffffff, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('max') });
    expect(res.code).toBe(Code.OK);
    expect(res.streamId).toBe(0xffffffff);
  });
});

describe('bad requests', () => {
  it('answers a zero-length Request with UNIMPLEMENTED "service "', async () => {
    const raw = await openRaw();
    await raw.sendFrame(1, TYPE_REQUEST, Buffer.alloc(0));
    expect(await raw.nextResponse()).toMatchObject({ streamId: 1, code: Code.UNIMPLEMENTED, message: 'service ' });
    await expectStillServing();
  });

  it('answers an undecodable request payload with INVALID_ARGUMENT', async () => {
    const raw = await openRaw();
    await raw.sendFrame(1, TYPE_REQUEST, Buffer.from([0x0a, 0xff]));
    const res = await raw.nextResponse();
    expect(res.streamId).toBe(1);
    expect(res.code).toBe(Code.INVALID_ARGUMENT);
    expect(res.message).toMatch(/^unmarshal request error: /);
    // The connection is still usable.
    expect((await raw.call(3, { service: 'test.Svc', method: 'Echo' })).code).toBe(Code.OK);
    await expectStillServing();
  });

  it('answers a 4 MiB + 1 request with RESOURCE_EXHAUSTED and serves the next call on the same connection', async () => {
    const raw = await openRaw();
    // A well-formed Echo request whose envelope is exactly one byte over the limit: it must not run.
    let body = requestBody({ service: 'test.Svc', method: 'Echo', payload: Buffer.alloc(MAX_DATA - 20, 0x61) });
    body = requestBody({
      service: 'test.Svc',
      method: 'Echo',
      payload: Buffer.alloc(MAX_DATA - 20 + (MAX_DATA + 1 - body.length), 0x61),
    });
    expect(body.length).toBe(MAX_DATA + 1);
    await raw.write(rawFrame(1, TYPE_REQUEST, body));
    const res = await raw.nextResponse(5_000);
    expect(res).toMatchObject({
      streamId: 1,
      code: Code.RESOURCE_EXHAUSTED,
      message: 'message length 4194305 exceed maximum message size of 4194304',
    });
    const next = await raw.call(3, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('next') });
    expect(next.code).toBe(Code.OK);
    expect(Buffer.from(next.payload).toString()).toBe('next');
    expect(raw.received).toHaveLength(2);
    await expectStillServing();
  });

  it('survives a header announcing 0xFFFFFFF0 bytes followed by a close', async () => {
    const raw = await openRaw();
    await raw.write(Buffer.concat([rawHeader(0xfffffff0, 1, TYPE_REQUEST), Buffer.alloc(1000, 0x42)]));
    // The answer comes as soon as the header is read, not after 4 GiB.
    const res = await raw.nextResponse();
    expect(res).toMatchObject({ streamId: 1, code: Code.RESOURCE_EXHAUSTED });
    expect(res.message).toBe('message length 4294967280 exceed maximum message size of 4194304');
    raw.socket.end();
    await raw.waitClosed();
    await expectStillServing();
  });

  it('checks the stream id of an oversized request too', async () => {
    const raw = await openRaw();
    await raw.write(Buffer.concat([rawHeader(MAX_DATA + 1, 4, TYPE_REQUEST)]));
    expect(await raw.nextResponse()).toMatchObject({
      streamId: 4,
      code: Code.INVALID_ARGUMENT,
      message: 'StreamID must be odd for client initiated streams',
    });
  });
});

describe('clients that vanish', () => {
  it('aborts the handler signal when the client disappears mid-call', async () => {
    const raw = await openRaw();
    await raw.sendRequest(1, { service: 'test.Svc', method: 'WaitForAbort' });
    const signal = await withTimeout(vanish.started.promise, 2_000, 'the handler to start');
    expect(signal.aborted).toBe(false);
    raw.socket.destroy();
    const reason = await withTimeout(vanish.aborted.promise, 2_000, 'the handler signal to abort');
    expect(signal.aborted).toBe(true);
    expect((reason as { code?: number }).code).toBe(Code.CANCELLED);
    await waitFor(() => live.ttrpc.connectionCount === 0, 'the server to drop the connection');
    await sleep(20);
    expect(unhandled).toEqual([]);
    await expectStillServing();
  });

  it.each(['AnswerLate', 'FailLate'])('copes with %s finishing after its client is gone', async (method) => {
    const raw = await openRaw();
    await raw.sendRequest(1, { service: 'test.Svc', method });
    await withTimeout(vanish.started.promise, 2_000, 'the handler to start');
    raw.socket.destroy();
    const reason = await withTimeout(vanish.aborted.promise, 2_000, 'the handler signal to abort');
    expect((reason as { code?: number }).code).toBe(Code.CANCELLED);
    expect(await withTimeout(vanish.settled.promise, 2_000, 'the handler to finish')).toBe(
      method === 'AnswerLate' ? 'answered' : 'failed',
    );
    await sleep(20);
    expect(unhandled).toEqual([]);
    await expectStillServing();
  });
});

describe('leaks', () => {
  it('returns connectionCount to 0 after many clients come and go', async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => live.connect()));
    const rawConns = await Promise.all(Array.from({ length: 10 }, () => openRaw()));
    await waitFor(() => live.ttrpc.connectionCount === 20, '20 connections');
    await Promise.all(clients.map((c) => c.call('test.Svc', 'Echo', Buffer.from('x'))));
    for (const r of rawConns) r.socket.end();
    await live.closeClients();
    await Promise.all(rawConns.map((r) => r.waitClosed()));
    await waitFor(() => live.ttrpc.connectionCount === 0, 'all connections to close');
    expect(live.ttrpc.connectionCount).toBe(0);
  });

  it('saw no unhandled promise rejection in this file', () => {
    expect(unhandled).toEqual([]);
  });
});
