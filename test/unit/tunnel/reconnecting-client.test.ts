import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, TtrpcError } from '../../../src/ttrpc/codes.js';
import { TtrpcClient } from '../../../src/ttrpc/client.js';
import { decodeResponse, encodeRequestParts } from '../../../src/ttrpc/envelope.js';
import { msToTimeoutNano } from '../../../src/ttrpc/deadline.js';
import { goShimDeadline } from '../../helpers/go-deadline.js';
import { startServer, type LiveServer } from '../../helpers/ttrpc-fixtures.js';
import { ReconnectingClient, isRefused } from '../../../src/tunnel/reconnecting-client.js';
import { captureLogger } from '../../helpers/capture-logger.js';
import { sleep } from '../../helpers/async.js';

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`connect ${code} 10.0.0.1:15150`), { code });

describe('ReconnectingClient dialling', () => {
  it('isRefused: ECONNREFUSED, also as the cause of a ttrpc connect error; nothing else', () => {
    expect(isRefused(errno('ECONNREFUSED'))).toBe(true);
    expect(isRefused(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: connect: …', [], { cause: errno('ECONNREFUSED') }))).toBe(true);
    expect(isRefused(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: connect: …', [], { cause: errno('EHOSTUNREACH') }))).toBe(false);
    expect(isRefused(errno('ETIMEDOUT'))).toBe(false);
    expect(isRefused('ECONNREFUSED')).toBe(false);
  });

  // The delay chosen after the first failed dial is in the first "not reachable yet" line.
  async function firstRetryDelay(err: Error, refusedRetryMs: number | undefined): Promise<number> {
    const { logger, logs } = captureLogger();
    const c = new ReconnectingClient({
      logger,
      connectWaitMs: 60_000,
      backoff: { initialMs: 5_000, maxMs: 5_000 },
      refusedRetryMs,
      dial: async (): Promise<TtrpcClient> => Promise.reject(err),
    });
    c.connect().catch(() => undefined);
    while (!logs.some((l) => l.msg === 'upstream not reachable yet')) await sleep(5);
    c.close();
    return logs.find((l) => l.msg === 'upstream not reachable yet')!.retryInMs as number;
  }

  it('a refused dial is retried within refusedRetryMs; other failures, or no refusedRetryMs, wait the backoff', async () => {
    const refused = new TtrpcError(Code.UNAVAILABLE, 'ttrpc: connect: refused', [], { cause: errno('ECONNREFUSED') });
    expect(await firstRetryDelay(refused, 50)).toBeLessThanOrEqual(50);
    expect(await firstRetryDelay(refused, undefined)).toBeGreaterThanOrEqual(4_000);
    expect(await firstRetryDelay(errno('EHOSTUNREACH'), 50)).toBeGreaterThanOrEqual(4_000);
  });
});

/**
 * A call that finds no connection waits for one within its own deadline — whatever shape the deadline
 * has. The Go shim's are fractional ms (timeout_nano=299999986254); before the fix they reached
 * AbortSignal.timeout, which threw ERR_OUT_OF_RANGE, and the call failed UNAVAILABLE without a dial.
 */
describe('a fresh (not yet connected) ReconnectingClient and deadlines of every shape', () => {
  let upstream: LiveServer;
  const dialled: number[] = [];
  beforeAll(async () => {
    upstream = await startServer((s) => s.register('test.Echo', { Echo: (p) => p }));
  });
  afterAll(async () => {
    await upstream?.stop();
  });

  function fresh(): ReconnectingClient {
    const { logger } = captureLogger();
    return new ReconnectingClient({
      logger,
      connectWaitMs: 60_000,
      dial: (signal) => {
        dialled.push(Date.now());
        return TtrpcClient.connectUnix(upstream.path, { signal });
      },
    });
  }

  const SHAPES: [string, number | undefined][] = [
    ['the Go shim’s 299999986254 ns', 299_999.986254],
    ['Go-shaped, computed at the moment of the call', NaN], // replaced by goShimDeadline() below
    ['0 = no deadline', 0],
    ['none', undefined],
    ['2^31 ms (over setTimeout’s limit)', 2 ** 31],
    ['over 2^32 ms (over AbortSignal.timeout’s limit)', 2 ** 32 + 0.25],
    ['30 days', 30 * 86_400_000],
    ['Infinity', Infinity],
  ];

  it.each(SHAPES)('call(), callRaw() and sendRaw() with %s reach the upstream', async (_name, shape) => {
    const timeoutMs = Number.isNaN(shape) ? goShimDeadline().timeoutMs : shape;
    const payload = Buffer.from('through');
    const before = dialled.length;

    const a = fresh();
    try {
      expect(a.connected).toBe(false);
      expect(String(await a.call('test.Echo', 'Echo', payload, { timeoutMs }))).toBe('through');
    } finally {
      a.close();
    }

    const envelope = Buffer.concat(encodeRequestParts({ service: 'test.Echo', method: 'Echo', payload, timeoutNano: msToTimeoutNano(timeoutMs), metadata: [] }));
    const b = fresh();
    try {
      const res = decodeResponse(await b.callRaw(envelope, { timeoutMs }));
      expect(res.status?.code ?? 0).toBe(0);
      expect(String(res.payload)).toBe('through');
    } finally {
      b.close();
    }

    const c = fresh();
    try {
      const res = await new Promise<Buffer>((resolve, reject) => c.sendRaw(envelope, timeoutMs, (err, r) => (err ? reject(err) : resolve(r!))));
      expect(String(decodeResponse(res).payload)).toBe('through');
    } finally {
      c.close();
    }
    expect(dialled.length - before).toBe(3);
  });

  it.each([
    ['already past (negative)', -0.05],
    ['a fraction of a millisecond, shorter than a dial', 0.000001],
  ])('a deadline %s ends the wait with a TtrpcError, not a RangeError or a hang', async (_name, timeoutMs) => {
    const { logger } = captureLogger();
    // A dial that never completes: the call's own deadline must end the wait.
    const c = new ReconnectingClient({ logger, connectWaitMs: 60_000, dial: (signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))) });
    try {
      const err = await c.call('test.Echo', 'Echo', Buffer.alloc(0), { timeoutMs }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TtrpcError);
      expect([Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED]).toContain((err as TtrpcError).code);
    } finally {
      c.close();
    }
  });
});

/**
 * The shim's deadline does not restart when the relay has waited for its upstream: the call goes on
 * with what is left (before: the whole timeout again, so a call could outlive the shim's deadline by up
 * to PROXY_TIMEOUT).
 */
describe('time spent waiting for a connection counts against the call', () => {
  let upstream: LiveServer;
  const seenDeadlines: number[] = [];
  beforeAll(async () => {
    upstream = await startServer((s) =>
      s.register('test.Echo', {
        Echo: (p, ctx) => {
          seenDeadlines.push((ctx.deadline ?? Infinity) - Date.now());
          return p;
        },
      }),
    );
  });
  afterAll(async () => {
    await upstream?.stop();
  });

  it('the upstream sees the deadline less the time waited for the connection', async () => {
    const { logger } = captureLogger();
    const WAIT_MS = 400;
    const c = new ReconnectingClient({
      logger,
      connectWaitMs: 60_000,
      // The forwarder is "not up yet" for WAIT_MS.
      dial: async (signal) => {
        await sleep(WAIT_MS);
        return TtrpcClient.connectUnix(upstream.path, { signal });
      },
    });
    try {
      await c.call('test.Echo', 'Echo', Buffer.from('x'), { timeoutMs: 10_000 });
      expect(seenDeadlines).toHaveLength(1);
      expect(seenDeadlines[0]!).toBeLessThanOrEqual(10_000 - WAIT_MS + 50);
      expect(seenDeadlines[0]!).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });
});
