/** The catalogue the fake VPC starts with: profiles, images, networks, keys, dedicated hosts, credentials. */

export interface ProfileSeed {
  name: string;
  vcpus: number;
  memoryGiB: number;
  /** Default `amd64`. */
  architecture?: 'amd64' | 's390x';
  gpus?: number;
  /** `confidential_compute_modes` values; left out for profiles that take no compute mode (s390x). */
  confidentialModes?: string[];
  /** `secure_boot_modes` values; left out for profiles that take no secure-boot setting. */
  secureBootModes?: boolean[];
}

export interface ImageSeed {
  id: string;
  name: string;
  /** Default `available`. */
  status?: string;
  architecture: 'amd64' | 's390x';
  osName: string;
  osFamily?: string;
}

export interface VpcSeed {
  id: string;
  name: string;
}

export interface SubnetSeed {
  id: string;
  name: string;
  vpcId: string;
  zone: string;
  cidr: string;
  resourceGroupId: string;
}

export interface SecurityGroupSeed {
  id: string;
  name: string;
  vpcId: string;
}

export interface KeySeed {
  id: string;
  name: string;
}

export interface DedicatedHostSeed {
  id: string;
  name: string;
  zone: string;
  /** A group (`true`) or a host. */
  group?: boolean;
}

export const DEFAULT_REGION = 'us-south';
export const DEFAULT_ZONE = 'us-south-1';
export const DEFAULT_ACCOUNT = '7e3c1d5a9b2f4e6c8a0b1c2d3e4f5a6b';
export const DEFAULT_API_KEY = 'fake-ibmcloud-api-key-0001';
export const DEFAULT_TRUSTED_PROFILE_ID = 'Profile-4d2a8f3e-0c1b-4a5d-9e6f-7a8b9c0d1e2f';
/** The projected service-account token the fake IAM accepts for the default trusted profile. */
export const DEFAULT_CR_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.fake-projected-service-account-token.c2ln';
export const DEFAULT_RESOURCE_GROUP_ID = '5c9d1e7f3a2b4c6d8e0f1a2b3c4d5e6f';
export const DEFAULT_VPC_ID = 'r006-4c1d8e2a-7f3b-4a5c-9d6e-0f1a2b3c4d5e';
export const OTHER_VPC_ID = 'r006-8a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d';
export const DEFAULT_SUBNET_ID = '0717-7b6c5d4e-3f2a-4b1c-8d9e-0a1b2c3d4e5f';
export const ZONE2_SUBNET_ID = '0727-1f2e3d4c-5b6a-4978-8a6b-5c4d3e2f1a0b';
export const TUNNEL_SUBNET_ID = '0717-2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d';
export const DEFAULT_SECURITY_GROUP_ID = 'r006-9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';
export const OTHER_VPC_SECURITY_GROUP_ID = 'r006-6b5a4f3e-2d1c-4b0a-9f8e-7d6c5b4a3f2e';
export const CLUSTER_ID = 'cq4v1b2d0fake7sn3e9g';
export const CLUSTER_SECURITY_GROUP_ID = 'r006-3c2b1a0f-9e8d-4c7b-8a6f-5e4d3c2b1a0f';
export const DEFAULT_KEY_ID = 'r006-5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b';
/** amd64 pod VM image. */
export const DEFAULT_IMAGE_ID = 'r006-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
export const ALT_IMAGE_ID = 'r006-1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e';
/** s390x, ordinary (for bz2-* profiles). */
export const S390X_IMAGE_ID = 'r006-2c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f';
/** s390x Secure Execution (Hyper Protect), for bz2e-* profiles. */
export const SE_IMAGE_ID = 'r006-3d4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f7a';
export const OBSOLETE_IMAGE_ID = 'r006-4e5f6a7b-8c9d-4e0f-8a1b-3c4d5e6f7a8b';
export const DEDICATED_HOST_ID = '0717-d3d1c2b3-a4f5-4e6d-8c7b-9a0f1e2d3c4b';
export const DEDICATED_HOST_ZONE2_ID = '0727-d3d2c2b3-a4f5-4e6d-8c7b-9a0f1e2d3c4b';
export const DEDICATED_HOST_GROUP_ID = '0717-9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

const TDX = { confidentialModes: ['disabled', 'tdx'], secureBootModes: [false, true] };
const PLAIN = { confidentialModes: ['disabled'], secureBootModes: [false, true] };

export const DEFAULT_PROFILES: readonly ProfileSeed[] = [
  { name: 'bx2-2x8', vcpus: 2, memoryGiB: 8, ...PLAIN },
  { name: 'bx2-4x16', vcpus: 4, memoryGiB: 16, ...PLAIN },
  { name: 'cx2-2x4', vcpus: 2, memoryGiB: 4, ...PLAIN },
  { name: 'bx3dc-2x10', vcpus: 2, memoryGiB: 10, ...TDX },
  { name: 'bx3dc-4x20', vcpus: 4, memoryGiB: 20, ...TDX },
  { name: 'cx3dc-2x5', vcpus: 2, memoryGiB: 5, ...TDX },
  { name: 'mx3dc-2x20', vcpus: 2, memoryGiB: 20, ...TDX },
  { name: 'gx3-16x80x1l4', vcpus: 16, memoryGiB: 80, gpus: 1, ...PLAIN },
  { name: 'bz2-2x8', vcpus: 2, memoryGiB: 8, architecture: 's390x' },
  { name: 'bz2e-2x8', vcpus: 2, memoryGiB: 8, architecture: 's390x' },
  { name: 'bz2e-4x16', vcpus: 4, memoryGiB: 16, architecture: 's390x' },
  { name: 'cz2e-2x4', vcpus: 2, memoryGiB: 4, architecture: 's390x' },
];

export const DEFAULT_IMAGES: readonly ImageSeed[] = [
  { id: DEFAULT_IMAGE_ID, name: 'podvm-ubuntu-24-04-amd64', architecture: 'amd64', osName: 'ubuntu-24-04-amd64', osFamily: 'Ubuntu Linux' },
  { id: ALT_IMAGE_ID, name: 'podvm-fedora-amd64', architecture: 'amd64', osName: 'fedora-41-amd64', osFamily: 'Fedora' },
  { id: S390X_IMAGE_ID, name: 'podvm-ubuntu-s390x', architecture: 's390x', osName: 'ubuntu-22-04-s390x', osFamily: 'Ubuntu Linux' },
  { id: SE_IMAGE_ID, name: 'podvm-se-s390x', architecture: 's390x', osName: 'hyper-protect-1-0-s390x', osFamily: 'Hyper Protect' },
  { id: OBSOLETE_IMAGE_ID, name: 'podvm-old-amd64', status: 'obsolete', architecture: 'amd64', osName: 'ubuntu-20-04-amd64' },
];

export const DEFAULT_VPCS: readonly VpcSeed[] = [
  { id: DEFAULT_VPC_ID, name: 'peer-pods-vpc' },
  { id: OTHER_VPC_ID, name: 'another-vpc' },
];

// 10.243.x: never 192.0.2.0/24 (the test machines' own network).
export const DEFAULT_SUBNETS: readonly SubnetSeed[] = [
  { id: DEFAULT_SUBNET_ID, name: 'peer-pods-us-south-1', vpcId: DEFAULT_VPC_ID, zone: DEFAULT_ZONE, cidr: '10.243.0.0/18', resourceGroupId: DEFAULT_RESOURCE_GROUP_ID },
  { id: ZONE2_SUBNET_ID, name: 'peer-pods-us-south-2', vpcId: DEFAULT_VPC_ID, zone: 'us-south-2', cidr: '10.243.64.0/18', resourceGroupId: DEFAULT_RESOURCE_GROUP_ID },
  { id: TUNNEL_SUBNET_ID, name: 'peer-pods-tunnel-us-south-1', vpcId: DEFAULT_VPC_ID, zone: DEFAULT_ZONE, cidr: '10.243.128.0/24', resourceGroupId: DEFAULT_RESOURCE_GROUP_ID },
];

export const DEFAULT_SECURITY_GROUPS: readonly SecurityGroupSeed[] = [
  { id: DEFAULT_SECURITY_GROUP_ID, name: 'peer-pods', vpcId: DEFAULT_VPC_ID },
  { id: CLUSTER_SECURITY_GROUP_ID, name: `kube-${CLUSTER_ID}`, vpcId: DEFAULT_VPC_ID },
  { id: OTHER_VPC_SECURITY_GROUP_ID, name: 'elsewhere', vpcId: OTHER_VPC_ID },
];

export const DEFAULT_KEYS: readonly KeySeed[] = [{ id: DEFAULT_KEY_ID, name: 'peer-pods-key' }];

export const DEFAULT_DEDICATED_HOSTS: readonly DedicatedHostSeed[] = [
  { id: DEDICATED_HOST_ID, name: 'peer-pods-host-1', zone: DEFAULT_ZONE },
  { id: DEDICATED_HOST_ZONE2_ID, name: 'peer-pods-host-2', zone: 'us-south-2' },
  { id: DEDICATED_HOST_GROUP_ID, name: 'peer-pods-group-1', zone: DEFAULT_ZONE, group: true },
];
