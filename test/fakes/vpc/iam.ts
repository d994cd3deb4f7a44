/**
 * The fake IAM token service (`POST /identity/token`, form-encoded) and the bearer check the VPC and
 * Tagging endpoints make. Tokens are JWT-shaped (ibm-cloud-sdk-core decodes `iat`/`exp` to schedule its
 * refresh) and only those this fake issued, unexpired and unrevoked, are accepted.
 */
import { randomBytes } from 'node:crypto';
import { IamError, VpcError } from './errors.js';
import type { FakeToken, FakeVpcState } from './resources.js';

const APIKEY_GRANT = 'urn:ibm:params:oauth:grant-type:apikey';
const CR_TOKEN_GRANT = 'urn:ibm:params:oauth:grant-type:cr-token';

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Grants a token for an API key or a trusted profile's compute-resource token; returns IAM's reply. */
export function issueToken(state: FakeVpcState, form: URLSearchParams, nowMs: number): Record<string, unknown> {
  const grant = form.get('grant_type') ?? '';
  let subject: string;
  if (grant === APIKEY_GRANT) {
    const key = form.get('apikey') ?? '';
    if (!state.apiKeys.includes(key)) throw new IamError('BXNIM0415E', 'Provided API key could not be found.');
    subject = `iam-ServiceId-${key.slice(-8)}`;
  } else if (grant === CR_TOKEN_GRANT) {
    const profile = form.get('profile_id') ?? '';
    const expected = state.trustedProfiles[profile];
    if (expected === undefined) throw new IamError('BXNIM0471E', `Trusted profile ${profile} could not be found.`);
    if ((form.get('cr_token') ?? '') !== expected) throw new IamError('BXNIM0518E', 'The compute resource token is not valid for the trusted profile.');
    subject = profile;
  } else {
    throw new IamError('BXNIM0109E', `Property 'grant_type' has an unsupported value: ${grant}`);
  }
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + state.tokenTtlSeconds;
  const token = `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'fake-iam' })}.${b64url({ iam_id: subject, sub: subject, account: { bss: state.account }, iat, exp, jti: randomBytes(8).toString('hex') })}.${randomBytes(32).toString('base64url')}`;
  const record: FakeToken = { token, exp, subject, revoked: false };
  state.tokens.set(token, record);
  return { access_token: token, refresh_token: 'not_supported', token_type: 'Bearer', expires_in: state.tokenTtlSeconds, expiration: exp, scope: 'ibm openid' };
}

/** The VPC's check of `Authorization: Bearer <token>`; returns the subject. */
export function authenticate(state: FakeVpcState, authorization: string | undefined, nowMs: number): string {
  if (!state.requireAuth) return 'anonymous';
  const m = /^Bearer (\S+)$/.exec(authorization ?? '');
  if (!m) throw new VpcError('not_authorized', 'Missing or malformed Authorization header: a Bearer IAM token is required.', 401);
  const t = state.tokens.get(m[1]!);
  if (!t) throw new VpcError('not_authorized', 'The provided token is not valid.', 401);
  if (t.revoked) throw new VpcError('not_authorized', 'The provided token has been revoked.', 401);
  if (nowMs >= t.exp * 1000) throw new VpcError('not_authorized', 'The provided token has expired.', 401);
  return t.subject;
}
