/**
 * SigV4 as far as the fake cares: the `Authorization` header must name an accepted access key id
 * in its credential scope. The signature itself is NOT verified (the fake has no business holding
 * secrets, and the SDK's signer is not what is under test); only the header's shape is checked.
 */
import { Ec2Error } from './errors.js';

export interface CredentialScope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

const AUTH_HEADER = /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request\s*,/;

export function parseCredentialScope(header: string | undefined): CredentialScope | undefined {
  const m = header ? AUTH_HEADER.exec(header) : null;
  if (!m) return undefined;
  return { accessKeyId: m[1] ?? '', date: m[2] ?? '', region: m[3] ?? '', service: m[4] ?? '' };
}

/** Throws EC2's 401 AuthFailure unless the scope names an accepted key for the ec2 service. */
export function authenticate(scope: CredentialScope | undefined, accessKeys: readonly string[]): void {
  if (!scope) throw new Ec2Error('AuthFailure', 'AWS was not able to validate the provided access credentials (missing or malformed Authorization header)');
  if (scope.service !== 'ec2') throw new Ec2Error('AuthFailure', `Credential should be scoped to correct service: 'ec2', not '${scope.service}'`);
  if (!accessKeys.includes(scope.accessKeyId)) throw new Ec2Error('AuthFailure', 'AWS was not able to validate the provided access credentials');
}
