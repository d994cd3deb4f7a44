/** What the fake ARM stores: the catalogue, the knobs, and the resources that requests create. */
import type { ImageSeed, PrincipalSeed, SizeSeed, SubnetSeed } from './seeds.js';

export type Json = Record<string, unknown>;

export type ProvisioningState = 'Creating' | 'Updating' | 'Succeeded' | 'Failed' | 'Deleting';

export interface FakeVm {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  zones?: string[];
  vmSize: string;
  provisioningState: ProvisioningState;
  /** `properties` of the last accepted PUT, as sent (userData included), for assertions. */
  properties: Json;
  /** userData base64-decoded to UTF-8. */
  userData: string;
  nicIds: string[];
  osDiskId: string;
  vmId: string;
  timeCreated: string;
  /** The create/update/delete in progress or last finished. */
  operationId?: string;
}

export interface FakeNic {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  subnetId: string;
  privateIp: string;
  ipConfigName: string;
  publicIpId?: string;
  nsgId?: string;
  /** The VM it is attached to; undefined once detached. */
  vmId?: string;
  deleteOption: 'Delete' | 'Detach';
}

export interface FakePublicIp {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  ipAddress: string;
  sku: string;
  allocationMethod: string;
  nicId?: string;
  deleteOption: 'Delete' | 'Detach';
}

export interface FakeDisk {
  id: string;
  name: string;
  resourceGroup: string;
  sizeGb: number;
  storageAccountType: string;
  securityEncryptionType?: string;
  vmId?: string;
  deleteOption: 'Delete' | 'Detach';
}

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed';

export interface FakeOperation {
  id: string;
  kind: 'create' | 'update' | 'delete';
  /** Key of the VM (`<group>/<name>` lower-case). */
  vmKey: string;
  status: OperationStatus;
  startedAt: number;
  doneAt: number;
  /** Set when the operation is to end (or ended) Failed. */
  error?: { code: string; message: string };
}

/** Everything the fake knows; public and mutable so that tests can tweak it mid-run. */
export interface FakeArmState {
  tenantId: string;
  subscriptionId: string;
  region: string;
  resourceGroups: Set<string>;
  principals: PrincipalSeed[];
  sizes: Map<string, SizeSeed>;
  subnets: Map<string, SubnetSeed>;
  nsgs: Set<string>;
  images: Map<string, ImageSeed>;
  /** Cores quota per family (as in `SizeSeed.family`); a family not listed is unlimited. */
  familyCoresQuota: Record<string, number>;
  /** By lower-case `<group>/<name>`. */
  vms: Map<string, FakeVm>;
  /** By lower-case id. */
  nics: Map<string, FakeNic>;
  publicIps: Map<string, FakePublicIp>;
  disks: Map<string, FakeDisk>;
  operations: Map<string, FakeOperation>;
}
