/** The local provider's metadata; its start-up (processes, the netns bridge) is imported when it is used. */
import { providerPlugin } from '../plugin.js';
import { describeLocalConfig, loadLocalConfig, localOptions } from './config.js';

export const localPlugin = providerPlugin({
  name: 'local',
  description: 'no cloud: each instance is a forwarder process on a loopback address (the default; no TEE)',
  options: localOptions,
  load: loadLocalConfig,
  describeConfig: describeLocalConfig,
  start: async () => (await import('./setup.js')).startLocal,
});
