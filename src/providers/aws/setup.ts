/**
 * Start-up of the aws provider (reference §4.2): fill in what the ConfigMap left empty from the
 * worker's instance metadata, then ask EC2 about the AMI and the allowed instance types, so that a
 * wrong configuration stops the daemon with a message naming the key, not the first pod.
 */
import { messageOf } from '../../util/errors.js';
import type { InstanceTypeInfo as Ec2TypeInfo } from '@aws-sdk/client-ec2';
import type { Logger } from 'pino';
import { ProviderError, isProviderError } from '../errors.js';
import { sortInstanceTypes, type InstanceTypeInfo } from '../instance-type.js';
import { closeOnFailure } from '../plugin.js';
import type { ProviderHost } from '../provider.js';
import { RateLimiter } from '../rate-limiter.js';
import type { ProviderStart } from '../registry.js';
import { SdkEc2Api, type Ec2Api } from './client.js';
import type { AwsConfig } from './config.js';
import { ImdsClient } from './imds.js';
import { AwsProvider, imageRootOf, type AwsSettings } from './provider.js';

export const SEV_SNP_FEATURE = 'amd-sev-snp';

/** Everything the plugin's `create` does once the keys parsed: region, client, network, image, types, then the provider. */
export async function startAws(host: ProviderHost, config: AwsConfig, signal: AbortSignal): Promise<ProviderStart & { provider: AwsProvider }> {
  const log = host.logger.child({ component: 'aws' });
  const region = await resolveRegion(config, signal);
  const api = createEc2Api(config, region, createLimiter(config));
  return closeOnFailure(
    () => api.close(),
    async () => {
      const network = await resolveNetwork(config, signal, log);
      const image = await resolveImage(api, config, signal);
      const specList = await resolveInstanceTypes(api, config, signal);
      log.info({ region, ...network, ...image, instanceTypes: specList }, `aws provider ready in ${region}`);
      return { provider: new AwsProvider({ api, config, settings: { region, ...network, ...image, specList }, host }) };
    },
  );
}

export function createLimiter(config: AwsConfig): RateLimiter {
  return new RateLimiter({ ratePerSecond: config.rateLimit, burst: config.burst, maxInFlight: config.maxInFlight });
}

/** The region from the configuration or, when empty, from IMDS. */
export async function resolveRegion(config: AwsConfig, signal: AbortSignal): Promise<string> {
  if (config.region) return config.region;
  const region = await new ImdsClient(config.imdsEndpoint).region(signal).catch((err: unknown) => {
    throw new ProviderError('INVALID_CONFIG', `AWS_REGION is empty and the instance metadata service gave no region: ${messageOf(err)}`, { cause: err });
  });
  if (!region) throw new ProviderError('INVALID_CONFIG', 'AWS_REGION is empty and the instance metadata service has no placement/region');
  return region;
}

export function createEc2Api(config: AwsConfig, region: string, limiter: RateLimiter): Ec2Api {
  const staticKeys = config.accessKeyId !== '' && config.secretAccessKey !== '';
  return new SdkEc2Api({
    region,
    endpoint: config.endpoint || undefined,
    credentials: staticKeys
      ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}) }
      : undefined,
    profile: !staticKeys && config.profile ? config.profile : undefined,
    maxAttempts: config.maxAttempts,
    limiter,
  });
}

/** Subnet, security groups and key pair: configured, else the worker's own (IMDS). */
export async function resolveNetwork(
  config: AwsConfig,
  signal: AbortSignal,
  log: Logger,
): Promise<Pick<AwsSettings, 'subnetId' | 'securityGroupIds' | 'keyName'>> {
  let { subnetId, securityGroupIds, keyName } = config;
  const needSubnet = !subnetId && !config.useLaunchTemplate;
  if (needSubnet || securityGroupIds.length === 0 || !keyName) {
    const imds = new ImdsClient(config.imdsEndpoint);
    try {
      if (needSubnet || securityGroupIds.length === 0) {
        const nic = await imds.primaryInterface(signal);
        if (needSubnet) subnetId = nic.subnetId ?? '';
        if (securityGroupIds.length === 0) securityGroupIds = nic.securityGroupIds;
      }
      if (!keyName) keyName = (await imds.keyName(signal)) ?? '';
      log.info({ subnetId, securityGroupIds, keyName }, 'filled the empty network keys from the instance metadata service');
    } catch (err) {
      if (needSubnet) {
        throw new ProviderError('INVALID_CONFIG', `AWS_SUBNET_ID is empty and the instance metadata service cannot tell the worker's subnet: ${messageOf(err)}`, { cause: err });
      }
      log.info({ err }, 'instance metadata service unavailable; no key pair and the security groups as configured');
    }
  }
  if (!subnetId && !config.useLaunchTemplate) throw new ProviderError('INVALID_CONFIG', 'AWS_SUBNET_ID is empty and the instance metadata service has no subnet-id');
  return { subnetId, securityGroupIds, keyName };
}

/** The AMI's root device and size (the configured root volume is raised to at least that size). */
export async function resolveImage(api: Ec2Api, config: AwsConfig, signal: AbortSignal): Promise<Pick<AwsSettings, 'rootDeviceName' | 'rootVolumeSize'>> {
  if (config.useLaunchTemplate) return { rootDeviceName: '', rootVolumeSize: 0 };
  if (!config.imageId) throw new ProviderError('INVALID_CONFIG', 'PODVM_AMI_ID is required (or USE_PODVM_LAUNCHTEMPLATE=true)');
  const images = await api.describeImages([config.imageId], signal).catch((err: unknown) => {
    if (isProviderError(err, 'NOT_FOUND') || isProviderError(err, 'INVALID_REQUEST')) {
      throw new ProviderError('INVALID_CONFIG', `PODVM_AMI_ID ${config.imageId}: ${messageOf(err)}`, { cause: err });
    }
    throw err;
  });
  const image = images[0];
  if (!image) throw new ProviderError('INVALID_CONFIG', `PODVM_AMI_ID ${config.imageId} does not exist in this region`);
  const root = imageRootOf(image);
  const size = config.rootVolumeSize > 0 ? Math.min(2_147_483_647, Math.max(config.rootVolumeSize, root.sizeGiB)) : 0;
  return { rootDeviceName: root.rootDeviceName, rootVolumeSize: size };
}

/**
 * vCPUs, memory and GPUs of the allowed types (or only the default). With confidential VMs on,
 * a type that cannot run SEV-SNP is a start-up error naming it.
 */
export async function resolveInstanceTypes(api: Ec2Api, config: AwsConfig, signal: AbortSignal): Promise<InstanceTypeInfo[]> {
  if (config.useLaunchTemplate) return [];
  const wanted = [...new Set(config.instanceTypes.length ? config.instanceTypes : [config.instanceType])];
  const found = await api.describeInstanceTypes(wanted, signal).catch((err: unknown) => {
    if (isProviderError(err, 'INVALID_REQUEST') || isProviderError(err, 'NOT_FOUND')) {
      throw new ProviderError('INVALID_CONFIG', `PODVM_INSTANCE_TYPES [${wanted.join(', ')}]: ${messageOf(err)}`, { cause: err });
    }
    throw err;
  });
  const byName = new Map(found.map((t) => [t.InstanceType as string, t]));
  const missing = wanted.filter((w) => !byName.has(w));
  if (missing.length) throw new ProviderError('INVALID_CONFIG', `instance type(s) ${missing.join(', ')} not offered in this region (PODVM_INSTANCE_TYPE / PODVM_INSTANCE_TYPES)`);
  if (!config.disableCvm) {
    const noSnp = wanted.filter((w) => !supportsSevSnp(byName.get(w)!));
    if (noSnp.length) {
      throw new ProviderError(
        'INVALID_CONFIG',
        `instance type(s) ${noSnp.join(', ')} cannot run AMD SEV-SNP confidential VMs; choose SNP-capable types (e.g. m6a, c6a, r6a) or set DISABLECVM=true`,
      );
    }
  }
  return sortInstanceTypes(wanted.map((w) => typeInfo(byName.get(w)!)));
}

export function supportsSevSnp(t: Ec2TypeInfo): boolean {
  return (t.ProcessorInfo?.SupportedFeatures ?? []).includes(SEV_SNP_FEATURE as never);
}

function typeInfo(t: Ec2TypeInfo): InstanceTypeInfo {
  return {
    name: t.InstanceType as string,
    vcpus: t.VCpuInfo?.DefaultVCpus ?? 0,
    memoryMiB: t.MemoryInfo?.SizeInMiB ?? 0,
    gpus: (t.GpuInfo?.Gpus ?? []).reduce((n, g) => n + (g.Count ?? 0), 0),
  };
}
