import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Code, RawResponse, TtrpcClient, TtrpcError, TtrpcServer, decodeRequest, decodeResponse, encodeRequest, listenUnix, type UnixListener } from '../../../src/ttrpc/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serve(server: TtrpcServer, dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  const l: UnixListener = await listenUnix(path);
  server.serve(l.server);
  cleanups.push(async () => {
    await server.shutdown(0);
    await l.close();
  });
  return path;
}

describe('frame-level pass-through (callRaw + RawResponse)', () => {
  it('relays the request envelope up and the response envelope back byte for byte, statuses included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'caa-raw-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const seen: { metadata: string; timeoutNano: number }[] = [];
    const upstream = new TtrpcServer({
      fallback: (payload, ctx) => {
        seen.push({ metadata: ctx.metadata.map((m) => `${m.key}=${m.value}`).join(','), timeoutNano: decodeRequest(ctx.request).timeoutNano });
        if (ctx.method === 'Fail') throw new TtrpcError(Code.ABORTED, 'no', [Buffer.from('0a0178', 'hex')]);
        return Buffer.concat([Buffer.from('re:'), payload]);
      },
    });
    const upPath = await serve(upstream, dir, 'up.sock');
    const upClient = await TtrpcClient.connectUnix(upPath);
    cleanups.push(() => upClient.close());
    const relay = new TtrpcServer({ fallback: async (_p, ctx) => new RawResponse(await upClient.callRaw(ctx.request, { timeoutMs: 5000 })) });
    const relayPath = await serve(relay, dir, 'relay.sock');
    const client = await TtrpcClient.connectUnix(relayPath);
    cleanups.push(() => client.close());

    expect(String(await client.call('x.Svc', 'Echo', Buffer.from('hi'), { metadata: [{ key: 'k', value: 'v' }], timeoutMs: 60_000 }))).toBe('re:hi');
    expect(seen[0]!.metadata).toBe('k=v');
    expect(seen[0]!.timeoutNano).toBeGreaterThan(59e9);
    const err = (await client.call('x.Svc', 'Fail', Buffer.alloc(0)).catch((e: unknown) => e)) as TtrpcError;
    expect(err.code).toBe(Code.ABORTED);
    expect(err.message).toBe('no');
    expect(err.details.map((d) => Buffer.from(d).toString('hex'))).toEqual(['0a0178']);

    // callRaw hands back the envelope undecoded.
    const raw = await upClient.callRaw(encodeRequest({ service: 'x.Svc', method: 'Echo', payload: Buffer.from('z'), timeoutNano: 0, metadata: [] }));
    expect(String(decodeResponse(raw).payload)).toBe('re:z');
  });
});
