/**
 * The agent proxy reaches only its own sandbox's forwarder, also when TLS verification is relaxed
 * (TLS_SKIP_VERIFY) or off (DISABLE_TLS): real sockets, a real Forwarder, the proxy's own dial.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Code, TtrpcClient, TtrpcError, TtrpcServer, listenUnix } from '../../src/ttrpc/index.js';
import { AgentProxy } from '../../src/tunnel/agent-proxy.js';
import { Forwarder } from '../../src/tunnel/forwarder.js';
import { ForwarderIdentityError, IDENTITY_METHOD, IDENTITY_SERVICE } from '../../src/tunnel/forwarder-identity.js';
import { isTunnelError } from '../../src/tunnel/errors.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { testPki, type Pem } from '../helpers/test-certs.js';
import { createServer } from 'node:net';

const MINE = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
/** Far longer than the test's own timeout: a start that waited for it would fail the test. */
const PROXY_TIMEOUT_MS = 600_000;

let pki: { ca: string; server: Pem; client: Pem };
beforeAll(async () => {
  pki = await testPki('podvm-other-bbbbbbbb');
});

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'caa-identity-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Calls each forwarder's agent received, by sandbox id. */
const agentCalls = new Map<string | undefined, number>();

/** A forwarder with an echoing agent behind it, as a VM of `sandboxId` runs it; returns its port and how to stop it. */
async function startForwarder(sandboxId: string | undefined, tls: TlsOptions | undefined, port = 0): Promise<{ port: number; stop(): Promise<void> }> {
  const dir = await tempDir();
  const agentSocket = join(dir, 'agent.sock');
  const agent = new TtrpcServer({
    fallback: (payload) => {
      agentCalls.set(sandboxId, (agentCalls.get(sandboxId) ?? 0) + 1);
      return payload;
    },
  });
  const listener = await listenUnix(agentSocket);
  agent.serve(listener.server);
  const fwd = new Forwarder({ host: '127.0.0.1', port, tls, agentSocket, agentWaitMs: 5000, podNetnsPath: undefined, sandboxId, logger: captureLogger().logger });
  const bound = await fwd.start();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await fwd.close();
    await agent.shutdown(0);
    await listener.close();
  };
  cleanups.push(stop);
  return { port: bound, stop };
}

async function forwarder(sandboxId: string | undefined, tls: TlsOptions | undefined): Promise<number> {
  return (await startForwarder(sandboxId, tls)).port;
}

async function proxyTo(port: number, tls: ConnectionOptions | undefined) {
  const dir = await tempDir();
  const { logger, logs } = captureLogger();
  const proxy = new AgentProxy({ sandboxId: MINE, socketPath: join(dir, 'agent.ttrpc'), host: '127.0.0.1', port, tls, proxyTimeoutMs: PROXY_TIMEOUT_MS, logger });
  cleanups.push(() => proxy.close());
  return { proxy, logs, socket: join(dir, 'agent.ttrpc') };
}

const serverTls = (): TlsOptions => ({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true });
/** TLS_SKIP_VERIFY: the client certificate is still sent, the server's is not checked. */
const skipVerify = (): ConnectionOptions => ({ cert: pki.client.cert, key: pki.client.key, servername: 'podvm-mine-aaaaaaaa', rejectUnauthorized: false });

describe('the agent proxy and another sandbox\'s forwarder', () => {
  it('refuses it at once with TLS verification skipped, naming both sandboxes', { timeout: 20_000 }, async () => {
    const port = await forwarder(OTHER, serverTls());
    const { proxy, logs } = await proxyTo(port, skipVerify());
    await expect(proxy.start(AbortSignal.timeout(PROXY_TIMEOUT_MS))).rejects.toThrow(
      `failed to establish agent proxy connection to 127.0.0.1:${port}: the forwarder there serves sandbox ${OTHER}, not ${MINE}`,
    );
    expect(proxy.upstreamConnections).toBe(0);
    expect(logs.some((l) => l.msg.startsWith(`refused the forwarder at 127.0.0.1:${port}`))).toBe(true);
  });

  it('the refusal is a TunnelError IDENTITY_MISMATCH whose cause is the ForwarderIdentityError', { timeout: 20_000 }, async () => {
    const port = await forwarder(OTHER, undefined);
    const { proxy } = await proxyTo(port, undefined);
    const err = await proxy.start(AbortSignal.timeout(PROXY_TIMEOUT_MS)).catch((e: unknown) => e);
    expect(isTunnelError(err, 'IDENTITY_MISMATCH')).toBe(true);
    expect((err as Error).cause).toBeInstanceOf(ForwarderIdentityError);
    expect((err as Error).cause).toMatchObject({ code: 'FORWARDER_MISMATCH', expected: MINE, found: OTHER });
  });

  it('refuses it with TLS disabled', { timeout: 20_000 }, async () => {
    const port = await forwarder(OTHER, undefined);
    const { proxy } = await proxyTo(port, undefined);
    await expect(proxy.start(AbortSignal.timeout(PROXY_TIMEOUT_MS))).rejects.toThrow(`serves sandbox ${OTHER}, not ${MINE}`);
  });
});

describe('a running sandbox whose forwarder is replaced by another sandbox\'s on the same address', () => {
  it('never relays a call to it, and logs the refusal once however often it re-dials', { timeout: 20_000 }, async () => {
    const mine = await startForwarder(MINE, undefined);
    const { proxy, socket, logs } = await proxyTo(mine.port, undefined);
    await proxy.start(AbortSignal.timeout(10_000));
    await mine.stop();
    await startForwarder(OTHER, undefined, mine.port);
    const shim = await TtrpcClient.connectUnix(socket);
    cleanups.push(() => shim.close());
    // The proxy re-dials every ≤ 250 ms while the call waits for a connection of its own sandbox.
    const err = (await shim.call('grpc.AgentService', 'Anything', Buffer.from('x'), { timeoutMs: 2000 }).catch((e: unknown) => e)) as TtrpcError;
    expect(err).toBeInstanceOf(TtrpcError);
    expect(agentCalls.get(OTHER) ?? 0).toBe(0);
    expect(logs.filter((l) => l.msg.startsWith('refused the forwarder')).map((l) => l.msg)).toEqual([
      `refused the forwarder at 127.0.0.1:${mine.port}: the forwarder there serves sandbox ${OTHER}, not ${MINE}`,
    ]);
  });
});

describe('the agent proxy and its own sandbox\'s forwarder', () => {
  it('connects with TLS verification skipped, and relays the shim\'s calls', { timeout: 20_000 }, async () => {
    const port = await forwarder(MINE, serverTls());
    const { proxy, socket, logs } = await proxyTo(port, skipVerify());
    await proxy.start(AbortSignal.timeout(10_000));
    const shim = await TtrpcClient.connectUnix(socket);
    cleanups.push(() => shim.close());
    expect((await shim.call('grpc.AgentService', 'Anything', Buffer.from('hello'))).toString()).toBe('hello');
    expect(logs.some((l) => l.msg.includes('cannot confirm'))).toBe(false);
  });

  it('answers the identity method itself: it never reaches the agent', { timeout: 20_000 }, async () => {
    const port = await forwarder(MINE, undefined);
    const client = await TtrpcClient.connectTcp({ host: '127.0.0.1', port });
    cleanups.push(() => client.close());
    const answer = await client.call(IDENTITY_SERVICE, IDENTITY_METHOD, new Uint8Array(0));
    // google.protobuf.StringValue { value = 1 }: tag 0x0a, length 64, the id.
    expect(answer).toEqual(Buffer.concat([Buffer.from([0x0a, 64]), Buffer.from(MINE)]));
  });
});

describe('a forwarder that cannot say which sandbox it serves', () => {
  /** An older forwarder: relays the identity call to an agent, which does not know it. */
  async function olderForwarder(): Promise<number> {
    const server = new TtrpcServer({
      fallback: (payload, ctx) => {
        if (ctx.service === IDENTITY_SERVICE) throw new TtrpcError(Code.UNIMPLEMENTED, `service ${ctx.service}`);
        return payload;
      },
    });
    const tcp = createServer();
    server.serve(tcp);
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      await server.shutdown(0);
      tcp.close();
    });
    return (tcp.address() as { port: number }).port;
  }

  it('is accepted with a warning when TLS is off (documented: an older pod VM image keeps working)', { timeout: 20_000 }, async () => {
    const port = await olderForwarder();
    const { proxy, logs } = await proxyTo(port, undefined);
    await proxy.start(AbortSignal.timeout(10_000));
    expect(proxy.upstreamConnections).toBe(1);
    const warning = logs.find((l) => l.msg.startsWith(`cannot confirm that the forwarder at 127.0.0.1:${port} serves sandbox ${MINE}`));
    expect(warning?.msg).toMatch(/does not answer caa\.peerpod\.Forwarder\/Identity .*with TLS verification relaxed nothing else checks it$/);
    expect(warning?.level).toBe(40);
  });

  it('is accepted when the VM was not told its sandbox id (apf.json from an older daemon)', { timeout: 20_000 }, async () => {
    const port = await forwarder(undefined, undefined);
    const { proxy, logs } = await proxyTo(port, undefined);
    await proxy.start(AbortSignal.timeout(10_000));
    expect(logs.some((l) => l.msg.includes('apf.json without sandbox-id'))).toBe(true);
  });
});
