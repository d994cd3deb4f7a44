/**
 * Start-up of the local provider: the instances' folder swept of interrupted creates and, in netns
 * mode, the host bridge, which is the worker's underlay for the instances' pod networks (the
 * daemon's VXLAN uses it unless HOST_INTERFACE names another).
 */
import type { ProviderHost } from '../provider.js';
import type { ProviderStart } from '../registry.js';
import type { LocalConfig } from './config.js';
import { bridgeFor } from './network.js';
import { LocalProvider } from './provider.js';

export async function startLocal(host: ProviderHost, config: LocalConfig): Promise<ProviderStart & { provider: LocalProvider }> {
  const provider = new LocalProvider(host, config);
  await provider.init();
  return provider.mode === 'netns' ? { provider, underlayInterface: bridgeFor(config.netnsCidr).name } : { provider };
}
