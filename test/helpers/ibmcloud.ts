/** The ibmcloud provider against the fake VPC, as the daemon builds it (through the plugin and its keys). */
import { ibmcloudPlugin } from '../../src/providers/ibmcloud/index.js';
import type { IbmCloudProvider } from '../../src/providers/ibmcloud/provider.js';
import { DEFAULT_API_KEY, DEFAULT_IMAGE_ID, DEFAULT_KEY_ID, DEFAULT_SECURITY_GROUP_ID, DEFAULT_SUBNET_ID, FakeVpc, type FakeVpcOptions } from '../fakes/vpc/index.js';
import { UNTHROTTLED, apiLimitEnv } from './api-limits.js';
import { startProviderUnderTest, type ProviderUnderTest } from './provider-under-test.js';

export { captureLogger, type LogLine } from './capture-logger.js';

export type IbmCloudUnderTest = ProviderUnderTest<FakeVpc, IbmCloudProvider>;

/**
 * A confidential (TDX) configuration of everything the fake has. `fake` needs only the endpoints, so
 * the benchmark can hand in a fake running in another process.
 */
export function ibmcloudEnv(fake: Pick<FakeVpc, 'endpoint' | 'vpcEndpoint' | 'iamEndpoint'>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    IBMCLOUD_API_KEY: DEFAULT_API_KEY,
    IBMCLOUD_IAM_ENDPOINT: fake.iamEndpoint,
    IBMCLOUD_VPC_ENDPOINT: fake.vpcEndpoint,
    IBMCLOUD_TAGGING_ENDPOINT: fake.endpoint,
    IBMCLOUD_ZONE: 'us-south-1',
    IBMCLOUD_VPC_SUBNET_ID: DEFAULT_SUBNET_ID,
    IBMCLOUD_SECURITY_GROUP_IDS: DEFAULT_SECURITY_GROUP_ID,
    IBMCLOUD_SSH_KEY_ID: DEFAULT_KEY_ID,
    IBMCLOUD_PODVM_IMAGE_ID: DEFAULT_IMAGE_ID,
    IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME: 'bx3dc-2x10',
    IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: 'bx3dc-2x10,cx3dc-2x5,mx3dc-2x20,bx3dc-4x20',
    DISABLECVM: 'false',
    ...apiLimitEnv('IBMCLOUD', UNTHROTTLED),
    IBMCLOUD_MAX_ATTEMPTS: '5',
    ...extra,
  };
}

export async function startIbmCloud(options: { fake?: FakeVpcOptions; env?: Record<string, string> } = {}): Promise<IbmCloudUnderTest> {
  return startProviderUnderTest(await FakeVpc.start({ seed: 7, ...options.fake }), ibmcloudPlugin, (fake) => ibmcloudEnv(fake, options.env));
}
