/**
 * Which identity the provider signs in with (reference §4.3): a service principal's client secret
 * when AZURE_CLIENT_SECRET is set; else workload identity when a federated token file is there (the
 * AKS workload identity webhook sets AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID and
 * AZURE_AUTHORITY_HOST); else the node's managed identity (user-assigned when AZURE_CLIENT_ID is set).
 */
import { ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential, type TokenCredential } from '@azure/identity';
import { ProviderError } from '../errors.js';
import type { CloudEndpoints } from './cloud.js';
import type { AzureConfig } from './config.js';

export interface ResolvedCredential {
  credential: TokenCredential;
  /** For logs and `--verify`: which kind of identity (the ids are redacted like the secret, as upstream marks them). */
  description: string;
}

export function createCredential(config: AzureConfig, cloud: CloudEndpoints): ResolvedCredential {
  const authority = { authorityHost: cloud.authorityHost, disableInstanceDiscovery: !cloud.knownAuthority };
  if (config.clientSecret) {
    const missing = [!config.tenantId && 'AZURE_TENANT_ID', !config.clientId && 'AZURE_CLIENT_ID'].filter(Boolean);
    if (missing.length) throw new ProviderError('INVALID_CONFIG', `AZURE_CLIENT_SECRET is set but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} empty`);
    return {
      credential: new ClientSecretCredential(config.tenantId, config.clientId, config.clientSecret, authority),
      description: 'service principal (client secret)',
    };
  }
  if (config.federatedTokenFile) {
    const missing = [!config.tenantId && 'AZURE_TENANT_ID', !config.clientId && 'AZURE_CLIENT_ID'].filter(Boolean);
    if (missing.length) throw new ProviderError('INVALID_CONFIG', `workload identity (AZURE_FEDERATED_TOKEN_FILE) needs ${missing.join(' and ')}`);
    return {
      credential: new WorkloadIdentityCredential({ tenantId: config.tenantId, clientId: config.clientId, tokenFilePath: config.federatedTokenFile, ...authority }),
      description: `workload identity (token file ${config.federatedTokenFile})`,
    };
  }
  return {
    credential: config.clientId ? new ManagedIdentityCredential({ clientId: config.clientId }) : new ManagedIdentityCredential(),
    description: config.clientId ? 'user-assigned managed identity' : 'system-assigned managed identity',
  };
}
