/** The aws provider against the fake EC2, as the daemon builds it (through the plugin and its keys). */
import { awsPlugin } from '../../src/providers/aws/index.js';
import type { AwsProvider } from '../../src/providers/aws/provider.js';
import { DEFAULT_ACCESS_KEY, DEFAULT_IMAGE_ID, DEFAULT_KEY_NAME, DEFAULT_SECURITY_GROUP_ID, DEFAULT_SUBNET_ID, FakeEc2, type FakeEc2Options } from '../fakes/ec2/index.js';
import { UNTHROTTLED, apiLimitEnv } from './api-limits.js';
import { startProviderUnderTest, type ProviderUnderTest } from './provider-under-test.js';

export { captureLogger, type LogLine } from './capture-logger.js';

export type AwsUnderTest = ProviderUnderTest<FakeEc2, AwsProvider>;

/**
 * Everything the fake has, so no key falls back to the (absent) metadata service. `fake` needs only the
 * endpoint, so the benchmark can hand in a fake running in another process.
 */
export function awsEnv(fake: Pick<FakeEc2, 'endpoint'>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: DEFAULT_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: 'fake-secret',
    AWS_ENDPOINT_URL_EC2: fake.endpoint,
    PODVM_AMI_ID: DEFAULT_IMAGE_ID,
    AWS_SUBNET_ID: DEFAULT_SUBNET_ID,
    AWS_SG_IDS: DEFAULT_SECURITY_GROUP_ID,
    SSH_KP_NAME: DEFAULT_KEY_NAME,
    PODVM_INSTANCE_TYPE: 'm6a.large',
    PODVM_INSTANCE_TYPES: 'm6a.large,c6a.large,r6a.large,m6a.xlarge',
    ...apiLimitEnv('AWS', UNTHROTTLED),
    AWS_MAX_ATTEMPTS: '3',
    // Never the real link-local address from a test.
    AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
    ...extra,
  };
}

export async function startAws(options: { fake?: FakeEc2Options; env?: Record<string, string> } = {}): Promise<AwsUnderTest> {
  return startProviderUnderTest(await FakeEc2.start({ seed: 7, ...options.fake }), awsPlugin, (fake) => awsEnv(fake, options.env));
}
