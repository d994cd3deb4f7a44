/**
 * `npm run demo`: the daemon on the local provider, driven as the Kata shim drives it. Each step is
 * printed with its latency; everything it starts is stopped and removed at the end — also when a step
 * fails or the demo gets SIGINT/SIGTERM. As root it first checks the host tools the pod network needs
 * and, when some are missing, says what to install before starting anything.
 *
 * CAA_DEMO_NO_PREFLIGHT=1 skips that check (the tests use it to make a step fail and watch the clean-up).
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
import { bridgeFor } from '../src/providers/local/network.js';
import { forceCleanLocalInstances } from '../test/helpers/local-instances.js';
import { PING_TOOL, POD_NETWORK_TOOLS, installHint, missingTools } from './host-tools.js';
import { messageOf } from '../src/util/errors.js';
import { sleep } from '../test/helpers/async.js';

const root = new URL('..', import.meta.url).pathname;
const SANDBOX = 'd3m0' + '0123456789abcdef'.repeat(3) + '0123456789ab';

/** The step running now: the clean-up lets it settle first, so that nothing it makes appears after the clean-up. */
let inFlight: Promise<unknown> | undefined;
/** Set by SIGINT/SIGTERM: no new step starts. */
let stoppedBy: NodeJS.Signals | undefined;

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (stoppedBy) throw new Error(`stopped by ${stoppedBy}`);
  const t0 = performance.now();
  try {
    const running = fn();
    inFlight = running;
    const r = await running;
    console.log(`  ✔ ${name.padEnd(68)} ${(performance.now() - t0).toFixed(1).padStart(8)} ms`);
    return r;
  } catch (err) {
    const code = err instanceof TtrpcError ? `${codeName(err.code)}: ` : '';
    console.log(`  ✘ ${name.padEnd(68)} ${(performance.now() - t0).toFixed(1).padStart(8)} ms  ${code}${messageOf(err)}`);
    throw err;
  }
}

async function waitFor(out: string[], text: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!out.join('').includes(text)) {
    if (Date.now() > end) throw new Error(`daemon did not log "${text}":\n${out.join('').slice(-3000)}`);
    await sleep(20);
  }
}

// As root the demo also gives the pod a network: a pod namespace with eth0 to a "peer" pod of the cluster.
const withPodNetwork = process.getuid?.() === 0;
const PEER_NS = 'caa-demo-peer';
const POD_NS = 'caa-demo-pod';
const POD_IP = '10.244.77.5';
const NETNS_CIDR = '10.237.0.0/16';

if (withPodNetwork && process.env.CAA_DEMO_NO_PREFLIGHT !== '1') {
  const missing = await missingTools([...POD_NETWORK_TOOLS, PING_TOOL]);
  if (missing.length > 0) {
    console.error(`npm run demo as root gives the pod a network and ${installHint(missing)}`);
    console.error('(run it as a non-root user for the demo without a pod network)');
    process.exit(1);
  }
}

const dir = await mkdtemp(join(tmpdir(), 'caa-demo-'));
const env = {
  ...process.env,
  REMOTE_HYPERVISOR_ENDPOINT: join(dir, 'hypervisor.sock'),
  PODS_DIR: join(dir, 'pods'),
  CAA_STATE_DIR: join(dir, 'state'),
  LOCAL_ADDRESS_PREFIX: '127.76',
  LOCAL_NETNS_CIDR: NETNS_CIDR,
  LOCAL_AGENT_COMMAND: `${process.execPath} --import tsx ${join(root, 'test/fakes/kata-agent-main.ts')} --socket {socket}`,
};
const out: string[] = [];
let daemon: ChildProcess | undefined;
let hvConn: TtrpcClient | undefined;
let agent: TtrpcClient | undefined;
let sandboxCreated = false;
let sandboxRemoved = false;
let failed = false;

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

const daemonRunning = (): boolean => daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null;

async function stopDaemon(): Promise<void> {
  if (!daemon || !daemonRunning()) return;
  const exited = new Promise((r) => daemon!.once('exit', r));
  daemon.kill('SIGTERM');
  const timer = setTimeout(() => daemon!.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Removes everything the demo made, whatever step it reached: the sandbox through the daemon when it
 * still answers (the daemon leaves instances running when it stops, by design), then by hand what is
 * left — instance processes, namespaces, veths, the host bridge once nothing else uses it — and the
 * state folder. Runs once; never throws.
 */
async function cleanUpOnce(): Promise<void> {
  if (inFlight) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([inFlight.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
  }
  agent?.close();
  if (sandboxCreated && !sandboxRemoved && hvConn && daemonRunning()) {
    try {
      await serviceClient(hvConn, Hypervisor).stopVM({ id: SANDBOX }, { timeoutMs: 5000 });
      await waitFor(out, `sandbox ${SANDBOX} removed`, 30_000);
    } catch {
      // the forced clean-up below removes what the daemon did not
    }
  }
  hvConn?.close();
  await stopDaemon().catch(() => undefined);
  await forceCleanLocalInstances(join(dir, 'state'));
  if (withPodNetwork) {
    for (const ns of [PEER_NS, POD_NS]) await runCommand(['ip', 'netns', 'del', ns]).catch(() => undefined);
    // The local provider removes its bridge with its last instance; after a forced clean-up it is ours to remove, unless another instance still uses it.
    const bridge = bridgeFor(NETNS_CIDR).name;
    const ports = await runCommand(['ip', '-o', 'link', 'show', 'master', bridge]).catch(() => undefined);
    if (ports !== undefined && ports.trim() === '') await runCommand(['ip', 'link', 'del', bridge]).catch(() => undefined);
  }
  await rm(dir, { recursive: true, force: true });
}
let cleaning: Promise<void> | undefined;
const cleanUp = (): Promise<void> => (cleaning ??= cleanUpOnce());

function finish(): never {
  if (stoppedBy) process.exit(stoppedBy === 'SIGINT' ? 130 : 143);
  process.exit(failed ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stoppedBy) return; // already cleaning up
    stoppedBy = sig;
    console.error(`\n${sig}: stopping the demo and removing what it made`);
    void cleanUp().finally(finish);
  });
}

console.log(`cloud-api-adaptor demo — local provider, state in ${dir}\n`);
try {
  daemon = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/cloud-api-adaptor.ts'), 'local'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  await step('daemon up (TLS CA generated, socket served)', () => waitFor(out, 'serving hypervisor.Hypervisor'));
  if (withPodNetwork) await step(`pod namespace (pod IP ${POD_IP}) and a peer pod, as a CNI makes them`, makePodNamespaces);

  hvConn = await TtrpcClient.connectUnix(env.REMOTE_HYPERVISOR_ENDPOINT);
  const hv = serviceClient(hvConn, Hypervisor);
  const initdata = `algorithm = "sha256"\nversion = "0.1.0"\n\n[data]\n"policy.rego" = '''\n${presetPolicy('allow-all-except-exec-process')}\n'''\n`;
  sandboxCreated = true; // from here on the clean-up asks the daemon to stop the sandbox
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
  agent = await TtrpcClient.connectUnix(agentSocketPath);
  const agentConn = agent;
  await step('agent grpc.Health/Check → SERVING', async () => {
    const r = fromBinary(HealthCheckResponseSchema, await agentConn.call('grpc.Health', 'Check', new Uint8Array(0), { timeoutMs: 30_000 }));
    if (r.status !== HealthCheckResponse_ServingStatus.SERVING) throw new Error(`status ${r.status}`);
  });
  await step('agent CreateSandbox (dns dropped in the VM)', () =>
    agentConn.call('grpc.AgentService', 'CreateSandbox', toBinary(CreateSandboxRequestSchema, create(CreateSandboxRequestSchema, { hostname: 'nginx', dns: ['nameserver 10.96.0.10'], sandboxId: SANDBOX }))),
  );
  await step('agent CreateContainer', () =>
    agentConn.call('grpc.AgentService', 'CreateContainer', toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { containerId: 'nginx', OCI: create(SpecSchema, {}) }))),
  );
  await step('agent ExecProcess → refused by the pod policy inside the VM', async () => {
    const err = await agentConn.call('grpc.AgentService', 'ExecProcess', new Uint8Array(0)).then(() => undefined, (e: unknown) => e as TtrpcError);
    if (!err || codeName(err.code) !== 'PERMISSION_DENIED') throw new Error(`expected PERMISSION_DENIED, got ${err ? codeName(err.code) : 'success'}`);
    console.log(`      ${codeName(err.code)}: ${err.message}`);
  });
  agentConn.close();
  await step('StopVM (answers at once; deletion in the background)', () => hv.stopVM({ id: SANDBOX }, { timeoutMs: 1000 }));
  await step('instance deleted, sandbox removed', () => waitFor(out, `sandbox ${SANDBOX} removed`));
  sandboxRemoved = true;
  const left = await readdir(join(dir, 'state/local/instances')).catch(() => []);
  if (left.length > 0) throw new Error(`instances left behind: ${left.join(', ')}`);
} catch (err) {
  failed = true;
  // A step that fails because a signal is tearing things down is not news.
  if (!stoppedBy) console.error(`\ndemo failed: ${messageOf(err)}`);
}
await cleanUp();
if (!failed && !stoppedBy) console.log('\nnothing left behind: daemon stopped, instance processes gone, state folder removed');
else if (!stoppedBy) console.error('cleaned up: daemon stopped, instance processes and namespaces removed, state folder removed');
finish();
