/**
 * A peer pod on the local provider, as the Kata shim drives it: the daemon (CLI, child process)
 * starts a forwarder process per instance on a loopback address, provisioned from its cidata
 * folder, with a Kata agent stand-in beside it. Real sockets, real mutual TLS, real signals.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateSandboxRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from '../../src/proto/gen/agent/agent_pb.js';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { Code, TtrpcClient, TtrpcError, serviceClient } from '../../src/ttrpc/index.js';
import { presetPolicy } from '../../src/tunnel/policy/index.js';
import { ChildDaemon } from '../helpers/child-daemon.js';
import { SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { buildGoPeer, runGoClient } from '../interop/go-peer.js';
import { forceCleanLocalInstances, localInstanceRecords } from '../helpers/local-instances.js';
import { goShimDeadline } from '../helpers/go-deadline.js';

const root = new URL('../..', import.meta.url).pathname;
const CLI = join(root, 'src/cli/cloud-api-adaptor.ts');
const AGENT = join(root, 'test/fakes/kata-agent-main.ts');

let dir: string;
let env: Record<string, string>;
const daemons: ChildDaemon[] = [];

function startDaemon(): ChildDaemon {
  const d = new ChildDaemon(spawn(process.execPath, ['--import', 'tsx', CLI, 'local', '--log-level', 'debug'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  daemons.push(d);
  return d;
}

const exists = (p: string) => access(p).then(() => true, () => false);
const alive = (pid: number) => readFile(`/proc/${pid}/cmdline`, 'utf8').then((c) => c.length > 0, () => false);

const instanceRecords = () => localInstanceRecords(join(dir, 'state'));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'caa-e2e-'));
  env = {
    REMOTE_HYPERVISOR_ENDPOINT: join(dir, 'hv.sock'),
    PODS_DIR: join(dir, 'pods'),
    CAA_STATE_DIR: join(dir, 'state'),
    LOCAL_ADDRESS_PREFIX: `127.${100 + (process.pid % 150)}`,
    LOCAL_NETNS_CIDR: '10.236.0.0/16',
    FORWARDER_PORT: String(20000 + (process.pid % 20000)),
    LOCAL_AGENT_COMMAND: `${process.execPath} --import tsx ${AGENT} --socket {socket}`,
  };
});

afterAll(async () => {
  for (const d of daemons) d.child.kill('SIGKILL');
  // Whatever the test left running (also on failure): forwarders and agents are detached processes.
  await forceCleanLocalInstances(join(dir, 'state'), 'caabr236');
  await rm(dir, { recursive: true, force: true });
});

const INITDATA = `algorithm = "sha256"
version = "0.1.0"

[data]
"policy.rego" = '''
${presetPolicy('allow-all-except-exec-process')}
'''
`;

describe('a peer pod on the local provider', () => {
  it('starts, runs agent calls through mTLS under the initdata policy, survives a daemon restart, and stops leaving nothing', { timeout: 120_000 }, async () => {
    const first = startDaemon();
    await first.until('serving hypervisor.Hypervisor');
    const hvClient = await TtrpcClient.connectUnix(env.REMOTE_HYPERVISOR_ENDPOINT!);
    const hv = serviceClient(hvClient, Hypervisor);
    const { agentSocketPath } = await hv.createVM({
      id: SANDBOX_ID,
      annotations: shimAnnotations({ 'io.katacontainers.config.hypervisor.cc_init_data': INITDATA }),
      networkNamespacePath: '',
    });
    const t0 = performance.now();
    await hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 60_000 });
    const startMs = performance.now() - t0;
    hvClient.close();
    expect(startMs).toBeGreaterThan(0);

    const [record] = await instanceRecords();
    expect(record).toBeDefined();
    expect(record!.pids).toHaveLength(2);
    // As root the instance gets its own network namespace and veth, as a VM on a host-only network.
    if (process.getuid?.() === 0) {
      expect(record!.netns).toMatch(/^caa-/);
      expect(record!.ip).toMatch(/^10\.236\./);
    }
    const instanceDir = join(dir, 'state/local/instances', record!.id);
    // The "VM" got its files from user-data: apf.json with TLS material, the policy and digest from initdata.
    const apf = JSON.parse(await readFile(join(instanceDir, 'root/run/peerpod/apf.json'), 'utf8'));
    expect(apf).toMatchObject({ 'pod-name': 'nginx', 'pod-namespace': 'default', 'sandbox-id': SANDBOX_ID });
    // The proxy asked the forwarder which sandbox it serves and got this one's id.
    expect(first.text()).not.toContain('cannot confirm that the forwarder');
    expect(apf['tls-server-cert']).toContain('BEGIN CERTIFICATE');
    expect(await readFile(join(instanceDir, 'root/run/peerpod/policy.rego'), 'utf8')).toContain('default ExecProcessRequest := false');
    expect(await readFile(join(instanceDir, 'root/run/peerpod/initdata.digest'), 'utf8')).toMatch(/^[0-9a-f]{64}/);

    // The shim's agent calls, with the Go shim's deadlines (time left, fractional ms). The first one
    // makes the forwarder dial the agent, so it waits for that connection within its deadline.
    const agent = await TtrpcClient.connectUnix(agentSocketPath);
    const health = fromBinary(HealthCheckResponseSchema, await agent.call('grpc.Health', 'Check', new Uint8Array(0), goShimDeadline()));
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await agent.call('grpc.AgentService', 'CreateSandbox', toBinary(CreateSandboxRequestSchema, create(CreateSandboxRequestSchema, { hostname: 'nginx', dns: ['x'] })), goShimDeadline());
    const refused = (await agent.call('grpc.AgentService', 'ExecProcess', new Uint8Array(0)).catch((e: unknown) => e)) as TtrpcError;
    expect(refused).toBeInstanceOf(TtrpcError);
    expect(refused.code).toBe(Code.PERMISSION_DENIED);
    expect(refused.message).toMatch(/ExecProcess is refused by policy: default ExecProcessRequest := false/);
    expect(String(await agent.call('grpc.AgentService', 'NotInOurProtos', Buffer.from('echo me')).catch(() => 'refused'))).toMatch(/echo me|refused/);

    // The Go ttrpc client as the shim on the same socket.
    const go = await buildGoPeer();
    if (go) {
      const results = await runGoClient(go, agentSocketPath, 'agent');
      expect(results[0]).toMatchObject({ call: 'Health.Check', code: 0, status: 1 });
      expect(results[1]).toMatchObject({ call: 'ExecProcess', code: Code.PERMISSION_DENIED });
      expect(results[2]).toMatchObject({ call: 'StartContainer', code: 0 });
    }

    // The daemon restarts; the forwarder keeps running; the new daemon reaches it with the persisted TLS material.
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(await alive(record!.pids[1]!)).toBe(true);
    await expect(agent.call('grpc.Health', 'Check', new Uint8Array(0))).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    agent.close();
    const second = startDaemon();
    await second.until(`agent tunnel of sandbox ${SANDBOX_ID} re-opened`);
    const again = await TtrpcClient.connectUnix(agentSocketPath);
    const health2 = fromBinary(HealthCheckResponseSchema, await again.call('grpc.Health', 'Check', new Uint8Array(0), goShimDeadline()));
    expect(health2.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    again.close();

    // StopVM: the instance goes, with its processes and folder.
    const hv2Client = await TtrpcClient.connectUnix(env.REMOTE_HYPERVISOR_ENDPOINT!);
    await serviceClient(hv2Client, Hypervisor).stopVM({ id: SANDBOX_ID }, { timeoutMs: 1000 });
    hv2Client.close();
    await second.until(`sandbox ${SANDBOX_ID} removed`);
    for (const pid of record!.pids) expect(await alive(pid)).toBe(false);
    expect(await exists(instanceDir)).toBe(false);
    if (record!.netns) {
      const namespaces = await promisify(execFile)('ip', ['netns', 'list']);
      expect(namespaces.stdout).not.toContain(record!.netns);
      const links = await promisify(execFile)('ip', ['-o', 'link', 'show']);
      expect(links.stdout).not.toContain(record!.hostIf!);
    }
    expect(await exists(join(dir, 'pods', SANDBOX_ID))).toBe(false);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('fails StartVM with the forwarder\'s own reason when it exits (an unreadable policy), long before PROXY_TIMEOUT', { timeout: 60_000 }, async () => {
    // PROXY_TIMEOUT is the default 5 min: only the provider's exit report can end StartVM within the test's timeout.
    const d = startDaemon();
    await d.until('serving hypervisor.Hypervisor');
    const hvClient = await TtrpcClient.connectUnix(env.REMOTE_HYPERVISOR_ENDPOINT!);
    const hv = serviceClient(hvClient, Hypervisor);
    const id = 'e'.repeat(64);
    const badPolicy = INITDATA.replace(presetPolicy('allow-all-except-exec-process'), 'this is not a policy {{{');
    await hv.createVM({ id, annotations: shimAnnotations({ 'io.katacontainers.config.hypervisor.cc_init_data': badPolicy }), networkNamespacePath: '' });
    const err = (await hv.startVM({ id }, { timeoutMs: 290_000 }).catch((e: unknown) => e)) as TtrpcError;
    expect(err).toBeInstanceOf(TtrpcError);
    expect(err.code).toBe(Code.UNAVAILABLE);
    expect(err.message).toMatch(/stopped before its agent-protocol-forwarder answered: its forwarder process ended with exit code 2; its last line: agent-protocol-forwarder: initdata policy \S+policy\.rego: /);
    await hv.stopVM({ id }, { timeoutMs: 5000 });
    hvClient.close();
    await d.until(`sandbox ${id} removed`);
    expect(await instanceRecords()).toEqual([]);
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });
});
