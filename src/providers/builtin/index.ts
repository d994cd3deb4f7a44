/** Every built-in provider, registered in one place (a folder of its own: the providers' shared files import none of them). */
import { awsPlugin } from '../aws/index.js';
import { azurePlugin } from '../azure/index.js';
import { ibmcloudPlugin } from '../ibmcloud/index.js';
import { libvirtPlugin } from '../libvirt/index.js';
import { localPlugin } from '../local/index.js';
import { ProviderRegistry } from '../registry.js';

export const DEFAULT_PROVIDER = 'local';

export function builtinProviders(): ProviderRegistry {
  const registry = new ProviderRegistry();
  registry.register(localPlugin);
  registry.register(awsPlugin);
  registry.register(azurePlugin);
  registry.register(ibmcloudPlugin);
  registry.register(libvirtPlugin);
  return registry;
}
