/** ARM JSON for what the fake stores: the shapes the SDKs deserialize. */
import type { FakeArmState, FakeNic, FakeOperation, FakePublicIp, FakeVm, Json } from './resources.js';
import type { ImageSeed, SizeSeed, SubnetSeed } from './seeds.js';

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});

/** A VM as GET returns it: userData only with `$expand=userData`, the NIC references Azure made. */
export function renderVm(vm: FakeVm, state: FakeArmState, withUserData = false): Json {
  const { userData: _userData, ...props } = vm.properties;
  const network = obj(props.networkProfile);
  const storage = obj(props.storageProfile);
  const osDisk = obj(storage.osDisk);
  return {
    id: vm.id,
    name: vm.name,
    type: 'Microsoft.Compute/virtualMachines',
    location: vm.location,
    tags: vm.tags,
    ...(vm.zones ? { zones: vm.zones } : {}),
    properties: {
      ...props,
      ...(withUserData ? { userData: vm.properties.userData } : {}),
      vmId: vm.vmId,
      timeCreated: vm.timeCreated,
      provisioningState: vm.provisioningState,
      hardwareProfile: { ...obj(props.hardwareProfile), vmSize: vm.vmSize },
      storageProfile: {
        ...storage,
        osDisk: { ...osDisk, managedDisk: { ...obj(osDisk.managedDisk), id: vm.osDiskId } },
      },
      networkProfile: {
        ...network,
        networkInterfaces: vm.nicIds.map((id, i) => {
          const nic = state.nics.get(id.toLowerCase());
          return { id, properties: { primary: i === 0, deleteOption: nic?.deleteOption ?? 'Detach' } };
        }),
      },
    },
  };
}

export function renderNic(nic: FakeNic): Json {
  return {
    id: nic.id,
    name: nic.name,
    type: 'Microsoft.Network/networkInterfaces',
    location: nic.location,
    tags: nic.tags,
    properties: {
      provisioningState: 'Succeeded',
      primary: true,
      ipConfigurations: [
        {
          id: `${nic.id}/ipConfigurations/${nic.ipConfigName}`,
          name: nic.ipConfigName,
          properties: {
            primary: true,
            privateIPAddress: nic.privateIp,
            privateIPAllocationMethod: 'Dynamic',
            privateIPAddressVersion: 'IPv4',
            subnet: { id: nic.subnetId },
            ...(nic.publicIpId ? { publicIPAddress: { id: nic.publicIpId } } : {}),
          },
        },
      ],
      ...(nic.nsgId ? { networkSecurityGroup: { id: nic.nsgId } } : {}),
      ...(nic.vmId ? { virtualMachine: { id: nic.vmId } } : {}),
    },
  };
}

export function renderPublicIp(pip: FakePublicIp): Json {
  return {
    id: pip.id,
    name: pip.name,
    type: 'Microsoft.Network/publicIPAddresses',
    location: pip.location,
    tags: pip.tags,
    sku: { name: pip.sku, tier: 'Regional' },
    properties: {
      provisioningState: 'Succeeded',
      ipAddress: pip.ipAddress,
      publicIPAllocationMethod: pip.allocationMethod,
      publicIPAddressVersion: 'IPv4',
      ...(pip.nicId ? { ipConfiguration: { id: `${pip.nicId}/ipConfigurations/ip-config` } } : {}),
    },
  };
}

export function renderSubnet(subnet: SubnetSeed): Json {
  const name = subnet.id.split('/').pop();
  return { id: subnet.id, name, type: 'Microsoft.Network/virtualNetworks/subnets', properties: { addressPrefix: subnet.addressPrefix, provisioningState: 'Succeeded' } };
}

export function renderNsg(id: string, location: string): Json {
  return { id, name: id.split('/').pop(), type: 'Microsoft.Network/networkSecurityGroups', location, properties: { provisioningState: 'Succeeded', securityRules: [] } };
}

export function renderSize(s: SizeSeed): Json {
  return { name: s.name, numberOfCores: s.cores, memoryInMB: s.memoryMiB, maxDataDiskCount: 4 * s.cores, osDiskSizeInMB: 1_047_552, resourceDiskSizeInMB: 0 };
}

/** Managed image, gallery image (definition or version) or community gallery image (version), by the id asked for. */
export function renderImage(askedId: string, seed: ImageSeed, location: string): Json {
  const name = askedId.split('/').pop();
  const security = seed.securityType ? [{ name: 'SecurityType', value: seed.securityType }] : [];
  if (/\/versions\/[^/]+$/i.test(askedId)) {
    return { id: askedId, name, location, properties: { provisioningState: 'Succeeded', publishingProfile: { publishedDate: '2025-10-01T00:00:00Z' } } };
  }
  if (/\/galleries\/|^\/communitygalleries\//i.test(askedId)) {
    return { id: askedId, name, location, properties: { osType: 'Linux', osState: 'Generalized', hyperVGeneration: 'V2', features: security, identifier: { publisher: 'peerpods', offer: 'podvm', sku: name } } };
  }
  return { id: askedId, name, location, properties: { provisioningState: 'Succeeded', hyperVGeneration: 'V2', storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized' } } } };
}

/** The body of an Azure-AsyncOperation poll. */
export function renderOperation(op: FakeOperation): Json {
  return {
    name: op.id,
    status: op.status,
    startTime: new Date(op.startedAt).toISOString(),
    ...(op.status !== 'InProgress' ? { endTime: new Date(op.doneAt).toISOString() } : {}),
    ...(op.status === 'Failed' && op.error ? { error: op.error } : {}),
  };
}
