/** Building the fake's state from its options: seeds replace the defaults wholesale when given. */
import type { FakeEc2State } from './resources.js';
import {
  DEFAULT_ACCESS_KEY,
  DEFAULT_IMAGES,
  DEFAULT_INSTANCE_TYPES,
  DEFAULT_KEY_PAIRS,
  DEFAULT_LAUNCH_TEMPLATES,
  DEFAULT_REGION,
  DEFAULT_SECURITY_GROUPS,
  DEFAULT_SUBNETS,
  type ImageSeed,
  type InstanceTypeSeed,
  type KeyPairSeed,
  type LaunchTemplateSeed,
  type SecurityGroupSeed,
  type SubnetSeed,
} from './seeds.js';
import type { LatencySetting } from '../http-fake-server.js';
import { seededTable, type CloudFakeOptions } from '../cloud-fake-kit.js';

export type { LatencySetting };

export interface FakeEc2Options extends CloudFakeOptions {
  /** Default `us-east-1`. */
  region?: string;
  /** What DescribeRegions lists; default `[region]`. */
  regions?: string[];
  /** Accepted access key ids; default `['AKIDFAKEEC2']`. */
  accessKeys?: string[];
  /** Default `123456789012`. */
  ownerId?: string;
  /** Each list replaces the matching default list (spread `DEFAULT_*` from seeds.ts to extend one). */
  images?: readonly ImageSeed[];
  instanceTypes?: readonly InstanceTypeSeed[];
  subnets?: readonly SubnetSeed[];
  securityGroups?: readonly SecurityGroupSeed[];
  keyPairs?: readonly KeyPairSeed[];
  launchTemplates?: readonly LaunchTemplateSeed[];
  /** Default 0: an instance is `running` from the request after RunInstances on. */
  bootDelayMs?: number;
  /** Default 0: terminated at once, no `shutting-down` phase. */
  terminateDelayMs?: number;
  /** Default Infinity: terminated instances stay visible until `purgeTerminated()`. */
  terminatedVisibleMs?: number;
  omitPrivateIpInRunResponse?: boolean;
}

export function createState(o: FakeEc2Options): FakeEc2State {
  const region = o.region ?? DEFAULT_REGION;
  return {
    region,
    regions: [...(o.regions ?? [region])],
    accessKeys: [...(o.accessKeys ?? [DEFAULT_ACCESS_KEY])],
    ownerId: o.ownerId ?? '123456789012',
    bootDelayMs: o.bootDelayMs ?? 0,
    terminateDelayMs: o.terminateDelayMs ?? 0,
    terminatedVisibleMs: o.terminatedVisibleMs ?? Infinity,
    omitPrivateIpInRunResponse: o.omitPrivateIpInRunResponse ?? false,
    images: seededTable(o.images ?? DEFAULT_IMAGES, (i) => i.imageId),
    instanceTypes: seededTable(o.instanceTypes ?? DEFAULT_INSTANCE_TYPES, (t) => t.instanceType),
    subnets: seededTable(o.subnets ?? DEFAULT_SUBNETS, (s) => s.subnetId),
    securityGroups: seededTable(o.securityGroups ?? DEFAULT_SECURITY_GROUPS, (g) => g.groupId),
    keyPairs: seededTable(o.keyPairs ?? DEFAULT_KEY_PAIRS, (k) => k.keyName),
    launchTemplates: seededTable(o.launchTemplates ?? DEFAULT_LAUNCH_TEMPLATES, (t) => t.launchTemplateName),
    instances: new Map(),
    volumes: new Map(),
    networkInterfaces: new Map(),
    addresses: new Map(),
  };
}
