/**
 * IBM Cloud part of `npm run bench providers`: 200 concurrent createInstance calls on the ibmcloud
 * provider against the fake VPC (in a child process, 50 ms injected latency on every request). A create
 * is three requests (POST /instances, the Global Tagging attach, GET /instances/{id} until running), so
 * besides the CPU time per create it reports the CPU time per request next to a bare ibm-cloud-sdk-core
 * BaseService making the same POST /instances (the baseline, same run); the wall time against the
 * ideal that the rate limiter allows for the requests actually made; and the peak number of requests in
 * flight against the limiter's cap.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { BaseService, IamAuthenticator } from 'ibm-cloud-sdk-core';
import { pino } from 'pino';
import { ibmcloudPlugin } from '../../src/providers/ibmcloud/index.js';
import { VPC_API_VERSION } from '../../src/providers/ibmcloud/services.js';
import type { Provider } from '../../src/providers/provider.js';
import { fmt, passFail } from '../stats.js';
import { ibmcloudEnv } from '../../test/helpers/ibmcloud.js';
import { request } from '../../test/providers/contract/provider-contract.js';
import { DEFAULT_API_KEY, DEFAULT_IMAGE_ID, DEFAULT_SECURITY_GROUP_ID, DEFAULT_SUBNET_ID, DEFAULT_VPC_ID } from '../../test/fakes/vpc/seeds.js';

const CREATES = 200;
const LATENCY_MS = 50;
const ids = { clusterName: 'bench', nodeName: 'node-a' };

interface Stats {
  peakInFlight: number;
  createInstance: number;
  calls: number;
}

interface Endpoints {
  endpoint: string;
  vpcEndpoint: string;
  iamEndpoint: string;
}

class FakeProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly endpoints: Endpoints,
  ) {}

  static start(): Promise<FakeProcess> {
    const child = fork(new URL('./fake-vpc-main.ts', import.meta.url).pathname, [String(LATENCY_MS)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('message', (m: Endpoints) => resolve(new FakeProcess(child, m)));
      child.once('exit', (code) => reject(new Error(`fake VPC exited with ${code}`)));
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
  cpuMs: number;
  stats: Stats;
}

async function measure(fake: FakeProcess, work: () => Promise<unknown>): Promise<Measured> {
  await fake.reset();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, stats: await fake.stats() };
}

interface LimitCase {
  label: string;
  rate: number;
  burst: number;
  maxInFlight: number;
}

/** The shortest time the limiter allows for `requests` requests of LATENCY_MS each, `perCreate` of them in sequence. */
function idealMs(c: LimitCase, requests: number, perCreate: number): number {
  const byRate = (Math.max(0, requests - c.burst) / c.rate) * 1000 + LATENCY_MS;
  const bySlots = Math.ceil(requests / c.maxInFlight) * LATENCY_MS;
  return Math.max(byRate, bySlots, perCreate * LATENCY_MS);
}

async function providerRun(fake: FakeProcess, c: LimitCase): Promise<Measured & { ideal: number; perCreate: number }> {
  const env = ibmcloudEnv(fake.endpoints, {
    IBMCLOUD_API_RATE_LIMIT: String(c.rate),
    IBMCLOUD_API_BURST: String(c.burst),
    IBMCLOUD_API_MAX_IN_FLIGHT: String(c.maxInFlight),
  });
  const logger = pino({ level: 'warn' });
  const provider: Provider = await ibmcloudPlugin.create({ logger, stateDir: '/nonexistent', ...ids, forwarderPort: 15150 }, { flags: {}, env });
  try {
    // Warm-up: module code paths, keep-alive sockets, the IAM token.
    await Promise.all(Array.from({ length: 10 }, () => provider.createInstance(request(ids), AbortSignal.timeout(60_000))));
    await new Promise((r) => setTimeout(r, 1_000)); // let the bucket refill
    const m = await measure(fake, () => Promise.all(Array.from({ length: CREATES }, () => provider.createInstance(request(ids), AbortSignal.timeout(120_000)))));
    const perCreate = m.stats.calls / CREATES;
    return { ...m, ideal: idealMs(c, m.stats.calls, Math.round(perCreate)), perCreate };
  } finally {
    await provider.teardown();
  }
}

/** The baseline: a bare BaseService POSTing the same instance prototype, no limiter, no provider logic. */
class BareVpc extends BaseService {
  static override DEFAULT_SERVICE_URL = 'https://us-south.iaas.cloud.ibm.com/v1';

  createInstance(body: unknown): Promise<unknown> {
    return this.createRequest({
      options: { url: '/instances', method: 'POST', body, qs: { version: VPC_API_VERSION, generation: 2 } },
      // As IBM's generated SDKs call it (env-lab's recipe): `baseOptions` (deep-copied by the SDK on every
      // call) and axios's defaults. The provider's services pass only the service URL and no redirects.
      defaultOptions: { ...this.baseOptions, headers: { Accept: 'application/json', 'Content-Type': 'application/json' } },
    });
  }
}

async function bareRun(fake: FakeProcess): Promise<Measured> {
  const vpc = new BareVpc({ authenticator: new IamAuthenticator({ apikey: DEFAULT_API_KEY, url: fake.endpoints.iamEndpoint }), serviceUrl: fake.endpoints.vpcEndpoint });
  const send = (): Promise<unknown> => {
    const r = request(ids);
    return vpc.createInstance({
      name: r.instanceName,
      image: { id: DEFAULT_IMAGE_ID },
      profile: { name: 'bx3dc-2x10' },
      zone: { name: 'us-south-1' },
      vpc: { id: DEFAULT_VPC_ID },
      primary_network_interface: { subnet: { id: DEFAULT_SUBNET_ID }, security_groups: [{ id: DEFAULT_SECURITY_GROUP_ID }] },
      metadata_service: { enabled: true, protocol: 'http' },
      user_data: r.userData,
      confidential_compute_mode: 'tdx',
      enable_secure_boot: true,
    });
  };
  await Promise.all(Array.from({ length: 10 }, send));
  return measure(fake, () => Promise.all(Array.from({ length: CREATES }, send)));
}

export async function ibmcloudProvidersBench(): Promise<void> {
  const fake = await FakeProcess.start();
  try {
    const cases: LimitCase[] = [
      { label: 'rate-bound (100/s, burst 20, 16 in flight)', rate: 100, burst: 20, maxInFlight: 16 },
      { label: 'slot-bound (1000/s, burst 1000, 8 in flight)', rate: 1000, burst: 1000, maxInFlight: 8 },
      { label: 'defaults (10/s, burst 20, 16 in flight)', rate: 10, burst: 20, maxInFlight: 16 },
    ];
    const bare = await bareRun(fake);
    const barePerRequest = bare.cpuMs / bare.stats.calls;
    console.log(`${CREATES} concurrent creates on ibmcloud, fake VPC + IAM + Global Tagging in a child process with ${LATENCY_MS} ms latency per request\n`);
    console.log('| limiter | wall ms | ideal ms | wall/ideal | CPU ms/create | requests/create | CPU ms/request | bare BaseService CPU ms/request | ratio | peak in flight / cap | POST /instances |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    let ok = true;
    for (const c of cases) {
      const r = await providerRun(fake, c);
      const capOk = r.stats.peakInFlight <= c.maxInFlight;
      const cpuPerCreate = r.cpuMs / CREATES;
      const cpuPerRequest = r.cpuMs / r.stats.calls;
      ok &&= capOk && cpuPerCreate < 2;
      console.log(
        `| ${c.label} | ${fmt(r.wallMs)} | ${fmt(r.ideal)} | ${fmt(r.wallMs / r.ideal, 2)} | ${fmt(cpuPerCreate, 2)} | ${fmt(r.perCreate, 2)} | ${fmt(cpuPerRequest, 2)} | ${fmt(barePerRequest, 2)} | ${fmt(cpuPerRequest / barePerRequest, 2)} | ${r.stats.peakInFlight} / ${c.maxInFlight} ${passFail(capOk)} | ${r.stats.createInstance} |`,
      );
    }
    // The same baseline once more, now that the process's HTTP and SDK paths are hot: how much of the
    // figures above is JIT warm-up rather than steady-state cost.
    const warm = await bareRun(fake);
    console.log(`\nbare BaseService, no limiter: ${fmt(bare.wallMs)} ms wall for ${bare.stats.calls} POSTs, peak ${bare.stats.peakInFlight} in flight`);
    console.log(`bare BaseService again after the provider runs (warm): ${fmt(warm.cpuMs / warm.stats.calls, 2)} CPU ms/request`);
    console.log(`target: < 2 ms CPU per create and never more in flight than the cap: ${passFail(ok)}`);
  } finally {
    await fake.stop();
  }
}

if (process.argv[1]?.endsWith('/bench/providers/ibmcloud.ts')) await ibmcloudProvidersBench();
