/**
 * The Azure part of `npm run bench providers`: 200 concurrent createInstance calls on the azure
 * provider against the fake ARM (HTTPS, 50 ms injected latency per request, each VM create a
 * long-running operation that takes 500 ms and is polled). Reports the provider's CPU time per create
 * next to the bare SDK's for the same requests (the baseline, same run), the wall time against the
 * ideal the limiter allows, the peak number of ARM requests in flight against the cap, and the poll
 * requests per create against the bound the poll interval sets.
 *
 * Three processes: this one (orchestration only), the fake ARM, and a driver that runs the SDK. The
 * driver is a child because it must start with NODE_EXTRA_CA_CERTS naming the fake's CA.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, passFail } from '../stats.js';
import { TLS_DIR_ENV, createArmTls, writeArmTls } from '../../test/fakes/arm/tls.js';
import type { BenchSettings, FakeStats, PrepareMessage } from './azure-child-main.js';
import { BenchChild } from './child.js';
import { CREATES, LATENCY_MS, limitCases, printTableHead, type LimitCase } from './limit-cases.js';

const SETTINGS: BenchSettings = { creates: CREATES, latencyMs: LATENCY_MS, createDurationMs: 500, pollIntervalMs: 200 };
/** Requests of one create outside the polls: PUT, final GET, NIC GET. */
const FIXED_CALLS = 3;

/** One of the two children, by role (see azure-child-main.ts). */
function startChild(role: 'fake' | 'driver', env: Record<string, string>): Promise<{ child: BenchChild; ready: { endpoint?: string } }> {
  return BenchChild.start(new URL('./azure-child-main.ts', import.meta.url), [role, JSON.stringify(SETTINGS)], `azure bench ${role}`, env);
}

interface Measured {
  wallMs: number;
  cpuMsPerCreate: number;
  stats: FakeStats;
}

async function measure(fake: BenchChild, driver: BenchChild, prepare: PrepareMessage): Promise<Measured> {
  await driver.ask(prepare);
  await fake.ask({ type: 'reset' });
  const m = await driver.ask<{ wallMs: number; cpuMs: number }>({ type: 'measure' });
  const stats = await fake.ask<FakeStats>({ type: 'stats' });
  await driver.ask({ type: 'teardown' });
  return { wallMs: m.wallMs, cpuMsPerCreate: m.cpuMs / SETTINGS.creates, stats };
}

/** The shortest time the limiter allows for the requests the creates actually made. */
function idealMs(c: LimitCase, calls: number): number {
  const { latencyMs, createDurationMs } = SETTINGS;
  const criticalPath = createDurationMs + 4 * latencyMs; // PUT, the poll that sees Succeeded, final GET, NIC GET
  const byRate = (Math.max(0, calls - c.burst) / c.rate) * 1000 + latencyMs;
  const bySlots = Math.ceil(calls / c.maxInFlight) * latencyMs;
  return Math.max(criticalPath, byRate, bySlots);
}

/** Polls one create can need at most: one per interval over the operation, plus the first. */
const pollBound = Math.ceil(SETTINGS.createDurationMs / SETTINGS.pollIntervalMs) + 1;

export async function azureProvidersBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'caa-bench-arm-'));
  const started: BenchChild[] = [];
  try {
    const bundle = await writeArmTls(dir, await createArmTls());
    const fake = await startChild('fake', { [TLS_DIR_ENV]: dir });
    started.push(fake.child);
    const driver = await startChild('driver', { NODE_EXTRA_CA_CERTS: bundle, FAKE_ARM_ENDPOINT: fake.ready.endpoint! });
    started.push(driver.child);

    const cases = limitCases({ rate: 20, burst: 40, maxInFlight: 32 });
    const bare = await measure(fake.child, driver.child, { type: 'prepare', kind: 'bare' });
    const { creates, latencyMs, createDurationMs, pollIntervalMs } = SETTINGS;
    console.log(
      `${creates} concurrent creates on azure, fake ARM (HTTPS) in a child process with ${latencyMs} ms latency per request, ` +
        `each VM create a ${createDurationMs} ms long-running operation polled every ${pollIntervalMs} ms\n`,
    );
    printTableHead(['limiter', 'wall ms', 'ideal ms', 'wall/ideal', 'CPU ms/create', 'bare SDK CPU ms/create', 'ratio', 'peak in flight / cap', 'polls/create (bound)', 'requests/create', 'TLS handshakes']);
    let ok = true;
    for (const c of cases) {
      const r = await measure(fake.child, driver.child, { type: 'prepare', kind: 'provider', rate: c.rate, burst: c.burst, maxInFlight: c.maxInFlight });
      const ideal = idealMs(c, r.stats.calls);
      const capOk = r.stats.peakInFlight <= c.maxInFlight;
      const pollsPerCreate = r.stats.polls / creates;
      const pollsOk = pollsPerCreate <= pollBound && r.stats.calls === r.stats.polls + FIXED_CALLS * creates;
      ok &&= capOk && pollsOk && r.cpuMsPerCreate < 2;
      console.log(
        `| ${c.label} | ${fmt(r.wallMs)} | ${fmt(ideal)} | ${fmt(r.wallMs / ideal, 2)} | ${fmt(r.cpuMsPerCreate, 2)} | ${fmt(bare.cpuMsPerCreate, 2)} | ` +
          `${fmt(r.cpuMsPerCreate / bare.cpuMsPerCreate, 2)} | ${r.stats.peakInFlight} / ${c.maxInFlight} ${passFail(capOk)} | ` +
          `${fmt(pollsPerCreate, 2)} (≤ ${pollBound}) ${passFail(pollsOk)} | ${fmt(r.stats.calls / creates, 2)} | ${r.stats.tlsConnections} |`,
      );
    }
    console.log(
      `\nbare SDK, no limiter: ${fmt(bare.wallMs)} ms wall, peak ${bare.stats.peakInFlight} in flight, ${fmt(bare.stats.polls / creates, 2)} polls/create, ${fmt(bare.stats.calls / creates, 2)} requests/create, ${bare.stats.tlsConnections} TLS handshakes`,
    );
    console.log(`target: < 2 ms CPU per create, never more in flight than the cap, poll traffic bounded: ${passFail(ok)}`);
  } finally {
    for (const c of started.reverse()) await c.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
