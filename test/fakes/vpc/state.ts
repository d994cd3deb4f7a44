/** Building the fake's state from its options: seeds replace the defaults wholesale when given. */
import type { FakeVpcState } from './resources.js';
import {
  DEFAULT_ACCOUNT,
  DEFAULT_API_KEY,
  DEFAULT_CR_TOKEN,
  DEFAULT_DEDICATED_HOSTS,
  DEFAULT_IMAGES,
  DEFAULT_KEYS,
  DEFAULT_PROFILES,
  DEFAULT_REGION,
  DEFAULT_RESOURCE_GROUP_ID,
  DEFAULT_SECURITY_GROUPS,
  DEFAULT_SUBNETS,
  DEFAULT_TRUSTED_PROFILE_ID,
  DEFAULT_VPCS,
  type DedicatedHostSeed,
  type ImageSeed,
  type KeySeed,
  type ProfileSeed,
  type SecurityGroupSeed,
  type SubnetSeed,
  type VpcSeed,
} from './seeds.js';
import type { LatencySetting } from '../http-fake-server.js';
import { seededTable, type CloudFakeOptions } from '../cloud-fake-kit.js';

export type { LatencySetting };

export interface FakeVpcOptions extends CloudFakeOptions {
  /** Default `us-south`, zones `<region>-1..3`. */
  region?: string;
  account?: string;
  /** Accepted IAM API keys; default `[DEFAULT_API_KEY]`. */
  apiKeys?: string[];
  /** Trusted profile id → accepted compute-resource token; default the seeded pair. */
  trustedProfiles?: Record<string, string>;
  /** Lifetime of the IAM tokens the fake issues; default 3600 s. */
  tokenTtlSeconds?: number;
  /** Default true: VPC and Tagging calls need a valid IAM bearer token. */
  requireAuth?: boolean;
  profiles?: readonly ProfileSeed[];
  images?: readonly ImageSeed[];
  vpcs?: readonly VpcSeed[];
  subnets?: readonly SubnetSeed[];
  securityGroups?: readonly SecurityGroupSeed[];
  keys?: readonly KeySeed[];
  resourceGroups?: readonly string[];
  dedicatedHosts?: readonly DedicatedHostSeed[];
  /** Default 0: `running` (or `failed`) from the first request after the create on. */
  bootDelayMs?: number;
  /** Default 0: the primary IP reads `0.0.0.0` this long after the create. */
  ipDelayMs?: number;
  /** Default 0: a deleted instance is gone at once; else `deleting` this long, its name still taken. */
  deleteDelayMs?: number;
  /** Default Infinity. */
  vcpuQuota?: number;
}

export function createState(o: FakeVpcOptions): FakeVpcState {
  const region = o.region ?? DEFAULT_REGION;
  return {
    region,
    zones: [1, 2, 3].map((n) => `${region}-${n}`),
    account: o.account ?? DEFAULT_ACCOUNT,
    apiKeys: [...(o.apiKeys ?? [DEFAULT_API_KEY])],
    trustedProfiles: { ...(o.trustedProfiles ?? { [DEFAULT_TRUSTED_PROFILE_ID]: DEFAULT_CR_TOKEN }) },
    tokenTtlSeconds: o.tokenTtlSeconds ?? 3600,
    requireAuth: o.requireAuth ?? true,
    bootDelayMs: o.bootDelayMs ?? 0,
    ipDelayMs: o.ipDelayMs ?? 0,
    deleteDelayMs: o.deleteDelayMs ?? 0,
    vcpuQuota: o.vcpuQuota ?? Infinity,
    profiles: seededTable(o.profiles ?? DEFAULT_PROFILES, (p) => p.name),
    images: seededTable(o.images ?? DEFAULT_IMAGES, (i) => i.id),
    vpcs: seededTable(o.vpcs ?? DEFAULT_VPCS, (v) => v.id),
    subnets: seededTable(o.subnets ?? DEFAULT_SUBNETS, (s) => s.id),
    securityGroups: seededTable(o.securityGroups ?? DEFAULT_SECURITY_GROUPS, (g) => g.id),
    keys: seededTable(o.keys ?? DEFAULT_KEYS, (k) => k.id),
    resourceGroups: new Set(o.resourceGroups ?? [DEFAULT_RESOURCE_GROUP_ID]),
    dedicatedHosts: seededTable(o.dedicatedHosts ?? DEFAULT_DEDICATED_HOSTS, (h) => h.id),
    instances: new Map(),
    tags: new Map(),
    tokens: new Map(),
  };
}
