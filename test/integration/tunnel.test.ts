/**
 * The agent path end to end on real sockets and real mutual TLS:
 * shim (TtrpcClient) → agent.ttrpc → AgentProxy → mTLS → Forwarder → agent socket → a recording agent.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CreateContainerRequestSchema, CreateSandboxRequestSchema } from '../../src/proto/gen/agent/agent_pb.js';
import { SpecSchema } from '../../src/proto/gen/agent/oci_pb.js';
import { Code, TtrpcClient, TtrpcError, TtrpcServer, listenUnix, type UnixListener } from '../../src/ttrpc/index.js';
import { AgentProxy } from '../../src/tunnel/agent-proxy.js';
import { isTunnelError } from '../../src/tunnel/errors.js';
import { CDI_ANNOTATION, GPU_ANNOTATION } from '../../src/tunnel/container-rewrites.js';
import { Forwarder } from '../../src/tunnel/forwarder.js';
import { testPki, type Pem } from '../helpers/test-certs.js';
import { makeTempDir, removeDir, sleep } from '../helpers/async.js';
import { GoDeadline, goShimDeadline } from '../helpers/go-deadline.js';
import { PolicyGate, presetPolicy } from '../../src/tunnel/policy/index.js';
import { SetPolicyRequestSchema } from '../../src/proto/gen/agent/agent_pb.js';

const log = pino({ level: 'silent' });

interface Recorded {
  service: string;
  method: string;
  payload: Buffer;
}

/** A minimal agent: records every call, answers Health, echoes anything else; can fail on demand. */
class RecordingAgent {
  readonly calls: Recorded[] = [];
  delayMs = 0;
  private constructor(private readonly listener: UnixListener, private readonly server: TtrpcServer) {}
  static async start(path: string, agent?: RecordingAgent): Promise<RecordingAgent> {
    const calls = agent?.calls ?? [];
    const server = new TtrpcServer({
      fallback: async (payload, ctx) => {
        calls.push({ service: ctx.service, method: ctx.method, payload: Buffer.from(payload) });
        if (ctx.method === 'Fail') throw new TtrpcError(Code.FAILED_PRECONDITION, 'agent says no', [Buffer.from('0a0474797065', 'hex')]);
        if (ctx.method === 'Slow') await sleep(2000);
        return payload;
      },
    });
    const listener = await listenUnix(path);
    server.serve(listener.server);
    const a = new RecordingAgent(listener, server);
    (a as { calls: Recorded[] }).calls = calls;
    return a;
  }
  async close(): Promise<void> {
    await this.server.shutdown(0);
    await this.listener.close();
  }
}

let pki: { ca: string; server: Pem; client: Pem };
const NAME = 'podvm-nginx-a1b2c3d4';
beforeAll(async () => {
  pki = await testPki(NAME);
});

interface Chain {
  dir: string;
  agent: RecordingAgent;
  forwarder: Forwarder;
  port: number;
  proxy: AgentProxy;
  shim: TtrpcClient;
  agentSocket: string;
  extra: { close(): void | Promise<void> }[];
}
let chain: Chain | undefined;

function forwarderFor(agentSocket: string, port: number, podNetnsPath: string | undefined, gate?: PolicyGate): Forwarder {
  return new Forwarder({
    gate,
    host: '127.0.0.1',
    port,
    tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
    agentSocket,
    agentWaitMs: 10_000,
    podNetnsPath,
    logger: log,
  });
}

/** The shim-side end of the tunnel: an AgentProxy on `dir`/agent.ttrpc dialling the forwarder at `port`. */
function proxyFor(dir: string, port: number, options: { sandboxId?: string; servername?: string; proxyTimeoutMs: number; tls?: false }): AgentProxy {
  return new AgentProxy({
    sandboxId: options.sandboxId ?? 's',
    socketPath: join(dir, 'agent.ttrpc'),
    host: '127.0.0.1',
    port,
    tls: options.tls === false ? undefined : { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, servername: options.servername ?? NAME },
    proxyTimeoutMs: options.proxyTimeoutMs,
    logger: log,
  });
}

async function startChain(options: { podNetnsPath?: string; startAgent?: boolean; gate?: PolicyGate } = {}): Promise<Chain> {
  const dir = await makeTempDir('caa-tunnel-');
  const agentSocket = join(dir, 'agent.sock');
  const agent = options.startAgent === false ? (undefined as unknown as RecordingAgent) : await RecordingAgent.start(agentSocket);
  const forwarder = forwarderFor(agentSocket, 0, options.podNetnsPath, options.gate);
  const port = await forwarder.start();
  const proxy = proxyFor(dir, port, { sandboxId: 's1', proxyTimeoutMs: 10_000 });
  await proxy.start(AbortSignal.timeout(10_000));
  const shim = await TtrpcClient.connectUnix(join(dir, 'agent.ttrpc'));
  chain = { dir, agent, forwarder, port, proxy, shim, agentSocket, extra: [] };
  return chain;
}

afterEach(closeChain);

async function closeChain(): Promise<void> {
  if (!chain) return;
  const c = chain;
  chain = undefined;
  c.shim.close();
  for (const e of c.extra) await e.close();
  await c.proxy.close();
  await c.forwarder.close();
  await c.agent?.close();
  await removeDir(c.dir);
}

describe('agent tunnel', () => {
  // The Go shim's deadlines are "time left" in ns, fractional ms (timeout_nano=299999986254). The
  // forwarder dials the agent on the first call, so that call waits for a connection within its
  // deadline: before the fix AbortSignal.timeout threw on it and the call failed UNAVAILABLE.
  it('the Go shim’s first calls through a fresh tunnel, with fractional-ms deadlines, reach the agent', async () => {
    const c = await startChain({ podNetnsPath: '/run/netns/podns' });
    expect(String(await c.shim.call('grpc.AgentService', 'Echo', Buffer.from('first'), goShimDeadline()))).toBe('first');
    const req = toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { containerId: 'c1' }));
    await c.shim.call('grpc.AgentService', 'CreateContainer', req, goShimDeadline(60_000)); // the rewriting (promise) path
    expect(c.agent.calls.map((k) => k.method)).toEqual(['Echo', 'CreateContainer']);
  });

  it('deadlines of every shape cross a fresh tunnel: none, 0, over 2^31 ms, over 2^32 ms', async () => {
    for (const timeoutMs of [undefined, 0, 2 ** 31 + 0.5, 2 ** 32 + 1.25, 30 * 86_400_000]) {
      const c = await startChain();
      expect(String(await c.shim.call('grpc.AgentService', 'Echo', Buffer.from(`t${timeoutMs}`), { timeoutMs }))).toBe(`t${timeoutMs}`);
      await closeChain();
    }
  });

  it('an agent method unknown to our protos passes through unchanged, metadata included', async () => {
    const c = await startChain();
    const payload = Buffer.from('0a03616263ba0602ffee', 'hex');
    const reply = await c.shim.call('grpc.AgentService', 'SomeFutureMethod', payload, { metadata: [{ key: 'k', value: 'v' }] });
    expect(reply).toEqual(payload);
    expect(c.agent.calls.at(-1)).toMatchObject({ service: 'grpc.AgentService', method: 'SomeFutureMethod' });
    expect(c.agent.calls.at(-1)!.payload).toEqual(payload);
  });

  it('an agent status with details comes back unchanged', async () => {
    const c = await startChain();
    const err = (await c.shim.call('grpc.AgentService', 'Fail', Buffer.alloc(0)).catch((e: unknown) => e)) as TtrpcError;
    expect(err).toBeInstanceOf(TtrpcError);
    expect(err.code).toBe(Code.FAILED_PRECONDITION);
    expect(err.message).toBe('agent says no');
    expect(err.details.map((d) => Buffer.from(d).toString('hex'))).toEqual(['0a0474797065']);
  });

  it('CreateSandbox reaches the agent without dns; other fields, also unknown ones, intact', async () => {
    const c = await startChain();
    const req = toBinary(CreateSandboxRequestSchema, create(CreateSandboxRequestSchema, { hostname: 'nginx', dns: ['nameserver 10.96.0.10'], sandboxId: 's1' }));
    const withUnknown = Buffer.concat([req, Buffer.from('3801', 'hex')]); // field 7 (varint) unknown to our schema
    await c.shim.call('grpc.AgentService', 'CreateSandbox', withUnknown);
    const got = c.agent.calls.at(-1)!.payload;
    const decoded = fromBinary(CreateSandboxRequestSchema, got);
    expect(decoded.dns).toEqual([]);
    expect(decoded.hostname).toBe('nginx');
    expect(decoded.sandboxId).toBe('s1');
    expect(got.subarray(-2).toString('hex')).toBe('3801');
  });

  it('CreateContainer gains the podns namespace (VM side) and the CDI annotation for GPU pods (worker side)', async () => {
    const c = await startChain({ podNetnsPath: '/run/netns/podns' });
    const spec = create(SpecSchema, { Annotations: { [GPU_ANNOTATION]: '1' } });
    const req = toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { containerId: 'c1', OCI: spec }));
    await c.shim.call('grpc.AgentService', 'CreateContainer', req);
    const got = fromBinary(CreateContainerRequestSchema, c.agent.calls.at(-1)!.payload);
    expect(got.containerId).toBe('c1');
    expect(got.OCI?.Linux?.Namespaces).toEqual([expect.objectContaining({ Type: 'network', Path: '/run/netns/podns' })]);
    expect(got.OCI?.Annotations[CDI_ANNOTATION]).toBe('nvidia.com/gpu=all');
  });

  it('without a pod network CreateContainer keeps its namespaces', async () => {
    const c = await startChain();
    const req = toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { containerId: 'c1' }));
    await c.shim.call('grpc.AgentService', 'CreateContainer', req);
    const got = fromBinary(CreateContainerRequestSchema, c.agent.calls.at(-1)!.payload);
    expect(got.OCI?.Linux?.Namespaces ?? []).toEqual([]);
  });

  it('100 concurrent calls from several shim connections share one upstream connection', async () => {
    const c = await startChain();
    const second = await TtrpcClient.connectUnix(join(c.dir, 'agent.ttrpc'));
    c.extra.push(second);
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? c.shim : second).call('grpc.AgentService', 'Echo', Buffer.from(`m${i}`))),
    );
    expect(replies.map(String)).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    expect(c.proxy.upstreamConnections).toBe(1);
  });

  it('a message near 4 MiB crosses the tunnel byte-exact', async () => {
    const c = await startChain();
    const big = Buffer.alloc((4 << 20) - 256, 7);
    big[12345] = 1;
    expect((await c.shim.call('grpc.AgentService', 'Echo', big)).equals(big)).toBe(true);
  });

  it('the forwarder restarts mid-session: calls in flight fail UNAVAILABLE, later calls succeed', async () => {
    const c = await startChain();
    const inFlight = c.shim.call('grpc.AgentService', 'Slow', Buffer.alloc(0)).catch((e: unknown) => e);
    await sleep(100);
    await c.forwarder.close();
    const err = (await inFlight) as TtrpcError;
    expect(err.code).toBe(Code.UNAVAILABLE);
    // The shim's next call, with its Go-shaped deadline, arrives while the proxy has no upstream connection.
    const after = c.shim.call('grpc.AgentService', 'Echo', Buffer.from('after'), goShimDeadline(10_000));
    await sleep(100);
    c.forwarder = forwarderFor(c.agentSocket, c.port, undefined);
    await c.forwarder.start();
    expect(String(await after)).toBe('after');
    expect(c.proxy.upstreamConnections).toBe(2);
  });

  it('the agent socket appears late: the call waits for it', async () => {
    const c = await startChain({ startAgent: false });
    const call = c.shim.call('grpc.AgentService', 'Echo', Buffer.from('late'), new GoDeadline(10_000).options());
    await sleep(500);
    c.agent = await RecordingAgent.start(c.agentSocket);
    expect(String(await call)).toBe('late');
  });

  it('garbage on the forwarder port does not crash it', async () => {
    const c = await startChain();
    for (const bytes of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.alloc(4096, 0xff), Buffer.from('16030100', 'hex')]) {
      await new Promise<void>((resolve) => {
        const s = connect(c.port, '127.0.0.1', () => s.end(bytes));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
    }
    expect(c.forwarder.listening).toBe(true);
    expect(String(await c.shim.call('grpc.AgentService', 'Echo', Buffer.from('still here')))).toBe('still here');
  });
});

describe('request policy in the forwarder', () => {
  const setPolicy = (text: string) => toBinary(SetPolicyRequestSchema, create(SetPolicyRequestSchema, { policy: text }));

  it('refuses what the policy denies, naming the rule; the call never reaches the agent', async () => {
    const c = await startChain({ gate: PolicyGate.fromPreset('allow-all-except-exec-process') });
    const err = (await c.shim.call('grpc.AgentService', 'ExecProcess', Buffer.alloc(0)).catch((e: unknown) => e)) as TtrpcError;
    expect(err.code).toBe(Code.PERMISSION_DENIED);
    expect(err.message).toBe('ExecProcess is refused by policy: default ExecProcessRequest := false');
    expect(c.agent.calls.some((x) => x.method === 'ExecProcess')).toBe(false);
    await c.shim.call('grpc.AgentService', 'StartContainer', Buffer.alloc(0));
    await c.shim.call('grpc.Health', 'Check', Buffer.alloc(0));
    expect(c.agent.calls.map((x) => x.method)).toEqual(['StartContainer', 'Check']);
  });

  it('SetPolicy passes through to the agent and the gate follows it; an unreadable one is refused', async () => {
    const c = await startChain({ gate: PolicyGate.fromPreset('disallow-all-except-setpolicy') });
    expect(((await c.shim.call('grpc.AgentService', 'CreateContainer', Buffer.alloc(0)).catch((e: unknown) => e)) as TtrpcError).code).toBe(Code.PERMISSION_DENIED);
    const bad = (await c.shim.call('grpc.AgentService', 'SetPolicy', setPolicy('not rego at all')).catch((e: unknown) => e)) as TtrpcError;
    expect(bad.code).toBe(Code.INVALID_ARGUMENT);
    expect(c.agent.calls).toHaveLength(0);
    await c.shim.call('grpc.AgentService', 'SetPolicy', setPolicy(presetPolicy('allow-all')));
    expect(fromBinary(SetPolicyRequestSchema, c.agent.calls.at(-1)!.payload).policy).toContain('package agent_policy');
    await c.shim.call('grpc.AgentService', 'CreateContainer', Buffer.alloc(0));
    expect(c.agent.calls.at(-1)!.method).toBe('CreateContainer');
  });
});

describe('agent proxy start', () => {
  it('gives up after PROXY_TIMEOUT with a clear error when nothing listens', async () => {
    const dir = await makeTempDir('caa-tunnel-');
    const proxy = proxyFor(dir, 1, { tls: false, proxyTimeoutMs: 300 });
    const t0 = performance.now();
    await expect(proxy.start(new AbortController().signal)).rejects.toThrow(/failed to establish agent proxy connection to 127.0.0.1:1/);
    expect(performance.now() - t0).toBeLessThan(3000);
    await proxy.close();
    await removeDir(dir);
  });

  it('says why it failed with a TunnelError code: nothing listens, or the caller gave up first', async () => {
    const dir = await makeTempDir('caa-tunnel-');
    const options = { sandboxId: 's', socketPath: join(dir, 'agent.ttrpc'), host: '127.0.0.1', port: 1, tls: undefined, logger: log };
    const unreachable = new AgentProxy({ ...options, proxyTimeoutMs: 300 });
    const e1 = await unreachable.start(new AbortController().signal).catch((e: unknown) => e);
    expect(e1).toMatchObject({ name: 'TunnelError', code: 'FORWARDER_UNREACHABLE' });
    expect((e1 as Error).message).toMatch(/^failed to establish agent proxy connection to 127.0.0.1:1: /);
    expect((e1 as Error).cause).toBeDefined();
    await unreachable.close();

    const stopped = new AbortController();
    stopped.abort(new Error('StopVM was called'));
    const cancelled = new AgentProxy({ ...options, proxyTimeoutMs: 60_000 });
    const e2 = await cancelled.start(stopped.signal).catch((e: unknown) => e);
    expect(isTunnelError(e2, 'CANCELLED')).toBe(true);
    expect((e2 as Error).message).toMatch(/^failed to establish agent proxy connection to 127.0.0.1:1: /);
    await cancelled.close();
    await removeDir(dir);
  });

  // PROXY_TIMEOUT=2000h used to pass the config and then fail every StartVM ("delay is out of range");
  // the config now refuses it, and the proxy itself takes any duration as a wait.
  it.each([
    ['2000h', 2000 * 3_600_000],
    ['fractional', 299_999.986254],
  ])('a PROXY_TIMEOUT of %s does not break the start', async (_name, proxyTimeoutMs) => {
    const dir = await makeTempDir('caa-tunnel-');
    const fwd = forwarderFor(join(dir, 'agent.sock'), 0, undefined);
    const port = await fwd.start();
    const proxy = proxyFor(dir, port, { proxyTimeoutMs });
    try {
      await proxy.start(AbortSignal.timeout(10_000));
      expect(proxy.upstreamConnections).toBe(1);
    } finally {
      await proxy.close();
      await fwd.close();
      await removeDir(dir);
    }
  });

  it('refuses a forwarder whose certificate names another instance', async () => {
    const dir = await makeTempDir('caa-tunnel-');
    const fwd = forwarderFor(join(dir, 'agent.sock'), 0, undefined);
    const port = await fwd.start();
    const proxy = proxyFor(dir, port, { servername: 'podvm-someone-else', proxyTimeoutMs: 500 });
    await expect(proxy.start(new AbortController().signal)).rejects.toThrow(/failed to establish agent proxy connection/);
    await proxy.close();
    await fwd.close();
    await removeDir(dir);
  });
});
