/**
 * The aws provider's metadata. The SDK (≈ 0.8 s to load) comes in with setup.ts and verify.ts, imported
 * only when the aws provider is used, so that the daemon on another provider, `--help` and `version`
 * do not pay for it.
 */
import { providerPlugin } from '../plugin.js';
import { awsOptions, describeAwsConfig, loadAwsConfig } from './config.js';

export const awsPlugin = providerPlugin({
  name: 'aws',
  description: 'AWS EC2: AMD SEV-SNP confidential instances through RunInstances',
  options: awsOptions,
  load: loadAwsConfig,
  describeConfig: describeAwsConfig,
  start: async () => (await import('./setup.js')).startAws,
  verify: async () => (await import('./verify.js')).verifyAws,
});
