/**
 * The agent proxy relays bytes both ways and must not buffer without bound in either: when the
 * forwarder does not read, the proxy stops reading the shim's requests (they stay with the shim);
 * when the shim does not read its answers, the proxy stops reading the forwarder's (they stay with
 * the forwarder, whose server then stops reading too). Every call is answered once the reader reads.
 * Plain TCP to the "forwarder" (a TtrpcServer or a socket that never reads) on loopback.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TtrpcClient } from '../../../src/ttrpc/client.js';
import { TtrpcServer } from '../../../src/ttrpc/server.js';
import { AgentProxy } from '../../../src/tunnel/agent-proxy.js';
import { sleep, waitFor } from '../../helpers/async.js';
import { identityResponse } from '../../../src/tunnel/forwarder-identity.js';
import { HEADER_BYTES, RawConnection, TYPE_RESPONSE, pipelinedRequests, rawFrame, responseBody } from '../../helpers/raw-ttrpc.js';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function listenTcp(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

async function startProxy(port: number): Promise<{ proxy: AgentProxy; socketPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'caa-bp-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'agent.ttrpc');
  const proxy = new AgentProxy({ sandboxId: 's1', socketPath, host: '127.0.0.1', port, tls: undefined, proxyTimeoutMs: 10_000, logger: log });
  cleanups.push(() => proxy.close());
  await proxy.start(AbortSignal.timeout(10_000));
  return { proxy, socketPath };
}

describe('agent proxy backpressure', () => {
  it('stops reading the shim when the forwarder does not read: the requests stay with the shim', async () => {
    const stuck: Socket[] = [];
    // Answers the proxy's identity check (the first frame on every connection), then never reads again.
    const forwarder = createServer((s) => {
      stuck.push(s);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        if (head.length < HEADER_BYTES || head.length < HEADER_BYTES + head.readUInt32BE(0)) return;
        s.off('data', onData);
        s.pause();
        s.write(rawFrame(head.readUInt32BE(4), TYPE_RESPONSE, responseBody({ payload: identityResponse('s1') })));
      };
      s.on('data', onData);
    });
    const port = await listenTcp(forwarder);
    cleanups.push(() => new Promise<void>((r) => forwarder.close(() => r())));
    cleanups.push(() => stuck.forEach((s) => s.destroy()));
    const { proxy, socketPath } = await startProxy(port);

    const shim = await TtrpcClient.connectUnix(socketPath);
    cleanups.push(() => shim.close());
    const payload = Buffer.alloc(64 * 1024, 3);
    const CALLS = 1000; // 64 MiB, under the proxy's cap of calls per connection
    // They fail when the test closes the shim; only how far they got matters here.
    for (let i = 0; i < CALLS; i++) shim.call('grpc.AgentService', 'Echo', payload).catch(() => undefined);

    // The proxy stops reading the shim once its upstream buffer is full; without backpressure it
    // reads every request and queues all 64 MiB for a forwarder that takes none.
    await waitFor(() => proxy.flow.pausedConnections === 1, 'the proxy to stop reading the shim', 10_000);
    const taken = proxy.flow.callsInFlight;
    await sleep(200);
    expect(proxy.flow.callsInFlight).toBe(taken);
    expect(taken).toBeLessThan(CALLS / 4);
  });

  it('stops reading the forwarder when the shim does not read its answers; every call is answered once it does', async () => {
    const ANSWER = 64 * 1024;
    const CALLS = 600;
    const upstream = new TtrpcServer();
    upstream.register('grpc.AgentService', { Big: () => Buffer.alloc(ANSWER, 9) });
    const forwarder = createServer();
    upstream.serve(forwarder);
    const port = await listenTcp(forwarder);
    cleanups.push(() => upstream.shutdown(0));
    const { proxy, socketPath } = await startProxy(port);

    const shim = await RawConnection.open(socketPath);
    cleanups.push(() => void shim.socket.destroy());
    shim.socket.pause(); // does not read, for now
    shim.socket.write(pipelinedRequests(CALLS, () => ({ service: 'grpc.AgentService', method: 'Big' })));

    // The answers stay at the forwarder: the proxy stops reading them (its calls stay in flight)
    // and the forwarder's server stops reading too. Without backpressure the proxy reads every
    // answer (38 MiB) and queues it for the shim, ending with no call in flight.
    await waitFor(() => upstream.pausedConnections === 1, "the forwarder's answers to back up", 10_000);
    for (let last = -1, until = Date.now() + 20_000; proxy.flow.callsInFlight !== last && Date.now() < until; ) {
      last = proxy.flow.callsInFlight;
      await sleep(300);
    }
    expect(proxy.flow.callsInFlight).toBeGreaterThan(CALLS / 2);
    expect(upstream.pausedConnections).toBe(1);

    shim.socket.resume();
    await waitFor(() => shim.received.length === CALLS, `all ${CALLS} answers`, 20_000);
    expect(new Set(shim.received.map((f) => f.streamId)).size).toBe(CALLS);
    expect(shim.received.every((f) => f.length > ANSWER)).toBe(true);
  });
});
