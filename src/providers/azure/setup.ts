/**
 * Start-up of the azure provider (reference §4.3): the cloud's endpoints and the identity, then the
 * region's VM sizes for the allowed list and the image, so that a wrong configuration stops the
 * daemon with a message naming the key, not the first pod.
 */
import { messageOf } from '../../util/errors.js';
import type { VirtualMachineSize } from '@azure/arm-compute';
import { ProviderError, isProviderError } from '../errors.js';
import { sortInstanceTypes, type InstanceTypeInfo } from '../instance-type.js';
import { closeOnFailure } from '../plugin.js';
import type { ProviderHost } from '../provider.js';
import { RateLimiter } from '../rate-limiter.js';
import type { ProviderStart } from '../registry.js';
import { SdkArmApi, type ArmApi, type ImageInfo } from './client.js';
import { resolveCloud, type CloudEndpoints } from './cloud.js';
import type { AzureConfig } from './config.js';
import { createCredential, type ResolvedCredential } from './credentials.js';
import { parseImageId } from './ids.js';
import { AzureProvider } from './provider.js';
import { readPublicKey } from './ssh.js';

/** Everything the plugin's `create` does once the keys parsed: identity, client, sizes, image, then the provider. */
export async function startAzure(host: ProviderHost, config: AzureConfig, signal: AbortSignal): Promise<ProviderStart & { provider: AzureProvider }> {
  const log = host.logger.child({ component: 'azure' });
  const cloud = resolveCloud(config);
  const identity = createCredential(config, cloud);
  const api = createArmApi(config, cloud, identity, createLimiter(config));
  return closeOnFailure(
    () => api.close(),
    async () => {
      const sshPublicKey = config.sshKeyPath ? await readPublicKey(config.sshKeyPath) : undefined;
      const specList = await resolveSizes(api, config, signal);
      const image = await resolveImage(api, config, signal);
      log.info(
        { cloud: cloud.name, resourceManager: cloud.resourceManager, identity: identity.description, region: config.region, resourceGroup: config.resourceGroup, sizes: specList, image: image.summary },
        `azure provider ready in ${config.region} (resource group ${config.resourceGroup})`,
      );
      return { provider: new AzureProvider({ api, config, settings: { cloud, specList, identity: identity.description, ...(sshPublicKey ? { sshPublicKey } : {}) }, host }) };
    },
  );
}

export function createLimiter(config: AzureConfig): RateLimiter {
  return new RateLimiter({ ratePerSecond: config.rateLimit, burst: config.burst, maxInFlight: config.maxInFlight });
}

export function createArmApi(config: AzureConfig, cloud: CloudEndpoints, identity: ResolvedCredential, limiter: RateLimiter): ArmApi {
  return new SdkArmApi({
    subscriptionId: config.subscriptionId,
    credential: identity.credential,
    endpoint: cloud.resourceManager,
    scope: cloud.scope,
    limiter,
    maxRetries: config.maxRetries,
    pollIntervalMs: config.pollInterval,
  });
}

/** The allowed sizes (or only the default) as the region lists them: cores and memory. */
export async function resolveSizes(api: ArmApi, config: AzureConfig, signal: AbortSignal): Promise<InstanceTypeInfo[]> {
  const wanted = [...new Set(config.instanceSizes.length ? config.instanceSizes : [config.instanceSize])];
  const listed = await api.listVmSizes(config.region, signal).catch((err: unknown) => {
    if (isProviderError(err, 'NOT_FOUND') || isProviderError(err, 'INVALID_REQUEST')) {
      throw new ProviderError('INVALID_CONFIG', `AZURE_REGION ${config.region} / AZURE_SUBSCRIPTION_ID: ${messageOf(err)}`, { cause: err });
    }
    throw err;
  });
  const byName = new Map(listed.filter((s) => s.name).map((s) => [s.name!.toLowerCase(), s]));
  const missing = wanted.filter((w) => !byName.has(w.toLowerCase()));
  if (missing.length) {
    throw new ProviderError('INVALID_CONFIG', `VM size(s) ${missing.join(', ')} not offered in ${config.region} (AZURE_INSTANCE_SIZE / AZURE_INSTANCE_SIZES)`);
  }
  return sortInstanceTypes(wanted.map((w) => sizeInfo(w, byName.get(w.toLowerCase())!)));
}

/** The configured image exists and may be read (the VM PUT would need that too). */
export async function resolveImage(api: ArmApi, config: AzureConfig, signal: AbortSignal): Promise<ImageInfo> {
  const ref = parseImageId(config.imageId);
  if (!ref) throw new ProviderError('INVALID_CONFIG', `AZURE_IMAGE_ID "${config.imageId}" is not an image id`);
  return api.getImage(ref, config.region, signal).catch((err: unknown) => {
    if (isProviderError(err, 'NOT_FOUND') || isProviderError(err, 'INVALID_REQUEST')) {
      throw new ProviderError('INVALID_CONFIG', `AZURE_IMAGE_ID ${config.imageId}: ${messageOf(err)}`, { cause: err });
    }
    throw err;
  });
}

function sizeInfo(name: string, s: VirtualMachineSize): InstanceTypeInfo {
  // The sizes API has no GPU count (upstream has the same limit): GPU pods need an explicit size.
  return { name, vcpus: s.numberOfCores ?? 0, memoryMiB: s.memoryInMB ?? 0, gpus: 0 };
}
