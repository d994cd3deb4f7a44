import type { ProviderPlugin } from '../registry.js';
import { defaultProfile, describeIbmCloudConfig, ibmcloudOptions, loadIbmCloudConfig } from './config.js';
import { IbmCloudProvider } from './provider.js';
import { checkIdentityTags, createLimiter, createVpcApi, resolveImages, resolveNetwork, resolveProfiles, resolveVpcEndpoint } from './setup.js';
import { verifyIbmCloud } from './verify.js';

export const ibmcloudPlugin: ProviderPlugin = {
  name: 'ibmcloud',
  description: 'IBM Cloud VPC: Intel TDX (or s390x Secure Execution) confidential instances through POST /instances',
  options: ibmcloudOptions,
  create: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const config = loadIbmCloudConfig(sources);
    const log = host.logger.child({ component: 'ibmcloud' });
    checkIdentityTags(host.clusterName, host.nodeName);
    const vpcEndpoint = resolveVpcEndpoint(config);
    const api = createVpcApi(config, vpcEndpoint, createLimiter(config), log);
    try {
      const network = await resolveNetwork(api, config, signal, log);
      const images = await resolveImages(api, config, signal, log);
      const specList = await resolveProfiles(api, config, images, signal);
      const settings = { vpcEndpoint, ...network, images, specList, defaultProfile: defaultProfile(config) };
      log.info({ ...settings }, `ibmcloud provider ready in ${network.zone} (VPC ${network.vpcId})`);
      return new IbmCloudProvider(api, config, settings, host);
    } catch (err) {
      api.close();
      throw err;
    }
  },
  describeConfig: describeIbmCloudConfig,
  verify: (host, sources, signal = AbortSignal.timeout(120_000)) => verifyIbmCloud(loadIbmCloudConfig(sources), host.logger.child({ component: 'ibmcloud' }), signal),
};
