/**
 * Stored resources → EC2 reply elements, named as in the EC2 API (the SDK's schema `xmlName`s:
 * `instanceState`, `ipAddress`, `dnsName`, `groupSet`, `imageState`, …).
 */
import { createHash } from 'node:crypto';
import type { XmlNode, XmlValue } from './xml.js';
import { STATE_CODES, type FakeAddress, type FakeEc2State, type FakeInstance, type FakeNetworkInterface, type InstanceStateName, type Tags } from './resources.js';
import type { ImageSeed, InstanceTypeSeed, KeyPairSeed, SecurityGroupSeed, SubnetSeed } from './seeds.js';

/** When the seeded images and key pairs claim to have been created. */
const CATALOGUE_TIMESTAMP = '2024-01-01T00:00:00.000Z';

export function tagSet(tags: Tags): XmlValue[] {
  return Object.entries(tags).map(([key, value]) => ({ key, value }));
}

export function stateNode(name: InstanceStateName): XmlNode {
  return { code: STATE_CODES[name], name };
}

function dashed(ip: string): string {
  return ip.replaceAll('.', '-');
}

export function privateDnsName(region: string, ip: string): string {
  return region === 'us-east-1' ? `ip-${dashed(ip)}.ec2.internal` : `ip-${dashed(ip)}.${region}.compute.internal`;
}

export function publicDnsName(region: string, ip: string): string {
  return region === 'us-east-1' ? `ec2-${dashed(ip)}.compute-1.amazonaws.com` : `ec2-${dashed(ip)}.${region}.compute.amazonaws.com`;
}

function groupSet(state: FakeEc2State, ids: readonly string[]): XmlValue[] {
  return ids.map((groupId) => ({ groupId, groupName: state.securityGroups.get(groupId)?.groupName }));
}

export interface InstanceRenderOptions {
  /** Leave out every private address (the `omitPrivateIpInRunResponse` knob). */
  omitPrivateIp?: boolean;
}

function renderNic(state: FakeEc2State, nic: FakeNetworkInterface, opts: InstanceRenderOptions): XmlNode {
  const association = nic.association && {
    publicIp: nic.association.publicIp,
    publicDnsName: publicDnsName(state.region, nic.association.publicIp),
    ipOwnerId: nic.association.ipOwnerId,
  };
  const privateIp = opts.omitPrivateIp ? undefined : nic.privateIpAddress;
  const privateDns = privateIp && privateDnsName(state.region, privateIp);
  return {
    networkInterfaceId: nic.networkInterfaceId,
    subnetId: nic.subnetId,
    vpcId: nic.vpcId,
    description: '',
    ownerId: state.ownerId,
    status: nic.status,
    macAddress: nic.macAddress,
    privateIpAddress: privateIp,
    privateDnsName: privateDns,
    sourceDestCheck: true,
    groupSet: groupSet(state, nic.securityGroupIds),
    attachment: nic.attachment && {
      attachmentId: nic.attachment.attachmentId,
      deviceIndex: nic.attachment.deviceIndex,
      networkCardIndex: 0,
      status: 'attached',
      attachTime: nic.attachment.attachTime,
      deleteOnTermination: nic.attachment.deleteOnTermination,
    },
    association,
    privateIpAddressesSet: privateIp ? [{ privateIpAddress: privateIp, privateDnsName: privateDns, primary: true, association }] : undefined,
    ipv6AddressesSet: [],
    interfaceType: 'interface',
  };
}

export function renderInstance(state: FakeEc2State, inst: FakeInstance, opts: InstanceRenderOptions = {}): XmlNode {
  const gone = inst.state === 'terminated';
  const primary = gone ? undefined : inst.networkInterfaces.find((n) => n.attachment?.deviceIndex === 0);
  const privateIp = opts.omitPrivateIp ? undefined : primary?.privateIpAddress;
  const publicIp = primary?.association?.publicIp;
  return {
    instanceId: inst.instanceId,
    imageId: inst.imageId,
    instanceState: stateNode(inst.state),
    privateDnsName: privateIp ? privateDnsName(state.region, privateIp) : '',
    dnsName: publicIp ? publicDnsName(state.region, publicIp) : '',
    reason: gone ? `User initiated (${new Date(inst.terminateRequestedAt ?? 0).toUTCString()})` : '',
    keyName: inst.keyName,
    amiLaunchIndex: 0,
    productCodes: [],
    instanceType: inst.instanceType,
    launchTime: inst.launchTime,
    placement: { availabilityZone: inst.availabilityZone, groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    subnetId: gone ? undefined : inst.subnetId,
    vpcId: gone ? undefined : inst.vpcId,
    privateIpAddress: privateIp,
    ipAddress: publicIp,
    sourceDestCheck: gone ? undefined : true,
    groupSet: gone ? [] : groupSet(state, inst.securityGroupIds),
    stateReason:
      inst.state === 'pending'
        ? { code: 'pending', message: 'pending' }
        : gone
          ? { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' }
          : undefined,
    architecture: inst.architecture,
    rootDeviceType: 'ebs',
    rootDeviceName: inst.rootDeviceName,
    blockDeviceMapping: gone
      ? []
      : inst.blockDeviceMappings.map((b) => ({
          deviceName: b.deviceName,
          ebs: { volumeId: b.volumeId, status: 'attached', attachTime: inst.launchTime, deleteOnTermination: b.deleteOnTermination },
        })),
    virtualizationType: 'hvm',
    clientToken: inst.clientToken,
    tagSet: tagSet(inst.tags),
    hypervisor: 'xen',
    networkInterfaceSet: gone ? [] : inst.networkInterfaces.map((n) => renderNic(state, n, opts)),
    ebsOptimized: false,
    enaSupport: true,
    cpuOptions: { coreCount: inst.cpuOptions.coreCount, threadsPerCore: inst.cpuOptions.threadsPerCore, amdSevSnp: inst.cpuOptions.amdSevSnp },
    hibernationOptions: { configured: false },
    metadataOptions: { state: inst.state === 'pending' ? 'pending' : 'applied', ...inst.metadataOptions, httpProtocolIpv6: 'disabled' },
    enclaveOptions: { enabled: false },
    bootMode: inst.bootMode,
    currentInstanceBootMode: inst.bootMode === 'legacy-bios' ? 'legacy-bios' : 'uefi',
    platformDetails: 'Linux/UNIX',
    usageOperation: 'RunInstances',
  };
}

export function imageSnapshotId(img: ImageSeed): string {
  return img.snapshotId ?? `snap-${img.imageId.slice(4)}`;
}

export function renderImage(state: FakeEc2State, img: ImageSeed): XmlNode {
  return {
    imageId: img.imageId,
    imageLocation: `${state.ownerId}/${img.name}`,
    imageState: 'available',
    imageOwnerId: state.ownerId,
    creationDate: CATALOGUE_TIMESTAMP,
    isPublic: false,
    architecture: img.architecture ?? 'x86_64',
    imageType: 'machine',
    name: img.name,
    rootDeviceType: 'ebs',
    rootDeviceName: img.rootDeviceName ?? '/dev/xvda',
    blockDeviceMapping: [
      {
        deviceName: img.rootDeviceName ?? '/dev/xvda',
        ebs: { snapshotId: imageSnapshotId(img), volumeSize: img.rootVolumeSizeGiB, deleteOnTermination: true, volumeType: 'gp3', encrypted: false },
      },
    ],
    virtualizationType: 'hvm',
    hypervisor: 'xen',
    enaSupport: true,
    bootMode: img.bootMode ?? 'uefi',
    platformDetails: 'Linux/UNIX',
    usageOperation: 'RunInstances',
    tagSet: [],
  };
}

export function renderInstanceType(t: InstanceTypeSeed): XmlNode {
  const threads = t.threadsPerCore ?? 2;
  const cores = Math.max(1, Math.floor(t.vCpus / threads));
  const features = t.supportedFeatures ?? [];
  const gpus = t.gpus ?? [];
  return {
    instanceType: t.instanceType,
    currentGeneration: true,
    freeTierEligible: false,
    supportedUsageClasses: ['on-demand', 'spot'],
    supportedRootDeviceTypes: ['ebs'],
    supportedVirtualizationTypes: ['hvm'],
    bareMetal: false,
    hypervisor: 'nitro',
    processorInfo: {
      supportedArchitectures: t.architectures ?? ['x86_64'],
      sustainedClockSpeedInGhz: t.clockGhz,
      // EC2 leaves the list out rather than sending it empty.
      supportedFeatures: features.length > 0 ? features : undefined,
      manufacturer: t.manufacturer,
    },
    vCpuInfo: {
      defaultVCpus: t.vCpus,
      defaultCores: cores,
      defaultThreadsPerCore: threads,
      validCores: Array.from({ length: cores }, (_, i) => i + 1),
      validThreadsPerCore: threads > 1 ? [1, threads] : [1],
    },
    memoryInfo: { sizeInMiB: t.memoryMiB },
    instanceStorageSupported: false,
    gpuInfo:
      gpus.length > 0
        ? {
            gpus: gpus.map((g) => ({ name: g.name, manufacturer: g.manufacturer, count: g.count, memoryInfo: { sizeInMiB: g.memoryMiB } })),
            totalGpuMemoryInMiB: gpus.reduce((sum, g) => sum + g.count * g.memoryMiB, 0),
          }
        : undefined,
    hibernationSupported: false,
    burstablePerformanceSupported: t.instanceType.startsWith('t'),
    dedicatedHostsSupported: true,
    autoRecoverySupported: true,
    supportedBootModes: ['legacy-bios', 'uefi'],
    nitroEnclavesSupport: 'unsupported',
    nitroTpmSupport: 'supported',
  };
}

export function renderSubnet(state: FakeEc2State, s: SubnetSeed, availableIpAddressCount: number): XmlNode {
  return {
    subnetId: s.subnetId,
    subnetArn: `arn:aws:ec2:${state.region}:${state.ownerId}:subnet/${s.subnetId}`,
    state: 'available',
    vpcId: s.vpcId,
    ownerId: state.ownerId,
    cidrBlock: s.cidrBlock,
    availableIpAddressCount,
    availabilityZone: s.availabilityZone,
    defaultForAz: s.defaultForAz ?? false,
    mapPublicIpOnLaunch: false,
    assignIpv6AddressOnCreation: false,
    ipv6CidrBlockAssociationSet: [],
    tagSet: [],
  };
}

export function renderSecurityGroup(state: FakeEc2State, g: SecurityGroupSeed): XmlNode {
  return {
    ownerId: state.ownerId,
    groupId: g.groupId,
    groupName: g.groupName,
    groupDescription: g.description ?? g.groupName,
    vpcId: g.vpcId,
    securityGroupArn: `arn:aws:ec2:${state.region}:${state.ownerId}:security-group/${g.groupId}`,
    ipPermissions: [],
    ipPermissionsEgress: [],
    tagSet: [],
  };
}

export function renderKeyPair(k: KeyPairSeed): XmlNode {
  const fingerprint = createHash('sha256').update(k.keyName).digest('base64').replace(/=+$/, '');
  return { keyPairId: k.keyPairId, keyName: k.keyName, keyFingerprint: fingerprint, keyType: 'ed25519', tagSet: [], createTime: new Date(CATALOGUE_TIMESTAMP) };
}

export function renderAddress(state: FakeEc2State, a: FakeAddress): XmlNode {
  return {
    publicIp: a.publicIp,
    allocationId: a.allocationId,
    domain: a.domain,
    associationId: a.associationId,
    instanceId: a.instanceId,
    networkInterfaceId: a.networkInterfaceId,
    networkInterfaceOwnerId: a.networkInterfaceId ? state.ownerId : undefined,
    privateIpAddress: a.privateIpAddress,
    publicIpv4Pool: 'amazon',
    networkBorderGroup: state.region,
    tagSet: tagSet(a.tags),
  };
}
