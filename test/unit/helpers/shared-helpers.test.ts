/**
 * The test helpers that several test files now share instead of each writing its own: what they
 * return is what those tests' assertions rest on.
 */
import { describe, expect, it } from 'vitest';
import { Code, TtrpcError } from '../../../src/ttrpc/codes.js';
import { UNTHROTTLED, apiLimitEnv } from '../../helpers/api-limits.js';
import { RawFrameParser, decodeRequestData, pipelinedRequests } from '../../helpers/raw-ttrpc.js';
import { handWrittenSources } from '../../helpers/source-files.js';
import { thrownBy } from '../../helpers/thrown.js';
import { ttrpcFailure } from '../../helpers/ttrpc-failure.js';

describe('shared test helpers', () => {
  it('apiLimitEnv names the three limiter keys of a provider', () => {
    expect(apiLimitEnv('IBMCLOUD', { rate: 5, burst: 7, maxInFlight: 3 })).toEqual({
      IBMCLOUD_API_RATE_LIMIT: '5',
      IBMCLOUD_API_BURST: '7',
      IBMCLOUD_API_MAX_IN_FLIGHT: '3',
    });
    expect(apiLimitEnv('AWS', UNTHROTTLED)).toEqual({ AWS_API_RATE_LIMIT: '1000', AWS_API_BURST: '1000', AWS_API_MAX_IN_FLIGHT: '64' });
  });

  it('thrownBy returns the error of the class asked for, and fails on another class or on no throw', () => {
    const err = new TtrpcError(Code.NOT_FOUND, 'gone');
    expect(thrownBy(() => {
      throw err;
    }, TtrpcError)).toBe(err);
    expect(() => thrownBy(() => {
      throw new Error('plain');
    }, TtrpcError)).toThrow();
    expect(() => thrownBy(() => undefined, TtrpcError)).toThrow(/expected a TtrpcError/);
  });

  it('ttrpcFailure returns the TtrpcError a call rejected with, and fails on anything else', async () => {
    const err = new TtrpcError(Code.UNAVAILABLE, 'closed');
    expect(await ttrpcFailure(Promise.reject(err))).toBe(err);
    await expect(ttrpcFailure(Promise.reject(new Error('plain')))).rejects.toThrow();
    await expect(ttrpcFailure(Promise.resolve('ok'))).rejects.toThrow(/expected the promise to reject/);
  });

  it('pipelinedRequests writes request frames on stream ids 1, 3, 5, … in one buffer', () => {
    const parser = new RawFrameParser();
    parser.push(pipelinedRequests(3, (i) => ({ service: 's', method: `m${i}` })));
    expect(parser.frames.map((f) => f.streamId)).toEqual([1, 3, 5]);
    expect(parser.frames.map((f) => decodeRequestData(f.data).method)).toEqual(['m0', 'm1', 'm2']);
    expect(parser.pendingBytes).toBe(0);
  });

  it('handWrittenSources walks src/ without the generated code', () => {
    const rels = handWrittenSources().map((f) => f.rel);
    expect(rels).toContain('util/timers.ts');
    expect(rels.some((r) => r.startsWith('proto/gen/'))).toBe(false);
    expect(rels.every((r) => r.endsWith('.ts') && !r.endsWith('.d.ts'))).toBe(true);
  });
});
