import type { ProviderPlugin } from '../registry.js';
import { describeLocalConfig } from './config.js';
import { LocalProvider } from './provider.js';

export const localPlugin: ProviderPlugin = {
  name: 'local',
  description: 'no cloud: placeholder instances on this machine (the default)',
  create: async (host) => new LocalProvider(host),
  describeConfig: describeLocalConfig,
};
