/** What the fake stores: the catalogue, the knobs, and the resources that requests create. */
import type { ImageSeed, InstanceTypeSeed, KeyPairSeed, LaunchTemplateSeed, SecurityGroupSeed, SubnetSeed } from './seeds.js';

export type Tags = Record<string, string>;

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated';

export const STATE_CODES: Record<InstanceStateName, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 };

export interface CpuOptions {
  coreCount: number;
  threadsPerCore: number;
  amdSevSnp?: 'enabled' | 'disabled';
}

export interface MetadataOptions {
  httpTokens: 'optional' | 'required';
  httpEndpoint: 'enabled' | 'disabled';
  httpPutResponseHopLimit: number;
  instanceMetadataTags: 'enabled' | 'disabled';
}

export interface BlockDeviceMapping {
  deviceName: string;
  volumeId: string;
  volumeSizeGiB: number;
  volumeType: string;
  deleteOnTermination: boolean;
}

export interface FakeVolume {
  volumeId: string;
  sizeGiB: number;
  volumeType: string;
  snapshotId?: string;
  encrypted: boolean;
  availabilityZone: string;
  state: 'in-use' | 'available' | 'deleted';
  attachment?: { instanceId: string; device: string; deleteOnTermination: boolean };
  tags: Tags;
}

export interface PublicIpAssociation {
  publicIp: string;
  /** `amazon` for an auto-assigned address, the account for an Elastic IP. */
  ipOwnerId: string;
  allocationId?: string;
  associationId?: string;
}

export interface FakeNetworkInterface {
  networkInterfaceId: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  privateIpAddress: string;
  macAddress: string;
  securityGroupIds: string[];
  status: 'in-use' | 'available' | 'deleted';
  attachment?: { instanceId: string; attachmentId: string; deviceIndex: number; deleteOnTermination: boolean; attachTime: Date };
  /** Asked for at launch; the address itself arrives when the instance is running. */
  associatePublicIpAddress: boolean;
  association?: PublicIpAssociation;
  tags: Tags;
}

export interface FakeAddress {
  allocationId: string;
  publicIp: string;
  domain: 'vpc';
  associationId?: string;
  instanceId?: string;
  networkInterfaceId?: string;
  privateIpAddress?: string;
  tags: Tags;
}

export interface FakeInstance {
  instanceId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  keyName?: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  securityGroupIds: string[];
  state: InstanceStateName;
  /** The instance's own record of its launch: kept after termination, for assertions. */
  tags: Tags;
  /** UserData as launched, base64-decoded to UTF-8. */
  userData?: string;
  cpuOptions: CpuOptions;
  metadataOptions: MetadataOptions;
  blockDeviceMappings: BlockDeviceMapping[];
  networkInterfaces: FakeNetworkInterface[];
  rootDeviceName: string;
  bootMode: string;
  architecture: string;
  clientToken?: string;
  launchTemplateName?: string;
  launchTime: Date;
  terminateRequestedAt?: number;
  terminatedAt?: number;
}

/** Everything the fake knows; public and mutable so that tests can reseed or tweak it mid-run. */
export interface FakeEc2State {
  region: string;
  /** What DescribeRegions lists. */
  regions: string[];
  /** Access key ids accepted in the SigV4 credential scope. */
  accessKeys: string[];
  ownerId: string;
  /** How long an instance stays `pending` (0: `running` from the next request on). */
  bootDelayMs: number;
  /** How long a terminated instance is `shutting-down` before `terminated`. */
  terminateDelayMs: number;
  /** How long a terminated instance stays visible (Infinity: until `purgeTerminated()`). */
  terminatedVisibleMs: number;
  /** Fault knob: RunInstances replies without any private IP (callers must then poll DescribeInstances). */
  omitPrivateIpInRunResponse: boolean;
  images: Map<string, ImageSeed>;
  instanceTypes: Map<string, InstanceTypeSeed>;
  subnets: Map<string, SubnetSeed>;
  securityGroups: Map<string, SecurityGroupSeed>;
  keyPairs: Map<string, KeyPairSeed>;
  /** By launch template name. */
  launchTemplates: Map<string, LaunchTemplateSeed>;
  instances: Map<string, FakeInstance>;
  volumes: Map<string, FakeVolume>;
  networkInterfaces: Map<string, FakeNetworkInterface>;
  /** By allocation id. */
  addresses: Map<string, FakeAddress>;
}
