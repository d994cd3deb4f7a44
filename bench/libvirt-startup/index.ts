/**
 * Pod VM start-up on libvirt (`npm run bench -- libvirt-startup`, root; needs libvirt, QEMU and
 * the pod VM image tools): the daemon with the libvirt provider (a child in the lab's network
 * namespace, as in the end-to-end test) starts LIBVIRT_BENCH_PODS pods (default 5) one after the
 * other; each StartVM is split into phases:
 *
 * - volumes + ISO: StartVM sent → the overlay and the cidata seed exist (daemon log; includes the
 *   domain define, which comes first);
 * - start: → libvirt started the domain (daemon log);
 * - boot: → the forwarder inside the VM logs that it listens (seen on the serial console file,
 *   polled every 10 ms by this process);
 * - proxy connected: → StartVM returns (the agent proxy dialled in and serves the shim socket).
 *
 * The baseline is the boot itself, measured in the same run: the daemon's own share is everything
 * but boot, as a fraction of StartVM. Target: < 5 %. Printed, never asserted.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { TtrpcClient, serviceClient } from '../../src/ttrpc/index.js';
import { shimAnnotations } from '../../test/helpers/daemon-harness.js';
import type { ChildDaemon } from '../../test/helpers/child-daemon.js';
import { podvmLabUnavailable, startPodvmLab } from '../../test/helpers/podvm-lab.js';
import { fmt, passFail } from '../stats.js';

const PODS = Number(process.env.LIBVIRT_BENCH_PODS ?? 5);
const TARGET = 0.05;

interface Phases {
  volumes: number;
  start: number;
  boot: number;
  connect: number;
  total: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** A log record's time as epoch ms (the daemon logs ISO timestamps). */
const timeOf = (r: Record<string, unknown>): number => (typeof r.time === 'string' ? Date.parse(r.time) : typeof r.time === 'number' ? r.time : NaN);

/** The first daemon log record at or after `since` whose message matches. */
function logRecord(d: ChildDaemon, since: number, msg: RegExp): Record<string, unknown> | undefined {
  return d.records().find((r) => timeOf(r) >= since && typeof r.msg === 'string' && msg.test(r.msg));
}

function logTime(d: ChildDaemon, since: number, msg: RegExp): number {
  const hit = logRecord(d, since, msg);
  if (!hit) throw new Error(`no log line ${String(msg)} after ${new Date(since).toISOString()}`);
  return timeOf(hit);
}

/** Polls the console file until the forwarder's "listening" line appears; resolves with the host time it was seen. */
function watchConsole(path: () => string | undefined, stop: AbortSignal): Promise<number | undefined> {
  return new Promise((resolve) => {
    const tick = async (): Promise<void> => {
      if (stop.aborted) return resolve(undefined);
      const p = path();
      const text = p ? await readFile(p, 'utf8').catch(() => '') : '';
      if (text.includes('forwarder listening on')) return resolve(Date.now());
      setTimeout(() => void tick(), 10);
    };
    void tick();
  });
}

export async function libvirtStartupBench(): Promise<void> {
  const unavailable = (process.getuid?.() === 0 ? undefined : 'needs root') ?? (await podvmLabUnavailable());
  if (unavailable) {
    console.log(`skipped: ${unavailable}`);
    return;
  }
  const pl = await startPodvmLab({ prefix: 'caa-lvb', log: (l) => console.log(`podvm: ${l}`) });
  const stop = (): void => void pl.stop().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const d = pl.startDaemon({}, ['--log-level', 'debug']);
    await d.until('serving hypervisor.Hypervisor', 60_000);
    const c = await TtrpcClient.connectUnix(pl.env.REMOTE_HYPERVISOR_ENDPOINT!);
    const hv = serviceClient(c, Hypervisor);
    const f = pl.image.manifest.files;
    console.log(
      `pod VM image: ${pl.image.manifest.kernelPackage}, initrd ${fmt(f['initrd.img'].bytes / 2 ** 20, 1)} MiB, root disk ${fmt(f['podvm-base.qcow2'].bytes / 2 ** 20, 1)} MiB; ` +
        `VMs: 1 vCPU, ${pl.env.LIBVIRT_MEMORY} MiB, TCG (domain type qemu)\n`,
    );
    const rows: Phases[] = [];
    for (let i = 0; i < PODS; i++) {
      const id = randomBytes(16).toString('hex');
      await hv.createVM({ id, annotations: shimAnnotations({ 'io.kubernetes.cri.sandbox-name': `bench${i}` }), networkNamespacePath: '' });
      const since = Date.now();
      const watching = new AbortController();
      // The console file is named after the instance, which the daemon logs once it defined the domain.
      let consolePath: string | undefined;
      const listening = watchConsole(() => {
        if (!consolePath) {
          const r = logRecord(d, since, /^defined domain/);
          if (r) consolePath = join(pl.lab.poolDir, `${String(r.instanceName)}-console.log`);
        }
        return consolePath;
      }, watching.signal);
      const t0 = Date.now();
      await hv.startVM({ id }, { timeoutMs: 240_000 });
      const tEnd = Date.now();
      watching.abort();
      const tListen = await listening;
      if (tListen === undefined) throw new Error('the forwarder\'s "listening" line never appeared on the console');
      const tVolumes = logTime(d, since, /^volumes of .* created/);
      const tStarted = logTime(d, since, /^started domain/);
      const row = { volumes: tVolumes - t0, start: tStarted - tVolumes, boot: tListen - tStarted, connect: tEnd - tListen, total: tEnd - t0 };
      rows.push(row);
      console.log(
        `pod ${i + 1}: total ${fmt(row.total)} ms = volumes+ISO ${fmt(row.volumes)} + define/start ${fmt(row.start)} + boot ${fmt(row.boot)} + proxy ${fmt(row.connect)}`,
      );
      await hv.stopVM({ id }, { timeoutMs: 60_000 });
      await d.until(`sandbox ${id} removed`, 60_000);
    }
    c.close();

    const m = (k: keyof Phases): number => median(rows.map((r) => r[k]));
    const shares = rows.map((r) => (r.total - r.boot) / r.total);
    console.log('\n| phase (median of ' + rows.length + ') | ms |');
    console.log('|---|---|');
    console.log(`| volumes + ISO (define, overlay, seed upload) | ${fmt(m('volumes'))} |`);
    console.log(`| start (libvirt starts QEMU) | ${fmt(m('start'))} |`);
    console.log(`| boot to forwarder listening | ${fmt(m('boot'))} |`);
    console.log(`| proxy connected, StartVM returns | ${fmt(m('connect'))} |`);
    console.log(`| StartVM total | ${fmt(m('total'))} |`);
    const share = median(shares);
    console.log(`\ndaemon's own share (everything but boot) / StartVM: median ${fmt(share * 100, 1)} % (per pod ${shares.map((s) => fmt(s * 100, 1)).join(', ')} %); target < ${TARGET * 100} %: ${passFail(share < TARGET)}`);
  } finally {
    process.off('SIGINT', stop);
    await pl.stop();
  }
}
