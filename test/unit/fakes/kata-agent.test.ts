import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  CheckRequestSchema,
  CreateContainerRequestSchema,
  CreateSandboxRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
  SetPolicyRequestSchema,
  VersionCheckResponseSchema,
} from '../../../src/proto/gen/agent/agent_pb.js';
import { SpecSchema } from '../../../src/proto/gen/agent/oci_pb.js';
import { TtrpcClient } from '../../../src/ttrpc/client.js';
import { Code, TtrpcError } from '../../../src/ttrpc/codes.js';
import { AGENT_METHODS } from '../../../src/tunnel/policy/methods.js';
import { FakeKataAgent } from '../../fakes/kata-agent.js';
import { makeTempDir, rejectionOf, removeDir, sleep } from '../../helpers/async.js';

let dir: string;
let agent: FakeKataAgent | undefined;
let client: TtrpcClient | undefined;

beforeEach(async () => {
  dir = await makeTempDir('fake-agent-');
});
afterEach(async () => {
  client?.close();
  client = undefined;
  await agent?.close();
  agent = undefined;
  await removeDir(dir);
});

async function startAgent(options?: Parameters<typeof FakeKataAgent.start>[1]): Promise<TtrpcClient> {
  agent = await FakeKataAgent.start(join(dir, 'agent.sock'), options);
  client = await TtrpcClient.connectUnix(agent.socketPath);
  return client;
}

const check = toBinary(CheckRequestSchema, create(CheckRequestSchema, { service: '' }));

describe('FakeKataAgent', () => {
  it('answers Health/Check SERVING and Health/Version', async () => {
    const c = await startAgent({ agentVersion: '3.9.0' });
    const health = fromBinary(HealthCheckResponseSchema, await c.call('grpc.Health', 'Check', check));
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const version = fromBinary(VersionCheckResponseSchema, await c.call('grpc.Health', 'Version', check));
    expect(version.agentVersion).toBe('3.9.0');
    agent!.healthStatus = HealthCheckResponse_ServingStatus.NOT_SERVING;
    expect(fromBinary(HealthCheckResponseSchema, await c.call('grpc.Health', 'Check', check)).status).toBe(
      HealthCheckResponse_ServingStatus.NOT_SERVING,
    );
  });

  it('answers every AgentService method with an empty message', async () => {
    const c = await startAgent();
    for (const m of AGENT_METHODS) {
      const reply = await c.call('grpc.AgentService', m, Buffer.from([0x0a, 0x01, 0x78]));
      expect(reply.length, m).toBe(0);
    }
    expect(agent!.calls).toHaveLength(AGENT_METHODS.length);
  });

  it('records calls with payload, metadata and time, and decodes the interesting requests', async () => {
    const c = await startAgent();
    const before = Date.now();
    const cc = create(CreateContainerRequestSchema, {
      containerId: 'c1',
      execId: 'c1',
      OCI: create(SpecSchema, { Mounts: [{ destination: '/data', source: '/src', type: 'bind' }], Annotations: { a: 'b' } }),
    });
    await c.call('grpc.AgentService', 'CreateContainer', toBinary(CreateContainerRequestSchema, cc), {
      metadata: [{ key: 'k', value: 'v' }],
    });
    await c.call(
      'grpc.AgentService',
      'CreateSandbox',
      toBinary(CreateSandboxRequestSchema, create(CreateSandboxRequestSchema, { hostname: 'h', dns: ['nameserver 1.1.1.1'], sandboxId: 's' })),
    );
    await c.call('grpc.AgentService', 'SetPolicy', toBinary(SetPolicyRequestSchema, create(SetPolicyRequestSchema, { policy: 'package agent_policy' })));
    await c.call('grpc.Health', 'Check', check);

    const calls = agent!.calls;
    expect(calls.map((x) => `${x.service}/${x.method}`)).toEqual([
      'grpc.AgentService/CreateContainer',
      'grpc.AgentService/CreateSandbox',
      'grpc.AgentService/SetPolicy',
      'grpc.Health/Check',
    ]);
    expect(calls[0]!.metadata).toEqual([{ key: 'k', value: 'v' }]);
    expect(calls[0]!.at).toBeGreaterThanOrEqual(before);
    expect(Buffer.isBuffer(calls[0]!.payload)).toBe(true);
    expect(agent!.lastCreateContainer()).toMatchObject({ containerId: 'c1', OCI: { Mounts: [{ destination: '/data' }], Annotations: { a: 'b' } } });
    expect(agent!.lastCreateSandbox()).toMatchObject({ hostname: 'h', dns: ['nameserver 1.1.1.1'], sandboxId: 's' });
    expect(agent!.lastSetPolicy()?.policy).toBe('package agent_policy');
    expect(agent!.requests(CreateContainerRequestSchema, 'CreateContainer')).toHaveLength(1);
    expect(agent!.callsTo('Check', 'grpc.Health')).toHaveLength(1);
    agent!.clearCalls();
    expect(agent!.calls).toHaveLength(0);
    expect(agent!.lastCreateContainer()).toBeUndefined();
  });

  it('echoes unknown methods of known and unknown services', async () => {
    const c = await startAgent();
    const payload = Buffer.from('opaque \x00\x01 bytes');
    expect(await c.call('grpc.AgentService', 'SomeFutureMethod', payload)).toEqual(payload);
    expect(await c.call('grpc.Health', 'Watch', payload)).toEqual(payload);
    expect(await c.call('other.Service', 'Anything', payload)).toEqual(payload);
    expect(agent!.calls.map((x) => x.method)).toEqual(['SomeFutureMethod', 'Watch', 'Anything']);
  });

  it('answers with an injected error, by method or service/method, and records the call', async () => {
    const c = await startAgent({ errors: { ExecProcess: new TtrpcError(Code.PERMISSION_DENIED, 'ExecProcessRequest is blocked by policy') } });
    const err = await rejectionOf(c.call('grpc.AgentService', 'ExecProcess', Buffer.alloc(0)));
    expect(err).toBeInstanceOf(TtrpcError);
    expect((err as TtrpcError).code).toBe(Code.PERMISSION_DENIED);
    expect((err as TtrpcError).message).toBe('ExecProcessRequest is blocked by policy');
    expect(agent!.callsTo('ExecProcess')).toHaveLength(1);

    agent!.errors.set('grpc.Health/Check', new TtrpcError(Code.UNAVAILABLE, 'not yet'));
    expect(((await rejectionOf(c.call('grpc.Health', 'Check', check))) as TtrpcError).code).toBe(Code.UNAVAILABLE);
    agent!.errors.clear();
    await c.call('grpc.AgentService', 'ExecProcess', Buffer.alloc(0));
  });

  it('delays answers per method and honours the caller deadline', async () => {
    const c = await startAgent({ delays: { WaitProcess: 150 } });
    const t0 = Date.now();
    await c.call('grpc.AgentService', 'WaitProcess', Buffer.alloc(0));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    const t1 = Date.now();
    await c.call('grpc.AgentService', 'StartContainer', Buffer.alloc(0));
    expect(Date.now() - t1).toBeLessThan(140);

    agent!.delays.set('WaitProcess', 10_000);
    const err = await rejectionOf(c.call('grpc.AgentService', 'WaitProcess', Buffer.alloc(0), { timeoutMs: 50 }));
    expect((err as TtrpcError).code).toBe(Code.DEADLINE_EXCEEDED);
  });

  it('close() stops serving and removes the socket', async () => {
    const c = await startAgent();
    const path = agent!.socketPath;
    await agent!.close();
    await agent!.close();
    await c.closed;
    expect(existsSync(path)).toBe(false);
    await expect(TtrpcClient.connectUnix(path)).rejects.toThrow(TtrpcError);
  });

  it('close() ends calls in flight', async () => {
    const c = await startAgent({ delays: { WaitProcess: 10_000 } });
    const pending = rejectionOf(c.call('grpc.AgentService', 'WaitProcess', Buffer.alloc(0)));
    await sleep(20);
    await agent!.close();
    expect(((await pending) as TtrpcError).code).toBe(Code.UNAVAILABLE);
  });
});
