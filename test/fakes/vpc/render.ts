/** Resources as the VPC API renders them (the subset of fields the real API returns that matter here). */
import type { FakeInstance, FakeNic, FakeVpcState } from './resources.js';
import type { ImageSeed, ProfileSeed, SubnetSeed } from './seeds.js';

export interface RenderContext {
  state: FakeVpcState;
  /** `http://127.0.0.1:PORT/v1`. */
  base: string;
  now: number;
}

function nicRef(c: RenderContext, inst: FakeInstance, nic: FakeNic): Record<string, unknown> {
  const subnet = c.state.subnets.get(nic.subnetId);
  const address = c.now - inst.createdAt < c.state.ipDelayMs ? '0.0.0.0' : nic.address;
  return {
    id: nic.id,
    name: nic.name,
    href: `${c.base}/instances/${inst.id}/network_interfaces/${nic.id}`,
    resource_type: 'network_interface',
    primary_ip: { address, id: `${nic.id}-ip`, name: `${nic.name}-ip`, resource_type: 'subnet_reserved_ip' },
    subnet: { id: nic.subnetId, name: subnet?.name ?? '', crn: subnet ? `crn:v1:bluemix:public:is:${subnet.zone}:a/${c.state.account}::subnet:${subnet.id}` : '' },
  };
}

export function renderInstance(c: RenderContext, inst: FakeInstance): Record<string, unknown> {
  const image = c.state.images.get(inst.imageId);
  const vpc = c.state.vpcs.get(inst.vpcId);
  return {
    id: inst.id,
    crn: inst.crn,
    href: `${c.base}/instances/${inst.id}`,
    name: inst.name,
    resource_type: 'instance',
    status: inst.status,
    status_reasons: inst.statusReasons.map((r) => ({ ...r, more_info: `https://cloud.ibm.com/docs/vpc?topic=vpc-instance-status-messages#${r.code}` })),
    lifecycle_state: inst.status === 'deleting' ? 'deleting' : inst.status === 'failed' ? 'failed' : 'stable',
    created_at: new Date(inst.createdAt).toISOString(),
    profile: { name: inst.profile, href: `${c.base}/instance/profiles/${inst.profile}` },
    image: { id: inst.imageId, name: image?.name ?? '', crn: `crn:v1:bluemix:public:is:${c.state.region}:a/${c.state.account}::image:${inst.imageId}` },
    zone: { name: inst.zone, href: `${c.base}/regions/${c.state.region}/zones/${inst.zone}` },
    vpc: { id: inst.vpcId, name: vpc?.name ?? '', crn: `crn:v1:bluemix:public:is:${c.state.region}:a/${c.state.account}::vpc:${inst.vpcId}` },
    resource_group: { id: inst.resourceGroupId, name: 'default' },
    primary_network_interface: nicRef(c, inst, inst.nics[0]!),
    network_interfaces: inst.nics.map((n) => nicRef(c, inst, n)),
    vcpu: { architecture: inst.architecture, count: inst.vcpus, manufacturer: inst.architecture === 's390x' ? 'ibm' : 'intel' },
    memory: inst.memoryGiB,
    ...(inst.confidentialComputeMode !== undefined ? { confidential_compute_mode: inst.confidentialComputeMode } : {}),
    ...(inst.enableSecureBoot !== undefined ? { enable_secure_boot: inst.enableSecureBoot } : {}),
    metadata_service: { ...inst.metadataService, response_hop_limit: 1 },
    ...(inst.placementTargetId ? { placement_target: { id: inst.placementTargetId } } : {}),
    boot_volume_attachment: { id: `${inst.id}-boot`, name: `${inst.name}-boot`, volume: { id: `${inst.id}-vol`, name: `${inst.name}-boot` } },
  };
}

const fixed = (value: unknown): Record<string, unknown> => ({ type: 'fixed', value });

export function renderProfile(c: RenderContext, p: ProfileSeed): Record<string, unknown> {
  return {
    name: p.name,
    href: `${c.base}/instance/profiles/${p.name}`,
    family: p.architecture === 's390x' ? 'balanced' : p.name.startsWith('gx') ? 'gpu' : 'balanced',
    vcpu_count: fixed(p.vcpus),
    memory: fixed(p.memoryGiB),
    vcpu_architecture: { type: 'fixed', value: p.architecture ?? 'amd64' },
    ...(p.gpus ? { gpu_count: fixed(p.gpus) } : {}),
    ...(p.confidentialModes ? { confidential_compute_modes: { type: 'enum', default: 'disabled', values: p.confidentialModes } } : {}),
    ...(p.secureBootModes ? { secure_boot_modes: { type: 'enum', default: false, values: p.secureBootModes } } : {}),
    os_architecture: { type: 'enum', default: p.architecture ?? 'amd64', values: [p.architecture ?? 'amd64'] },
  };
}

export function renderImage(c: RenderContext, i: ImageSeed): Record<string, unknown> {
  return {
    id: i.id,
    crn: `crn:v1:bluemix:public:is:${c.state.region}:a/${c.state.account}::image:${i.id}`,
    href: `${c.base}/images/${i.id}`,
    name: i.name,
    status: i.status ?? 'available',
    visibility: 'private',
    operating_system: { name: i.osName, architecture: i.architecture, family: i.osFamily ?? '', display_name: i.osName, vendor: '', version: '' },
  };
}

export function renderSubnet(c: RenderContext, s: SubnetSeed): Record<string, unknown> {
  const vpc = c.state.vpcs.get(s.vpcId);
  return {
    id: s.id,
    crn: `crn:v1:bluemix:public:is:${s.zone}:a/${c.state.account}::subnet:${s.id}`,
    href: `${c.base}/subnets/${s.id}`,
    name: s.name,
    ipv4_cidr_block: s.cidr,
    zone: { name: s.zone },
    vpc: { id: s.vpcId, name: vpc?.name ?? '' },
    resource_group: { id: s.resourceGroupId, name: 'default' },
    status: 'available',
  };
}
