/**
 * The VXLAN pod tunnel benchmark (`npm run bench -- vxlan`, root only):
 *
 * TCP throughput (iperf3, server at the pod IP, client in a cluster peer) and ping latency from the
 * peer to the pod IP, through the tunnel (peer → pod netns eth0 → tc → vxlan1 → worker → VM veth →
 * the VM's podns) against a plain path in the same run (a second peer → a namespace holding the
 * same IP directly on a veth). Once with a 1500-byte underlay (pod MTU 1500, 1450 in the VM) and
 * once with a 9000-byte underlay (pod MTU 8950). Tunnel and plain runs alternate.
 *
 * Target: tunnel ≥ 0.8× the plain path's TCP throughput (printed as PASS/FAIL, never asserted).
 * Needs `iperf3`, `ping`, `iptables`, `tc`. Every namespace (and with it every link, qdisc and
 * iptables rule) and every child goes on the way out, also after an error or Ctrl-C.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import {
  setupVmPodNetwork,
  setupWorkerTunnel,
  teardownVmPodNetwork,
  teardownWorkerTunnel,
} from '../../src/tunnel/vxlan/index.js';
import { runCommand } from '../../src/util/run-command.js';
import { labUnavailable, VxlanLab } from '../../test/unit/tunnel/vxlan/lab.js';

const PREFIX = 'vxb';
const ROUNDS = Number(process.env.VXLAN_BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.VXLAN_BENCH_SECONDS ?? 3);
const PINGS = 50;
const TARGET = 0.8;
const IPERF_PORT = 5201;

interface PathResult {
  gbps: number[];
  retransmits: number[];
  pingUs: number[];
}

interface ConfigResult {
  underlayMtu: number;
  podMtu: number;
  vmMtu: number;
  tunnel: PathResult;
  plain: PathResult;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const p99 = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]! : NaN;
};
const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—';

function toolVersion(argv: string[], re: RegExp): string | undefined {
  try {
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return re.exec(out)?.[1] ?? 'unknown';
  } catch {
    return undefined;
  }
}

/** Synchronous last-resort cleanup (Ctrl-C, crash): this process's bench namespaces and children. */
const children = new Set<ChildProcess>();
function emergencyCleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  let names: string[];
  try {
    names = readdirSync('/var/run/netns');
  } catch {
    return;
  }
  for (const n of names.filter((x) => x.startsWith(`${PREFIX}-${process.pid}-`))) {
    try {
      execFileSync('ip', ['netns', 'delete', n], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
}

async function iperf(lab: VxlanLab, clientNs: string, ip: string): Promise<{ gbps: number; retransmits: number }> {
  const out = await lab.run(clientNs, ['iperf3', '-c', ip, '-p', String(IPERF_PORT), '-t', String(SECONDS), '-J'], (SECONDS + 20) * 1000);
  const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } }; error?: string };
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return { gbps: (j.end?.sum_received?.bits_per_second ?? NaN) / 1e9, retransmits: j.end?.sum_sent?.retransmits ?? 0 };
}

async function ping(lab: VxlanLab, fromNs: string, ip: string): Promise<number[]> {
  const out = await lab.ping(fromNs, ip, { count: PINGS, intervalS: 0.01 });
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
}

async function startIperfServer(lab: VxlanLab, ns: string, ip: string): Promise<ChildProcess> {
  const server = lab.spawnIn(ns, ['iperf3', '-s', '-B', ip, '-p', String(IPERF_PORT), '--forceflush']);
  children.add(server);
  server.once('exit', () => children.delete(server));
  await lab.waitForOutput(server, 'Server listening');
  return server;
}

async function runConfig(underlayMtu: number, podMtu: number): Promise<ConfigResult> {
  const lab = await VxlanLab.create({ prefix: PREFIX, pods: 1, underlayMtu, podMtu });
  try {
    const p = lab.pod(0);
    const plain = await lab.addPlainPath();
    await setupWorkerTunnel({ podNetns: p.podNetns, vmIp: p.vmIp, vni: p.vni, hostNetns: lab.host });
    const vm = await setupVmPodNetwork(p.cfg, { podNetnsName: p.podnsName, vmNetns: p.vmNetns });
    await startIperfServer(lab, p.podnsPath, p.podIp);
    await startIperfServer(lab, plain.target, plain.ip);
    // Warm up ARP/FDB on both paths.
    await lab.ping(lab.peer, p.podIp, { count: 2 });
    await lab.ping(plain.peer, plain.ip, { count: 2 });

    const tunnel: PathResult = { gbps: [], retransmits: [], pingUs: [] };
    const base: PathResult = { gbps: [], retransmits: [], pingUs: [] };
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate the order so slow drifts in machine load hit both paths alike.
      const order: [PathResult, string, string][] = [
        [tunnel, lab.peer, p.podIp],
        [base, plain.peer, plain.ip],
      ];
      if (r % 2) order.reverse();
      for (const [res, from, ip] of order) {
        const t = await iperf(lab, from, ip);
        res.gbps.push(t.gbps);
        res.retransmits.push(t.retransmits);
      }
    }
    for (const [res, from, ip] of [
      [tunnel, lab.peer, p.podIp],
      [base, plain.peer, plain.ip],
    ] as const) {
      res.pingUs.push(...(await ping(lab, from, ip)));
    }

    await teardownWorkerTunnel({ podNetns: p.podNetns, vmIp: p.vmIp, vni: p.vni, hostNetns: lab.host });
    await teardownVmPodNetwork(p.cfg, { podNetnsName: p.podnsName, vmNetns: p.vmNetns });
    return { underlayMtu, podMtu, vmMtu: vm.mtu, tunnel, plain: base };
  } finally {
    await lab.cleanup();
  }
}

export async function vxlanBench(): Promise<void> {
  const unavailable = await labUnavailable();
  if (unavailable) throw new Error(`the vxlan benchmark ${unavailable}`);
  const iperfVersion = toolVersion(['iperf3', '--version'], /iperf (\S+)/);
  if (!iperfVersion) throw new Error('iperf3 not found on PATH (apt-get install -y iperf3); the vxlan benchmark needs it');

  const onSignal = (): void => {
    emergencyCleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = performance.now();
  try {
    const cpu = cpus();
    console.log(
      `> ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, kernel ${release()}, Node ${process.versions.node}, iperf3 ${iperfVersion}, ` +
        `load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    console.log(`> TCP: iperf3, 1 stream, ${SECONDS} s per run, median of ${ROUNDS} runs per path (alternating); ping: ${PINGS} × 56 B at 10 ms\n`);

    const results: ConfigResult[] = [];
    for (const [underlay, pod] of [
      [1500, 1500],
      [9000, 8950],
    ] as const) {
      results.push(await runConfig(underlay, pod));
    }

    console.log('| underlay MTU | pod MTU (VM side) | path | TCP Gbit/s (median) | runs Gbit/s | retransmits | ping avg µs | ping p99 µs | tunnel/plain TCP |');
    console.log('|---:|---:|---|---:|---|---:|---:|---:|---:|');
    const verdicts: string[] = [];
    for (const r of results) {
      const ratio = median(r.tunnel.gbps) / median(r.plain.gbps);
      for (const [name, res, mtu] of [
        ['tunnel', r.tunnel, `${r.podMtu} (${r.vmMtu})`],
        ['plain veth', r.plain, String(r.podMtu)],
      ] as const) {
        console.log(
          `| ${r.underlayMtu} | ${mtu} | ${name} | ${fmt(median(res.gbps), 2)} | ${res.gbps.map((g) => fmt(g, 2)).join(', ')} | ` +
            `${fmt(res.retransmits.reduce((a, b) => a + b, 0))} | ${fmt(mean(res.pingUs))} | ${fmt(p99(res.pingUs))} | ${name === 'tunnel' ? `${fmt(ratio, 2)}×` : ''} |`,
        );
      }
      verdicts.push(`- underlay ${r.underlayMtu}: tunnel ≥ ${TARGET}× plain TCP throughput: **${fmt(ratio, 2)}×** ${ratio >= TARGET ? 'PASS' : 'FAIL'}`);
    }
    console.log(`\nTarget (tunnel TCP ≥ ${TARGET}× the plain path):\n${verdicts.join('\n')}`);
    console.log(`\n> took ${((performance.now() - started) / 1000).toFixed(1)} s; load average at the end ${loadavg()[0]!.toFixed(2)}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    emergencyCleanup();
    // The lab already deleted its namespaces; make sure nothing of ours is listed any more.
    const left = (await runCommand(['ip', 'netns', 'list']).catch(() => ''))
      .split('\n')
      .filter((l) => l.startsWith(`${PREFIX}-${process.pid}-`));
    if (left.length > 0) console.error(`vxlan bench: namespaces left behind: ${left.join(', ')}`);
  }
}
