/**
 * IBM Cloud part of `npm run bench providers`: 200 concurrent createInstance calls on the ibmcloud
 * provider against the fake VPC (in a child process, 50 ms injected latency on every request). A create
 * is three requests (POST /instances, the Global Tagging attach, GET /instances/{id} until running), so
 * besides the CPU time per create it reports the CPU time per request next to a bare ibm-cloud-sdk-core
 * BaseService making the same POST /instances (the baseline, same run); the wall time against the
 * ideal that the rate limiter allows for the requests actually made; and the peak number of requests in
 * flight against the limiter's cap.
 */
import { BaseService, IamAuthenticator } from 'ibm-cloud-sdk-core';
import { ibmcloudPlugin } from '../../src/providers/ibmcloud/index.js';
import { VPC_API_VERSION } from '../../src/providers/ibmcloud/services.js';
import { fmt, passFail } from '../stats.js';
import { ibmcloudEnv } from '../../test/helpers/ibmcloud.js';
import { request } from '../../test/providers/contract/provider-contract.js';
import { DEFAULT_VPC_ID } from '../../test/fakes/vpc/seeds.js';
import { apiLimitEnv } from '../../test/helpers/api-limits.js';
import { FakeCloudProcess, type CpuMeasured } from './child.js';
import { CREATES, LATENCY_MS, limitCases, printTableHead, type FakeRunStats, type LimitCase } from './limit-cases.js';
import { ids, warmProvider } from './warm-provider.js';

interface Stats extends FakeRunStats {
  createInstance: number;
}

interface Endpoints {
  endpoint: string;
  vpcEndpoint: string;
  iamEndpoint: string;
}

type FakeProcess = FakeCloudProcess<Endpoints, Stats>;

type Measured = CpuMeasured & { stats: Stats };

/** The shortest time the limiter allows for `requests` requests of LATENCY_MS each, `perCreate` of them in sequence. */
function idealMs(c: LimitCase, requests: number, perCreate: number): number {
  const byRate = (Math.max(0, requests - c.burst) / c.rate) * 1000 + LATENCY_MS;
  const bySlots = Math.ceil(requests / c.maxInFlight) * LATENCY_MS;
  return Math.max(byRate, bySlots, perCreate * LATENCY_MS);
}

async function providerRun(fake: FakeProcess, c: LimitCase): Promise<Measured & { ideal: number; perCreate: number }> {
  const env = ibmcloudEnv(fake.ready, apiLimitEnv('IBMCLOUD', c));
  const provider = await warmProvider(ibmcloudPlugin, env, { creates: CREATES, warmTimeoutMs: 60_000, timeoutMs: 120_000 });
  try {
    const m = await fake.measure(() => provider.work());
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

/** Image, profile, zone, subnet and security group are the ones the provider is configured with (ibmcloudEnv). */
async function bareRun(fake: FakeProcess): Promise<Measured> {
  const env = ibmcloudEnv(fake.ready);
  const vpc = new BareVpc({ authenticator: new IamAuthenticator({ apikey: env.IBMCLOUD_API_KEY!, url: env.IBMCLOUD_IAM_ENDPOINT }), serviceUrl: env.IBMCLOUD_VPC_ENDPOINT });
  const send = (): Promise<unknown> => {
    const r = request(ids);
    return vpc.createInstance({
      name: r.instanceName,
      image: { id: env.IBMCLOUD_PODVM_IMAGE_ID },
      profile: { name: env.IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME },
      zone: { name: env.IBMCLOUD_ZONE },
      vpc: { id: DEFAULT_VPC_ID },
      primary_network_interface: { subnet: { id: env.IBMCLOUD_VPC_SUBNET_ID }, security_groups: [{ id: env.IBMCLOUD_SECURITY_GROUP_IDS }] },
      metadata_service: { enabled: true, protocol: 'http' },
      user_data: r.userData,
      // DISABLECVM=false: a confidential (TDX) instance, as the provider asks for.
      confidential_compute_mode: 'tdx',
      enable_secure_boot: true,
    });
  };
  await Promise.all(Array.from({ length: 10 }, send));
  return fake.measure(() => Promise.all(Array.from({ length: CREATES }, send)));
}

export async function ibmcloudProvidersBench(): Promise<void> {
  const fake = await FakeCloudProcess.start<Endpoints, Stats>(new URL('./fake-vpc-main.ts', import.meta.url), LATENCY_MS, 'fake VPC');
  try {
    const cases = limitCases({ rate: 10, burst: 20, maxInFlight: 16 });
    const bare = await bareRun(fake);
    const barePerRequest = bare.cpuMs / bare.stats.calls;
    console.log(`${CREATES} concurrent creates on ibmcloud, fake VPC + IAM + Global Tagging in a child process with ${LATENCY_MS} ms latency per request\n`);
    printTableHead(['limiter', 'wall ms', 'ideal ms', 'wall/ideal', 'CPU ms/create', 'requests/create', 'CPU ms/request', 'bare BaseService CPU ms/request', 'ratio', 'peak in flight / cap', 'POST /instances']);
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
