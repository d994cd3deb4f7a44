import type { ProviderPlugin } from '../registry.js';
import { awsOptions, describeAwsConfig, loadAwsConfig } from './config.js';
import { AwsProvider } from './provider.js';
import { createEc2Api, createLimiter, resolveImage, resolveInstanceTypes, resolveNetwork, resolveRegion } from './setup.js';
import { verifyAws } from './verify.js';

export const awsPlugin: ProviderPlugin = {
  name: 'aws',
  description: 'AWS EC2: AMD SEV-SNP confidential instances through RunInstances',
  options: awsOptions,
  create: async (host, sources, signal = AbortSignal.timeout(120_000)) => {
    const config = loadAwsConfig(sources);
    const log = host.logger.child({ component: 'aws' });
    const region = await resolveRegion(config, signal);
    const api = createEc2Api(config, region, createLimiter(config));
    try {
      const network = await resolveNetwork(config, signal, log);
      const image = await resolveImage(api, config, signal);
      const specList = await resolveInstanceTypes(api, config, signal);
      log.info({ region, ...network, ...image, instanceTypes: specList }, `aws provider ready in ${region}`);
      return new AwsProvider(api, config, { region, ...network, ...image, specList }, host);
    } catch (err) {
      api.close();
      throw err;
    }
  },
  describeConfig: describeAwsConfig,
  verify: (host, sources, signal = AbortSignal.timeout(120_000)) => verifyAws(loadAwsConfig(sources), host.logger.child({ component: 'aws' }), signal),
};
