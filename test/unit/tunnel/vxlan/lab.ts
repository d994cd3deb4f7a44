/**
 * A peer-pod network in namespaces (root only), for the VXLAN tests and benchmark:
 *
 *   peer (10.244.0.1/24 on bridge br0) ──veth p<i>/eth0── pod<i> (the worker's pod netns, 10.244.0.(5+i))
 *   host (the worker's root ns) ──veth u<i>/u<i>v── vm<i> (the pod VM), 10.250.(1+i).1/24 ↔ .2/24
 *
 * The tunnel under test joins pod<i> to vm<i>'s pod namespace (`<vm<i> name>-podns`), where the
 * pod IP then lives: peer reaches it through pod<i>'s eth0 → tc → vxlan1 → host → vm<i>.
 * Nothing is created in the machine's own namespace; `cleanup()` removes everything.
 */
import { PING_TOOL } from '../../../../scripts/host-tools.js';
import { podNetworkUnavailable } from '../../../helpers/pod-network.js';
import { spawn, type ChildProcess } from 'node:child_process';
import type { PodNetworkConfig } from '../../../../src/podvm/apf-config.js';
import { runCommand } from '../../../../src/util/run-command.js';
import { NETNS_DIR, TestNet } from '../../../helpers/netns.js';
import { afterEach } from 'vitest';

export interface LabPod {
  /** Worker-side pod namespace path. */
  podNetns: string;
  /** Namespace standing for the pod VM. */
  vmNetns: string;
  /** Name (ip netns) of the VM's pod namespace; the VM set-up creates it. */
  podnsName: string;
  podnsPath: string;
  podIp: string;
  podMac: string;
  hostIp: string;
  vmIp: string;
  vni: number;
  /** The `pod-network` object CAA would send this pod's VM. */
  cfg: PodNetworkConfig;
}

export interface LabOptions {
  pods?: number;
  /** MTU of the host ↔ vm veths (default 1500). */
  underlayMtu?: number;
  /** MTU of the pod's eth0, its veth peer and the peer bridge (default 1500). */
  podMtu?: number;
  vniBase?: number;
  prefix?: string;
}

/** Why the lab cannot be built here, or undefined: root and the pod network's tools, plus ping. */
/** What `iptables -t raw -S` shows in a namespace nobody touched. */
export const EMPTY_RAW = ['-P PREROUTING ACCEPT', '-P OUTPUT ACCEPT'];

/**
 * For a describe block whose tests each build one lab: returns the function that builds it (its
 * names start with `prefix`), and cleans it up after every test.
 */
export function labPerTest(prefix: string): (o?: LabOptions) => Promise<VxlanLab> {
  let lab: VxlanLab | undefined;
  afterEach(async () => {
    await lab?.cleanup();
    lab = undefined;
  });
  return async (o = {}) => {
    lab = await VxlanLab.create({ prefix, ...o });
    return lab;
  };
}

export function labUnavailable(): Promise<string | undefined> {
  return podNetworkUnavailable([PING_TOOL]);
}

export class VxlanLab {
  readonly pods: LabPod[] = [];
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly net: TestNet,
    readonly underlayMtu: number,
    readonly podMtu: number,
  ) {}

  get host(): string {
    return this.net.ns('host');
  }

  get peer(): string {
    return this.net.ns('peer');
  }

  static async create(o: LabOptions = {}): Promise<VxlanLab> {
    const count = o.pods ?? 1;
    const underlayMtu = o.underlayMtu ?? 1500;
    const podMtu = o.podMtu ?? 1500;
    const net = await TestNet.create(o.prefix ?? 'vxlan', ['host', 'peer']);
    const lab = new VxlanLab(net, underlayMtu, podMtu);
    try {
      await net.ip('peer', 'link', 'add', 'br0', 'type', 'bridge');
      await net.addr('peer', 'br0', '10.244.0.1/24');
      for (let i = 0; i < count; i++) await lab.addPod(i, o.vniBase ?? 555_001);
      await net.ip('peer', 'link', 'set', 'br0', 'mtu', String(podMtu), 'up');
    } catch (err) {
      await lab.cleanup().catch(() => undefined);
      throw err;
    }
    return lab;
  }

  private async addPod(i: number, vniBase: number): Promise<void> {
    const { net } = this;
    const podNetns = await net.addNs(`pod${i}`);
    const vmNetns = await net.addNs(`vm${i}`);
    const hostIp = `10.250.${i + 1}.1`;
    const vmIp = `10.250.${i + 1}.2`;
    await net.veth('host', `u${i}`, `vm${i}`, `u${i}v`, { mtu: this.underlayMtu });
    await net.addr('host', `u${i}`, `${hostIp}/24`);
    await net.addr(`vm${i}`, `u${i}v`, `${vmIp}/24`);

    await net.veth(`pod${i}`, 'eth0', 'peer', `p${i}`, { mtu: this.podMtu });
    await net.ip('peer', 'link', 'set', `p${i}`, 'master', 'br0');
    const podIp = `10.244.0.${5 + i}`;
    await net.addr(`pod${i}`, 'eth0', `${podIp}/24`);
    await net.route(`pod${i}`, 'default', 'via', '10.244.0.1', 'dev', 'eth0');
    const link = JSON.parse(await net.ip(`pod${i}`, '-json', 'link', 'show', 'dev', 'eth0')) as { address: string }[];
    const podMac = link[0]?.address ?? '';

    const podnsName = `${net.nsName(`vm${i}`)}-podns`;
    const vni = vniBase + i;
    this.pods.push({
      podNetns,
      vmNetns,
      podnsName,
      podnsPath: `${NETNS_DIR}/${podnsName}`,
      podIp,
      podMac,
      hostIp,
      vmIp,
      vni,
      cfg: {
        podip: `${podIp}/24`,
        'pod-hw-addr': podMac,
        interface: 'eth0',
        'worker-node-ip': `${hostIp}/24`,
        'tunnel-type': 'vxlan',
        // As inspectPodNetns records them: the kernel's subnet route, then the default route.
        routes: [
          { dst: '10.244.0.0/24', gw: '', dev: 'eth0', protocol: 'kernel', scope: 'link' },
          { dst: '0.0.0.0/0', gw: '10.244.0.1', dev: 'eth0', protocol: 'boot' },
        ],
        neighbors: null,
        mtu: this.podMtu,
        index: i,
        'vxlan-port': 4789,
        'vxlan-id': vni,
        dedicated: false,
        'external-net-via-pod-vm': false,
      },
    });
  }

  /**
   * The baseline for benchmarks: "ppeer" (10.244.0.1/24 on its own bridge br0, like peer) and
   * "plain" holding the pod IP 10.244.0.5/24 directly on a veth, MTU = the pod MTU. Returns both paths.
   */
  async addPlainPath(): Promise<{ peer: string; target: string; ip: string }> {
    const { net } = this;
    const peer = await net.addNs('ppeer');
    const target = await net.addNs('plain');
    await net.ip('ppeer', 'link', 'add', 'br0', 'type', 'bridge');
    await net.addr('ppeer', 'br0', '10.244.0.1/24');
    await net.veth('plain', 'eth0', 'ppeer', 'p0', { mtu: this.podMtu });
    await net.ip('ppeer', 'link', 'set', 'p0', 'master', 'br0');
    await net.ip('ppeer', 'link', 'set', 'br0', 'mtu', String(this.podMtu), 'up');
    await net.addr('plain', 'eth0', '10.244.0.5/24');
    await net.route('plain', 'default', 'via', '10.244.0.1', 'dev', 'eth0');
    return { peer, target, ip: '10.244.0.5' };
  }

  pod(i: number): LabPod {
    const p = this.pods[i];
    if (!p) throw new Error(`no pod ${i} in the lab`);
    return p;
  }

  /** Runs `argv` in the namespace at `nsPath`. */
  run(nsPath: string, argv: readonly string[], timeoutMs = 30_000): Promise<string> {
    return runCommand(['nsenter', `--net=${nsPath}`, ...argv], { timeoutMs });
  }

  /** `ping` from `nsPath`; resolves with its output, rejects when any reply is missing. */
  ping(nsPath: string, dst: string, o: { count?: number; size?: number; dontFragment?: boolean; intervalS?: number } = {}): Promise<string> {
    const argv = ['ping', '-n', '-c', String(o.count ?? 3), '-i', String(o.intervalS ?? 0.2), '-W', '2'];
    if (o.size !== undefined) argv.push('-s', String(o.size));
    if (o.dontFragment) argv.push('-M', 'do');
    return this.run(nsPath, [...argv, dst]);
  }

  /** Starts `argv` in `nsPath` (killed by `cleanup()`), with stdout/stderr piped. */
  spawnIn(nsPath: string, argv: readonly string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn('nsenter', [`--net=${nsPath}`, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Resolves when `child` prints `marker` on stdout; rejects on exit or after `timeoutMs`. */
  waitForOutput(child: ChildProcess, marker: string, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => done(new Error(`timed out waiting for "${marker}"; stdout: ${out} stderr: ${err}`)), timeoutMs);
      const onOut = (d: Buffer): void => {
        out += d.toString();
        if (out.includes(marker)) done();
      };
      const onErr = (d: Buffer): void => void (err += d.toString());
      const onExit = (code: number | null): void => done(new Error(`exited (${code}) before "${marker}"; stdout: ${out} stderr: ${err}`));
      const done = (e?: Error): void => {
        clearTimeout(timer);
        child.stdout?.off('data', onOut);
        child.stderr?.off('data', onErr);
        child.off('exit', onExit);
        if (e) reject(e);
        else resolve(out);
      };
      child.stdout?.on('data', onOut);
      child.stderr?.on('data', onErr);
      child.once('exit', onExit);
    });
  }

  /**
   * A TCP echo server in the VM's pod namespace at the pod IP, and a client in `peer` that sends
   * `bytes` random bytes and checks they all come back. Resolves with the client address the
   * server saw (proof that the VM, not the worker's pod namespace, answered).
   */
  async tcpEcho(i: number, bytes: number, port = 7007): Promise<{ remote: string }> {
    const p = this.pod(i);
    const server = this.spawnIn(p.podnsPath, [process.execPath, '-e', ECHO_SERVER, p.podIp, String(port)]);
    try {
      const seen = this.waitForOutput(server, 'conn ', 40_000);
      seen.catch(() => undefined);
      await this.waitForOutput(server, 'ready');
      await this.run(this.peer, [process.execPath, '-e', ECHO_CLIENT, p.podIp, String(port), String(bytes)], 30_000);
      return { remote: /conn (\S+)/.exec(await seen)?.[1] ?? '' };
    } finally {
      server.kill('SIGKILL');
    }
  }

  /** Kills children, deletes the VMs' pod namespaces and every lab namespace. */
  async cleanup(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    this.children.clear();
    for (const p of this.pods) {
      await runCommand(['ip', 'netns', 'delete', p.podnsName]).catch(() => undefined);
    }
    await this.net.cleanup();
  }
}

const ECHO_SERVER = `
const net = require('node:net');
const [, host, port] = process.argv;
const s = net.createServer((c) => { console.log('conn ' + c.remoteAddress); c.pipe(c); });
s.listen(Number(port), host, () => console.log('ready'));
`;

const ECHO_CLIENT = `
const net = require('node:net');
const crypto = require('node:crypto');
const [, host, port, n] = process.argv;
const data = crypto.randomBytes(Number(n));
const chunks = [];
let len = 0;
const timer = setTimeout(() => { console.error('timeout after ' + len + ' bytes'); process.exit(3); }, 20000);
const c = net.connect(Number(port), host, () => c.end(data));
c.on('data', (d) => { chunks.push(d); len += d.length; });
c.on('end', () => {
  clearTimeout(timer);
  if (Buffer.concat(chunks).equals(data)) { console.log('OK ' + len); process.exit(0); }
  console.error('MISMATCH: got ' + len + ' of ' + data.length + ' bytes'); process.exit(1);
});
c.on('error', (e) => { console.error(e.message); process.exit(2); });
`;
