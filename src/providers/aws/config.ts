/**
 * The `aws` provider's keys (reference §4.2): upstream's flags and ConfigMap names and defaults, plus
 * the client-side rate limiter and the endpoint override this implementation adds.
 */
import { bool, int, keyValueList, list, option, positiveNumber, redact, resolveOptions, str, type RawSources, type Resolved } from '../../config/options.js';

export const awsOptions = {
  accessKeyId: option({ flag: 'aws-access-key-id', env: ['AWS_ACCESS_KEY_ID'], default: '', schema: str(), secret: true, description: 'access key id (with AWS_SECRET_ACCESS_KEY: static credentials; else profile, else the default chain incl. IRSA)' }),
  secretAccessKey: option({ flag: 'aws-secret-key', env: ['AWS_SECRET_ACCESS_KEY'], default: '', schema: str(), secret: true, description: 'secret access key' }),
  sessionToken: option({ flag: 'aws-session-token', env: ['AWS_SESSION_TOKEN'], default: '', schema: str(), secret: true, description: 'session token for temporary static credentials' }),
  region: option({ flag: 'aws-region', env: ['AWS_REGION'], default: '', schema: str(), description: 'region; empty = the instance metadata service (placement/region)' }),
  profile: option({ flag: 'aws-profile', env: ['AWS_PROFILE'], default: '', schema: str(), description: 'shared-config profile to take credentials from' }),
  instanceType: option({ flag: 'instance-type', env: ['PODVM_INSTANCE_TYPE'], default: 'm6a.large', schema: str().refine((v) => v.trim() !== '', 'must not be empty'), description: 'default instance type' }),
  instanceTypes: option({ flag: 'instance-types', env: ['PODVM_INSTANCE_TYPES'], default: '', schema: list(), description: 'allowed instance types (comma list); empty = only the default; capacity fallback walks this list' }),
  imageId: option({ flag: 'imageid', env: ['PODVM_AMI_ID'], default: '', schema: str(), description: 'pod VM AMI id (required unless USE_PODVM_LAUNCHTEMPLATE); the `image` annotation overrides it' }),
  keyName: option({ flag: 'keyname', env: ['SSH_KP_NAME'], default: '', schema: str(), description: 'EC2 key pair; empty = the worker\'s own (instance metadata), none if it has none' }),
  subnetId: option({ flag: 'subnetid', env: ['AWS_SUBNET_ID'], default: '', schema: str(), description: 'subnet; empty = the worker\'s primary interface subnet (instance metadata)' }),
  securityGroupIds: option({ flag: 'securitygroupids', env: ['AWS_SG_IDS'], default: '', schema: list(), description: 'security groups (comma list); empty = the worker\'s (instance metadata)' }),
  useLaunchTemplate: option({ flag: 'use-lt', env: ['USE_PODVM_LAUNCHTEMPLATE'], default: 'false', schema: bool(), boolean: true, description: 'create instances from a launch template (image, type and CVM settings come from it)' }),
  launchTemplateName: option({ flag: 'aws-lt-name', env: ['PODVM_LAUNCHTEMPLATE_NAME'], default: 'kata', schema: str(), description: 'launch template name' }),
  usePublicIp: option({ flag: 'use-public-ip', env: ['USE_PUBLIC_IP'], default: 'false', schema: bool(), boolean: true, description: 'give the pod VM a public IP and reach the forwarder through it' }),
  rootVolumeSize: option({ flag: 'root-volume-size', env: ['ROOT_VOLUME_SIZE'], default: '30', schema: int(0, 2_147_483_647), description: 'root volume size in GiB (raised to the AMI\'s own size); 0 = the AMI\'s' }),
  disableCvm: option({ flag: 'disable-cvm', env: ['DISABLECVM'], default: 'false', schema: bool(), boolean: true, description: 'create ordinary VMs instead of SEV-SNP confidential VMs (testing only)' }),
  tags: option({ flag: 'tags', env: ['TAGS'], default: '', schema: keyValueList(), description: 'extra tags for every instance, volume and interface (k=v,k2=v2)' }),
  endpoint: option({ flag: 'aws-endpoint', env: ['AWS_ENDPOINT_URL_EC2'], default: '', schema: str(), description: 'EC2 endpoint URL override (VPC endpoint, tests); empty = the region\'s' }),
  imdsEndpoint: option({ flag: 'aws-imds-endpoint', env: ['AWS_EC2_METADATA_SERVICE_ENDPOINT'], default: 'http://169.254.169.254', schema: str().refine((v) => /^https?:\/\/[^/]+\/?$/.test(v), 'expected http://host[:port]'), description: 'instance metadata service (IMDSv2), asked for the region, subnet, security groups and key pair left empty' }),
  rateLimit: option({ flag: 'aws-api-rate-limit', env: ['AWS_API_RATE_LIMIT'], default: '10', schema: positiveNumber('calls per second > 0'), description: 'EC2 API calls per second this daemon starts at most (token bucket)' }),
  burst: option({ flag: 'aws-api-burst', env: ['AWS_API_BURST'], default: '20', schema: int(1, 10_000), description: 'EC2 API calls that may start at once after a quiet period' }),
  maxInFlight: option({ flag: 'aws-api-max-in-flight', env: ['AWS_API_MAX_IN_FLIGHT'], default: '16', schema: int(1, 10_000), description: 'EC2 API calls in flight at once' }),
  maxAttempts: option({ flag: 'aws-max-attempts', env: ['AWS_MAX_ATTEMPTS'], default: '5', schema: int(1, 20), description: 'attempts per EC2 call (the SDK\'s adaptive retry backs off on throttling)' }),
};

export type AwsConfig = Resolved<typeof awsOptions>;

export function loadAwsConfig(sources: RawSources): AwsConfig {
  return resolveOptions(awsOptions, sources);
}

export function describeAwsConfig(sources: RawSources): Record<string, unknown> {
  return redact(awsOptions, loadAwsConfig(sources));
}
