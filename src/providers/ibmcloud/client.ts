/**
 * The narrow slice of the VPC and Global Tagging APIs the provider uses, behind an interface so tests
 * can swap it. Every call goes through the call policy (rate limiter, retries, IAM renewal) and comes
 * back either as the wire JSON or as a ProviderError with a stable code; collections come back whole
 * (every page).
 */
import type { Logger } from 'pino';
import { ProviderError } from '../errors.js';
import type { RateLimiter } from '../rate-limiter.js';
import type { RenewableAuthenticator } from './auth.js';
import { CallPolicy } from './call-policy.js';
import { GlobalTaggingV1, VpcV1, type SdkResponse } from './services.js';
import type {
  DedicatedHost,
  DedicatedHostGroup,
  InstanceProfile,
  InstancePrototype,
  Page,
  VpcImage,
  VpcInstance,
  VpcKey,
  VpcRegion,
  VpcSecurityGroup,
  VpcSubnet,
} from './vpc-types.js';

export interface VpcApi {
  createInstance(prototype: InstancePrototype, signal: AbortSignal): Promise<VpcInstance>;
  getInstance(id: string, signal: AbortSignal): Promise<VpcInstance>;
  deleteInstance(id: string, signal: AbortSignal): Promise<void>;
  /** Every page. */
  listInstances(filter: { name?: string; vpcId?: string }, signal: AbortSignal): Promise<VpcInstance[]>;
  getInstanceProfile(name: string, signal: AbortSignal): Promise<InstanceProfile>;
  getImage(id: string, signal: AbortSignal): Promise<VpcImage>;
  getSubnet(id: string, signal: AbortSignal): Promise<VpcSubnet>;
  getSecurityGroup(id: string, signal: AbortSignal): Promise<VpcSecurityGroup>;
  /** Every page. */
  listSecurityGroups(vpcId: string, signal: AbortSignal): Promise<VpcSecurityGroup[]>;
  getKey(id: string, signal: AbortSignal): Promise<VpcKey>;
  getDedicatedHost(id: string, signal: AbortSignal): Promise<DedicatedHost>;
  getDedicatedHostGroup(id: string, signal: AbortSignal): Promise<DedicatedHostGroup>;
  listRegions(signal: AbortSignal): Promise<VpcRegion[]>;
  /** Attaches user tags to a resource (idempotent). */
  attachTags(crn: string, tags: readonly string[], signal: AbortSignal): Promise<void>;
  /** The user tags on a resource. */
  listTags(crn: string, signal: AbortSignal): Promise<string[]>;
  /** Fails whatever waits for the limiter; in-flight calls finish. */
  close(): void;
}

export interface VpcClientOptions {
  vpcEndpoint: string;
  taggingEndpoint: string;
  auth: RenewableAuthenticator;
  limiter: RateLimiter;
  maxAttempts: number;
  log?: Logger;
  /** Per HTTP attempt; default 60 s. */
  attemptTimeoutMs?: number;
}

/** Pages of a VPC collection are linked by `next.href`, whose `start` parameter asks for the next one. */
function nextStart(page: Page): string | undefined {
  const href = page.next?.href;
  if (!href) return undefined;
  return new URL(href, 'http://next.invalid').searchParams.get('start') ?? undefined;
}

const MAX_PAGES = 10_000;

export class SdkVpcApi implements VpcApi {
  private readonly vpc: VpcV1;
  private readonly tagging: GlobalTaggingV1;
  private readonly policy: CallPolicy;

  constructor(private readonly o: VpcClientOptions) {
    this.vpc = new VpcV1({ serviceUrl: o.vpcEndpoint, authenticator: o.auth });
    this.tagging = new GlobalTaggingV1({ serviceUrl: o.taggingEndpoint, authenticator: o.auth });
    this.policy = new CallPolicy({ limiter: o.limiter, auth: o.auth, maxAttempts: o.maxAttempts, log: o.log, attemptTimeoutMs: o.attemptTimeoutMs });
  }

  private async vpcCall<T>(operation: string, signal: AbortSignal, fn: (signal: AbortSignal) => Promise<SdkResponse<T>>): Promise<T> {
    return (await this.policy.run('VPC', operation, signal, fn)).result;
  }

  createInstance(prototype: InstancePrototype, signal: AbortSignal): Promise<VpcInstance> {
    return this.vpcCall('create_instance', signal, (s) => this.vpc.createInstance(prototype, s));
  }

  getInstance(id: string, signal: AbortSignal): Promise<VpcInstance> {
    return this.vpcCall('get_instance', signal, (s) => this.vpc.getInstance(id, s));
  }

  async deleteInstance(id: string, signal: AbortSignal): Promise<void> {
    await this.vpcCall('delete_instance', signal, (s) => this.vpc.deleteInstance(id, s));
  }

  async listInstances(filter: { name?: string; vpcId?: string }, signal: AbortSignal): Promise<VpcInstance[]> {
    const out: VpcInstance[] = [];
    let start: string | undefined;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const page = await this.vpcCall('list_instances', signal, (s) =>
        this.vpc.listInstances({ name: filter.name, 'vpc.id': filter.vpcId, start, limit: 100 }, s),
      );
      out.push(...(page.instances ?? []));
      start = nextStart(page);
      if (!start) return out;
    }
    throw new ProviderError('INTERNAL', `VPC list_instances: more than ${MAX_PAGES} pages`);
  }

  getInstanceProfile(name: string, signal: AbortSignal): Promise<InstanceProfile> {
    return this.vpcCall('get_instance_profile', signal, (s) => this.vpc.getInstanceProfile(name, s));
  }

  getImage(id: string, signal: AbortSignal): Promise<VpcImage> {
    return this.vpcCall('get_image', signal, (s) => this.vpc.getImage(id, s));
  }

  getSubnet(id: string, signal: AbortSignal): Promise<VpcSubnet> {
    return this.vpcCall('get_subnet', signal, (s) => this.vpc.getSubnet(id, s));
  }

  getSecurityGroup(id: string, signal: AbortSignal): Promise<VpcSecurityGroup> {
    return this.vpcCall('get_security_group', signal, (s) => this.vpc.getSecurityGroup(id, s));
  }

  async listSecurityGroups(vpcId: string, signal: AbortSignal): Promise<VpcSecurityGroup[]> {
    const out: VpcSecurityGroup[] = [];
    let start: string | undefined;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const page = await this.vpcCall('list_security_groups', signal, (s) => this.vpc.listSecurityGroups({ 'vpc.id': vpcId, start, limit: 100 }, s));
      out.push(...(page.security_groups ?? []));
      start = nextStart(page);
      if (!start) return out;
    }
    throw new ProviderError('INTERNAL', `VPC list_security_groups: more than ${MAX_PAGES} pages`);
  }

  getKey(id: string, signal: AbortSignal): Promise<VpcKey> {
    return this.vpcCall('get_key', signal, (s) => this.vpc.getKey(id, s));
  }

  getDedicatedHost(id: string, signal: AbortSignal): Promise<DedicatedHost> {
    return this.vpcCall('get_dedicated_host', signal, (s) => this.vpc.getDedicatedHost(id, s));
  }

  getDedicatedHostGroup(id: string, signal: AbortSignal): Promise<DedicatedHostGroup> {
    return this.vpcCall('get_dedicated_host_group', signal, (s) => this.vpc.getDedicatedHostGroup(id, s));
  }

  async listRegions(signal: AbortSignal): Promise<VpcRegion[]> {
    return (await this.vpcCall('list_regions', signal, (s) => this.vpc.listRegions(s))).regions ?? [];
  }

  async attachTags(crn: string, tags: readonly string[], signal: AbortSignal): Promise<void> {
    const { result } = await this.policy.run('Global Tagging', 'attach_tag', signal, (s) => this.tagging.attachTag([crn], [...tags], s));
    const failed = (result.results ?? []).filter((r) => r.is_error);
    if (failed.length > 0) {
      throw new ProviderError('UNAVAILABLE', `Global Tagging attach_tag: IBM reported an error attaching [${tags.join(', ')}] to ${failed.map((f) => f.resource_id).join(', ')}`);
    }
  }

  async listTags(crn: string, signal: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    for (let offset = 0; ; ) {
      const { result } = await this.policy.run('Global Tagging', 'list_tags', signal, (s) => this.tagging.listTags(crn, offset, s));
      const items = result.items ?? [];
      out.push(...items.map((i) => i.name));
      offset += items.length;
      if (items.length === 0 || offset >= (result.total_count ?? 0)) return out;
    }
  }

  close(): void {
    this.o.limiter.close();
  }
}
