/**
 * `npm run bench providers`: 200 concurrent createInstance calls on the aws provider against the fake
 * EC2 (in a child process, 50 ms injected latency per call). Reports the provider's CPU time per
 * create next to the bare SDK's for the same RunInstances calls (the baseline, same run), the wall
 * time against the ideal that the rate limiter allows, and the peak number of EC2 calls in flight
 * against the limiter's cap.
 */
import { EC2Client, RunInstancesCommand, type _InstanceType } from '@aws-sdk/client-ec2';
import { awsPlugin } from '../../src/providers/aws/index.js';
import { fmt, passFail } from '../stats.js';
import { awsEnv } from '../../test/helpers/aws.js';
import { request } from '../../test/providers/contract/provider-contract.js';
import { apiLimitEnv } from '../../test/helpers/api-limits.js';
import { FakeCloudProcess } from './child.js';
import { CREATES, LATENCY_MS, limitCases, printTableHead, type FakeRunStats, type LimitCase } from './limit-cases.js';
import { ids, warmProvider } from './warm-provider.js';

interface Stats extends FakeRunStats {
  runInstances: number;
}

type FakeProcess = FakeCloudProcess<{ endpoint: string }, Stats>;

/** CPU time per create, from the whole run's. */
async function measureCreates(fake: FakeProcess, work: () => Promise<unknown>): Promise<Measured> {
  const m = await fake.measure(work);
  return { wallMs: m.wallMs, cpuMsPerCall: m.cpuMs / CREATES, stats: m.stats };
}

interface Measured {
  wallMs: number;
  cpuMsPerCall: number;
  stats: Stats;
}

/** The shortest time the limiter allows for CREATES single-call creates of LATENCY_MS each. */
function idealMs(c: LimitCase): number {
  const byRate = (Math.max(0, CREATES - c.burst) / c.rate) * 1000;
  const bySlots = Math.ceil(CREATES / c.maxInFlight) * LATENCY_MS;
  return Math.max(byRate + LATENCY_MS, bySlots);
}

async function providerRun(fake: FakeProcess, c: LimitCase): Promise<Measured & { ideal: number }> {
  const env = awsEnv(fake.ready, apiLimitEnv('AWS', c));
  const provider = await warmProvider(awsPlugin, env, { creates: CREATES, warmTimeoutMs: 60_000, timeoutMs: 120_000 });
  try {
    const m = await measureCreates(fake, () => provider.work());
    return { ...m, ideal: idealMs(c) };
  } finally {
    await provider.teardown();
  }
}

/**
 * The same RunInstances calls through a bare EC2Client: no limiter, no provider logic. Image, type,
 * subnet and security group are the ones the provider is configured with (awsEnv).
 */
async function bareSdkRun(fake: FakeProcess): Promise<Measured> {
  const env = awsEnv(fake.ready);
  const ec2 = new EC2Client({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_EC2, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: 'x' }, maxAttempts: 1 });
  const send = () => {
    const r = request(ids);
    return ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        ImageId: env.PODVM_AMI_ID,
        InstanceType: env.PODVM_INSTANCE_TYPE as _InstanceType,
        SubnetId: env.AWS_SUBNET_ID,
        SecurityGroupIds: env.AWS_SG_IDS!.split(','),
        UserData: Buffer.from(r.userData).toString('base64'),
        TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(r.tags).map(([Key, Value]) => ({ Key, Value })) }],
      }),
    );
  };
  try {
    await Promise.all(Array.from({ length: 10 }, send));
    return await measureCreates(fake, () => Promise.all(Array.from({ length: CREATES }, send)));
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
  const fake = await FakeCloudProcess.start<{ endpoint: string }, Stats>(new URL('./fake-ec2-main.ts', import.meta.url), LATENCY_MS, 'fake EC2');
  try {
    const cases = limitCases({ rate: 10, burst: 20, maxInFlight: 16 });
    const bare = await bareSdkRun(fake);
    console.log(`${CREATES} concurrent creates, fake EC2 in a child process with ${LATENCY_MS} ms latency per call\n`);
    printTableHead(['limiter', 'wall ms', 'ideal ms', 'wall/ideal', 'CPU ms/create', 'bare SDK CPU ms/call', 'ratio', 'peak in flight / cap', 'RunInstances calls']);
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
