/**
 * The agent tunnel benchmark (`npm run bench -- tunnel`):
 *
 * 1. round trips through our tunnel (AgentProxy → mTLS → Forwarder, each in its own process) against
 *    the direct agent socket and a two-socat mTLS chain of the same shape (round-trips.ts);
 * 2. "forwarder listening" → "StartVM returned" against a fixed 1 s poll (startup.ts).
 *
 * Needs `socat` on PATH. Every child runs in its own process group and is killed on the way out,
 * also after an error; the temp dir goes too. Environment: TUNNEL_BENCH_SEED fixes the random
 * forwarder delays of part 2; TUNNEL_BENCH_TSX=1 runs the Node children under tsx (build.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TLS_PROFILE, TlsMaterial } from '../../src/tunnel/tls/index.js';
import { forgetTempDir, registerTempDir } from './children.js';
import { roundTrips } from './round-trips.js';
import { startupLatency } from './startup.js';

function socatVersion(): string | undefined {
  try {
    const text = execFileSync('socat', ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /socat version (\S+)/.exec(text)?.[1] ?? 'unknown';
  } catch {
    return undefined;
  }
}

function opensslVersion(): string {
  return process.versions.openssl;
}

export async function tunnelBench(): Promise<void> {
  const socat = socatVersion();
  if (!socat) throw new Error('socat not found on PATH (apt-get install -y socat); the tunnel benchmark needs it as its baseline');
  const seedEnv = process.env.TUNNEL_BENCH_SEED;
  const seed = seedEnv !== undefined && seedEnv !== '' ? Number(seedEnv) >>> 0 : (Date.now() & 0xffffffff) >>> 0;
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'tunnel-bench-'));
  registerTempDir(dir);
  try {
    const cpu = cpus();
    console.log(
      `> ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.versions.node} (OpenSSL ${opensslVersion()}), ` +
        `socat ${socat}, load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}\n`,
    );
    const material = await TlsMaterial.generate();
    const profile = DEFAULT_TLS_PROFILE;

    console.log('### Round trips\n');
    await roundTrips(dir, material, profile);
    console.log('\n### "forwarder listening" → "StartVM returned"\n');
    await startupLatency(dir, material, profile, seed);
    console.log(`\n> took ${((performance.now() - started) / 1000).toFixed(1)} s; load average at the end ${loadavg()[0]!.toFixed(2)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
    forgetTempDir(dir);
  }
}
