/** What the fake stores: the catalogue (from seeds) and what requests create. */
import type { DedicatedHostSeed, ImageSeed, KeySeed, ProfileSeed, SecurityGroupSeed, SubnetSeed, VpcSeed } from './seeds.js';

export interface FakeStatusReason {
  code: string;
  message: string;
}

export interface FakeNic {
  id: string;
  name: string;
  subnetId: string;
  securityGroupIds: string[];
  allowIpSpoofing: boolean;
  address: string;
}

export type FakeInstanceStatus = 'pending' | 'running' | 'failed' | 'deleting';

export interface FakeInstance {
  id: string;
  crn: string;
  name: string;
  status: FakeInstanceStatus;
  statusReasons: FakeStatusReason[];
  createdAt: number;
  profile: string;
  imageId: string;
  zone: string;
  vpcId: string;
  resourceGroupId: string;
  keyIds: string[];
  /** Primary first. */
  nics: FakeNic[];
  /** As sent: plain text. */
  userData: string | undefined;
  metadataService: { enabled: boolean; protocol: string };
  confidentialComputeMode: string | undefined;
  enableSecureBoot: boolean | undefined;
  placementTargetId: string | undefined;
  architecture: string;
  vcpus: number;
  memoryGiB: number;
  /** Decided at creation (start-failure rules); applied when the boot delay has passed. */
  startFailure: FakeStatusReason | undefined;
  deleteRequestedAt: number | undefined;
  /** The request body as received. */
  prototype: Record<string, unknown>;
}

export interface FakeToken {
  token: string;
  /** Seconds since the epoch. */
  exp: number;
  subject: string;
  revoked: boolean;
}

export interface FakeVpcState {
  region: string;
  zones: string[];
  account: string;
  apiKeys: string[];
  /** Trusted profile id → the compute-resource token it accepts. */
  trustedProfiles: Record<string, string>;
  tokenTtlSeconds: number;
  requireAuth: boolean;
  bootDelayMs: number;
  ipDelayMs: number;
  deleteDelayMs: number;
  /** vCPUs of the live instances of the account may not exceed this. */
  vcpuQuota: number;
  profiles: Map<string, ProfileSeed>;
  images: Map<string, ImageSeed>;
  vpcs: Map<string, VpcSeed>;
  subnets: Map<string, SubnetSeed>;
  securityGroups: Map<string, SecurityGroupSeed>;
  keys: Map<string, KeySeed>;
  resourceGroups: Set<string>;
  dedicatedHosts: Map<string, DedicatedHostSeed>;
  instances: Map<string, FakeInstance>;
  /** CRN → user tags (left in place when the resource goes, as IBM does until it reclaims them). */
  tags: Map<string, string[]>;
  tokens: Map<string, FakeToken>;
}
