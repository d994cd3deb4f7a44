/**
 * `npm run demo`: the daemon on the local provider, driven as the Kata shim drives it. Each step is
 * printed with its latency; everything it starts is stopped and removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema, CreateSandboxRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from '../src/proto/gen/agent/agent_pb.js';
import { SpecSchema } from '../src/proto/gen/agent/oci_pb.js';
import { Hypervisor } from '../src/proto/gen/hypervisor/hypervisor_pb.js';
import { TtrpcClient, TtrpcError, codeName, serviceClient } from '../src/ttrpc/index.js';
import { presetPolicy } from '../src/tunnel/policy/index.js';
import { runCommand } from '../src/util/run-command.js';

const root = new URL('..', import.meta.url).pathname;
const SANDBOX = 'd3m0' + '0123456789abcdef'.repeat(3) + '0123456789ab';

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    const r = await fn();
    console.log(`  ✔ ${name.padEnd(68)} ${(performance.now() - t0).toFixed(1).padStart(8)} ms`);
    return r;
  } catch (err) {
    const e = err as TtrpcError;
    console.log(`  ✘ ${name.padEnd(68)} ${(performance.now() - t0).toFixed(1).padStart(8)} ms  ${e.code !== undefined ? codeName(e.code) + ': ' : ''}${e.message}`);
    throw err;
  }
}

async function waitFor(out: string[], text: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!out.join('').includes(text)) {
    if (Date.now() > end) throw new Error(`daemon did not log "${text}":\n${out.join('').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const dir = await mkdtemp(join(tmpdir(), 'caa-demo-'));
const env = {
  ...process.env,
  REMOTE_HYPERVISOR_ENDPOINT: join(dir, 'hypervisor.sock'),
  PODS_DIR: join(dir, 'pods'),
  CAA_STATE_DIR: join(dir, 'state'),
  LOCAL_ADDRESS_PREFIX: '127.76',
  LOCAL_NETNS_CIDR: '10.237.0.0/16',
  LOCAL_AGENT_COMMAND: `${process.execPath} --import tsx ${join(root, 'test/fakes/kata-agent-main.ts')} --socket {socket}`,
};
const out: string[] = [];
let daemon: ChildProcess | undefined;
let failed = false;
// As root the demo also gives the pod a network: a pod namespace with eth0 to a "peer" pod of the cluster.
const withPodNetwork = process.getuid?.() === 0;
const PEER_NS = 'caa-demo-peer';
const POD_NS = 'caa-demo-pod';
const POD_IP = '10.244.77.5';

async function makePodNamespaces(): Promise<void> {
  for (const ns of [PEER_NS, POD_NS]) await runCommand(['ip', 'netns', 'del', ns]).catch(() => undefined);
  await runCommand(['ip', 'netns', 'add', PEER_NS]);
  await runCommand(['ip', 'netns', 'add', POD_NS]);
  await runCommand(['ip', '-n', PEER_NS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', POD_NS]);
  await runCommand(['ip', '-n', PEER_NS, 'addr', 'add', '10.244.77.1/24', 'dev', 'eth0']);
  await runCommand(['ip', '-n', POD_NS, 'addr', 'add', `${POD_IP}/24`, 'dev', 'eth0']);
  for (const ns of [PEER_NS, POD_NS]) {
    await runCommand(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await runCommand(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  await runCommand(['ip', '-n', POD_NS, 'route', 'add', 'default', 'via', '10.244.77.1']);
}

console.log(`cloud-api-adaptor demo — local provider, state in ${dir}\n`);
try {
  daemon = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/cloud-api-adaptor.ts'), 'local'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  await step('daemon up (TLS CA generated, socket served)', () => waitFor(out, 'serving hypervisor.Hypervisor'));
  if (withPodNetwork) await step(`pod namespace (pod IP ${POD_IP}) and a peer pod, as a CNI makes them`, makePodNamespaces);

  const hvConn = await TtrpcClient.connectUnix(env.REMOTE_HYPERVISOR_ENDPOINT);
  const hv = serviceClient(hvConn, Hypervisor);
  const initdata = `algorithm = "sha256"\nversion = "0.1.0"\n\n[data]\n"policy.rego" = '''\n${presetPolicy('allow-all-except-exec-process')}\n'''\n`;
  const { agentSocketPath } = await step('CreateVM (pod default/nginx, policy in initdata)', () =>
    hv.createVM({
      id: SANDBOX,
      annotations: {
        'io.kubernetes.cri.sandbox-name': 'nginx',
        'io.kubernetes.cri.sandbox-namespace': 'default',
        'io.katacontainers.config.hypervisor.cc_init_data': initdata,
      },
      networkNamespacePath: withPodNetwork ? `/run/netns/${POD_NS}` : '',
    }),
  );
  await step('StartVM (instance + forwarder + mTLS tunnel)', () => hv.startVM({ id: SANDBOX }, { timeoutMs: 60_000 }));

  if (withPodNetwork) {
    await step(`peer pod pings ${POD_IP}: answered by the instance over VXLAN`, () =>
      runCommand(['ip', 'netns', 'exec', PEER_NS, 'ping', '-c', '2', '-i', '0.2', '-W', '2', POD_IP]),
    );
  }
  const agent = await TtrpcClient.connectUnix(agentSocketPath);
  await step('agent grpc.Health/Check → SERVING', async () => {
    const r = fromBinary(HealthCheckResponseSchema, await agent.call('grpc.Health', 'Check', new Uint8Array(0), { timeoutMs: 30_000 }));
    if (r.status !== HealthCheckResponse_ServingStatus.SERVING) throw new Error(`status ${r.status}`);
  });
  await step('agent CreateSandbox (dns dropped in the VM)', () =>
    agent.call('grpc.AgentService', 'CreateSandbox', toBinary(CreateSandboxRequestSchema, create(CreateSandboxRequestSchema, { hostname: 'nginx', dns: ['nameserver 10.96.0.10'], sandboxId: SANDBOX }))),
  );
  await step('agent CreateContainer', () =>
    agent.call('grpc.AgentService', 'CreateContainer', toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { containerId: 'nginx', OCI: create(SpecSchema, {}) }))),
  );
  await step('agent ExecProcess → refused by the pod policy inside the VM', async () => {
    const err = await agent.call('grpc.AgentService', 'ExecProcess', new Uint8Array(0)).then(() => undefined, (e: unknown) => e as TtrpcError);
    if (!err || codeName(err.code) !== 'PERMISSION_DENIED') throw new Error(`expected PERMISSION_DENIED, got ${err ? codeName(err.code) : 'success'}`);
    console.log(`      ${codeName(err.code)}: ${err.message}`);
  });
  agent.close();
  await step('StopVM (answers at once; deletion in the background)', () => hv.stopVM({ id: SANDBOX }, { timeoutMs: 1000 }));
  await step('instance deleted, sandbox removed', () => waitFor(out, `sandbox ${SANDBOX} removed`));
  hvConn.close();
  const left = await readdir(join(dir, 'state/local/instances')).catch(() => []);
  if (left.length > 0) throw new Error(`instances left behind: ${left.join(', ')}`);
} catch (err) {
  failed = true;
  console.error(`\ndemo failed: ${(err as Error).message}`);
} finally {
  if (daemon) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon!.once('exit', r));
  }
  if (withPodNetwork) for (const ns of [PEER_NS, POD_NS]) await runCommand(['ip', 'netns', 'del', ns]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  console.log(failed ? '' : '\nnothing left behind: daemon stopped, instance processes gone, state folder removed');
}
process.exit(failed ? 1 : 0);
