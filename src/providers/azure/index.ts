import type { ProviderPlugin } from '../registry.js';
import { azureOptions, describeAzureConfig, loadAzureConfig } from './config.js';

/**
 * The Azure SDKs take about a second to load; they are imported when the azure provider is used,
 * not when the CLI starts with another provider (or prints its version).
 */
export const azurePlugin: ProviderPlugin = {
  name: 'azure',
  description: 'Azure: AMD SEV-SNP / Intel TDX confidential VMs through Resource Manager',
  options: azureOptions,
  create: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const config = loadAzureConfig(sources);
    const { startAzureProvider } = await import('./setup.js');
    return startAzureProvider(config, host, signal);
  },
  describeConfig: describeAzureConfig,
  verify: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const config = loadAzureConfig(sources);
    const { verifyAzure } = await import('./verify.js');
    return verifyAzure(config, signal);
  },
};
