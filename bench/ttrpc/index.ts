/**
 * Unary ttrpc round trips from our TtrpcClient over ONE Unix connection per server, against
 * (1) our TtrpcServer in a child Node process and (2) the Go containerd/ttrpc `ttrpc-peer server`.
 * Same client code, same load, same run; the two servers are measured back to back per case.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TtrpcClient } from '../../src/ttrpc/index.js';
import { alternatingRounds, fmt } from '../stats.js';
import { buildGoPeer, goPeerSkipReason, spawnReady, startGoServer, type ReadyProcess } from '../../test/interop/go-peer.js';

const WARMUP_MS = 500;
/** Each case alternates the servers in short rounds, so background load on the machine hits both alike. */
const ROUNDS = 4;
const ROUND_MS = 600;
const CALLERS = [1, 64] as const;
const SIZES = [
  ['64 B', 64],
  ['64 KiB', 64 << 10],
] as const;

type ServerName = 'ours' | 'go';

interface Target {
  server: ServerName;
  client: TtrpcClient;
}

interface Result {
  server: ServerName;
  callers: number;
  size: string;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
}

async function runCase(targets: readonly Target[], callers: number, size: string, bytes: number): Promise<Result[]> {
  const results = await alternatingRounds(
    targets.map((t) => ({ name: t.server, client: t.client })),
    { service: 'bench.Echo', method: 'Echo' },
    callers,
    randomBytes(bytes),
    { warmupMs: WARMUP_MS, rounds: ROUNDS, roundMs: ROUND_MS },
  );
  return results.map((r) => ({ server: r.name, callers, size, callsPerSec: r.callsPerSec, p50Us: r.p50Us, p99Us: r.p99Us }));
}

export async function ttrpcBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ttrpc-bench-'));
  const procs: ReadyProcess[] = [];
  const clients: TtrpcClient[] = [];
  try {
    const tsx = import.meta.resolve('tsx');
    const serverFile = fileURLToPath(new URL('./ts-server.ts', import.meta.url));
    const oursSock = join(dir, 'ours.sock');
    procs.push(await spawnReady(process.execPath, ['--import', tsx, serverFile, '--socket', oursSock]));
    const ours = await TtrpcClient.connectUnix(oursSock);
    clients.push(ours);
    const targets: Target[] = [{ server: 'ours', client: ours }];

    const goBin = await buildGoPeer();
    if (goBin) {
      const goSock = join(dir, 'go.sock');
      procs.push(await startGoServer(goBin, goSock));
      const go = await TtrpcClient.connectUnix(goSock);
      clients.push(go);
      targets.push({ server: 'go', client: go });
    } else {
      console.log(`> Go peer unavailable, measuring our server only: ${goPeerSkipReason()}\n`);
    }

    const results: Result[] = [];
    for (const callers of CALLERS) {
      for (const [size, bytes] of SIZES) results.push(...(await runCase(targets, callers, size, bytes)));
    }

    const goFor = (r: Result): Result | undefined =>
      results.find((g) => g.server === 'go' && g.callers === r.callers && g.size === r.size);
    console.log(
      `Unary bench.Echo/Echo, one Unix connection per server; per case ${WARMUP_MS} ms warm-up, then ` +
        `${ROUNDS} × ${ROUND_MS} ms per server, alternating.\n`,
    );
    console.log('| server | callers | payload | calls/s | p50 µs | p99 µs | ours/Go calls/s |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      const g = r.server === 'ours' ? goFor(r) : undefined;
      const ratio = g ? `${fmt(r.callsPerSec / g.callsPerSec, 2)}×` : '';
      console.log(`| ${r.server} | ${r.callers} | ${r.size} | ${fmt(r.callsPerSec)} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${ratio} |`);
    }

    // Targets are reported, not asserted: a loaded CI machine should not fail the build.
    const find = (server: ServerName, callers: number, size: string): Result | undefined =>
      results.find((r) => r.server === server && r.callers === callers && r.size === size);
    const o64 = find('ours', 64, '64 B');
    const g64 = find('go', 64, '64 B');
    const o1 = find('ours', 1, '64 B');
    console.log('\nTargets:');
    if (o64 && g64) {
      const ratio = o64.callsPerSec / g64.callsPerSec;
      console.log(`- ours ≥ 0.6× Go calls/s at 64 callers × 64 B: ${fmt(ratio, 2)}× → ${ratio >= 0.6 ? 'PASS' : 'FAIL'}`);
    } else {
      console.log('- ours ≥ 0.6× Go calls/s at 64 callers × 64 B: not measured (no Go peer)');
    }
    if (o1) console.log(`- ours p99 < 200 µs at 1 caller × 64 B: ${fmt(o1.p99Us)} µs → ${o1.p99Us < 200 ? 'PASS' : 'FAIL'}`);
  } finally {
    for (const c of clients) c.close();
    await Promise.all(procs.map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}
