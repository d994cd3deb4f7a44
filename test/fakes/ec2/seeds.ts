/** The catalogue the fake starts with: images, instance types, networks, key pairs, launch templates. */

export interface ImageSeed {
  imageId: string;
  name: string;
  /** Size of the root snapshot; a root volume smaller than this is refused. */
  rootVolumeSizeGiB: number;
  /** Default `/dev/xvda`. */
  rootDeviceName?: string;
  /** Default `snap-` + the image id's hex part. */
  snapshotId?: string;
  /** Default `uefi`. SEV-SNP launches are refused for `legacy-bios` images. */
  bootMode?: 'uefi' | 'uefi-preferred' | 'legacy-bios';
  /** Default `x86_64`. */
  architecture?: string;
}

export interface GpuSeed {
  name: string;
  manufacturer: string;
  count: number;
  memoryMiB: number;
}

export interface InstanceTypeSeed {
  instanceType: string;
  vCpus: number;
  memoryMiB: number;
  /** Default 2 (SMT on, as on the AMD and Intel families seeded here). */
  threadsPerCore?: number;
  /** `processorInfo.supportedFeatures`, e.g. `['amd-sev-snp']`. */
  supportedFeatures?: string[];
  /** Default `['x86_64']`. */
  architectures?: string[];
  manufacturer?: string;
  clockGhz?: number;
  gpus?: GpuSeed[];
}

export interface SubnetSeed {
  subnetId: string;
  vpcId: string;
  cidrBlock: string;
  availabilityZone: string;
  /** A default-VPC subnet: RunInstances without any subnet lands in the first such one. Default false. */
  defaultForAz?: boolean;
}

export interface SecurityGroupSeed {
  groupId: string;
  groupName: string;
  vpcId: string;
  description?: string;
}

export interface KeyPairSeed {
  keyName: string;
  keyPairId: string;
}

/** A launch template; its fields are defaults that the RunInstances request may override, as in EC2. */
export interface LaunchTemplateSeed {
  launchTemplateName: string;
  launchTemplateId: string;
  imageId?: string;
  instanceType?: string;
  subnetId?: string;
  securityGroupIds?: string[];
  keyName?: string;
}

export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_ACCESS_KEY = 'AKIDFAKEEC2';
export const DEFAULT_VPC_ID = 'vpc-0fake000000000001';
export const DEFAULT_IMAGE_ID = 'ami-0fake0000000000001';
export const DEFAULT_SUBNET_ID = 'subnet-0fake000000000001';
export const DEFAULT_SECURITY_GROUP_ID = 'sg-0fake000000000001';
export const DEFAULT_KEY_NAME = 'caa-key';
export const DEFAULT_LAUNCH_TEMPLATE = 'kata';

export const DEFAULT_IMAGES: readonly ImageSeed[] = [
  { imageId: DEFAULT_IMAGE_ID, name: 'podvm-fedora-uefi', rootVolumeSizeGiB: 8, rootDeviceName: '/dev/xvda', bootMode: 'uefi' },
  { imageId: 'ami-0fake0000000000002', name: 'podvm-ubuntu-large', rootVolumeSizeGiB: 20, rootDeviceName: '/dev/xvda', bootMode: 'uefi-preferred' },
];

const SEV_SNP = ['amd-sev-snp'];

export const DEFAULT_INSTANCE_TYPES: readonly InstanceTypeSeed[] = [
  { instanceType: 'm6a.large', vCpus: 2, memoryMiB: 8192, supportedFeatures: SEV_SNP, manufacturer: 'AMD', clockGhz: 3.6 },
  { instanceType: 'm6a.xlarge', vCpus: 4, memoryMiB: 16384, supportedFeatures: SEV_SNP, manufacturer: 'AMD', clockGhz: 3.6 },
  { instanceType: 'c6a.large', vCpus: 2, memoryMiB: 4096, supportedFeatures: SEV_SNP, manufacturer: 'AMD', clockGhz: 3.6 },
  { instanceType: 'r6a.large', vCpus: 2, memoryMiB: 16384, supportedFeatures: SEV_SNP, manufacturer: 'AMD', clockGhz: 3.6 },
  { instanceType: 't3.small', vCpus: 2, memoryMiB: 2048, manufacturer: 'Intel', clockGhz: 2.5 },
  {
    instanceType: 'g5.xlarge',
    vCpus: 4,
    memoryMiB: 16384,
    manufacturer: 'AMD',
    clockGhz: 3.3,
    gpus: [{ name: 'A10G', manufacturer: 'NVIDIA', count: 1, memoryMiB: 24576 }],
  },
];

export const DEFAULT_SUBNETS: readonly SubnetSeed[] = [
  { subnetId: DEFAULT_SUBNET_ID, vpcId: DEFAULT_VPC_ID, cidrBlock: '10.96.0.0/16', availabilityZone: 'us-east-1a' },
];

export const DEFAULT_SECURITY_GROUPS: readonly SecurityGroupSeed[] = [
  { groupId: DEFAULT_SECURITY_GROUP_ID, groupName: 'caa-peer-pods', vpcId: DEFAULT_VPC_ID, description: 'peer pod VMs' },
];

export const DEFAULT_KEY_PAIRS: readonly KeyPairSeed[] = [{ keyName: DEFAULT_KEY_NAME, keyPairId: 'key-0fake000000000001' }];

export const DEFAULT_LAUNCH_TEMPLATES: readonly LaunchTemplateSeed[] = [
  {
    launchTemplateName: DEFAULT_LAUNCH_TEMPLATE,
    launchTemplateId: 'lt-0fake000000000001',
    imageId: DEFAULT_IMAGE_ID,
    instanceType: 'm6a.large',
    subnetId: DEFAULT_SUBNET_ID,
    securityGroupIds: [DEFAULT_SECURITY_GROUP_ID],
  },
];

/** The public range addresses are handed out from: TEST-NET-3 (RFC 5737), never routed. */
export const PUBLIC_IP_CIDR = '203.0.113.0/24';
