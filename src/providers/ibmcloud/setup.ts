/**
 * Start-up of the ibmcloud provider (reference §4.4): authenticate, find the VPC endpoint, then ask the
 * VPC about the subnet (zone, VPC and resource group come from it), the security groups (plus the
 * cluster's `kube-<id>`), keys, dedicated hosts, images and the allowed profiles, and check the
 * profile/image pairing — so that a wrong configuration stops the daemon with a message naming the
 * key, not the first pod.
 */
import { messageOf } from '../../util/errors.js';
import type { Logger } from 'pino';
import type { VpcSubnet } from './vpc-types.js';
import { ProviderError, isProviderError } from '../errors.js';
import { sortInstanceTypes } from '../instance-type.js';
import { instanceTags } from '../naming.js';
import { closeOnFailure } from '../plugin.js';
import type { ProviderHost } from '../provider.js';
import { RateLimiter } from '../rate-limiter.js';
import type { ProviderStart } from '../registry.js';
import { createAuthenticator } from './auth.js';
import { SdkVpcApi, type VpcApi } from './client.js';
import { defaultProfile, type IbmCloudConfig } from './config.js';
import { IbmCloudProvider } from './provider.js';
import { confidentialCapable, imageInfo, pairingProblems, profileInfo, unusableImage, type ImageInfo, type ProfileInfo } from './profiles.js';
import { checkTag, tagStrings } from './tags.js';

/** What start-up learned from the configuration and the cloud. */
export interface IbmCloudSettings {
  vpcEndpoint: string;
  zone: string;
  vpcId: string;
  subnetId: string;
  resourceGroupId: string;
  /** Configured groups plus the cluster's. */
  securityGroupIds: string[];
  keyIds: string[];
  /** The usable configured images, in configuration order. */
  images: ImageInfo[];
  /** The allowed profiles (or just the default), sorted for selection. */
  specList: ProfileInfo[];
  defaultProfile: string;
  /** Dedicated host / host group in this zone, if configured. */
  placement: { hostId?: string; groupId?: string };
  secondary?: { subnetId: string; securityGroupId?: string };
}

/** Everything the plugin's `create` does once the keys parsed: tags, endpoint, client, network, images, profiles, then the provider. */
export async function startIbmCloud(host: ProviderHost, config: IbmCloudConfig, signal: AbortSignal): Promise<ProviderStart & { provider: IbmCloudProvider }> {
  const log = host.logger.child({ component: 'ibmcloud' });
  checkIdentityTags(host.clusterName, host.nodeName);
  const vpcEndpoint = resolveVpcEndpoint(config);
  const api = createVpcApi(config, vpcEndpoint, createLimiter(config), log);
  return closeOnFailure(
    () => api.close(),
    async () => {
      const network = await resolveNetwork(api, config, signal, log);
      const images = await resolveImages(api, config, signal, log);
      const specList = await resolveProfiles(api, config, images, signal);
      const settings = { vpcEndpoint, ...network, images, specList, defaultProfile: defaultProfile(config) };
      log.info({ ...settings }, `ibmcloud provider ready in ${network.zone} (VPC ${network.vpcId})`);
      return { provider: new IbmCloudProvider({ api, config, settings, host }) };
    },
  );
}

export function createLimiter(config: IbmCloudConfig): RateLimiter {
  return new RateLimiter({ ratePerSecond: config.rateLimit, burst: config.burst, maxInFlight: config.maxInFlight });
}

/** `us-south-1` → `us-south`. */
export function regionOfZone(zone: string): string {
  return zone.replace(/-\d+$/, '');
}

export function resolveVpcEndpoint(config: IbmCloudConfig): string {
  if (config.vpcEndpoint) return config.vpcEndpoint;
  if (config.zone) return `https://${regionOfZone(config.zone)}.iaas.cloud.ibm.com/v1`;
  throw new ProviderError('INVALID_CONFIG', 'IBMCLOUD_VPC_ENDPOINT and IBMCLOUD_ZONE are both empty: set the zone (the region, and so the endpoint, follows from it) or the endpoint');
}

export function createVpcApi(config: IbmCloudConfig, vpcEndpoint: string, limiter: RateLimiter, log?: Logger): VpcApi {
  return new SdkVpcApi({ vpcEndpoint, taggingEndpoint: config.taggingEndpoint, auth: createAuthenticator(config), limiter, maxAttempts: config.maxAttempts, log });
}

/** A lookup of a configured id: "not found" and "malformed" become INVALID_CONFIG naming the key. */
async function lookup<T>(key: string, id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isProviderError(err, 'NOT_FOUND') || isProviderError(err, 'INVALID_REQUEST')) {
      throw new ProviderError('INVALID_CONFIG', `${key} ${id}: ${messageOf(err)}`, { cause: err });
    }
    throw err;
  }
}

type Network = Omit<IbmCloudSettings, 'vpcEndpoint' | 'images' | 'specList' | 'defaultProfile'>;

/** The primary subnet, and the zone, VPC and resource group that follow from it. */
export async function resolveSubnet(
  api: VpcApi,
  config: IbmCloudConfig,
  signal: AbortSignal,
): Promise<Pick<Network, 'zone' | 'vpcId' | 'subnetId' | 'resourceGroupId'> & { subnet: VpcSubnet }> {
  if (!config.subnetId) {
    throw new ProviderError('INVALID_CONFIG', 'IBMCLOUD_VPC_SUBNET_ID is required (upstream falls back to the node label ibm-cloud.kubernetes.io/subnet-id; this daemon does not read node labels)');
  }
  const subnet = await lookup('IBMCLOUD_VPC_SUBNET_ID', config.subnetId, () => api.getSubnet(config.subnetId, signal));
  const zone = config.zone || subnet.zone.name;
  if (subnet.zone.name !== zone) throw new ProviderError('INVALID_CONFIG', `IBMCLOUD_ZONE=${config.zone} but the subnet ${subnet.id} is in ${subnet.zone.name}`);
  const vpcId = config.vpcId || subnet.vpc.id;
  if (subnet.vpc.id !== vpcId) throw new ProviderError('INVALID_CONFIG', `IBMCLOUD_VPC_ID=${config.vpcId} but the subnet ${subnet.id} is in VPC ${subnet.vpc.id}`);
  return { subnet, zone, vpcId, subnetId: subnet.id, resourceGroupId: config.resourceGroupId || subnet.resource_group?.id || '' };
}

/** The configured groups (each must exist in the VPC) plus the cluster's `kube-<IBMCLOUD_CLUSTER_ID>`. */
export async function resolveSecurityGroups(api: VpcApi, config: IbmCloudConfig, vpcId: string, signal: AbortSignal, log?: Logger): Promise<string[]> {
  const ids = [...config.securityGroupIds];
  for (const id of config.securityGroupIds) {
    const sg = await lookup('IBMCLOUD_SECURITY_GROUP_IDS', id, () => api.getSecurityGroup(id, signal));
    if (sg.vpc.id !== vpcId) throw new ProviderError('INVALID_CONFIG', `IBMCLOUD_SECURITY_GROUP_IDS: ${id} (${sg.name}) belongs to VPC ${sg.vpc.id}, not ${vpcId}`);
  }
  if (config.clusterId) {
    const name = `kube-${config.clusterId}`;
    const sg = (await api.listSecurityGroups(vpcId, signal)).find((g) => g.name === name);
    if (!sg) throw new ProviderError('INVALID_CONFIG', `IBMCLOUD_CLUSTER_ID=${config.clusterId}: VPC ${vpcId} has no security group named ${name}`);
    if (!ids.includes(sg.id)) ids.push(sg.id);
  } else {
    log?.info('IBMCLOUD_CLUSTER_ID is empty: no cluster security group (kube-<cluster id>) is added to the pod VMs');
  }
  return ids;
}

export async function checkKeys(api: VpcApi, config: IbmCloudConfig, signal: AbortSignal): Promise<string[]> {
  const names: string[] = [];
  for (const id of config.keyIds) names.push((await lookup('IBMCLOUD_SSH_KEY_ID', id, () => api.getKey(id, signal))).name);
  return names;
}

/** The dedicated host and host group of this zone among the configured ones. */
export async function resolvePlacement(api: VpcApi, config: IbmCloudConfig, zone: string, signal: AbortSignal): Promise<Network['placement']> {
  const placement: Network['placement'] = {};
  for (const id of config.dedicatedHostIds) {
    const host = await lookup('IBMCLOUD_DEDICATED_HOST_IDS', id, () => api.getDedicatedHost(id, signal));
    if (host.zone.name === zone) placement.hostId ??= host.id;
  }
  for (const id of config.dedicatedHostGroupIds) {
    const group = await lookup('IBMCLOUD_DEDICATED_HOST_GROUP_IDS', id, () => api.getDedicatedHostGroup(id, signal));
    if (group.zone.name === zone) placement.groupId ??= group.id;
  }
  if ((config.dedicatedHostIds.length || config.dedicatedHostGroupIds.length) && !placement.hostId && !placement.groupId) {
    throw new ProviderError('INVALID_CONFIG', `IBMCLOUD_DEDICATED_HOST_IDS / IBMCLOUD_DEDICATED_HOST_GROUP_IDS: none is in zone ${zone}`);
  }
  return placement;
}

/** The tunnel interface's subnet (same zone) and group, if configured. */
export async function resolveSecondary(api: VpcApi, config: IbmCloudConfig, zone: string, signal: AbortSignal): Promise<Network['secondary']> {
  if (!config.secondarySubnetId) return undefined;
  const s = await lookup('--secondary-subnet-id', config.secondarySubnetId, () => api.getSubnet(config.secondarySubnetId, signal));
  if (s.zone.name !== zone) throw new ProviderError('INVALID_CONFIG', `--secondary-subnet-id ${s.id} is in ${s.zone.name}, not ${zone}`);
  if (config.secondarySecurityGroupId) {
    await lookup('--secondary-security-group-id', config.secondarySecurityGroupId, () => api.getSecurityGroup(config.secondarySecurityGroupId, signal));
  }
  return { subnetId: s.id, ...(config.secondarySecurityGroupId ? { securityGroupId: config.secondarySecurityGroupId } : {}) };
}

/** Subnet → zone, VPC, resource group; then the security groups, keys, dedicated hosts and tunnel interface. */
export async function resolveNetwork(api: VpcApi, config: IbmCloudConfig, signal: AbortSignal, log: Logger): Promise<Network> {
  const { subnet: _subnet, ...where } = await resolveSubnet(api, config, signal);
  const securityGroupIds = await resolveSecurityGroups(api, config, where.vpcId, signal, log);
  await checkKeys(api, config, signal);
  const placement = await resolvePlacement(api, config, where.zone, signal);
  const secondary = await resolveSecondary(api, config, where.zone, signal);
  return { ...where, securityGroupIds, keyIds: [...config.keyIds], placement, ...(secondary ? { secondary } : {}) };
}

/**
 * The configured images with their architecture, in order. As upstream, an image that does not exist
 * or cannot boot is dropped with a warning; none left is a start-up error.
 */
export async function resolveImages(api: VpcApi, config: IbmCloudConfig, signal: AbortSignal, log: Logger): Promise<ImageInfo[]> {
  const out: ImageInfo[] = [];
  const dropped: string[] = [];
  for (const id of config.imageIds) {
    try {
      const image = await api.getImage(id, signal);
      const why = unusableImage(image);
      if (why) {
        dropped.push(`${id}: ${why}`);
        continue;
      }
      out.push(imageInfo(image));
    } catch (err) {
      if (!isProviderError(err, 'NOT_FOUND') && !isProviderError(err, 'INVALID_REQUEST')) throw err;
      dropped.push(`${id}: ${messageOf(err)}`);
    }
  }
  if (dropped.length) log.warn({ dropped }, `IBMCLOUD_PODVM_IMAGE_ID: ignoring ${dropped.length} image(s) that cannot be used`);
  if (out.length === 0) throw new ProviderError('INVALID_CONFIG', `IBMCLOUD_PODVM_IMAGE_ID [${config.imageIds.join(', ')}] has no usable image (${dropped.join('; ')})`);
  return out;
}

/** vCPUs, memory, GPUs and architecture of the allowed profiles (or only the default), sorted for selection. */
export async function lookupProfiles(api: VpcApi, config: IbmCloudConfig, signal: AbortSignal): Promise<ProfileInfo[]> {
  const wanted = [...new Set(config.profileList.length ? config.profileList : [defaultProfile(config)])];
  const found: ProfileInfo[] = [];
  const missing: string[] = [];
  for (const name of wanted) {
    try {
      found.push(profileInfo(await api.getInstanceProfile(name, signal)));
    } catch (err) {
      if (!isProviderError(err, 'NOT_FOUND') && !isProviderError(err, 'INVALID_REQUEST')) throw err;
      missing.push(name);
    }
  }
  if (missing.length) {
    throw new ProviderError('INVALID_CONFIG', `instance profile(s) ${missing.join(', ')} not offered in this region (IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME / IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST)`);
  }
  return sortInstanceTypes(found) as ProfileInfo[];
}

/** With confidential VMs on, every allowed profile must give one (TDX with secure boot, or Secure Execution). */
export function checkConfidential(config: IbmCloudConfig, profiles: readonly ProfileInfo[]): void {
  if (config.disableCvm) return;
  const plain = profiles.filter((p) => !confidentialCapable(p)).map((p) => p.name);
  if (plain.length) {
    throw new ProviderError(
      'INVALID_CONFIG',
      `instance profile(s) ${plain.join(', ')} cannot run confidential VMs; choose Intel TDX profiles (e.g. bx3dc-2x10) or s390x Secure Execution profiles (e.g. bz2e-2x8), or set DISABLECVM=true`,
    );
  }
}

/** Every allowed profile needs a configured image of its architecture and Secure Execution kind. */
export function checkPairing(profiles: readonly ProfileInfo[], images: readonly ImageInfo[]): void {
  const problems = pairingProblems(profiles, images);
  if (problems.length) throw new ProviderError('INVALID_CONFIG', problems.join('; '));
}

/** The allowed profiles, checked against the confidential-VM setting and the images. */
export async function resolveProfiles(api: VpcApi, config: IbmCloudConfig, images: readonly ImageInfo[], signal: AbortSignal): Promise<ProfileInfo[]> {
  const profiles = await lookupProfiles(api, config, signal);
  checkConfidential(config, profiles);
  checkPairing(profiles, images);
  return profiles;
}

/** The cluster and node names become tags on every instance; IBM must accept them. */
export function checkIdentityTags(clusterName: string, nodeName: string): void {
  const tags = tagStrings(instanceTags({ clusterName, nodeName, sandboxId: '0'.repeat(64), podNamespace: 'x', podName: 'x' }));
  for (const t of tags) {
    const problem = checkTag(t);
    if (problem) throw new ProviderError('INVALID_CONFIG', `the tag "${t}" (from CLUSTER_NAME / NODE_NAME) is not a valid IBM tag: ${problem}`);
  }
}
