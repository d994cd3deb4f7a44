/**
 * `npm run bench -- memory`: the daemon's memory and log volume under misbehaving clients, each case
 * against a baseline measured in the same run.
 *
 * Every case gets a fresh daemon in a child process (plain JavaScript, as production runs it); RSS
 * and peak RSS (VmHWM) come from /proc. A case is over when the daemon has stopped working: its CPU
 * time has not grown for a second (or after 60 s). The cases:
 *  - 46 MB of pipelined Version calls on one connection whose client never reads an answer;
 *    baseline: the same calls from a client that reads its answers and keeps ≤ 1024 unanswered.
 *  - 100k PodVMInfo/GetInfo calls with `Wait` for a pod that never comes, on one connection and on
 *    100 connections; baseline: the same number of GetInfo calls without `Wait` (answered at once).
 *  - 50 StopVM calls with a 1 MiB sandbox id; baseline: 50 StopVM calls with a Kata id (64 hex);
 *    the figure is the bytes they add to the daemon's log.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { StopVMRequestSchema, VersionRequestSchema } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { GetInfoRequestSchema } from '../../src/proto/gen/podvminfo/podvminfo_pb.js';
import { RequestSchema } from '../../src/proto/gen/ttrpc/request_pb.js';
import { encodeHeader, FrameReader, MessageType } from '../../src/ttrpc/frame.js';
import { sleep } from '../../test/helpers/async.js';
import { memKiB, startBenchDaemon, stopBenchDaemon, transpileDaemonMain, type BenchDaemon } from '../child-daemon.js';
import { processCpuMs } from '../process-cpu.js';
import { fmt } from '../stats.js';

const PIPELINED_BYTES = 46e6;
const GETINFO_CALLS = 100_000;
const STOPVM_CALLS = 50;
const HUGE_ID = 1 << 20;

const MAIN = 'bench/memory/daemon-main.ts';

interface Daemon extends BenchDaemon {
  log: string;
}

async function startDaemon(js: string, logDir: string, name: string, env: Record<string, string> = {}): Promise<Daemon> {
  const log = join(logDir, `${name}.log`);
  const d = await startBenchDaemon(js, MAIN, { env: { MEMORY_BENCH_LOG: log, MEMORY_BENCH_ENV: JSON.stringify(env) } });
  // Let start-up garbage settle before the idle figure.
  await sleep(500);
  return { ...d, log };
}

/** Waits until the daemon's CPU time has not grown (by more than 20 ms) for a second, or 60 s. */
async function settled(pid: number): Promise<void> {
  const until = Date.now() + 60_000;
  let last = await processCpuMs(pid);
  while (Date.now() < until) {
    await sleep(1_000);
    const now = await processCpuMs(pid);
    if (now - last <= 20) return;
    last = now;
  }
}

function frame(streamId: number, service: string, method: string, payload: Uint8Array): Buffer {
  const envelope = toBinary(RequestSchema, create(RequestSchema, { service, method, payload }));
  return Buffer.concat([encodeHeader(envelope.length, streamId, MessageType.REQUEST, 0), envelope]);
}

/** `count` request frames with stream ids 1, 3, 5, …. */
function frames(count: number, make: (streamId: number) => Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(make(2 * i + 1));
  return out;
}

function open(socket: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ path: socket });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `data` and never reads: the socket stays paused. */
function sendUnread(s: Socket, data: Buffer): void {
  s.pause();
  s.write(data);
}

/**
 * A well-behaved client: sends `calls` (one frame each) with at most `window` unanswered, reading
 * every answer. With `window` = Infinity, all at once; `expect` answers end it (Infinity: never).
 */
async function sendAndRead(s: Socket, calls: readonly Buffer[], window: number, expect = calls.length): Promise<void> {
  let answers = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  const reader = new FrameReader({
    frame: () => {
      answers++;
      wake?.();
    },
    oversized: () => {
      answers++;
      wake?.();
    },
  });
  s.on('data', (c: Buffer) => reader.push(c));
  while (answers < expect) {
    if (sent < calls.length && sent - answers < window) {
      const upTo = Math.min(calls.length, answers + window);
      s.write(Buffer.concat(calls.slice(sent, upTo)));
      sent = upTo;
      continue;
    }
    if (sent === calls.length && !Number.isFinite(expect)) return;
    await new Promise<void>((r) => (wake = r));
  }
}

interface Row {
  label: string;
  baseline: string;
  value: string;
  ratio?: string;
}

/**
 * One case on a fresh daemon: `run` drives it through connections it opens with `connect` (all
 * closed again, with the daemon, once the daemon has settled and been measured).
 */
async function measure(js: string, logDir: string, name: string, run: (connect: () => Promise<Socket>) => Promise<void>, env?: Record<string, string>) {
  const d = await startDaemon(js, logDir, name, env);
  const sockets: Socket[] = [];
  const connect = async (): Promise<Socket> => {
    const s = await open(d.socket);
    sockets.push(s);
    return s;
  };
  try {
    const idle = await memKiB(d.pid);
    const logBefore = (await stat(d.log)).size;
    await run(connect);
    await settled(d.pid);
    const after = await memKiB(d.pid);
    const logAfter = (await stat(d.log)).size;
    return { idleMiB: idle.rss / 1024, rssMiB: after.rss / 1024, peakMiB: after.hwm / 1024, logBytes: logAfter - logBefore };
  } finally {
    for (const s of sockets) s.destroy();
    await stopBenchDaemon(d, 'SIGKILL');
  }
}

export async function memoryBench(): Promise<void> {
  const js = await transpileDaemonMain(MAIN, 'caa-mem-js-');
  const logDir = await mkdtemp(join(tmpdir(), 'caa-mem-log-'));
  const rows: Row[] = [];
  try {
    // 1. Pipelined calls whose answers are never read.
    const version = (id: number) => frame(id, 'hypervisor.Hypervisor', 'Version', toBinary(VersionRequestSchema, create(VersionRequestSchema, { version: '0.0.0' })));
    const perCall = version(1).length;
    const n = Math.ceil(PIPELINED_BYTES / perCall);
    const pipelined = frames(n, version);
    const good = await measure(js, logDir, 'pipelined-read', async (connect) => sendAndRead(await connect(), pipelined, 1024));
    const bad = await measure(js, logDir, 'pipelined-unread', async (connect) => sendUnread(await connect(), Buffer.concat(pipelined)));
    rows.push({
      label: `${fmt((perCall * n) / 1e6, 1)} MB of pipelined Version calls (${n}) on one connection: peak RSS`,
      baseline: `${fmt(good.peakMiB, 1)} MiB (client reads, ≤ 1024 unanswered; idle ${fmt(good.idleMiB, 1)} MiB)`,
      value: `${fmt(bad.peakMiB, 1)} MiB (client never reads)`,
      ratio: fmt((bad.peakMiB - bad.idleMiB) / Math.max(1, good.peakMiB - good.idleMiB), 2),
    });

    // 2. Waiting GetInfo calls.
    const getInfo = (wait: boolean) => (id: number) =>
      frame(id, 'podvminfo.PodVMInfo', 'GetInfo', toBinary(GetInfoRequestSchema, create(GetInfoRequestSchema, { PodName: 'never', PodNamespace: 'default', Wait: wait })));
    const answered = await measure(js, logDir, 'getinfo-nowait', async (connect) => sendAndRead(await connect(), frames(GETINFO_CALLS, getInfo(false)), 1024));
    const waiting = await measure(js, logDir, 'getinfo-wait', async (connect) => sendAndRead(await connect(), frames(GETINFO_CALLS, getInfo(true)), Infinity, Infinity));
    const conns = 100;
    const waitingMany = await measure(js, logDir, 'getinfo-wait-100', async (connect) => {
      const data = frames(GETINFO_CALLS / conns, getInfo(true));
      for (let i = 0; i < conns; i++) await sendAndRead(await connect(), data, Infinity, Infinity);
    });
    const grow = (m: { idleMiB: number; rssMiB: number }) => m.rssMiB - m.idleMiB;
    rows.push({
      label: `${GETINFO_CALLS} GetInfo calls with Wait, one connection: RSS growth over idle`,
      baseline: `+${fmt(grow(answered), 1)} MiB (same calls without Wait)`,
      value: `+${fmt(grow(waiting), 1)} MiB`,
      ratio: fmt(grow(waiting) / Math.max(1, grow(answered)), 2),
    });
    rows.push({
      label: `${GETINFO_CALLS} GetInfo calls with Wait, ${conns} connections × ${GETINFO_CALLS / conns}: RSS growth over idle`,
      baseline: `+${fmt(grow(answered), 1)} MiB (same calls without Wait, one connection)`,
      value: `+${fmt(grow(waitingMany), 1)} MiB`,
      ratio: fmt(grow(waitingMany) / Math.max(1, grow(answered)), 2),
    });

    // 3. Huge sandbox ids in StopVM: bytes of log.
    const stopVM = (id: string) => (streamId: number) => frame(streamId, 'hypervisor.Hypervisor', 'StopVM', toBinary(StopVMRequestSchema, create(StopVMRequestSchema, { id })));
    const kataId = 'a'.repeat(64);
    const normal = await measure(js, logDir, 'stopvm-kata-id', async (connect) => sendAndRead(await connect(), frames(STOPVM_CALLS, stopVM(kataId)), 1));
    const huge = await measure(js, logDir, 'stopvm-huge-id', async (connect) => sendAndRead(await connect(), frames(STOPVM_CALLS, stopVM('x'.repeat(HUGE_ID))), 1));
    rows.push({
      label: `${STOPVM_CALLS} StopVM calls with a 1 MiB id: bytes logged`,
      baseline: `${normal.logBytes} B (${STOPVM_CALLS} StopVM with a 64-hex id)`,
      value: `${huge.logBytes} B`,
      ratio: fmt(huge.logBytes / Math.max(1, normal.logBytes), 2),
    });

    console.log('Each case on a fresh daemon in a child process (in-memory cloud, info logs to a file).\n');
    console.log('| case | baseline (same run) | misbehaving client | ratio |');
    console.log('|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.label} | ${r.baseline} | ${r.value} | ${r.ratio ?? '—'} |`);
  } finally {
    await rm(js, { recursive: true, force: true });
    await rm(logDir, { recursive: true, force: true });
  }
}
