/**
 * The two child processes of the Azure providers benchmark (bench/providers/azure.ts), by argv[2]:
 *
 * - `fake`: the fake ARM, so that its CPU is not counted. Reads its TLS material from
 *   CAA_FAKE_ARM_TLS_DIR. Messages: `stats`, `reset`, `close`.
 * - `driver`: the SDK side, started with NODE_EXTRA_CA_CERTS naming the fake's CA (Node reads it only
 *   at start, so this cannot be the parent). Messages: `prepare` (a provider with the given limiter, or
 *   the bare SDK; warmed up), `measure` (CREATES concurrent creates; wall and CPU time of this
 *   process), `teardown`, `close`.
 */
import { ClientSecretCredential } from '@azure/identity';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { azurePlugin } from '../../src/providers/azure/index.js';
import { freshPublicKey } from '../../src/providers/azure/ssh.js';
import { buildVm, nicName } from '../../src/providers/azure/vm-spec.js';
import { parseImageId } from '../../src/providers/azure/ids.js';
import { azureEnv } from '../../test/helpers/azure.js';
import { request } from '../../test/providers/contract/provider-contract.js';
import { FakeArm } from '../../test/fakes/arm/index.js';
import { apiLimitEnv } from '../../test/helpers/api-limits.js';
import { measureCpu, serveFake } from './child.js';
import { ids, warmProvider } from './warm-provider.js';
import type { FakeRunStats } from './limit-cases.js';

export interface BenchSettings {
  creates: number;
  latencyMs: number;
  createDurationMs: number;
  pollIntervalMs: number;
}

export type PrepareMessage =
  | { type: 'prepare'; kind: 'provider'; rate: number; burst: number; maxInFlight: number }
  | { type: 'prepare'; kind: 'bare' };

export interface FakeStats extends FakeRunStats {
  puts: number;
  polls: number;
  tlsConnections: number;
}

const role = process.argv[2];
const settings = JSON.parse(process.argv[3] ?? '{}') as BenchSettings;
const reply = (m: object): void => void process.send!(m);

if (role === 'fake') {
  const fake = await FakeArm.start({ latencyMs: settings.latencyMs, createDurationMs: settings.createDurationMs, seed: 1 });
  const stats = (): FakeStats => ({
    peakInFlight: fake.peakInFlight,
    calls: fake.callCount(),
    puts: fake.callCount('virtualMachines.createOrUpdate'),
    polls: fake.callCount('operations.get'),
    tlsConnections: fake.tlsConnections,
  });
  serveFake(fake, stats, { endpoint: fake.endpoint });
} else if (role === 'driver') {
  const endpoint = process.env.FAKE_ARM_ENDPOINT!;
  let work: (() => Promise<unknown>) | undefined;
  let teardown: () => Promise<void> = async () => undefined;

  const providerWork = async (m: Extract<PrepareMessage, { kind: 'provider' }>): Promise<void> => {
    const env = azureEnv({ endpoint }, {
      ...apiLimitEnv('AZURE', m),
      AZURE_API_MAX_RETRIES: '3',
      AZURE_POLL_INTERVAL: `${settings.pollIntervalMs}ms`,
    });
    ({ work, teardown } = await warmProvider(azurePlugin, env, { creates: settings.creates, warmTimeoutMs: 300_000, timeoutMs: 300_000 }));
  };

  /**
   * The same PUT + polls + final GET + NIC GET through bare SDK clients: no limiter, no provider logic.
   * Principal, subscription, group, region, size, image and subnet are the provider's (azureEnv).
   */
  const bareWork = async (): Promise<void> => {
    const env = azureEnv({ endpoint });
    const group = env.AZURE_RESOURCE_GROUP!;
    const credential = new ClientSecretCredential(env.AZURE_TENANT_ID!, env.AZURE_CLIENT_ID!, env.AZURE_CLIENT_SECRET!, { authorityHost: endpoint, disableInstanceDiscovery: true });
    const scopes = [`${endpoint}/.default`];
    const compute = new ComputeManagementClient(credential, env.AZURE_SUBSCRIPTION_ID!, { endpoint, credentials: { scopes } });
    const network = new NetworkManagementClient(credential, env.AZURE_SUBSCRIPTION_ID!, { endpoint, $host: endpoint, credentialScopes: scopes });
    const sshPublicKey = await freshPublicKey();
    const create = async (): Promise<void> => {
      const r = request(ids);
      const vm = buildVm({
        name: r.instanceName,
        location: env.AZURE_REGION!,
        size: env.AZURE_INSTANCE_SIZE!,
        image: parseImageId(env.AZURE_IMAGE_ID!)!,
        userDataBase64: Buffer.from(r.userData).toString('base64'),
        tags: r.tags,
        adminUserName: 'peerpod',
        sshPublicKey,
        subnetId: env.AZURE_SUBNET_ID!,
        securityGroupId: '',
        usePublicIp: false,
        confidential: true,
        secureBoot: false,
        osDiskSizeGb: 0,
        zone: '',
      });
      await compute.virtualMachines.createOrUpdate(group, r.instanceName, vm, { updateIntervalInMs: settings.pollIntervalMs }).pollUntilDone();
      await network.networkInterfaces.get(group, nicName(r.instanceName));
    };
    await Promise.all(Array.from({ length: 10 }, create));
    work = () => Promise.all(Array.from({ length: settings.creates }, create));
    teardown = async () => undefined;
  };

  process.on('message', (msg: PrepareMessage | { type: 'measure' | 'teardown' | 'close' }) => {
    void (async () => {
      if (msg.type === 'prepare') {
        await (msg.kind === 'provider' ? providerWork(msg) : bareWork());
        reply({ type: 'prepared' });
      } else if (msg.type === 'measure') {
        reply({ type: 'measured', ...(await measureCpu(work!)) });
      } else if (msg.type === 'teardown') {
        await teardown();
        reply({ type: 'torn-down' });
      } else if (msg.type === 'close') {
        process.exit(0);
      }
    })().catch((err: unknown) => {
      console.error(`azure bench driver: ${err instanceof Error ? err.stack : String(err)}`);
      process.exit(1);
    });
  });
  reply({ type: 'ready' });
} else {
  console.error('usage: azure-child-main.ts fake|driver <settings json>');
  process.exit(2);
}
