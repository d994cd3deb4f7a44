/**
 * The ibmcloud provider's metadata. ibm-cloud-sdk-core (axios and friends, ≈ 0.35 s to load) comes
 * in with setup.ts and verify.ts, imported only when the ibmcloud provider is used, so that other
 * providers, `--help` and `version` do not pay for it.
 */
import { providerPlugin } from '../plugin.js';
import { describeIbmCloudConfig, ibmcloudOptions, loadIbmCloudConfig } from './config.js';

export const ibmcloudPlugin = providerPlugin({
  name: 'ibmcloud',
  description: 'IBM Cloud VPC: Intel TDX (or s390x Secure Execution) confidential instances through POST /instances',
  options: ibmcloudOptions,
  load: loadIbmCloudConfig,
  describeConfig: describeIbmCloudConfig,
  start: async () => (await import('./setup.js')).startIbmCloud,
  verify: async () => (await import('./verify.js')).verifyIbmCloud,
});
