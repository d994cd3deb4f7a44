/**
 * TtrpcServer on a real Unix socket, driven by TtrpcClient and (where the wire itself matters) by
 * the raw-bytes helper.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { Code, TtrpcError } from '../../../src/ttrpc/codes.js';
import { TtrpcServer, type CallContext } from '../../../src/ttrpc/server.js';
import { registerService, serviceClient } from '../../../src/ttrpc/typed.js';
import { Hypervisor } from '../../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { deferred, sleep, waitFor, withTimeout, type Deferred } from '../../helpers/async.js';
import { RawConnection, RawConnections } from '../../helpers/raw-ttrpc.js';
import { startServer, type LiveServer } from '../../helpers/ttrpc-fixtures.js';
import { ttrpcFailure } from '../../helpers/ttrpc-failure.js';

const MAX = 4 * 1024 * 1024;

const ERROR_DETAIL = toBinary(
  AnySchema,
  create(AnySchema, { typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]) }),
);
const ERROR_DETAIL_2 = toBinary(AnySchema, create(AnySchema, { typeUrl: 'x/y', value: new Uint8Array([1, 2, 3, 255]) }));

/** Per-test state the handlers read and write. */
const state: {
  ordered: { expected: number; arrived: number; gate: Deferred<void>; stepMs: number; done: Deferred<void>[] };
  waiting: { started: Deferred<CallContext>; aborted: Deferred<unknown> };
} = {
  ordered: orderedState(0),
  waiting: { started: deferred(), aborted: deferred() },
};

function orderedState(expected: number): typeof state.ordered {
  return {
    expected,
    arrived: 0,
    gate: deferred(),
    stepMs: 2,
    done: Array.from({ length: expected }, () => deferred()),
  };
}

function resetWaiting(): void {
  state.waiting = { started: deferred(), aborted: deferred() };
}

function setupServices(server: TtrpcServer): void {
  server.register('test.Svc', {
    Echo: (payload) => payload,
    Slow50: async (payload) => {
      await sleep(50);
      return payload;
    },
    // Waits until `expected` calls are in the handler at once; then the call of rank r finishes
    // stepMs after the call of rank r-1 did. Chaining (rather than one timer of rank × stepMs each)
    // keeps the completion order exact even when a loaded machine delays timers.
    Ordered: async (payload) => {
      const { rank } = JSON.parse(payload.toString()) as { rank: number };
      const o = state.ordered;
      o.arrived++;
      if (o.arrived === o.expected) o.gate.resolve();
      await o.gate.promise;
      if (rank > 0) await o.done[rank - 1]!.promise;
      await sleep(o.stepMs);
      o.done[rank]!.resolve();
      return payload;
    },
    // Runs until its signal aborts, then fails with the abort reason.
    WaitForAbort: (_payload, ctx) => {
      const w = state.waiting;
      w.started.resolve(ctx);
      return new Promise<Uint8Array>((_, reject) => {
        ctx.signal.addEventListener('abort', () => {
          w.aborted.resolve(ctx.signal.reason);
          reject(ctx.signal.reason);
        });
      });
    },
    FailTtrpc: () => {
      throw new TtrpcError(Code.NOT_FOUND, 'sandbox abc not found', [ERROR_DETAIL, ERROR_DETAIL_2]);
    },
    FailPlain: async () => {
      await sleep(1);
      throw new Error('boom: plain error');
    },
    FailGrpc: async () => {
      throw Object.assign(new Error('already there'), { grpcCode: 6 });
    },
    FailGrpcOutOfRange: async () => {
      throw Object.assign(new Error('odd code'), { grpcCode: 42 });
    },
    FailBadCode: async () => {
      throw new TtrpcError(99, 'code 99');
    },
    FailNonError: async () => {
      throw 'a bare string';
    },
    FailSync: () => {
      throw new Error('synchronous failure');
    },
    Big: () => Buffer.alloc(MAX, 0x5a),
    // Response envelope: 0a 00 (status) + 12 (payload tag) + 4-byte varint length (4194297 ≥ 2^21)
    // + payload = 2 + 1 + 4 + 4194297 = 4194304 = 4 MiB exactly.
    ExactlyMax: () => Buffer.alloc(MAX - 7, 0x5b),
    Meta: (_payload, ctx) =>
      Buffer.from(JSON.stringify({ service: ctx.service, method: ctx.method, metadata: ctx.metadata, deadline: ctx.deadline })),
  });
  registerService(server, Hypervisor, {
    version: (req) => ({ version: `server saw ${req.version}` }),
    createVM: () => {
      throw new TtrpcError(Code.UNIMPLEMENTED, 'createVM');
    },
    startVM: () => {
      throw new TtrpcError(Code.UNIMPLEMENTED, 'startVM');
    },
    stopVM: () => {
      throw new TtrpcError(Code.UNIMPLEMENTED, 'stopVM');
    },
  });
}

let live: LiveServer;
const raws = new RawConnections();
const openRaw = (): Promise<RawConnection> => raws.open(live.path);

beforeAll(async () => {
  live = await startServer(setupServices);
});

afterEach(async () => {
  await raws.closeAll();
  await live.closeClients();
  resetWaiting();
});

afterAll(async () => {
  await live?.stop();
});

/** The status a call failed with, as plain fields (what crosses the wire). */
async function codeOf(p: Promise<unknown>): Promise<{ code: number; message: string; details: readonly Uint8Array[] }> {
  const e = await ttrpcFailure(p);
  return { code: e.code, message: e.message, details: e.details };
}

/** The status of a call with an empty payload on a fresh connection to the shared server. */
async function failedCall(service: string, method: string): Promise<{ code: number; message: string; details: readonly Uint8Array[] }> {
  const client = await live.connect();
  return codeOf(client.call(service, method, new Uint8Array(0)));
}

describe('round trip', () => {
  it('echoes a payload', async () => {
    const client = await live.connect();
    const reply = await client.call('test.Svc', 'Echo', Buffer.from('hello, ttrpc ✓'));
    expect(reply.toString()).toBe('hello, ttrpc ✓');
    expect(client.inFlight).toBe(0);
  });

  it('echoes an empty payload', async () => {
    const client = await live.connect();
    expect((await client.call('test.Svc', 'Echo', new Uint8Array(0))).length).toBe(0);
  });

  it('answers a success with an empty status sub-message on the wire (0a 00)', async () => {
    const raw = await openRaw();
    await raw.sendRequest(1, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('hi') });
    const f = await raw.nextFrame();
    expect(f.streamId).toBe(1);
    expect(f.type).toBe(0x02);
    expect(f.flags).toBe(0);
    expect(f.data.toString('hex')).toBe('0a00' + '1202' + '6869');
  });

  it('hands the handler service, method, metadata and deadline', async () => {
    const client = await live.connect();
    const before = Date.now();
    const reply = await client.call('test.Svc', 'Meta', new Uint8Array(0), {
      metadata: [
        { key: 'k1', value: 'v1' },
        { key: 'ключ', value: '値' },
      ],
      timeoutMs: 10_000,
    });
    const got = JSON.parse(reply.toString()) as { service: string; method: string; metadata: unknown; deadline: number };
    expect(got.service).toBe('test.Svc');
    expect(got.method).toBe('Meta');
    expect(got.metadata).toEqual([
      { key: 'k1', value: 'v1' },
      { key: 'ключ', value: '値' },
    ]);
    expect(got.deadline).toBeGreaterThanOrEqual(before + 9_000);
    expect(got.deadline).toBeLessThanOrEqual(Date.now() + 10_000);
  });

  it('passes metadata with an empty value through to the handler', async () => {
    const client = await live.connect();
    const metadata = [
      { key: 'empty-value', value: '' },
      { key: 'k', value: 'v' },
    ];
    const reply = await client.call('test.Svc', 'Meta', Buffer.from('x'), { metadata });
    expect((JSON.parse(reply.toString()) as { metadata: unknown }).metadata).toEqual(metadata);
  });

  it('gives no deadline when no timeout was sent', async () => {
    const client = await live.connect();
    const got = JSON.parse((await client.call('test.Svc', 'Meta', new Uint8Array(0))).toString()) as Record<string, unknown>;
    expect(got).not.toHaveProperty('deadline');
  });

  it('serves typed services registered from generated descriptors', async () => {
    const client = await live.connect();
    const hv = serviceClient(client, Hypervisor);
    const res = await hv.version({ version: '0.0.0' });
    expect(res.version).toBe('server saw 0.0.0');
    const err = await codeOf(hv.createVM({ id: 'x' }));
    expect(err).toMatchObject({ code: Code.UNIMPLEMENTED, message: 'createVM' });
  });

  it('answers INVALID_ARGUMENT when a typed handler cannot decode its request', async () => {
    const client = await live.connect();
    const err = await codeOf(client.call('hypervisor.Hypervisor', 'Version', Buffer.from([0x0a, 0x05, 0x61])));
    expect(err.code).toBe(Code.INVALID_ARGUMENT);
    expect(err.message).toMatch(/^unmarshal hypervisor\.VersionRequest error: /);
  });
});

describe('concurrency', () => {
  function ranks(n: number): number[] {
    // A fixed permutation of 0..n-1 (37 is coprime with 100).
    return Array.from({ length: n }, (_, i) => (i * 37) % n);
  }

  it('answers 100 concurrent calls on one connection in completion order, matched by stream id', async () => {
    const n = 100;
    state.ordered = orderedState(n);
    const rank = ranks(n);
    const client = await live.connect();
    const order: number[] = [];
    const calls = rank.map((r, i) =>
      client.call('test.Svc', 'Ordered', Buffer.from(JSON.stringify({ i, rank: r }))).then((reply) => {
        const got = JSON.parse(reply.toString()) as { i: number; rank: number };
        expect(got).toEqual({ i, rank: r });
        order.push(i);
      }),
    );
    expect(client.inFlight).toBe(n);
    await withTimeout(Promise.all(calls), 10_000, '100 concurrent calls');
    // All 100 handlers were in flight at once (the gate opens only then), and answers came by rank.
    expect(state.ordered.arrived).toBe(n);
    const expected = [...rank.keys()].sort((a, b) => rank[a]! - rank[b]!);
    expect(order).toEqual(expected);
    expect(client.inFlight).toBe(0);
  });

  it('puts answers on the wire in completion order with the right stream ids', async () => {
    const n = 100;
    state.ordered = orderedState(n);
    const rank = ranks(n);
    const raw = await openRaw();
    for (let i = 0; i < n; i++) {
      await raw.sendRequest(2 * i + 1, {
        service: 'test.Svc',
        method: 'Ordered',
        payload: Buffer.from(JSON.stringify({ i, rank: rank[i] })),
      });
    }
    const streams: number[] = [];
    for (let k = 0; k < n; k++) {
      const res = await raw.nextResponse(5_000);
      expect(res.code).toBe(Code.OK);
      const { i } = JSON.parse(Buffer.from(res.payload).toString()) as { i: number };
      expect(res.streamId).toBe(2 * i + 1);
      streams.push(res.streamId);
    }
    const expected = [...rank.keys()].sort((a, b) => rank[a]! - rank[b]!).map((i) => 2 * i + 1);
    expect(streams).toEqual(expected);
  });

  it('serves many connections at once', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => live.connect()));
    await waitFor(() => live.ttrpc.connectionCount === 20, '20 server connections');
    const results = await Promise.all(
      clients.flatMap((c, ci) =>
        Array.from({ length: 10 }, (_, k) =>
          c.call('test.Svc', 'Echo', Buffer.from(`c${ci}-k${k}`)).then((r) => [r.toString(), `c${ci}-k${k}`]),
        ),
      ),
    );
    expect(results).toHaveLength(200);
    for (const [got, want] of results) expect(got).toBe(want);
    await live.closeClients();
    expect(live.ttrpc.connectionCount).toBe(0);
  });
});

describe('deadlines', () => {
  it('aborts the handler signal at the deadline and the client gets DEADLINE_EXCEEDED', async () => {
    const client = await live.connect();
    const started = Date.now();
    const err = await codeOf(client.call('test.Svc', 'WaitForAbort', new Uint8Array(0), { timeoutMs: 100 }));
    expect(err.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    const reason = await withTimeout(state.waiting.aborted.promise, 2_000, 'the handler signal to abort');
    expect(reason).toBeInstanceOf(TtrpcError);
    expect((reason as TtrpcError).code).toBe(Code.DEADLINE_EXCEEDED);
  });

  it('answers DEADLINE_EXCEEDED from the server itself on the caller\'s stream', async () => {
    const raw = await openRaw();
    const started = Date.now();
    await raw.sendRequest(7, { service: 'test.Svc', method: 'WaitForAbort', timeoutNano: 50_000_000n });
    const ctx = await withTimeout(state.waiting.started.promise, 2_000, 'the handler to start');
    expect(ctx.deadline).toBeGreaterThanOrEqual(started + 40);
    expect(ctx.deadline).toBeLessThanOrEqual(Date.now() + 50);
    const res = await raw.nextResponse(2_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(res).toMatchObject({ streamId: 7, code: Code.DEADLINE_EXCEEDED, message: 'context deadline exceeded' });
    expect(ctx.signal.aborted).toBe(true);
    // Only one answer for the stream, even though the handler then rejected too.
    await sleep(50);
    expect(raw.queued).toBe(0);
    // The connection lives on.
    expect((await raw.call(9, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('z') })).code).toBe(Code.OK);
  });

  it('does not expire a deadline longer than setTimeout can hold (30 days) at once', async () => {
    // 30 days = 2 592 000 000 ms, above setTimeout's 2^31-1 ms limit.
    const raw = await openRaw();
    const res = await raw.call(1, {
      service: 'test.Svc',
      method: 'Slow50',
      payload: Buffer.from('long deadline'),
      timeoutNano: 30n * 24n * 3600n * 1_000_000_000n,
    });
    expect({ code: res.code, message: res.message }).toEqual({ code: 0, message: '' });
    expect(Buffer.from(res.payload).toString()).toBe('long deadline');
  });

  it.each([
    ['the Go shim’s fractional ms', 299_999_986_254n],
    ['a nanosecond over 2^31 ms', 2n ** 31n * 1_000_000n + 1n],
    ['the largest int64', 2n ** 63n - 1n],
  ])('a timeout_nano of %s is served, with the deadline the caller meant', async (_name, timeoutNano) => {
    const raw = await openRaw();
    const res = await raw.call(1, { service: 'test.Svc', method: 'Slow50', payload: Buffer.from('ok'), timeoutNano });
    expect({ code: res.code, message: res.message }).toEqual({ code: 0, message: '' });
    expect(Buffer.from(res.payload).toString()).toBe('ok');
  });
});

describe('errors from handlers', () => {
  it('passes a TtrpcError code, message and details through', async () => {
    const client = await live.connect();
    const err = await codeOf(client.call('test.Svc', 'FailTtrpc', new Uint8Array(0)));
    expect(err.code).toBe(Code.NOT_FOUND);
    expect(err.message).toBe('sandbox abc not found');
    expect(err.details.map((d) => Buffer.from(d).toString('hex'))).toEqual([
      Buffer.from(ERROR_DETAIL).toString('hex'),
      Buffer.from(ERROR_DETAIL_2).toString('hex'),
    ]);
  });

  // How the server turns what a handler threw (or a call it cannot route) into a status.
  it.each([
    ['turns a plain Error into UNKNOWN (2) with its message', 'test.Svc', 'FailPlain', Code.UNKNOWN, 'boom: plain error'],
    ['turns a synchronous throw into UNKNOWN with its message', 'test.Svc', 'FailSync', Code.UNKNOWN, 'synchronous failure'],
    ['uses the grpcCode property of an Error (6 → ALREADY_EXISTS)', 'test.Svc', 'FailGrpc', Code.ALREADY_EXISTS, 'already there'],
    ['never lets a code outside 1..16 onto the wire (grpcCode out of range)', 'test.Svc', 'FailGrpcOutOfRange', Code.UNKNOWN, 'odd code'],
    ['never lets a code outside 1..16 onto the wire (a TtrpcError with code 99)', 'test.Svc', 'FailBadCode', Code.UNKNOWN, 'code 99'],
    ['turns a thrown non-Error into UNKNOWN', 'test.Svc', 'FailNonError', Code.UNKNOWN, 'a bare string'],
    ['answers UNIMPLEMENTED "service X" for an unknown service', 'no.Such', 'Echo', Code.UNIMPLEMENTED, 'service no.Such'],
    ['answers UNIMPLEMENTED "method X" for an unknown method', 'test.Svc', 'Nope', Code.UNIMPLEMENTED, 'method Nope'],
  ])('%s', async (_what, service, method, code, message) => {
    expect(await failedCall(service, method)).toMatchObject({ code, message });
  });

  it('replaces a response over 4 MiB with RESOURCE_EXHAUSTED and keeps the connection', async () => {
    const client = await live.connect();
    const err = await codeOf(client.call('test.Svc', 'Big', new Uint8Array(0)));
    expect(err.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/exceed maximum message size of 4194304/);
    expect((await client.call('test.Svc', 'Echo', Buffer.from('after'))).toString()).toBe('after');
  });

  it('still sends a response of exactly 4 MiB', async () => {
    const client = await live.connect();
    const reply = await client.call('test.Svc', 'ExactlyMax', new Uint8Array(0));
    expect(reply.length).toBe(MAX - 7);
    expect(reply[0]).toBe(0x5b);
    expect(reply[reply.length - 1]).toBe(0x5b);
  });
});

describe('fallback handler and shutdown', () => {
  let other: LiveServer | undefined;
  afterEach(async () => {
    await other?.stop();
    other = undefined;
  });

  it('routes unknown services to the fallback, but not unknown methods of known services', async () => {
    const seen: string[] = [];
    other = await startServer(
      (s) => s.register('known.Svc', { A: () => Buffer.from('a') }),
      {
        fallback: (payload, ctx) => {
          seen.push(`${ctx.service}/${ctx.method}`);
          return ctx.service === 'proxied.Svc' ? Buffer.concat([Buffer.from('fb:'), payload]) : undefined;
        },
      },
    );
    const c = await other.connect();
    expect((await c.call('proxied.Svc', 'Any', Buffer.from('p'))).toString()).toBe('fb:p');
    expect(await codeOf(c.call('gone.Svc', 'X', new Uint8Array(0)))).toMatchObject({ code: Code.UNIMPLEMENTED, message: 'service gone.Svc' });
    expect(await codeOf(c.call('known.Svc', 'B', new Uint8Array(0)))).toMatchObject({ code: Code.UNIMPLEMENTED, message: 'method B' });
    expect(seen).toEqual(['proxied.Svc/Any', 'gone.Svc/X']);
  });

  it('shutdown lets a call in flight finish, refuses new ones and closes connections', async () => {
    const release = deferred<void>();
    const entered = deferred<void>();
    other = await startServer((s) =>
      s.register('s.S', {
        Slow: async () => {
          entered.resolve();
          await release.promise;
          return Buffer.from('done');
        },
        Fast: () => Buffer.from('fast'),
      }),
    );
    const c = await other.connect();
    const slow = c.call('s.S', 'Slow', new Uint8Array(0));
    await entered.promise;
    const down = other.ttrpc.shutdown(5_000);
    expect(other.ttrpc.isDraining).toBe(true);
    expect(await codeOf(c.call('s.S', 'Fast', new Uint8Array(0)))).toMatchObject({ code: Code.UNAVAILABLE });
    release.resolve();
    expect((await slow).toString()).toBe('done');
    await down;
    await withTimeout(c.closed, 2_000, 'the client to see the connection close');
    expect(other.ttrpc.connectionCount).toBe(0);
  });
});
