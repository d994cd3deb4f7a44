/**
 * `npm run bench -- lifecycle`: 200 sandboxes created, started and stopped concurrently over the
 * daemon's real socket, on the in-memory cloud with zero latency (so every millisecond is ours).
 * The daemon runs in a child process; its CPU (utime + stime) and RSS come from /proc. Reports CPU
 * per full lifecycle, RSS per live sandbox, and CreateVM / StartVM latency percentiles. Baseline in
 * the same run: the same number of `Version` calls (no work behind them) over the same socket, for
 * the per-call cost of the ttrpc transport itself.
 */
import { rm } from 'node:fs/promises';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { TtrpcClient, serviceClient } from '../../src/ttrpc/index.js';
import { sleep } from '../../test/helpers/async.js';
import { shimAnnotations, type DaemonHarness } from '../../test/helpers/daemon-harness.js';
import { memKiB, startBenchDaemon, stopBenchDaemon, transpileDaemonMain } from '../child-daemon.js';
import { processCpuMs } from '../process-cpu.js';
import { fmt, percentile, sortedCopy } from '../stats.js';

type HvClient = Awaited<ReturnType<DaemonHarness['hypervisor']>>;

const N = 200;

async function procStats(pid: number): Promise<{ cpuMs: number; rssKiB: number }> {
  return { cpuMs: await processCpuMs(pid), rssKiB: (await memKiB(pid)).rss };
}

export async function lifecycleBench(): Promise<void> {
  const main = 'bench/lifecycle/daemon-main.ts';
  const js = await transpileDaemonMain(main, 'caa-lc-js-');
  // LIFECYCLE_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/x" profiles the daemon.
  const nodeArgs = (process.env.LIFECYCLE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const daemon = await startBenchDaemon(js, main, { nodeArgs });
  const { socket, dir, pid } = daemon;
  try {
    const call = async <T>(fn: (h: HvClient) => Promise<T>): Promise<T> => {
      // A connection per call, as the Go shim dials per call.
      const c = await TtrpcClient.connectUnix(socket);
      try {
        return await fn(serviceClient(c, Hypervisor));
      } finally {
        c.close();
      }
    };
    const ids = (round: number) => Array.from({ length: N }, (_, i) => `${round.toString(16).padStart(4, '0')}${i.toString(16).padStart(60, '0')}`);
    const lifecycle = async (round: number) => {
      const create: number[] = [];
      const start: number[] = [];
      const list = ids(round);
      await Promise.all(
        list.map(async (id, i) => {
          const annotations = shimAnnotations({ 'io.kubernetes.cri.sandbox-name': `bench-${round}-${i}` });
          let t = performance.now();
          await call((h) => h.createVM({ id, annotations, networkNamespacePath: '' }));
          create.push(performance.now() - t);
          t = performance.now();
          await call((h) => h.startVM({ id }, { timeoutMs: 60_000 }));
          start.push(performance.now() - t);
        }),
      );
      const live = await procStats(pid);
      await Promise.all(list.map((id) => call((h) => h.stopVM({ id }))));
      return { create, start, live };
    };

    await lifecycle(0); // warm-up
    await sleep(1_000); // background deletions of the warm-up
    const idle = await procStats(pid);
    const r = await lifecycle(1);
    await sleep(1_000);
    const after = await procStats(pid);
    const t0 = await procStats(pid);
    await Promise.all(Array.from({ length: N * 3 }, () => call((h) => h.version({ version: '0.0.0' }))));
    const t1 = await procStats(pid);

    const cpuPerLifecycle = (after.cpuMs - idle.cpuMs) / N;
    const cpuPerVersion = (t1.cpuMs - t0.cpuMs) / (N * 3);
    const rssPerSandbox = (r.live.rssKiB - idle.rssKiB) / N;
    const c = sortedCopy(r.create);
    const s = sortedCopy(r.start);
    console.log(`${N} sandboxes at once, in-memory cloud (zero latency), daemon in a child process, PODS_DIR under ${dir}\n`);
    console.log('| figure | value | target |');
    console.log('|---|---|---|');
    console.log(`| CPU per lifecycle (CreateVM + StartVM + StopVM + deletion), daemon process | ${fmt(cpuPerLifecycle, 2)} ms | < 5 ms |`);
    console.log(`| baseline: CPU per Version call (connection + one ttrpc call, no work) | ${fmt(cpuPerVersion, 2)} ms | — |`);
    console.log(`| lifecycle / 3 Version calls | ${fmt(cpuPerLifecycle / (3 * cpuPerVersion), 2)} | — |`);
    console.log(`| RSS with ${N} live sandboxes | ${fmt(r.live.rssKiB / 1024, 1)} MiB (idle ${fmt(idle.rssKiB / 1024, 1)} MiB) | < 150 MiB |`);
    console.log(`| RSS per live sandbox | ${fmt(rssPerSandbox, 1)} KiB | < 300 KiB |`);
    console.log(`| CreateVM p50 / p99 | ${fmt(percentile(c, 0.5), 1)} / ${fmt(percentile(c, 0.99), 1)} ms | — |`);
    console.log(`| StartVM p50 / p99 (cloud call takes 0 ms) | ${fmt(percentile(s, 0.5), 1)} / ${fmt(percentile(s, 0.99), 1)} ms | — |`);
  } finally {
    await stopBenchDaemon(daemon, 'SIGTERM');
    await rm(js, { recursive: true, force: true });
  }
}
