import type { ProviderPlugin } from '../registry.js';
import { awsOptions, describeAwsConfig, loadAwsConfig } from './config.js';

/**
 * The SDK (≈ 0.8 s to load) is imported only when the aws provider is used, so that the daemon on
 * another provider, `--help` and `version` do not pay for it.
 */
export const awsPlugin: ProviderPlugin = {
  name: 'aws',
  description: 'AWS EC2: AMD SEV-SNP confidential instances through RunInstances',
  options: awsOptions,
  create: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const config = loadAwsConfig(sources);
    const [{ AwsProvider }, setup] = await Promise.all([import('./provider.js'), import('./setup.js')]);
    const log = host.logger.child({ component: 'aws' });
    const region = await setup.resolveRegion(config, signal);
    const api = setup.createEc2Api(config, region, setup.createLimiter(config));
    try {
      const network = await setup.resolveNetwork(config, signal, log);
      const image = await setup.resolveImage(api, config, signal);
      const specList = await setup.resolveInstanceTypes(api, config, signal);
      log.info({ region, ...network, ...image, instanceTypes: specList }, `aws provider ready in ${region}`);
      return new AwsProvider(api, config, { region, ...network, ...image, specList }, host);
    } catch (err) {
      api.close();
      throw err;
    }
  },
  describeConfig: describeAwsConfig,
  verify: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const { verifyAws } = await import('./verify.js');
    return verifyAws(loadAwsConfig(sources), host.logger.child({ component: 'aws' }), signal);
  },
};
