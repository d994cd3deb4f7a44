/** Helpers every benchmark shares: the closed-loop load, percentiles, number formatting, a seeded PRNG. */
import type { TtrpcClient } from '../src/ttrpc/index.js';

/**
 * Runs `callers` closed-loop callers of `service/method` for `ms`, appending each call's latency
 * (µs) to `lat`; checks each echo's length. Returns the wall time in seconds.
 */
export async function closedLoop(
  client: TtrpcClient,
  target: { service: string; method: string },
  payload: Buffer,
  callers: number,
  ms: number,
  lat: number[],
): Promise<number> {
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  const caller = async (): Promise<void> => {
    for (let t = process.hrtime.bigint(); t < end; ) {
      const reply = await client.call(target.service, target.method, payload);
      const now = process.hrtime.bigint();
      if (reply.length !== payload.length) throw new Error(`echo returned ${reply.length} bytes, sent ${payload.length}`);
      lat.push(Number(now - t) / 1_000);
      t = now;
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export interface RoundPlan {
  warmupMs: number;
  rounds: number;
  roundMs: number;
}

export interface CaseResult<N> {
  name: N;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
}

/**
 * One case of a comparison: the same echo load (`callers` × `bytes`) on every target, checked
 * byte-exact, warmed up, then run in alternating rounds (ABBA order, so no target always follows
 * another's GC debt or warm caches). Calls/s and latency percentiles per target.
 */
export async function alternatingRounds<N>(
  targets: readonly { name: N; client: TtrpcClient }[],
  method: { service: string; method: string },
  callers: number,
  payload: Buffer,
  plan: RoundPlan,
): Promise<CaseResult<N>[]> {
  for (const { name, client } of targets) {
    const check = await client.call(method.service, method.method, payload);
    if (!check.equals(payload)) throw new Error(`${String(name)}: echo is not byte-exact`);
    await closedLoop(client, method, payload, callers, plan.warmupMs, []);
  }
  const acc = targets.map(() => ({ lat: [] as number[], secs: 0 }));
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? targets.map((_, i) => i) : targets.map((_, i) => targets.length - 1 - i);
    for (const i of order) acc[i]!.secs += await closedLoop(targets[i]!.client, method, payload, callers, plan.roundMs, acc[i]!.lat);
  }
  return targets.map(({ name }, i) => {
    const { lat, secs } = acc[i]!;
    const sorted = sortedCopy(lat);
    return { name, callsPerSec: lat.length / secs, p50Us: percentile(sorted, 0.5), p99Us: percentile(sorted, 0.99) };
  });
}

/** The value at quantile `p` (0–1) of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

export function sortedCopy(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}

/** en-US grouping, fixed decimals; an em dash for NaN/∞. */
export const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—';

export const passFail = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');

/** mulberry32: a tiny deterministic PRNG, so a run's random delays can be reproduced from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
