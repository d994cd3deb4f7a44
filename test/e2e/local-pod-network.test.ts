/**
 * The pod network of a peer pod on the local provider (as root): the worker's pod namespace, a
 * "peer" pod of the cluster beside it, and the local instance (its own namespace) standing for the VM.
 * After StartVM the peer reaches the pod IP, which now lives in the instance's pod namespace; after
 * StopVM no link, namespace or iptables rule of the sandbox remains.
 *
 * Needs root, iproute2, util-linux, iptables and ping; skips with the reason otherwise, and fails
 * instead when CAA_REQUIRE_PODNET=1 (CI).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { TtrpcClient, serviceClient } from '../../src/ttrpc/index.js';
import { ChildDaemon } from '../helpers/child-daemon.js';
import { SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { TestNet } from '../helpers/netns.js';
import { podNetworkUnavailable, skipOrRequirePodNetwork } from '../helpers/pod-network.js';
import { PING_TOOL } from '../../scripts/host-tools.js';
import { forceCleanLocalInstances, localInstanceRecords } from '../helpers/local-instances.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const unavailable = await podNetworkUnavailable([PING_TOOL]);
skipOrRequirePodNetwork(unavailable, 'the local pod network test');

let dir: string;
let net: TestNet;
let daemon: ChildDaemon | undefined;
const CIDR = '10.235.0.0/16';

const records = () => localInstanceRecords(join(dir, 'state'));

describe.skipIf(unavailable !== undefined)(unavailable ? `pod network of a local peer pod (skipped: ${unavailable})` : 'pod network of a local peer pod', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'caa-podnet-'));
    net = await TestNet.create('caapn', ['peer', 'pod']);
    // The cluster side: "peer" 10.244.9.1 and the pod's eth0 10.244.9.5 on one veth.
    await net.veth('peer', 'eth0', 'pod', 'eth0', { bMac: '0a:58:0a:f4:09:05' });
    await net.addr('peer', 'eth0', '10.244.9.1/24');
    await net.addr('pod', 'eth0', '10.244.9.5/24');
    await net.route('pod', 'default', 'via', '10.244.9.1');
  });

  afterAll(async () => {
    daemon?.child.kill('SIGKILL');
    await forceCleanLocalInstances(join(dir, 'state'), 'caabr235');
    await net?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('the peer reaches the pod IP in the instance; StopVM leaves nothing', { timeout: 120_000 }, async () => {
    const env = {
      ...process.env,
      REMOTE_HYPERVISOR_ENDPOINT: join(dir, 'hv.sock'),
      PODS_DIR: join(dir, 'pods'),
      CAA_STATE_DIR: join(dir, 'state'),
      LOCAL_NETWORK: 'netns',
      LOCAL_NETNS_CIDR: CIDR,
      FORWARDER_PORT: '15151',
      VXLAN_PORT: '4790',
      VXLAN_MIN_ID: '777000',
      LOCAL_AGENT_COMMAND: `${process.execPath} --import tsx ${join(root, 'test/fakes/kata-agent-main.ts')} --socket {socket}`,
    };
    const d = new ChildDaemon(spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/cloud-api-adaptor.ts'), 'local'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    daemon = d;
    await d.until('serving hypervisor.Hypervisor');

    const c = await TtrpcClient.connectUnix(env.REMOTE_HYPERVISOR_ENDPOINT);
    const hv = serviceClient(c, Hypervisor);
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: net.ns('pod') });
    await hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 60_000 });
    await d.until('VXLAN 777000');

    const [record] = await records();
    expect(record?.podNetns).toBeDefined();
    // The pod IP now answers from the instance's pod namespace, through the worker's pod namespace.
    const ping = await net.run('peer', ['ping', '-c', '3', '-W', '2', '-i', '0.2', '10.244.9.5'], 20_000);
    expect(ping).toMatch(/3 received/);
    const server = spawn('ip', ['netns', 'exec', record!.podNetns!, process.execPath, '-e', "require('net').createServer(s=>s.end('from-the-vm')).listen(8080,'10.244.9.5')"], { stdio: 'ignore' });
    try {
      // Retries until the listener in the instance's pod namespace is up (node starts in ~0.5 s).
      const client = `const net=require('net');let n=0;(function t(){const s=net.connect(8080,'10.244.9.5');let d='';s.on('data',c=>d+=c);s.on('end',()=>console.log(d));s.on('error',()=>{if(++n<50)setTimeout(t,200);else process.exit(1)})})()`;
      const reply = await net.run('peer', [process.execPath, '-e', client], 15_000);
      expect(reply.trim()).toBe('from-the-vm');
    } finally {
      server.kill('SIGKILL');
    }

    await hv.stopVM({ id: SANDBOX_ID }, { timeoutMs: 1000 });
    c.close();
    await d.until(`sandbox ${SANDBOX_ID} removed`);
    const links = (await net.ip('pod', '-o', 'link', 'show')).split('\n').filter(Boolean);
    expect(links.some((l) => l.includes('vxlan1'))).toBe(false);
    expect(await net.run('pod', ['tc', 'qdisc', 'show', 'dev', 'eth0'])).not.toMatch(/ingress/);
    const rules = (await run('iptables', ['-w', '-t', 'raw', '-S'])).stdout;
    expect(rules).not.toMatch(/vni:777000/);
    const namespaces = (await run('ip', ['netns', 'list'])).stdout;
    expect(namespaces).not.toContain(record!.podNetns!);
    expect(namespaces).not.toContain(record!.netns!);
    d.child.kill('SIGTERM');
  });
});
