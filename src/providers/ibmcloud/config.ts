/**
 * The `ibmcloud` provider's keys (reference §4.4): upstream's flags, ConfigMap names and defaults, plus
 * the client-side rate limiter, the trusted-profile token file and the Global Tagging endpoint this
 * implementation adds.
 */
import { z, type ZodType } from 'zod';
import { absolutePath, bool, int, list, option, redact, resolveOptions, positiveNumber, str, type RawSources, type Resolved } from '../../config/options.js';
import { checkTag } from './tags.js';

/** Upstream's default profile when IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME is empty. */
export const DEFAULT_PROFILE = 'bx2-2x8';

/** Plain IBM tag strings (`key:value` or a label), comma-separated; each must be a valid IBM tag. */
const ibmTagList = (): ZodType<string[], string> =>
  z.string().transform((v, ctx) => {
    const tags = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const t of tags) {
      const problem = checkTag(t);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: `"${t}": ${problem}` });
        return z.NEVER;
      }
    }
    return tags;
  });


const url = (): ZodType<string, string> => str().refine((v) => v === '' || /^https?:\/\/[^/\s]+(\/\S*)?$/.test(v), 'expected an http(s) URL');

export const ibmcloudOptions = {
  apiKey: option({ flag: 'api-key', env: ['IBMCLOUD_API_KEY'], default: '', schema: str(), secret: true, description: 'IAM API key (wins over IBMCLOUD_IAM_PROFILE_ID when both are set)' }),
  iamProfileId: option({ flag: 'iam-profile-id', env: ['IBMCLOUD_IAM_PROFILE_ID'], default: '', schema: str(), secret: true, description: 'IAM trusted profile id: the daemon trades its projected service-account token (IBMCLOUD_IAM_PROFILE_TOKEN_FILE) for IAM tokens' }),
  iamProfileTokenFile: option({ flag: 'iam-profile-token-file', env: ['IBMCLOUD_IAM_PROFILE_TOKEN_FILE'], default: '/var/run/secrets/tokens/vault-token', schema: absolutePath(), description: 'projected service-account token (audience iam) for the trusted profile; re-read at every token refresh' }),
  iamEndpoint: option({ flag: 'iam-service-url', env: ['IBMCLOUD_IAM_ENDPOINT'], default: 'https://iam.cloud.ibm.com/identity/token', schema: url().refine((v) => v !== '', 'must not be empty'), description: 'IAM token endpoint' }),
  vpcEndpoint: option({ flag: 'vpc-service-url', env: ['IBMCLOUD_VPC_ENDPOINT'], default: '', schema: url(), description: 'VPC API endpoint; empty = https://<region>.iaas.cloud.ibm.com/v1, the region taken from IBMCLOUD_ZONE' }),
  taggingEndpoint: option({ flag: 'tagging-service-url', env: ['IBMCLOUD_TAGGING_ENDPOINT'], default: 'https://tags.global-search-tagging.cloud.ibm.com', schema: url().refine((v) => v !== '', 'must not be empty'), description: 'Global Tagging API endpoint (private endpoint, tests)' }),
  resourceGroupId: option({ flag: 'resource-group-id', env: ['IBMCLOUD_RESOURCE_GROUP_ID'], default: '', schema: str(), description: "resource group of the instances; empty = the primary subnet's" }),
  profileName: option({ flag: 'profile-name', env: ['IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME'], default: '', schema: str(), description: `default instance profile; empty = ${DEFAULT_PROFILE}` }),
  profileList: option({ flag: 'profile-list', env: ['IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST'], default: '', schema: list(), description: 'allowed instance profiles (comma list); empty = only the default; capacity fallback walks this list' }),
  zone: option({ flag: 'zone-name', env: ['IBMCLOUD_ZONE'], default: '', schema: str(), description: "zone of the instances (e.g. us-south-1); empty = the primary subnet's (then IBMCLOUD_VPC_ENDPOINT must be set)" }),
  subnetId: option({ flag: 'primary-subnet-id', env: ['IBMCLOUD_VPC_SUBNET_ID'], default: '', schema: str(), description: "primary subnet of the instances (required: upstream's node-label fallback is not read)" }),
  vpcId: option({ flag: 'vpc-id', env: ['IBMCLOUD_VPC_ID'], default: '', schema: str(), description: "VPC; empty = the primary subnet's (a different one is refused)" }),
  keyIds: option({ flag: 'key-id', env: ['IBMCLOUD_SSH_KEY_ID'], default: '', schema: list(), description: 'SSH key id(s) put on the instances (comma list); empty = none' }),
  imageIds: option({ flag: 'image-id', env: ['IBMCLOUD_PODVM_IMAGE_ID'], default: '', schema: list(), required: true, description: "pod VM image id(s), comma list: each profile gets the first image of its architecture (and Secure Execution kind); the `image` annotation overrides" }),
  securityGroupIds: option({ flag: 'security-group-ids', env: ['IBMCLOUD_SECURITY_GROUP_IDS'], default: '', schema: list(), description: 'security groups of the primary interface (comma list); the cluster group kube-<IBMCLOUD_CLUSTER_ID> is added' }),
  clusterId: option({ flag: 'cluster-id', env: ['IBMCLOUD_CLUSTER_ID'], default: '', schema: str(), description: 'IKS/ROKS cluster id: its security group kube-<id> in the VPC is added to every instance; empty = none added' }),
  dedicatedHostIds: option({ flag: 'dedicated-host-ids', env: ['IBMCLOUD_DEDICATED_HOST_IDS'], default: '', schema: list(), description: 'dedicated hosts (one per zone, comma list); the one in the zone is the placement target' }),
  dedicatedHostGroupIds: option({ flag: 'dedicated-host-group-ids', env: ['IBMCLOUD_DEDICATED_HOST_GROUP_IDS'], default: '', schema: list(), description: 'dedicated host groups (one per zone); the placement target, or the fallback when the dedicated host refuses' }),
  secondarySubnetId: option({ flag: 'secondary-subnet-id', env: ['IBMCLOUD_SECONDARY_SUBNET_ID'], default: '', schema: str(), description: 'subnet of a second interface (allow_ip_spoofing) dedicated to the pod tunnel; empty = none' }),
  secondarySecurityGroupId: option({ flag: 'secondary-security-group-id', env: ['IBMCLOUD_SECONDARY_SECURITY_GROUP_ID'], default: '', schema: str(), description: 'security group of the second interface' }),
  disableCvm: option({ flag: 'disable-cvm', env: ['DISABLECVM'], default: 'true', schema: bool(), boolean: true, description: 'create ordinary VMs instead of confidential ones (Intel TDX on amd64 profiles; s390x Secure Execution comes from the profile and image)' }),
  tags: option({ flag: 'tags', env: ['TAGS'], default: '', schema: ibmTagList(), description: 'extra IBM tags for every instance (comma list of key:value or labels)' }),
  rateLimit: option({ flag: 'ibmcloud-api-rate-limit', env: ['IBMCLOUD_API_RATE_LIMIT'], default: '10', schema: positiveNumber('calls per second > 0'), description: 'VPC and Global Tagging API requests per second this daemon starts at most (token bucket)' }),
  burst: option({ flag: 'ibmcloud-api-burst', env: ['IBMCLOUD_API_BURST'], default: '20', schema: int(1, 10_000), description: 'API requests that may start at once after a quiet period' }),
  maxInFlight: option({ flag: 'ibmcloud-api-max-in-flight', env: ['IBMCLOUD_API_MAX_IN_FLIGHT'], default: '16', schema: int(1, 10_000), description: 'API requests in flight at once' }),
  maxAttempts: option({ flag: 'ibmcloud-max-attempts', env: ['IBMCLOUD_MAX_ATTEMPTS'], default: '5', schema: int(1, 20), description: 'attempts per API call (429 waits out Retry-After; 5xx and network errors back off)' }),
};

export type IbmCloudConfig = Resolved<typeof ibmcloudOptions>;

export function loadIbmCloudConfig(sources: RawSources): IbmCloudConfig {
  return resolveOptions(ibmcloudOptions, sources);
}

export function describeIbmCloudConfig(sources: RawSources): Record<string, unknown> {
  return redact(ibmcloudOptions, loadIbmCloudConfig(sources));
}

/** The profile used when a pod asks for nothing. */
export function defaultProfile(config: Pick<IbmCloudConfig, 'profileName'>): string {
  return config.profileName.trim() || DEFAULT_PROFILE;
}
