/**
 * The crown test: peer pods in real VMs. The shim stand-in drives the daemon (libvirt provider,
 * child process in the lab's network namespace); each pod VM boots the local pod VM image under
 * TCG, reads its cidata seed, and starts the agent-protocol-forwarder (mTLS, initdata policy) and
 * the agent stand-in. Agent calls go through the tunnel; a peer in the worker's pod network reaches
 * the pod IP inside the VM over VXLAN; StopVM leaves no domain, volume, link or rule. Also: a base
 * volume that is not a pod VM image fails StartVM quickly, naming the console's reason, and leaves
 * nothing; two pods start at once.
 */
import { randomBytes } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateContainerRequestSchema, CreateSandboxRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from '../../src/proto/gen/agent/agent_pb.js';
import { SpecSchema } from '../../src/proto/gen/agent/oci_pb.js';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { Code, TtrpcClient, TtrpcError, serviceClient } from '../../src/ttrpc/index.js';
import { presetPolicy } from '../../src/tunnel/policy/index.js';
import { runCommand } from '../../src/util/run-command.js';
import { SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { LIBVIRT_REQUIRED } from '../helpers/libvirt.js';
import { TestNet } from '../helpers/netns.js';
import type { ChildDaemon } from '../helpers/child-daemon.js';
import { BROKEN_IMAGE, podvmLabUnavailable, startPodvmLab, type PodvmLab } from '../helpers/podvm-lab.js';
import { goShimDeadline } from '../helpers/go-deadline.js';

const unavailable = await podvmLabUnavailable();
if (unavailable) console.warn(`[e2e] ${LIBVIRT_REQUIRED ? 'FAILING' : 'skipping'} the libvirt pod VM tests: ${unavailable}`);

const INITDATA = `algorithm = "sha384"
version = "0.1.0"

[data]
"policy.rego" = '''
${presetPolicy('allow-all-except-exec-process')}
'''
`;
const POD_IP = '10.244.9.5';
const BASE_FILES = ['podvm-base.qcow2', BROKEN_IMAGE];

type HypervisorClient = ReturnType<typeof hypervisorClient>;
const hypervisorClient = (c: TtrpcClient) => serviceClient(c, Hypervisor);

let pl: PodvmLab;
let net: TestNet;
let daemon: ChildDaemon;

async function hypervisor(): Promise<{ hv: HypervisorClient; close: () => void }> {
  const c = await TtrpcClient.connectUnix(pl.env.REMOTE_HYPERVISOR_ENDPOINT!);
  return { hv: hypervisorClient(c), close: () => c.close() };
}

/** Waits until the lab has no domain and its pool only the base volumes. */
async function nothingLeft(ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const [domains, files] = [await pl.lab.domains(), await pl.lab.poolFiles()];
    if (domains.length === 0 && files.every((f) => BASE_FILES.includes(f))) return;
    if (Date.now() > end) throw new Error(`left behind: domains ${domains.join(', ') || '-'}; pool files ${files.join(', ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const run = !unavailable || LIBVIRT_REQUIRED;

describe.skipIf(!run)('peer pods in libvirt VMs (pod VM image, TCG)', () => {
  beforeAll(async () => {
    if (unavailable) throw new Error(`CAA_REQUIRE_LIBVIRT=1 but: ${unavailable}`);
    pl = await startPodvmLab({ log: (l) => console.log(`[podvm] ${l}`) });
    net = await TestNet.create('caalvp', ['peer', 'pod']);
    // The cluster side: "peer" 10.244.9.1 and the pod's eth0 on one veth, as a CNI would leave it.
    await net.veth('peer', 'eth0', 'pod', 'eth0', { bMac: '0a:58:0a:f4:09:05' });
    await net.addr('peer', 'eth0', '10.244.9.1/24');
    await net.addr('pod', 'eth0', `${POD_IP}/24`);
    await net.route('pod', 'default', 'via', '10.244.9.1');
    daemon = pl.startDaemon({ VXLAN_PORT: '4791', VXLAN_MIN_ID: '778000' });
    await daemon.until('serving hypervisor.Hypervisor', 60_000);
  }, 900_000); // the image build, and waiting for another file's lab (one at a time, see startLibvirtLab)

  afterAll(async () => {
    await net?.cleanup();
    await pl?.stop();
  }, 120_000);

  it('a base volume that is not a pod VM image fails StartVM at once with the console\'s reason, and leaves nothing', { timeout: 120_000 }, async () => {
    const id = randomBytes(16).toString('hex');
    const { hv, close } = await hypervisor();
    try {
      await hv.createVM({ id, annotations: shimAnnotations({ 'io.katacontainers.config.hypervisor.image': BROKEN_IMAGE }), networkNamespacePath: '' });
      const t0 = Date.now();
      const err = (await hv.startVM({ id }, { timeoutMs: 100_000 }).catch((e: unknown) => e)) as TtrpcError;
      const tookMs = Date.now() - t0;
      expect(err).toBeInstanceOf(TtrpcError);
      expect(err.code).toBe(Code.UNAVAILABLE);
      expect(err.message).toMatch(/stopped before its agent-protocol-forwarder answered: domain \S+ shut off/);
      expect(err.message).toMatch(/PODVM_FAILED: the root disk \/dev\/vda holds no pod VM file system/);
      // Far below PROXY_TIMEOUT (180 s): the watch saw the VM power off.
      expect(tookMs).toBeLessThan(60_000);
      await hv.stopVM({ id }, { timeoutMs: 30_000 }).catch(() => undefined);
    } finally {
      close();
    }
    await nothingLeft();
  });

  it('boots, provisions, answers agent calls through mTLS under the initdata policy, carries the pod network over VXLAN, survives a daemon restart, and StopVM leaves nothing', { timeout: 300_000 }, async () => {
    const { hv, close } = await hypervisor();
    const { agentSocketPath } = await hv.createVM({
      id: SANDBOX_ID,
      annotations: shimAnnotations({ 'io.katacontainers.config.hypervisor.cc_init_data': INITDATA }),
      networkNamespacePath: net.ns('pod'),
    });
    await hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 180_000 });
    const [domain] = await pl.lab.domains();
    expect(domain).toMatch(/^podvm-nginx-/);

    const agent = await TtrpcClient.connectUnix(agentSocketPath);
    try {
      const health = fromBinary(HealthCheckResponseSchema, await agent.call('grpc.Health', 'Check', new Uint8Array(0), goShimDeadline()));
      expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      await agent.call('grpc.AgentService', 'CreateSandbox', toBinary(CreateSandboxRequestSchema, create(CreateSandboxRequestSchema, { hostname: 'nginx', sandboxId: SANDBOX_ID })), goShimDeadline());
      await agent.call('grpc.AgentService', 'CreateContainer', toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { containerId: 'c1', OCI: create(SpecSchema, {}) })), goShimDeadline());
      const refused = (await agent.call('grpc.AgentService', 'ExecProcess', new Uint8Array(0), goShimDeadline()).catch((e: unknown) => e)) as TtrpcError;
      expect(refused).toBeInstanceOf(TtrpcError);
      expect(refused.code).toBe(Code.PERMISSION_DENIED);
    } finally {
      agent.close();
    }

    // What happened inside the VM, from its serial console: the seed was provisioned with the
    // initdata digest, the forwarder joined the container to the pod namespace, ExecProcess never arrived.
    const consoleText = await pl.consoleLog(domain!);
    expect(consoleText).toMatch(/"algorithm":"sha384","digest":"[0-9a-f]{96}"/);
    expect(consoleText).toContain(`pod network ${POD_IP}/24 up`);
    expect(consoleText).toContain('kata-agent call grpc.Health/Check');
    expect(consoleText).toContain('kata-agent call grpc.AgentService/CreateContainer container=c1 netns=/var/run/netns/podns');
    expect(consoleText).not.toContain('kata-agent call grpc.AgentService/ExecProcess');

    // The pod network: the worker's pod namespace is an L2 pipe into the tunnel, so the peer's pings
    // are answered inside the VM (the replies come back through vxlan1).
    const rxBefore = await rxPackets('vxlan1');
    const ping = await net.run('peer', ['ping', '-c', '3', '-W', '3', '-i', '0.3', POD_IP], 30_000);
    expect(ping).toMatch(/3 received/);
    expect((await rxPackets('vxlan1')) - rxBefore).toBeGreaterThanOrEqual(3);

    // The daemon restarts (a DaemonSet rollout): the VM keeps running, and the next daemon re-adopts it
    // and reaches its forwarder with the TLS material it persisted.
    close();
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(await pl.lab.domains()).toEqual([domain]);
    daemon = pl.startDaemon({ VXLAN_PORT: '4791', VXLAN_MIN_ID: '778000' });
    await daemon.until(`agent tunnel of sandbox ${SANDBOX_ID} re-opened`, 60_000);
    const again = await TtrpcClient.connectUnix(agentSocketPath);
    try {
      const health = fromBinary(HealthCheckResponseSchema, await again.call('grpc.Health', 'Check', new Uint8Array(0), goShimDeadline()));
      expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      again.close();
    }
    const ping2 = await net.run('peer', ['ping', '-c', '2', '-W', '3', '-i', '0.3', POD_IP], 30_000);
    expect(ping2).toMatch(/2 received/);

    const second = await hypervisor();
    await second.hv.stopVM({ id: SANDBOX_ID }, { timeoutMs: 60_000 });
    second.close();
    await daemon.until(`sandbox ${SANDBOX_ID} removed`, 60_000);
    await nothingLeft();
    expect(await net.ip('pod', '-o', 'link', 'show')).not.toMatch(/vxlan1/);
    expect(await runCommand(['ip', '-n', pl.lab.netns, '-o', 'link', 'show'])).not.toMatch(/ppvx/);
    expect(await runCommand(['ip', 'netns', 'exec', pl.lab.netns, 'iptables', '-w', '-t', 'raw', '-S'])).not.toMatch(/vni:778000/);
  });

  it('two pods start at once, each in its own VM, and both stop cleanly', { timeout: 300_000 }, async () => {
    const ids = [randomBytes(16).toString('hex'), randomBytes(16).toString('hex')];
    const { hv, close } = await hypervisor();
    try {
      const sockets = await Promise.all(
        ids.map(async (id, i) => (await hv.createVM({ id, annotations: shimAnnotations({ 'io.kubernetes.cri.sandbox-name': `pod${i}` }), networkNamespacePath: '' })).agentSocketPath),
      );
      await Promise.all(ids.map((id) => hv.startVM({ id }, { timeoutMs: 240_000 })));
      expect(await pl.lab.domains()).toHaveLength(2);
      for (const socket of sockets) {
        const agent = await TtrpcClient.connectUnix(socket);
        const health = fromBinary(HealthCheckResponseSchema, await agent.call('grpc.Health', 'Check', new Uint8Array(0), goShimDeadline()));
        expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
        agent.close();
      }
      await Promise.all(ids.map((id) => hv.stopVM({ id }, { timeoutMs: 60_000 })));
    } finally {
      close();
    }
    await nothingLeft();
  });
});

async function rxPackets(ifname: string): Promise<number> {
  const out = await net.ip('pod', '-s', '-j', 'link', 'show', 'dev', ifname);
  const [link] = JSON.parse(out) as { stats64?: { rx?: { packets?: number } } }[];
  return link?.stats64?.rx?.packets ?? 0;
}
