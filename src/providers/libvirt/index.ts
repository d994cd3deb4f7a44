import type { ProviderHost } from '../provider.js';
import type { ProviderPlugin } from '../registry.js';
import { RpcLibvirtApi, type LibvirtApi } from './client.js';
import { describeLibvirtConfig, libvirtOptions, loadLibvirtConfig, type LibvirtConfig } from './config.js';
import { LibvirtProvider } from './provider.js';
import { withRetries } from './retry.js';
import { resolveSettings } from './setup.js';
import { verifyLibvirt } from './verify.js';

/** Builds the provider on an API (the plugin's RPC client, or a test's wrapper around it), adding transient-failure retries. */
export async function createLibvirtProvider(host: Pick<ProviderHost, 'logger'>, config: LibvirtConfig, rawApi: LibvirtApi, signal: AbortSignal): Promise<LibvirtProvider> {
  const api = withRetries(rawApi);
  const log = host.logger.child({ component: 'libvirt' });
  try {
    const settings = await resolveSettings(api, config, signal);
    log.info(
      { uri: api.description, arch: settings.arch, domainType: settings.domainType, launchSecurity: settings.launchSecurity || 'none', pool: settings.pool.name, network: settings.network.name, ipSource: config.ipSource },
      `libvirt provider ready: ${settings.arch} pod VMs, ${settings.domainTypeReason}`,
    );
    return new LibvirtProvider(api, config, settings, host);
  } catch (err) {
    await api.close();
    throw err;
  }
}

export const libvirtPlugin: ProviderPlugin = {
  name: 'libvirt',
  description: 'libvirt/QEMU domains on a local or qemu+ssh:// host (KVM or TCG; IBM Secure Execution, AMD SEV-SNP)',
  options: libvirtOptions,
  create: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const config = loadLibvirtConfig(sources);
    return createLibvirtProvider(host, config, new RpcLibvirtApi(config.uri), signal);
  },
  describeConfig: describeLibvirtConfig,
  verify: (host, sources, signal = AbortSignal.timeout(120_000)) => verifyLibvirt(loadLibvirtConfig(sources), host.logger.child({ component: 'libvirt' }), signal),
};
