/** The azure provider against the fake ARM, as the daemon builds it (through the plugin and its keys). */
import { azurePlugin } from '../../src/providers/azure/index.js';
import type { AzureProvider } from '../../src/providers/azure/provider.js';
import {
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  DEFAULT_IMAGE_ID,
  DEFAULT_REGION,
  DEFAULT_RESOURCE_GROUP,
  DEFAULT_SUBNET_ID,
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_TENANT_ID,
  FakeArm,
  type FakeArmOptions,
} from '../fakes/arm/index.js';
import { UNTHROTTLED, apiLimitEnv } from './api-limits.js';
import { startProviderUnderTest, type ProviderUnderTest } from './provider-under-test.js';

export type AzureUnderTest = ProviderUnderTest<FakeArm, AzureProvider>;

/** A service principal with a client secret, everything pointed at the fake. */
export function azureEnv(fake: Pick<FakeArm, 'endpoint'>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AZURE_CLIENT_ID: DEFAULT_CLIENT_ID,
    AZURE_CLIENT_SECRET: DEFAULT_CLIENT_SECRET,
    AZURE_TENANT_ID: DEFAULT_TENANT_ID,
    AZURE_SUBSCRIPTION_ID: DEFAULT_SUBSCRIPTION_ID,
    AZURE_REGION: DEFAULT_REGION,
    AZURE_RESOURCE_GROUP: DEFAULT_RESOURCE_GROUP,
    AZURE_SUBNET_ID: DEFAULT_SUBNET_ID,
    AZURE_IMAGE_ID: DEFAULT_IMAGE_ID,
    AZURE_INSTANCE_SIZE: 'Standard_DC2as_v5',
    AZURE_INSTANCE_SIZES: 'Standard_DC2as_v5,Standard_DC2ads_v5,Standard_EC2as_v5,Standard_DC4as_v5',
    AZURE_RESOURCE_MANAGER_ENDPOINT: fake.endpoint,
    AZURE_AUTHORITY_HOST: fake.endpoint,
    ...apiLimitEnv('AZURE', UNTHROTTLED),
    AZURE_API_MAX_RETRIES: '2',
    AZURE_POLL_INTERVAL: '20ms',
    ...extra,
  };
}

export async function startAzure(options: { fake?: FakeArmOptions; env?: Record<string, string> } = {}): Promise<AzureUnderTest> {
  return startProviderUnderTest(await FakeArm.start({ seed: 7, ...options.fake }), azurePlugin, (fake) => azureEnv(fake, options.env));
}
