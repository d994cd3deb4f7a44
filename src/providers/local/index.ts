import type { ProviderPlugin } from '../registry.js';
import { describeLocalConfig, loadLocalConfig } from './config.js';
import { LocalProvider } from './provider.js';

export const localPlugin: ProviderPlugin = {
  name: 'local',
  description: 'no cloud: each instance is a forwarder process on a loopback address (the default; no TEE)',
  create: async (host, env) => {
    const provider = new LocalProvider(host, loadLocalConfig(env));
    await provider.init();
    return provider;
  },
  describeConfig: describeLocalConfig,
};
