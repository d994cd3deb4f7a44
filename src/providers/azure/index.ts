/**
 * The azure provider's metadata. The Azure SDKs take about a second to load; they come in with
 * setup.ts and verify.ts, imported when the azure provider is used, not when the CLI starts with
 * another provider (or prints its version).
 */
import { providerPlugin } from '../plugin.js';
import { azureOptions, describeAzureConfig, loadAzureConfig } from './config.js';

export const azurePlugin = providerPlugin({
  name: 'azure',
  description: 'Azure: AMD SEV-SNP / Intel TDX confidential VMs through Resource Manager',
  options: azureOptions,
  load: loadAzureConfig,
  describeConfig: describeAzureConfig,
  start: async () => (await import('./setup.js')).startAzure,
  verify: async () => {
    const { verifyAzure } = await import('./verify.js');
    return (config, _log, signal) => verifyAzure(config, signal);
  },
});
