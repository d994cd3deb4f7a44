/** The libvirt provider's metadata; its RPC client, start-up and checks are imported when it is used. */
import { providerPlugin } from '../plugin.js';
import { describeLibvirtConfig, libvirtOptions, loadLibvirtConfig } from './config.js';

export const libvirtPlugin = providerPlugin({
  name: 'libvirt',
  description: 'libvirt/QEMU domains on a local or qemu+ssh:// host (KVM or TCG; IBM Secure Execution, AMD SEV-SNP)',
  options: libvirtOptions,
  load: loadLibvirtConfig,
  describeConfig: describeLibvirtConfig,
  start: async () => (await import('./setup.js')).startLibvirt,
  verify: async () => (await import('./verify.js')).verifyLibvirt,
});
