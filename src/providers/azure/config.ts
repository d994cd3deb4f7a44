/**
 * The `azure` provider's keys (reference §4.3): upstream's flags and ConfigMap names and defaults,
 * plus the sovereign-cloud endpoints, workload identity's token file, the client-side rate limiter
 * and the long-running-operation poll interval that this implementation adds.
 */
import { z, type ZodType } from 'zod';
import { bool, duration, int, list, oneOf, option, redact, resolveOptions, positiveNumber, str, type RawSources, type Resolved } from '../../config/options.js';
import { AZURE_CLOUD_NAMES } from './cloud.js';
import { IMAGE_ID_FORMS, parseImageId, parseNsgId, parseSubnetId } from './ids.js';

/** Characters Azure refuses in tag names. */
const FORBIDDEN_TAG_NAME = /[<>%&\\?/]/;

/** `k=v,k2=v2` → a record; Azure's limits (name ≤ 512 characters without `<>%&\?/`, value ≤ 256) are checked here. */
const tagList = (): ZodType<Record<string, string>, string> =>
  z.string().transform((v, ctx) => {
    const out: Record<string, string> = {};
    for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      const name = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      let problem = '';
      if (eq <= 0 || name === '') problem = `expected key=value pairs separated by commas, got "${part}"`;
      else if (FORBIDDEN_TAG_NAME.test(name) || name.length > 512) problem = `tag name "${name}" is not allowed by Azure (at most 512 characters, none of < > % & \\ ? /)`;
      else if (value.length > 256) problem = `the value of tag "${name}" is longer than Azure's 256 characters`;
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      out[name] = value;
    }
    return out;
  });


const httpsUrl = (): ZodType<string, string> =>
  z.string().trim().refine((v) => v === '' || /^https:\/\/[^/\s]+\/?$/.test(v), 'expected https://host[:port]');

const subnetId = (): ZodType<string, string> =>
  z.string().trim().refine((v) => v === '' || parseSubnetId(v) !== undefined, 'expected /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>');

const nsgId = (): ZodType<string, string> =>
  z.string().trim().refine((v) => v === '' || parseNsgId(v) !== undefined, 'expected /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/networkSecurityGroups/<name>');

const imageId = (): ZodType<string, string> => z.string().trim().refine((v) => v === '' || parseImageId(v) !== undefined, `expected ${IMAGE_ID_FORMS}`);

const nonEmpty = (): ZodType<string, string> => z.string().trim().refine((v) => v !== '', 'must not be empty');

export const azureOptions = {
  clientId: option({ flag: 'clientid', env: ['AZURE_CLIENT_ID'], default: '', schema: str(), secret: true, description: 'application (client) id: of the service principal with AZURE_CLIENT_SECRET, else of the workload identity or user-assigned managed identity' }),
  clientSecret: option({ flag: 'secret', env: ['AZURE_CLIENT_SECRET'], default: '', schema: str(), secret: true, description: 'service principal secret; empty = workload identity (AZURE_FEDERATED_TOKEN_FILE), else the managed identity' }),
  tenantId: option({ flag: 'tenantid', env: ['AZURE_TENANT_ID'], default: '', schema: str(), secret: true, description: 'Entra ID tenant of the service principal or workload identity' }),
  subscriptionId: option({ flag: 'subscriptionid', env: ['AZURE_SUBSCRIPTION_ID'], default: '', schema: str().transform((v) => v.trim()), required: true, description: 'subscription the pod VMs are created in' }),
  region: option({ flag: 'region', env: ['AZURE_REGION'], default: '', schema: str().transform((v) => v.trim()), required: true, description: 'region (location) of the pod VMs, e.g. eastus' }),
  resourceGroup: option({ flag: 'resourcegroup', env: ['AZURE_RESOURCE_GROUP'], default: '', schema: str().transform((v) => v.trim()), required: true, description: 'resource group the pod VMs (and their NICs, disks, public IPs) are created in' }),
  subnetId: option({ flag: 'subnetid', env: ['AZURE_SUBNET_ID'], default: '', schema: subnetId(), required: true, description: 'full ARM id of the subnet the pod VMs\' NICs are placed in' }),
  securityGroupId: option({ flag: 'securitygroupid', env: ['AZURE_NSG_ID'], default: '', schema: nsgId(), description: 'full ARM id of a network security group for the pod VMs\' NICs; empty = the subnet\'s' }),
  imageId: option({ flag: 'imageid', env: ['AZURE_IMAGE_ID'], default: '', schema: imageId(), required: true, description: 'pod VM image: managed image, gallery image (version) or community gallery image id; the `image` annotation overrides it' }),
  instanceSize: option({ flag: 'instance-size', env: ['AZURE_INSTANCE_SIZE'], default: 'Standard_DC2as_v5', schema: nonEmpty(), description: 'default VM size' }),
  instanceSizes: option({ flag: 'instance-sizes', env: ['AZURE_INSTANCE_SIZES'], default: '', schema: list(), description: 'allowed VM sizes (comma list); empty = only the default; capacity fallback walks this list' }),
  sshKeyPath: option({ flag: 'ssh-key-path', env: ['AZURE_SSH_KEY_PATH'], default: '', schema: str(), description: 'OpenSSH public key file for the VMs\' admin user; empty = a fresh Ed25519 key per VM whose private half is never kept' }),
  sshUserName: option({ flag: 'ssh-username', env: ['SSH_USERNAME'], default: 'peerpod', schema: nonEmpty(), description: 'admin user name of the pod VMs' }),
  disableCvm: option({ flag: 'disable-cvm', env: ['DISABLECVM'], default: 'false', schema: bool(), boolean: true, description: 'create ordinary VMs instead of confidential VMs (testing only)' }),
  enableSecureBoot: option({ flag: 'enable-secure-boot', env: ['ENABLE_SECURE_BOOT'], default: 'false', schema: bool(), boolean: true, description: 'UEFI secure boot on the confidential VMs (measured boot with the vTPM is always on)' }),
  usePublicIp: option({ flag: 'use-public-ip', env: ['USE_PUBLIC_IP'], default: 'false', schema: bool(), boolean: true, description: 'give the pod VM a public IP (deleted with the VM) and reach the forwarder through it' }),
  rootVolumeSize: option({ flag: 'root-volume-size', env: ['ROOT_VOLUME_SIZE'], default: '0', schema: int(0, 32_767), description: 'OS disk size in GB; 0 = the image\'s' }),
  tags: option({ flag: 'tags', env: ['TAGS'], default: '', schema: tagList(), description: 'extra tags for every VM, NIC and public IP (k=v,k2=v2)' }),
  zone: option({ flag: 'zone', env: ['AZURE_ZONE'], default: '', schema: str().transform((v) => v.trim()), description: 'availability zone of the pod VMs (1, 2, 3); empty = no zone (regional)' }),
  cloud: option({ flag: 'azure-cloud', env: ['AZURE_CLOUD'], default: 'AzurePublicCloud', schema: oneOf(AZURE_CLOUD_NAMES), description: 'Azure cloud: its Resource Manager endpoint and Entra ID authority host' }),
  resourceManagerEndpoint: option({ flag: 'azure-resource-manager-endpoint', env: ['AZURE_RESOURCE_MANAGER_ENDPOINT'], default: '', schema: httpsUrl(), description: 'Resource Manager endpoint for a cloud AZURE_CLOUD does not name (Azure Stack Hub, tests); empty = AZURE_CLOUD\'s' }),
  authorityHost: option({ flag: 'azure-authority-host', env: ['AZURE_AUTHORITY_HOST'], default: '', schema: httpsUrl(), description: 'Entra ID authority host (the workload identity webhook sets it); empty = AZURE_CLOUD\'s' }),
  federatedTokenFile: option({ flag: 'azure-federated-token-file', env: ['AZURE_FEDERATED_TOKEN_FILE'], default: '', schema: str(), description: 'service account token for workload identity (the workload identity webhook sets it); used when AZURE_CLIENT_SECRET is empty' }),
  rateLimit: option({ flag: 'azure-api-rate-limit', env: ['AZURE_API_RATE_LIMIT'], default: '20', schema: positiveNumber('calls per second > 0'), description: 'Resource Manager requests per second this daemon starts at most (token bucket; long-running-operation polls included)' }),
  burst: option({ flag: 'azure-api-burst', env: ['AZURE_API_BURST'], default: '40', schema: int(1, 10_000), description: 'Resource Manager requests that may start at once after a quiet period' }),
  maxInFlight: option({ flag: 'azure-api-max-in-flight', env: ['AZURE_API_MAX_IN_FLIGHT'], default: '32', schema: int(1, 10_000), description: 'Resource Manager requests in flight at once' }),
  maxRetries: option({ flag: 'azure-api-max-retries', env: ['AZURE_API_MAX_RETRIES'], default: '3', schema: int(0, 20), description: 'retries per request: after Retry-After on 429, with exponential backoff on 5xx and network errors' }),
  pollInterval: option({ flag: 'azure-poll-interval', env: ['AZURE_POLL_INTERVAL'], default: '5s', schema: duration({ min: 10, max: 600_000 }), description: 'how often a VM create or delete is polled (a Retry-After from Azure takes precedence)' }),
};

export type AzureConfig = Resolved<typeof azureOptions>;

export function loadAzureConfig(sources: RawSources): AzureConfig {
  return resolveOptions(azureOptions, sources);
}

export function describeAzureConfig(sources: RawSources): Record<string, unknown> {
  return redact(azureOptions, loadAzureConfig(sources));
}
