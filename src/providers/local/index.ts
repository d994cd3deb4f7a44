import type { ProviderPlugin } from '../registry.js';
import { describeLocalConfig, loadLocalConfig, localOptions } from './config.js';
import { LocalProvider } from './provider.js';

export const localPlugin: ProviderPlugin = {
  name: 'local',
  description: 'no cloud: each instance is a forwarder process on a loopback address (the default; no TEE)',
  options: localOptions,
  create: async (host, sources) => {
    const provider = new LocalProvider(host, loadLocalConfig(sources));
    await provider.init();
    return provider;
  },
  describeConfig: describeLocalConfig,
};
