/**
 * `npm run bench providers`: 200 concurrent createInstance calls on the aws provider against the fake
 * EC2 (in a child process, 50 ms injected latency per call). Reports the provider's CPU time per
 * create next to the bare SDK's for the same RunInstances calls (the baseline, same run), the wall
 * time against the ideal that the rate limiter allows, and the peak number of EC2 calls in flight
 * against the limiter's cap.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { pino } from 'pino';
import { awsPlugin } from '../../src/providers/aws/index.js';
import type { Provider } from '../../src/providers/provider.js';
import { fmt, passFail } from '../stats.js';
import { awsEnv } from '../../test/helpers/aws.js';
import { request } from '../../test/providers/contract/provider-contract.js';
import { DEFAULT_ACCESS_KEY, DEFAULT_IMAGE_ID, DEFAULT_SECURITY_GROUP_ID, DEFAULT_SUBNET_ID } from '../../test/fakes/ec2/seeds.js';

const CREATES = 200;
const LATENCY_MS = 50;
const ids = { clusterName: 'bench', nodeName: 'node-a' };

interface Stats {
  peakInFlight: number;
  runInstances: number;
  calls: number;
}

class FakeProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly endpoint: string,
  ) {}

  static start(): Promise<FakeProcess> {
    const child = fork(new URL('./fake-ec2-main.ts', import.meta.url).pathname, [String(LATENCY_MS)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('message', (m: { endpoint: string }) => resolve(new FakeProcess(child, m.endpoint)));
      child.once('exit', (code) => reject(new Error(`fake EC2 exited with ${code}`)));
    });
  }

  private ask<T>(type: string): Promise<T> {
    return new Promise((resolve) => {
      this.child.once('message', (m: T) => resolve(m));
      this.child.send({ type });
    });
  }

  stats(): Promise<Stats> {
    return this.ask('stats');
  }

  async reset(): Promise<void> {
    await this.ask('reset');
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send({ type: 'close' });
    });
  }
}

interface Measured {
  wallMs: number;
  cpuMsPerCall: number;
  stats: Stats;
}

async function measure(fake: FakeProcess, work: () => Promise<unknown>): Promise<Measured> {
  await fake.reset();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMsPerCall: (cpu.user + cpu.system) / 1000 / CREATES, stats: await fake.stats() };
}

interface LimitCase {
  label: string;
  rate: number;
  burst: number;
  maxInFlight: number;
}

/** The shortest time the limiter allows for CREATES single-call creates of LATENCY_MS each. */
function idealMs(c: LimitCase): number {
  const byRate = (Math.max(0, CREATES - c.burst) / c.rate) * 1000;
  const bySlots = Math.ceil(CREATES / c.maxInFlight) * LATENCY_MS;
  return Math.max(byRate + LATENCY_MS, bySlots);
}

async function providerRun(fake: FakeProcess, c: LimitCase): Promise<Measured & { ideal: number }> {
  const env = awsEnv({ endpoint: fake.endpoint } as never, {
    AWS_API_RATE_LIMIT: String(c.rate),
    AWS_API_BURST: String(c.burst),
    AWS_API_MAX_IN_FLIGHT: String(c.maxInFlight),
  });
  const logger = pino({ level: 'warn' });
  const provider: Provider = await awsPlugin.create({ logger, stateDir: '/nonexistent', ...ids, forwarderPort: 15150 }, { flags: {}, env });
  try {
    // Warm-up: module code paths, TLS-free keep-alive sockets.
    await Promise.all(Array.from({ length: 10 }, () => provider.createInstance(request(ids), AbortSignal.timeout(60_000))));
    await new Promise((r) => setTimeout(r, 1_000)); // let the bucket refill
    const m = await measure(fake, () => Promise.all(Array.from({ length: CREATES }, () => provider.createInstance(request(ids), AbortSignal.timeout(120_000)))));
    return { ...m, ideal: idealMs(c) };
  } finally {
    await provider.teardown();
  }
}

/** The same RunInstances calls through a bare EC2Client: no limiter, no provider logic. */
async function bareSdkRun(fake: FakeProcess): Promise<Measured> {
  const ec2 = new EC2Client({ region: 'us-east-1', endpoint: fake.endpoint, credentials: { accessKeyId: DEFAULT_ACCESS_KEY, secretAccessKey: 'x' }, maxAttempts: 1 });
  const send = () => {
    const r = request(ids);
    return ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        ImageId: DEFAULT_IMAGE_ID,
        InstanceType: 'm6a.large',
        SubnetId: DEFAULT_SUBNET_ID,
        SecurityGroupIds: [DEFAULT_SECURITY_GROUP_ID],
        UserData: Buffer.from(r.userData).toString('base64'),
        TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(r.tags).map(([Key, Value]) => ({ Key, Value })) }],
      }),
    );
  };
  try {
    await Promise.all(Array.from({ length: 10 }, send));
    return await measure(fake, () => Promise.all(Array.from({ length: CREATES }, send)));
  } finally {
    ec2.destroy();
  }
}

/** aws, azure and ibmcloud in turn; PROVIDERS_BENCH=aws,ibmcloud picks some. */
export async function providersBench(): Promise<void> {
  const only = process.env.PROVIDERS_BENCH;
  if (!only || only.includes('aws')) {
    console.log('### aws\n');
    await awsProvidersBench();
  }
  if (!only || only.includes('azure')) {
    console.log('\n### azure\n');
    await (await import('./azure.js')).azureProvidersBench();
  }
  if (!only || only.includes('ibmcloud')) {
    console.log('\n### ibmcloud\n');
    await (await import('./ibmcloud.js')).ibmcloudProvidersBench();
  }
}

async function awsProvidersBench(): Promise<void> {
  const fake = await FakeProcess.start();
  try {
    const cases: LimitCase[] = [
      { label: 'rate-bound (100/s, burst 20, 16 in flight)', rate: 100, burst: 20, maxInFlight: 16 },
      { label: 'slot-bound (1000/s, burst 1000, 8 in flight)', rate: 1000, burst: 1000, maxInFlight: 8 },
      { label: 'defaults (10/s, burst 20, 16 in flight)', rate: 10, burst: 20, maxInFlight: 16 },
    ];
    const bare = await bareSdkRun(fake);
    console.log(`${CREATES} concurrent creates, fake EC2 in a child process with ${LATENCY_MS} ms latency per call\n`);
    console.log('| limiter | wall ms | ideal ms | wall/ideal | CPU ms/create | bare SDK CPU ms/call | ratio | peak in flight / cap | RunInstances calls |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    let ok = true;
    for (const c of cases) {
      const r = await providerRun(fake, c);
      const capOk = r.stats.peakInFlight <= c.maxInFlight;
      ok &&= capOk && r.cpuMsPerCall < 2;
      console.log(
        `| ${c.label} | ${fmt(r.wallMs)} | ${fmt(r.ideal)} | ${fmt(r.wallMs / r.ideal, 2)} | ${fmt(r.cpuMsPerCall, 2)} | ${fmt(bare.cpuMsPerCall, 2)} | ${fmt(r.cpuMsPerCall / bare.cpuMsPerCall, 2)} | ${r.stats.peakInFlight} / ${c.maxInFlight} ${passFail(capOk)} | ${r.stats.runInstances} |`,
      );
    }
    console.log(`\nbare SDK, no limiter: ${fmt(bare.wallMs)} ms wall, peak ${bare.stats.peakInFlight} in flight`);
    console.log(`target: < 2 ms CPU per create and never more in flight than the cap: ${passFail(ok)}`);
  } finally {
    await fake.stop();
  }
}
