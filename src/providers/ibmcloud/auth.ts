/**
 * IAM authentication for the VPC and Global Tagging clients: an API key (IamAuthenticator) or a
 * trusted profile that trades the pod's projected service-account token for IAM tokens
 * (ContainerAuthenticator, which re-reads the token file at every refresh, so kubelet's rotation of
 * the projected token is picked up). ibm-cloud-sdk-core refreshes an IAM token in the background
 * once 80 % of its lifetime has passed and fetches a new one synchronously when it has expired; on
 * top of that the client calls `renew()` when the API answers 401 (a token revoked, or a clock that
 * disagrees with IAM's), and retries once.
 */
import { messageOf } from '../../util/errors.js';
import { accessSync, constants } from 'node:fs';
import { ContainerAuthenticator, IamAuthenticator, type AuthenticatorInterface } from 'ibm-cloud-sdk-core';
import { ProviderError } from '../errors.js';
import type { IbmCloudConfig } from './config.js';

type AuthenticateOptions = Parameters<AuthenticatorInterface['authenticate']>[0];

/** How long one IAM token request may take. */
const TOKEN_REQUEST_TIMEOUT_MS = 30_000;

export type AuthKind = 'api-key' | 'trusted-profile';

/**
 * An authenticator whose token cache can be dropped. `renew(generation)` replaces the inner
 * authenticator only if `generation` is still current, so that twenty requests failing with 401 at
 * once cause one new token, not twenty.
 */
export class RenewableAuthenticator implements AuthenticatorInterface {
  private inner: AuthenticatorInterface;
  private gen = 0;

  constructor(
    readonly kind: AuthKind,
    private readonly make: () => AuthenticatorInterface,
  ) {
    this.inner = make();
  }

  get generation(): number {
    return this.gen;
  }

  authenticate(requestOptions: AuthenticateOptions): Promise<void> {
    return this.inner.authenticate(requestOptions);
  }

  authenticationType(): string {
    return this.inner.authenticationType();
  }

  renew(generation: number): void {
    if (generation !== this.gen) return;
    this.gen++;
    this.inner = this.make();
  }
}

/** API key if set, else the trusted profile; neither is a configuration error naming both keys. */
export function createAuthenticator(config: Pick<IbmCloudConfig, 'apiKey' | 'iamProfileId' | 'iamProfileTokenFile' | 'iamEndpoint'>): RenewableAuthenticator {
  if (config.apiKey) {
    return new RenewableAuthenticator('api-key', () => new IamAuthenticator({ apikey: config.apiKey, url: config.iamEndpoint, timeout: TOKEN_REQUEST_TIMEOUT_MS }));
  }
  if (config.iamProfileId) {
    try {
      accessSync(config.iamProfileTokenFile, constants.R_OK);
    } catch (err) {
      throw new ProviderError(
        'INVALID_CONFIG',
        `IBMCLOUD_IAM_PROFILE_ID is set but the service-account token IBMCLOUD_IAM_PROFILE_TOKEN_FILE=${config.iamProfileTokenFile} cannot be read (${messageOf(err)}); project a token with audience "iam" there`,
        { cause: err },
      );
    }
    return new RenewableAuthenticator(
      'trusted-profile',
      () => new ContainerAuthenticator({ iamProfileId: config.iamProfileId, crTokenFilename: config.iamProfileTokenFile, url: config.iamEndpoint, timeout: TOKEN_REQUEST_TIMEOUT_MS }),
    );
  }
  throw new ProviderError('INVALID_CONFIG', 'IBMCLOUD_API_KEY or IBMCLOUD_IAM_PROFILE_ID (a trusted profile) is required');
}
