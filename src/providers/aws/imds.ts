/**
 * The few IMDSv2 reads the provider makes at start-up to fill in what the ConfigMap left empty
 * (reference §4.2: region, key pair, subnet and security groups of the worker itself).
 */
import { messageOf } from '../../util/errors.js';
import { ProviderError } from '../errors.js';

const TOKEN_TTL_SECONDS = 300;
/** Per request: IMDS answers in milliseconds on EC2; off EC2 nothing answers at all. */
const REQUEST_TIMEOUT_MS = 2_000;

export class ImdsClient {
  private token: string | undefined;

  constructor(private readonly endpoint: string) {}

  /** The text at `path` (under /latest/meta-data/), or undefined when IMDS says 404. */
  async get(path: string, signal: AbortSignal): Promise<string | undefined> {
    const token = await this.getToken(signal);
    const res = await this.request(`/latest/meta-data/${path}`, { headers: { 'x-aws-ec2-metadata-token': token } }, signal);
    if (res.status === 404) return undefined;
    if (!res.ok) throw this.error(`GET ${path} answered HTTP ${res.status}`);
    return (await res.text()).trim();
  }

  async region(signal: AbortSignal): Promise<string | undefined> {
    return this.get('placement/region', signal);
  }

  /** `0=<name>` → name, for the first public key of the worker. */
  async keyName(signal: AbortSignal): Promise<string | undefined> {
    const keys = await this.get('public-keys/', signal);
    const first = keys?.split('\n')[0];
    return first?.includes('=') ? first.slice(first.indexOf('=') + 1) : undefined;
  }

  async primaryInterface(signal: AbortSignal): Promise<{ subnetId?: string; securityGroupIds: string[] }> {
    const mac = await this.get('mac', signal);
    if (!mac) return { securityGroupIds: [] };
    const subnetId = await this.get(`network/interfaces/macs/${mac}/subnet-id`, signal);
    const groups = await this.get(`network/interfaces/macs/${mac}/security-group-ids`, signal);
    return { subnetId, securityGroupIds: (groups ?? '').split(/\s+/).filter(Boolean) };
  }

  private async getToken(signal: AbortSignal): Promise<string> {
    if (this.token) return this.token;
    const res = await this.request('/latest/api/token', { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) } }, signal);
    if (!res.ok) throw this.error(`token request answered HTTP ${res.status}`);
    this.token = await res.text();
    // Start-up reads take well under the TTL; forget the token before it expires anyway.
    setTimeout(() => (this.token = undefined), (TOKEN_TTL_SECONDS - 30) * 1000).unref();
    return this.token;
  }

  private async request(path: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
    try {
      return await fetch(new URL(path, this.endpoint), { ...init, signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) });
    } catch (err) {
      if (signal.aborted) throw new ProviderError('CANCELLED', 'cancelled while reading instance metadata', { cause: err });
      throw this.error(`${path}: ${messageOf(err)}`, err);
    }
  }

  private error(detail: string, cause?: unknown): ProviderError {
    return new ProviderError('INVALID_CONFIG', `instance metadata service ${this.endpoint} unusable (${detail})`, { cause });
  }
}
