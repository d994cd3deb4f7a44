/**
 * The Entra ID (AAD) side of the fake: the OpenID discovery document and the v2.0 token endpoint
 * that @azure/identity's MSAL calls, for the client-credentials grant (client secret) and the
 * client-assertion grant (workload identity's federated token). Tokens are opaque strings; the fake
 * ARM accepts only tokens it issued, unexpired, for its own audience.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ArmError } from './errors.js';
import type { PrincipalSeed } from './seeds.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface IdentityReply {
  status: number;
  body: unknown;
}

interface IssuedToken {
  clientId: string;
  audience: string;
  expiresAt: number;
}

export interface TokenRequestRecord {
  tenantId: string;
  clientId: string;
  grant: 'client_secret' | 'client_assertion' | 'other';
  scope: string;
  ok: boolean;
}

export class TokenIssuer {
  private readonly tokens = new Map<string, IssuedToken>();
  readonly requests: TokenRequestRecord[] = [];
  /** Lifetime of issued tokens. */
  lifetimeSeconds = 3600;

  constructor(
    private readonly principals: () => readonly PrincipalSeed[],
    private readonly now: () => number,
  ) {}

  /** Routes under `/<tenant>/…`; undefined when the path is not the identity service's. */
  handle(method: string, path: string, form: URLSearchParams, base: string): IdentityReply | undefined {
    const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (discovery && method === 'GET') return this.discovery(discovery[1]!, base);
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (token && method === 'POST') return this.token(token[1]!, form);
    return undefined;
  }

  /** Throws the 401 ARM gives for a missing, unknown, expired or misdirected token. */
  check(authorization: string | undefined, audience: string): void {
    const m = /^Bearer (\S+)$/.exec(authorization ?? '');
    if (!m) throw new ArmError('AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", 401);
    const t = this.tokens.get(m[1]!);
    if (!t) throw new ArmError('InvalidAuthenticationToken', 'The access token is invalid.', 401);
    if (t.expiresAt <= this.now()) throw new ArmError('ExpiredAuthenticationToken', 'The access token expiry UTC time is earlier than current UTC time.', 401);
    if (t.audience !== audience) {
      throw new ArmError('InvalidAuthenticationTokenAudience', `The access token has been obtained for wrong audience or resource '${t.audience}'. It should exactly match with one of the allowed audiences '${audience}'.`, 401);
    }
  }

  /** Every token issued so far stops working (a rotated secret, a revoked identity). */
  revokeAll(): void {
    this.tokens.clear();
  }

  get issued(): number {
    return this.requests.filter((r) => r.ok).length;
  }

  private discovery(tenantId: string, base: string): IdentityReply {
    const t = `${base}/${tenantId}`;
    return {
      status: 200,
      body: {
        token_endpoint: `${t}/oauth2/v2.0/token`,
        authorization_endpoint: `${t}/oauth2/v2.0/authorize`,
        issuer: `${t}/v2.0`,
        jwks_uri: `${t}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'token id_token'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
      },
    };
  }

  private token(tenantId: string, form: URLSearchParams): IdentityReply {
    const clientId = form.get('client_id') ?? '';
    const scope = form.get('scope') ?? '';
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    const grant = secret !== null ? 'client_secret' : assertion !== null ? 'client_assertion' : 'other';
    const record = (ok: boolean): void => void this.requests.push({ tenantId, clientId, grant, scope, ok });
    const fail = (status: number, error: string, code: number, description: string): IdentityReply => {
      record(false);
      return {
        status,
        body: { error, error_description: `AADSTS${code}: ${description}`, error_codes: [code], timestamp: new Date(this.now()).toISOString(), trace_id: randomUUID(), correlation_id: randomUUID() },
      };
    };
    const inTenant = this.principals().filter((p) => p.tenantId === tenantId);
    if (inTenant.length === 0) return fail(400, 'invalid_request', 90002, `Tenant '${tenantId}' not found.`);
    if (form.get('grant_type') !== 'client_credentials') return fail(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    const principal = inTenant.find((p) => p.clientId === clientId);
    if (!principal) return fail(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`);
    if (grant === 'client_secret' && (!principal.secret || principal.secret !== secret)) {
      return fail(401, 'invalid_client', 7000215, 'Invalid client secret provided.');
    }
    if (grant === 'client_assertion' && (form.get('client_assertion_type') !== JWT_BEARER || !principal.federatedToken || principal.federatedToken !== assertion)) {
      return fail(400, 'invalid_client', 700211, 'No matching federated identity record found for presented assertion.');
    }
    if (grant === 'other') return fail(400, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    if (!scope.endsWith('/.default')) return fail(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid.`);
    const token = `fake-arm-${randomBytes(12).toString('hex')}`;
    this.tokens.set(token, { clientId, audience: scope.slice(0, -'/.default'.length), expiresAt: this.now() + this.lifetimeSeconds * 1000 });
    record(true);
    return { status: 200, body: { token_type: 'Bearer', expires_in: this.lifetimeSeconds, ext_expires_in: this.lifetimeSeconds, access_token: token } };
  }
}
