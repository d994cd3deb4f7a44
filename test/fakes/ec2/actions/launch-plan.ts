/**
 * RunInstances' parameters, validated against the catalogue into a launch plan, in the order EC2
 * reports problems. Nothing here changes state.
 */
import { Ec2Error, invalidValue, missingParameter, notFound } from '../errors.js';
import type { QueryParams } from '../query.js';
import { imageSnapshotId } from '../render.js';
import type { CpuOptions, FakeEc2State, MetadataOptions, Tags } from '../resources.js';
import type { ImageSeed, InstanceTypeSeed, LaunchTemplateSeed, SubnetSeed } from '../seeds.js';
import { checkIdShape } from './context.js';
import { readTagSpecifications } from './tags.js';

export const USER_DATA_LIMIT = 16384;
const TAGGABLE = ['instance', 'volume', 'network-interface'] as const;
type TaggableType = (typeof TAGGABLE)[number];
const VOLUME_TYPES = ['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard'] as const;

export interface PlannedVolume {
  deviceName: string;
  sizeGiB: number;
  volumeType: string;
  deleteOnTermination: boolean;
  encrypted: boolean;
  snapshotId?: string;
}

export interface LaunchPlan {
  image: ImageSeed;
  type: InstanceTypeSeed;
  subnet: SubnetSeed;
  securityGroupIds: string[];
  keyName?: string;
  userData?: string;
  tags: Record<TaggableType, Tags>;
  cpuOptions: CpuOptions;
  metadataOptions: MetadataOptions;
  volumes: PlannedVolume[];
  associatePublicIp: boolean;
  nicDeleteOnTermination: boolean;
  launchTemplateName?: string;
}

function launchTemplate(state: FakeEc2State, p: QueryParams): LaunchTemplateSeed | undefined {
  const lt = p.struct('LaunchTemplate');
  if (!lt) return undefined;
  const name = lt.str('LaunchTemplateName');
  const id = lt.str('LaunchTemplateId');
  if (name !== undefined) {
    const t = state.launchTemplates.get(name);
    if (!t) throw new Ec2Error('InvalidLaunchTemplateName.NotFoundException', `The specified launch template, with template name ${name}, does not exist.`);
    return t;
  }
  if (id !== undefined) {
    const t = [...state.launchTemplates.values()].find((x) => x.launchTemplateId === id);
    if (!t) throw new Ec2Error('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${id}, does not exist.`);
    return t;
  }
  throw missingParameter('LaunchTemplate.LaunchTemplateName');
}

function image(state: FakeEc2State, id: string | undefined): ImageSeed {
  if (id === undefined || id === '') throw missingParameter('ImageId');
  checkIdShape([id], 'ami', 'InvalidAMIID.Malformed');
  const img = state.images.get(id);
  if (!img) throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
  return img;
}

function instanceType(state: FakeEc2State, name: string | undefined): InstanceTypeSeed {
  if (name === undefined || name === '') throw missingParameter('InstanceType');
  const t = state.instanceTypes.get(name);
  if (!t) throw invalidValue('InstanceType', name, `Invalid value '${name}' for InstanceType.`);
  return t;
}

interface Network {
  subnetId: string;
  securityGroupIds: string[];
  associatePublicIp: boolean;
  deleteOnTermination: boolean;
}

/** Without a subnet EC2 picks a default-VPC subnet, and fails like this in an account without one. */
function defaultSubnet(state: FakeEc2State): string {
  const s = [...state.subnets.values()].find((x) => x.defaultForAz);
  if (!s) throw new Ec2Error('VPCIdNotSpecified', 'No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.');
  return s.subnetId;
}

/** Subnet and groups come either from the instance level or from NetworkInterface.1, never both (EC2's rule). */
function network(state: FakeEc2State, p: QueryParams, tmpl: LaunchTemplateSeed | undefined): Network {
  const nics = p.groups('NetworkInterface');
  const topGroups = p.list('SecurityGroupId');
  if (nics.length === 0) {
    const subnetId = p.str('SubnetId') || tmpl?.subnetId || defaultSubnet(state);
    return { subnetId, securityGroupIds: topGroups.length > 0 ? topGroups : (tmpl?.securityGroupIds ?? []), associatePublicIp: false, deleteOnTermination: true };
  }
  if (p.has('SubnetId')) {
    throw new Ec2Error('InvalidParameterCombination', 'Network interfaces and an instance-level subnet ID may not be specified on the same request');
  }
  if (topGroups.length > 0) {
    throw new Ec2Error('InvalidParameterCombination', 'Network interfaces and an instance-level security groups may not be specified on the same request');
  }
  const [nic, ...more] = nics;
  if (!nic || more.length > 0) throw invalidValue('NetworkInterface', '', 'The fake EC2 supports exactly one network interface (NetworkInterface.1).');
  if (nic.has('NetworkInterfaceId')) throw invalidValue(nic.label('NetworkInterfaceId'), nic.str('NetworkInterfaceId') ?? '', 'The fake EC2 does not attach existing network interfaces.');
  const deviceIndex = nic.int('DeviceIndex');
  if (deviceIndex === undefined) throw missingParameter(nic.label('DeviceIndex'));
  if (deviceIndex !== 0) throw invalidValue(nic.label('DeviceIndex'), String(deviceIndex), 'The primary network interface must have device index 0.');
  const subnetId = nic.str('SubnetId') || tmpl?.subnetId || defaultSubnet(state);
  const groups = nic.list('SecurityGroupId');
  return {
    subnetId,
    securityGroupIds: groups.length > 0 ? groups : (tmpl?.securityGroupIds ?? []),
    associatePublicIp: nic.bool('AssociatePublicIpAddress') ?? false,
    deleteOnTermination: nic.bool('DeleteOnTermination') ?? true,
  };
}

function subnetAndGroups(state: FakeEc2State, net: Network): { subnet: SubnetSeed; securityGroupIds: string[] } {
  const subnet = state.subnets.get(net.subnetId);
  if (!subnet) throw notFound('InvalidSubnetID.NotFound', 'subnet ID', [net.subnetId]);
  const securityGroupIds = [...new Set(net.securityGroupIds)];
  for (const id of securityGroupIds) {
    const g = state.securityGroups.get(id);
    if (!g) throw notFound('InvalidGroup.NotFound', 'security group', [id]);
    if (g.vpcId !== subnet.vpcId) throw new Ec2Error('InvalidParameter', `Security group ${id} and subnet ${subnet.subnetId} belong to different networks.`);
  }
  return { subnet, securityGroupIds };
}

function userData(p: QueryParams): string | undefined {
  const raw = p.str('UserData');
  if (raw === undefined) return undefined;
  const b64 = raw.replace(/\s+/g, '');
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw invalidValue('UserData', '', 'Invalid BASE64 encoding of user data.');
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length > USER_DATA_LIMIT) throw invalidValue('UserData', '', `User data is limited to ${USER_DATA_LIMIT} bytes`);
  return bytes.toString('utf8');
}

function cpuOptions(p: QueryParams, type: InstanceTypeSeed, img: ImageSeed): CpuOptions {
  const threads = type.threadsPerCore ?? 2;
  const cores = Math.max(1, Math.floor(type.vCpus / threads));
  const c = p.struct('CpuOptions');
  const coreCount = c?.int('CoreCount', { min: 1, max: cores }) ?? cores;
  const threadsPerCore = c?.int('ThreadsPerCore', { min: 1, max: threads }) ?? threads;
  const amdSevSnp = c?.oneOf('AmdSevSnp', ['enabled', 'disabled'] as const);
  if (amdSevSnp === 'enabled') {
    if (!(type.supportedFeatures ?? []).includes('amd-sev-snp')) {
      throw new Ec2Error('InvalidParameterCombination', `The instance type ${type.instanceType} does not support AMD SEV-SNP.`);
    }
    if (img.bootMode === 'legacy-bios') throw new Ec2Error('InvalidParameterCombination', `AMD SEV-SNP requires a UEFI boot mode; image ${img.imageId} boots legacy-bios.`);
  }
  return { coreCount, threadsPerCore, amdSevSnp };
}

function metadataOptions(p: QueryParams): MetadataOptions {
  const m = p.struct('MetadataOptions');
  return {
    httpTokens: m?.oneOf('HttpTokens', ['optional', 'required'] as const) ?? 'optional',
    httpEndpoint: m?.oneOf('HttpEndpoint', ['enabled', 'disabled'] as const) ?? 'enabled',
    httpPutResponseHopLimit: m?.int('HttpPutResponseHopLimit', { min: 1, max: 64 }) ?? 1,
    instanceMetadataTags: m?.oneOf('InstanceMetadataTags', ['enabled', 'disabled'] as const) ?? 'disabled',
  };
}

/** The root volume from the image (possibly resized) plus any extra EBS volumes asked for. */
function volumes(p: QueryParams, img: ImageSeed): PlannedVolume[] {
  const rootDevice = img.rootDeviceName ?? '/dev/xvda';
  const root: PlannedVolume = { deviceName: rootDevice, sizeGiB: img.rootVolumeSizeGiB, volumeType: 'gp3', deleteOnTermination: true, encrypted: false, snapshotId: imageSnapshotId(img) };
  const out: PlannedVolume[] = [root];
  const seen = new Set<string>();
  for (const m of p.groups('BlockDeviceMapping')) {
    const deviceName = m.required('DeviceName');
    if (seen.has(deviceName)) throw new Ec2Error('InvalidBlockDeviceMapping', `The device '${deviceName}' is used in more than one block-device mapping`);
    seen.add(deviceName);
    const ebs = m.struct('Ebs');
    if (!ebs) continue; // NoDevice / VirtualName mappings: nothing to create
    const size = ebs.int('VolumeSize', { min: 1, max: 16384 });
    const volumeType = ebs.oneOf('VolumeType', VOLUME_TYPES) ?? 'gp3';
    const deleteOnTermination = ebs.bool('DeleteOnTermination') ?? true;
    const encrypted = ebs.bool('Encrypted') ?? false;
    if (deviceName === rootDevice) {
      if (size !== undefined && size < img.rootVolumeSizeGiB) {
        throw new Ec2Error('InvalidBlockDeviceMapping', `Volume of size ${size}GB is smaller than snapshot '${root.snapshotId}', expect size >= ${img.rootVolumeSizeGiB}GB`);
      }
      Object.assign(root, { sizeGiB: size ?? root.sizeGiB, volumeType, deleteOnTermination, encrypted });
    } else {
      if (size === undefined) throw new Ec2Error('InvalidBlockDeviceMapping', `The volume for device '${deviceName}' needs a VolumeSize (or a snapshot).`);
      out.push({ deviceName, sizeGiB: size, volumeType, deleteOnTermination, encrypted });
    }
  }
  return out;
}

export function planLaunch(state: FakeEc2State, p: QueryParams): LaunchPlan {
  const minCount = p.int('MinCount');
  const maxCount = p.int('MaxCount');
  if (minCount === undefined) throw missingParameter('MinCount');
  if (maxCount === undefined) throw missingParameter('MaxCount');
  if (minCount !== 1 || maxCount !== 1) throw invalidValue('MaxCount', String(maxCount), 'The fake EC2 launches exactly one instance per request: MinCount and MaxCount must be 1.');
  const tmpl = launchTemplate(state, p);
  const img = image(state, p.str('ImageId') ?? tmpl?.imageId);
  const type = instanceType(state, p.str('InstanceType') ?? tmpl?.instanceType);
  const net = network(state, p, tmpl);
  const { subnet, securityGroupIds } = subnetAndGroups(state, net);
  const placementZone = p.struct('Placement')?.str('AvailabilityZone');
  if (placementZone !== undefined && placementZone !== subnet.availabilityZone) {
    throw invalidValue('Placement.AvailabilityZone', placementZone, `Subnet ${subnet.subnetId} is in ${subnet.availabilityZone}, not ${placementZone}.`);
  }
  const keyName = p.str('KeyName') ?? tmpl?.keyName;
  if (keyName !== undefined && !state.keyPairs.has(keyName)) throw notFound('InvalidKeyPair.NotFound', 'key pair', [keyName]);
  return {
    image: img,
    type,
    subnet,
    securityGroupIds,
    keyName,
    userData: userData(p),
    tags: readTagSpecifications(p, TAGGABLE),
    cpuOptions: cpuOptions(p, type, img),
    metadataOptions: metadataOptions(p),
    volumes: volumes(p, img),
    associatePublicIp: net.associatePublicIp,
    nicDeleteOnTermination: net.deleteOnTermination,
    launchTemplateName: tmpl?.launchTemplateName,
  };
}
