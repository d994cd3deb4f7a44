import { describe, expect, it } from 'vitest';
import { Code, TtrpcError } from '../../../src/ttrpc/codes.js';
import type { TtrpcClient } from '../../../src/ttrpc/client.js';
import { ReconnectingClient, isRefused } from '../../../src/tunnel/reconnecting-client.js';
import { captureLogger } from '../../helpers/capture-logger.js';

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
    while (!logs.some((l) => l.msg === 'upstream not reachable yet')) await new Promise((r) => setTimeout(r, 5));
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
