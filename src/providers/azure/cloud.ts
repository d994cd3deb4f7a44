/**
 * Which Azure cloud the provider talks to: the Resource Manager endpoint, the Entra ID (AAD)
 * authority host and the token scope. Public, China and US Government are named by AZURE_CLOUD;
 * other clouds (Azure Stack Hub, air-gapped regions) give both endpoints explicitly.
 */
export const AZURE_CLOUDS = {
  AzurePublicCloud: { resourceManager: 'https://management.azure.com', authorityHost: 'https://login.microsoftonline.com' },
  AzureChinaCloud: { resourceManager: 'https://management.chinacloudapi.cn', authorityHost: 'https://login.chinacloudapi.cn' },
  AzureUSGovernment: { resourceManager: 'https://management.usgovcloudapi.net', authorityHost: 'https://login.microsoftonline.us' },
} as const;

export type AzureCloudName = keyof typeof AZURE_CLOUDS;

export const AZURE_CLOUD_NAMES = Object.keys(AZURE_CLOUDS) as [AzureCloudName, ...AzureCloudName[]];

export interface CloudEndpoints {
  name: string;
  /** `https://host[:port]`, no trailing slash. */
  resourceManager: string;
  authorityHost: string;
  /** What tokens are requested for: `<resource manager>/.default`. */
  scope: string;
  /**
   * Entra instance discovery only knows Microsoft's own authority hosts; for any other (Azure Stack
   * ADFS, a test double) it is turned off.
   */
  knownAuthority: boolean;
}

const trimSlash = (u: string): string => u.replace(/\/+$/, '');

export function resolveCloud(config: { cloud: AzureCloudName; resourceManagerEndpoint: string; authorityHost: string }): CloudEndpoints {
  const named = AZURE_CLOUDS[config.cloud];
  const resourceManager = trimSlash(config.resourceManagerEndpoint || named.resourceManager);
  const authorityHost = trimSlash(config.authorityHost || named.authorityHost);
  const custom = config.resourceManagerEndpoint !== '' && trimSlash(config.resourceManagerEndpoint) !== named.resourceManager;
  return {
    name: custom ? `${config.cloud} with Resource Manager ${resourceManager}` : config.cloud,
    resourceManager,
    authorityHost,
    scope: `${resourceManager}/.default`,
    knownAuthority: Object.values(AZURE_CLOUDS).some((c) => c.authorityHost === authorityHost),
  };
}
