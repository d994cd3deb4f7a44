/**
 * Wire interop with the reference implementation: Debian's Go containerd/ttrpc 1.1.1, built from
 * test/interop/go. (a) the Go client calls our TtrpcServer; (b) our TtrpcClient calls the Go server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hypervisor, type CreateVMRequest } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import {
  Code,
  MAX_MESSAGE_LENGTH,
  TtrpcClient,
  TtrpcError,
  TtrpcServer,
  listenUnix,
  registerService,
  serviceClient,
  type CallContext,
  type KeyValue,
  type ServiceClient,
  type UnixListener,
} from '../../src/ttrpc/index.js';
import { buildGoPeer, goPeerSkipReason, runGoClient, startGoServer, type GoResult, type ReadyProcess } from './go-peer.js';
import { DaemonHarness } from '../helpers/daemon-harness.js';
import { create, toBinary } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from '../../src/proto/gen/agent/agent_pb.js';
import { AgentProxy } from '../../src/tunnel/agent-proxy.js';
import { Forwarder } from '../../src/tunnel/forwarder.js';

const peer = await buildGoPeer();
if (!peer) console.warn(`[interop] skipping Go ttrpc interop tests: ${goPeerSkipReason()}`);

// CI installs Go and sets CAA_REQUIRE_INTEROP=1: there a missing toolchain is a failure, not a skip.
if (!peer && process.env.CAA_REQUIRE_INTEROP === '1') {
  describe('Go interop toolchain (required in CI)', () => {
    it('is installed', () => {
      expect.fail(`Go ttrpc interop cannot run: ${goPeerSkipReason()}`);
    });
  });
}

type HypervisorMethods = typeof Hypervisor extends GenService<infer T> ? T : never;

const KATA = 'io.katacontainers.config.hypervisor.';
const EXPECTED_ANNOTATIONS = {
  'io.kubernetes.cri.sandbox-name': 'nginx-7f8d9',
  'io.kubernetes.cri.sandbox-namespace': 'default',
  [`${KATA}machine_type`]: 'Standard_DC2as_v5',
  [`${KATA}image`]: '',
  [`${KATA}default_vcpus`]: '2',
  [`${KATA}default_memory`]: '4096',
  [`${KATA}cc_init_data`]: '',
  [`${KATA}default_gpus`]: '0',
  [`${KATA}default_gpu_model`]: '',
};

/** The Go client wrote `timeout_nano` as the time left of its 300 s context: below 300 s, above 0. */
function expectShimDeadline(r: GoResult): void {
  expect(r.timeoutNano).toBeTypeOf('number');
  expect(r.timeoutNano as number).toBeGreaterThan(250e9);
  expect(r.timeoutNano as number).toBeLessThan(300e9);
}

/** Rejects with TtrpcError(code) or fails the test. */
async function expectTtrpcError(p: Promise<unknown>, code: number): Promise<TtrpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TtrpcError);
  expect((err as TtrpcError).code).toBe(code);
  return err as TtrpcError;
}

describe.skipIf(!peer)('interop with Go containerd/ttrpc 1.1.1', () => {
  const bin = peer!;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ttrpc-interop-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('Go client → TypeScript TtrpcServer', () => {
    let server: TtrpcServer;
    let listener: UnixListener | undefined;
    let socket: string;
    const created: { req: CreateVMRequest; metadata: readonly KeyValue[]; deadlineInMs: number | undefined }[] = [];
    const aborts: { id: string; reason: unknown; afterMs: number; deadline: number | undefined }[] = [];
    let versionCalls = 0;
    let versionInFlight = 0;
    let versionMaxInFlight = 0;

    beforeAll(async () => {
      server = new TtrpcServer();
      registerService(server, Hypervisor, {
        createVM(req, ctx) {
          created.push({ req, metadata: ctx.metadata, deadlineInMs: ctx.deadline === undefined ? undefined : ctx.deadline - Date.now() });
          return { agentSocketPath: `/ts/pods/${req.id}/agent.ttrpc` };
        },
        // Never answers on its own: it must be ended by the caller's timeout_nano.
        startVM(req, ctx: CallContext) {
          const start = process.hrtime.bigint();
          return new Promise((_resolve, reject) => {
            ctx.signal.addEventListener(
              'abort',
              () => {
                const afterMs = Number(process.hrtime.bigint() - start) / 1e6;
                aborts.push({ id: req.id, reason: ctx.signal.reason, afterMs, deadline: ctx.deadline });
                reject(ctx.signal.reason);
              },
              { once: true },
            );
          });
        },
        stopVM: () => ({}),
        // Holds each call briefly so concurrent calls really overlap on the connection.
        async version(req) {
          versionCalls++;
          versionMaxInFlight = Math.max(versionMaxInFlight, ++versionInFlight);
          await sleep(20);
          versionInFlight--;
          return { version: `ts:${req.version}` };
        },
      });
      socket = join(dir, 'ts.sock');
      listener = await listenUnix(socket);
      server.serve(listener.server);
    });

    afterAll(async () => {
      await server?.shutdown(0);
      await listener?.close();
    });

    it('CreateVM: id, all nine annotations (empty values too), netns path and metadata arrive intact', async () => {
      const [res, ...rest] = await runGoClient(bin, socket, 'createvm');
      expect(rest).toHaveLength(0);
      expect(created).toHaveLength(1);
      const { req, metadata } = created[0]!;
      expect(req.id).toMatch(/^[0-9a-f]{64}$/);
      expect(req.annotations).toEqual(EXPECTED_ANNOTATIONS);
      expect(Object.keys(req.annotations)).toHaveLength(9);
      expect(req.networkNamespacePath).toBe('/var/run/netns/cni-1234');
      expect(metadata).toContainEqual({ key: 'x-interop', value: 'go' });
      expect(res).toMatchObject({ call: 'CreateVM', code: 0, agentSocketPath: `/ts/pods/${req.id}/agent.ttrpc` });
      // As the Go shim sends it: the time left of a 300 s context when the request was written.
      expectShimDeadline(res!);
      expect(created[0]!.deadlineInMs).toBeGreaterThan(250_000);
      expect(created[0]!.deadlineInMs).toBeLessThanOrEqual(300_000);
    });

    it('Version', async () => {
      const results = await runGoClient(bin, socket, 'version');
      expect(results).toEqual([expect.objectContaining({ call: 'Version', code: 0, version: 'ts:go' })]);
      expectShimDeadline(results[0]!);
    });

    it('a call without a deadline (timeout_nano 0) is served', async () => {
      const results = await runGoClient(bin, socket, 'no-deadline');
      expect(results).toEqual([expect.objectContaining({ call: 'Version', code: 0, version: 'ts:none' })]);
    });

    it('a 200 ms deadline aborts the handler signal and the Go client sees DEADLINE_EXCEEDED', async () => {
      const [plain, fromServer] = await runGoClient(bin, socket, 'startvm-timeout');
      // Plain deadline: the Go context and our timer race; both must say DEADLINE_EXCEEDED.
      expect(plain).toMatchObject({ call: 'StartVM', code: Code.DEADLINE_EXCEEDED });
      // Held locally for 5 s: this status was decoded from our server's Response.
      expect(fromServer).toMatchObject({ code: Code.DEADLINE_EXCEEDED, message: 'context deadline exceeded' });
      expect(fromServer!.local).toBeUndefined();
      expect(fromServer!.elapsedMs).toBeGreaterThanOrEqual(190);
      expect(fromServer!.elapsedMs).toBeLessThan(2_000);

      const slow = aborts.filter((a) => a.id === 'slow');
      expect(slow).toHaveLength(2);
      for (const a of slow) {
        expect(a.reason).toBeInstanceOf(TtrpcError);
        expect((a.reason as TtrpcError).code).toBe(Code.DEADLINE_EXCEEDED);
        expect(a.deadline).toBeTypeOf('number');
        expect(a.afterMs).toBeGreaterThanOrEqual(150); // timeout_nano is what is left when Go sends it
        expect(a.afterMs).toBeLessThan(1_000);
      }
    });

    it('a request frame over 4 MiB is answered RESOURCE_EXHAUSTED on its stream; the connection goes on', async () => {
      const results = await runGoClient(bin, socket, 'oversized');
      expect(results).toEqual([
        expect.objectContaining({ call: 'CreateVM', code: Code.RESOURCE_EXHAUSTED }),
        expect.objectContaining({ call: 'Version', code: 0, version: 'ts:after' }),
      ]);
      expect(results[0]!.message).toMatch(/exceed maximum message size of 4194304/);
      expect(created.some((c) => c.req.id === 'big')).toBe(false);
    });

    it('a 30-day deadline does not fire early', async () => {
      const [res] = await runGoClient(bin, socket, 'long-deadline');
      expect(res).toMatchObject({ call: 'Version', code: 0, version: 'ts:far' });
    });

    it('a negative timeout_nano counts as already expired', async () => {
      const [res] = await runGoClient(bin, socket, 'expired-deadline');
      expect(res).toMatchObject({ call: 'StartVM', code: Code.DEADLINE_EXCEEDED });
      expect(res!.local).toBeUndefined();
      expect(res!.elapsedMs).toBeLessThan(1_000);
    });

    it('unknown method and unknown service → UNIMPLEMENTED', async () => {
      const results = await runGoClient(bin, socket, 'unknown-method');
      expect(results).toEqual([
        expect.objectContaining({ call: 'Nope', code: Code.UNIMPLEMENTED, message: 'method Nope' }),
        expect.objectContaining({ call: 'nope.Service/Nope', code: Code.UNIMPLEMENTED, message: 'service nope.Service' }),
      ]);
      expect(results.every((r) => r.local === undefined)).toBe(true);
    });

    it('100 concurrent calls on one connection all succeed with their own answers', async () => {
      const before = versionCalls;
      const results = await runGoClient(bin, socket, 'concurrent');
      expect(results).toHaveLength(100);
      for (const r of results) expect(r).toMatchObject({ call: 'Version', code: 0, version: `ts:${String(r.i)}` });
      expect(new Set(results.map((r) => r.i)).size).toBe(100);
      results.forEach(expectShimDeadline);
      expect(versionCalls - before).toBe(100);
      expect(versionMaxInFlight).toBeGreaterThan(1); // they were multiplexed, not serialized
    });
  });

  describe('TypeScript TtrpcClient → Go server', () => {
    let go: ReadyProcess | undefined;
    let client: TtrpcClient | undefined;
    let hv: ServiceClient<HypervisorMethods>;
    let socket: string;

    beforeAll(async () => {
      socket = join(dir, 'go.sock');
      go = await startGoServer(bin, socket);
      client = await TtrpcClient.connectUnix(socket);
      hv = serviceClient(client, Hypervisor);
    });

    afterAll(async () => {
      client?.close();
      await go?.stop();
    });

    it('CreateVM round trip', async () => {
      const id = 'ab'.repeat(32);
      const res = await hv.createVM({ id, annotations: EXPECTED_ANNOTATIONS, networkNamespacePath: '/var/run/netns/x' });
      expect(res.agentSocketPath).toBe(`/run/peerpod/pods/${id}/agent.ttrpc`);
    });

    it('Version', async () => {
      expect((await hv.version({ version: 'ts' })).version).toBe('0.0.0');
    });

    it('StopVM "missing" → NOT_FOUND with the message; other ids succeed', async () => {
      const err = await expectTtrpcError(hv.stopVM({ id: 'missing' }), Code.NOT_FOUND);
      expect(err.message).toBe('vm "missing" not found');
      await expect(hv.stopVM({ id: 'present' })).resolves.toBeDefined();
    });

    it('StartVM "sleep" with timeoutMs 200 → DEADLINE_EXCEEDED; the late answer does not disturb the connection', async () => {
      const start = process.hrtime.bigint();
      await expectTtrpcError(hv.startVM({ id: 'sleep' }, { timeoutMs: 200 }), Code.DEADLINE_EXCEEDED);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      expect(ms).toBeGreaterThanOrEqual(195);
      expect(ms).toBeLessThan(1_000);
      await sleep(100); // the Go server's own DEADLINE_EXCEEDED for that stream arrives now and is dropped
      expect(client!.inFlight).toBe(0);
      expect((await hv.version({})).version).toBe('0.0.0');
    });

    it('timeoutMs of 30 days does not fire early (the call ends by its signal instead)', async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 150).unref();
      const start = process.hrtime.bigint();
      await expectTtrpcError(
        hv.startVM({ id: 'sleep' }, { timeoutMs: 30 * 24 * 3600 * 1000, signal: ac.signal }),
        Code.CANCELLED,
      );
      expect(Number(process.hrtime.bigint() - start) / 1e6).toBeGreaterThanOrEqual(140);
    });

    it('StartVM with a short deadline succeeds when the server answers in time', async () => {
      await expect(hv.startVM({ id: 'fast' }, { timeoutMs: 1_000 })).resolves.toBeDefined();
    });

    it.each([
      ['64 B', 64],
      ['1 MiB', 1 << 20],
    ])('Echo %s payload comes back byte-exact', async (_name, size) => {
      const payload = randomBytes(size);
      const reply = await client!.call('bench.Echo', 'Echo', payload);
      expect(reply.length).toBe(size);
      expect(reply.equals(payload)).toBe(true);
    });

    it('32 concurrent Echo calls each get their own payload', async () => {
      const payloads = Array.from({ length: 32 }, (_, i) => randomBytes(100 + i * 997));
      const replies = await Promise.all(payloads.map((p) => client!.call('bench.Echo', 'Echo', p)));
      replies.forEach((r, i) => expect(r.equals(payloads[i]!)).toBe(true));
    });

    it('unknown method → UNIMPLEMENTED from the Go server', async () => {
      const err = await expectTtrpcError(client!.call('hypervisor.Hypervisor', 'Nope', new Uint8Array()), Code.UNIMPLEMENTED);
      expect(err.message).toBe('method Nope');
    });

    it('a request over 4 MiB is refused locally with RESOURCE_EXHAUSTED and nothing is sent', async () => {
      const err = await expectTtrpcError(
        client!.call('bench.Echo', 'Echo', new Uint8Array(MAX_MESSAGE_LENGTH)),
        Code.RESOURCE_EXHAUSTED,
      );
      expect(err.message).toMatch(/exceed maximum message size of 4194304/);
      expect(client!.inFlight).toBe(0);
      const small = randomBytes(64);
      expect((await client!.call('bench.Echo', 'Echo', small)).equals(small)).toBe(true);
    });

    it('a 5 MiB request that does reach Go is answered RESOURCE_EXHAUSTED on its stream; the connection survives', async () => {
      // A client with a raised local limit, so the oversized frame really goes on the wire.
      const big = await TtrpcClient.connectUnix(socket, { maxMessageLength: 8 << 20 });
      try {
        const err = await expectTtrpcError(big.call('bench.Echo', 'Echo', new Uint8Array(5 << 20)), Code.RESOURCE_EXHAUSTED);
        expect(err.message).toMatch(/exceed maximum message size of 4194304/);
        const small = randomBytes(64);
        expect((await big.call('bench.Echo', 'Echo', small)).equals(small)).toBe(true);
      } finally {
        big.close();
      }
    });
  });
});

describe.skipIf(!peer)('Go client → the real daemon (hypervisor.Hypervisor as the Go shim calls it)', () => {
  let h: DaemonHarness | undefined;
  afterAll(async () => {
    await h?.close();
  });

  it('CreateVM with the nine annotations prepares the sandbox; Version answers 0.0.0; a duplicate is ALREADY_EXISTS', async () => {
    h = await DaemonHarness.start();
    const [created] = await runGoClient(peer!, h.config.socket, 'createvm');
    const id = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
    expect(created).toMatchObject({ call: 'CreateVM', code: 0, agentSocketPath: `${h.config.podsDir}/${id}/agent.ttrpc` });
    expect(h.daemon.manager.get(id)).toMatchObject({
      phase: 'created',
      podName: 'nginx-7f8d9',
      podNamespace: 'default',
      netnsPath: '/var/run/netns/cni-1234',
      instanceName: 'podvm-nginx-7f8d9-01234567',
      spec: { instanceType: 'Standard_DC2as_v5', vcpus: 2, memoryMiB: 4096, gpus: 0 },
    });
    expect(h.logged(`create a sandbox ${id} for pod nginx-7f8d9 in namespace default (netns: /var/run/netns/cni-1234)`)).toBe(true);
    const [again] = await runGoClient(peer!, h.config.socket, 'createvm');
    expect(again).toMatchObject({ call: 'CreateVM', code: Code.ALREADY_EXISTS, message: `sandbox ${id} already exists` });
    const [version] = await runGoClient(peer!, h.config.socket, 'version');
    expect(version).toMatchObject({ call: 'Version', code: 0, version: '0.0.0' });
  });
});

/**
 * The agent path as the Go shim drives it: Go client → agent.ttrpc (AgentProxy) → Forwarder → agent.
 * The forwarder dials the agent only on the first call, and the proxy re-dials a restarted forwarder
 * only when it is gone — so the shim's calls, whose deadlines are fractional ms, wait for a connection.
 * Before the fix that wait threw ERR_OUT_OF_RANGE and every call failed UNAVAILABLE.
 */
describe.skipIf(!peer)('Go client → agent proxy → forwarder → agent, connections not yet made', () => {
  const log = pino({ level: 'silent' });
  let dir: string;
  let agent: TtrpcServer;
  let agentListener: UnixListener;
  let forwarder: Forwarder;
  let proxy: AgentProxy;
  let port: number;
  const seen: { method: string; deadlineInMs: number | undefined }[] = [];

  const newForwarder = (port: number): Forwarder =>
    new Forwarder({ host: '127.0.0.1', port, tls: undefined, agentSocket: join(dir, 'agent.sock'), agentWaitMs: 10_000, podNetnsPath: undefined, logger: log });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'go-agent-path-'));
    agent = new TtrpcServer({
      fallback: (_payload, ctx) => {
        seen.push({ method: `${ctx.service}/${ctx.method}`, deadlineInMs: ctx.deadline === undefined ? undefined : ctx.deadline - Date.now() });
        if (ctx.service === 'grpc.Health') return toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }));
        return new Uint8Array(0);
      },
    });
    agentListener = await listenUnix(join(dir, 'agent.sock'));
    agent.serve(agentListener.server);
    forwarder = newForwarder(0);
    port = await forwarder.start();
    proxy = new AgentProxy({ sandboxId: 's', socketPath: join(dir, 'agent.ttrpc'), host: '127.0.0.1', port, tls: undefined, proxyTimeoutMs: 10_000, logger: log });
    await proxy.start(AbortSignal.timeout(10_000));
  });

  afterAll(async () => {
    await proxy?.close();
    await forwarder?.close();
    await agent?.shutdown(0);
    await agentListener?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the first calls of a new tunnel (the forwarder has not dialled the agent yet) reach the agent', async () => {
    const results = await runGoClient(peer!, join(dir, 'agent.ttrpc'), 'agent');
    expect(results).toEqual([
      expect.objectContaining({ call: 'Health.Check', code: 0, status: 1 }),
      expect.objectContaining({ call: 'ExecProcess', code: 0 }),
      expect.objectContaining({ call: 'StartContainer', code: 0 }),
    ]);
    results.forEach(expectShimDeadline);
    expect(seen.map((c) => c.method)).toEqual(['grpc.Health/Check', 'grpc.AgentService/ExecProcess', 'grpc.AgentService/StartContainer']);
    // The agent got the shim's deadline, less what the hops took.
    for (const c of seen) expect(c.deadlineInMs).toBeGreaterThan(250_000);
  });

  it('calls made while the proxy has lost its forwarder wait for the new one and reach the agent', async () => {
    seen.length = 0;
    await forwarder.close();
    const calls = runGoClient(peer!, join(dir, 'agent.ttrpc'), 'agent');
    await sleep(300);
    forwarder = newForwarder(port);
    await forwarder.start();
    const results = await calls;
    expect(results.map((r) => [r.call, r.code])).toEqual([
      ['Health.Check', 0],
      ['ExecProcess', 0],
      ['StartContainer', 0],
    ]);
    expect(proxy.upstreamConnections).toBe(2);
  });
});
