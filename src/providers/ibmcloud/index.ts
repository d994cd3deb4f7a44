import type { ProviderPlugin } from '../registry.js';
import { defaultProfile, describeIbmCloudConfig, ibmcloudOptions, loadIbmCloudConfig } from './config.js';

/**
 * ibm-cloud-sdk-core (axios and friends, ≈ 0.35 s to load) is imported only when the ibmcloud
 * provider is used, so that other providers, `--help` and `version` do not pay for it.
 */
export const ibmcloudPlugin: ProviderPlugin = {
  name: 'ibmcloud',
  description: 'IBM Cloud VPC: Intel TDX (or s390x Secure Execution) confidential instances through POST /instances',
  options: ibmcloudOptions,
  create: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const config = loadIbmCloudConfig(sources);
    const [{ IbmCloudProvider }, setup] = await Promise.all([import('./provider.js'), import('./setup.js')]);
    const log = host.logger.child({ component: 'ibmcloud' });
    setup.checkIdentityTags(host.clusterName, host.nodeName);
    const vpcEndpoint = setup.resolveVpcEndpoint(config);
    const api = setup.createVpcApi(config, vpcEndpoint, setup.createLimiter(config), log);
    try {
      const network = await setup.resolveNetwork(api, config, signal, log);
      const images = await setup.resolveImages(api, config, signal, log);
      const specList = await setup.resolveProfiles(api, config, images, signal);
      const settings = { vpcEndpoint, ...network, images, specList, defaultProfile: defaultProfile(config) };
      log.info({ ...settings }, `ibmcloud provider ready in ${network.zone} (VPC ${network.vpcId})`);
      return new IbmCloudProvider(api, config, settings, host);
    } catch (err) {
      api.close();
      throw err;
    }
  },
  describeConfig: describeIbmCloudConfig,
  verify: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const { verifyIbmCloud } = await import('./verify.js');
    return verifyIbmCloud(loadIbmCloudConfig(sources), host.logger.child({ component: 'ibmcloud' }), signal);
  },
};
