/** POST / GET / DELETE /instances and GET /instances/{id}: the instance life cycle, validated as the VPC does. */
import { VpcError, invalid, missing, notFound } from '../errors.js';
import { renderInstance } from '../render.js';
import type { FakeInstance, FakeNic } from '../resources.js';
import { paginate, type HandlerContext, type HandlerResult } from './context.js';

/** The VPC's limit on user data (plain text). */
export const USER_DATA_LIMIT = 65_536;
const NAME = /^([a-z]|[a-z][-a-z0-9]*[a-z0-9])$/;
const SE_PROFILE = /^[a-z]z\d+e-/;

type Body = Record<string, unknown>;
const obj = (v: unknown): Body | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Body) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const idOf = (v: unknown): string | undefined => str(obj(v)?.id);

function checkName(name: unknown, field: string): string {
  const n = str(name);
  if (n === undefined) throw missing(field);
  if (n.length > 63 || !NAME.test(n)) throw invalid('validation_invalid_name', `The name "${n}" is invalid: lowercase letters, digits and hyphens, starting with a letter, at most 63 characters.`, field, n);
  return n;
}

function securityGroups(c: HandlerContext, v: unknown, vpcId: string, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid('bad_field', `${field} must be an array`, field);
  return v.map((ref) => {
    const id = idOf(ref);
    const sg = id ? c.state.securityGroups.get(id) : undefined;
    if (!sg) throw invalid('security_group_not_found', `Security group ${id ?? '?'} not found.`, field, id);
    if (sg.vpcId !== vpcId) throw invalid('security_group_vpc_mismatch', `Security group ${id} is not in VPC ${vpcId}.`, field, id);
    return sg.id;
  });
}

function nic(c: HandlerContext, spec: unknown, field: string, zone: string, vpcId: string, index: number): Omit<FakeNic, 'id' | 'address'> {
  const s = obj(spec);
  if (!s) throw missing(field);
  const subnetId = idOf(s.subnet);
  if (!subnetId) throw missing(`${field}.subnet.id`);
  const subnet = c.state.subnets.get(subnetId);
  if (!subnet) throw invalid('subnet_not_found', `Subnet ${subnetId} not found.`, `${field}.subnet.id`, subnetId);
  if (subnet.zone !== zone) throw invalid('invalid_zone', `Subnet ${subnetId} is in ${subnet.zone}, the instance in ${zone}.`, `${field}.subnet.id`, subnetId);
  if (subnet.vpcId !== vpcId) throw invalid('invalid_vpc', `Subnet ${subnetId} is not in VPC ${vpcId}.`, `${field}.subnet.id`, subnetId);
  const name = s.name === undefined ? `eth${index}` : checkName(s.name, `${field}.name`);
  return { name, subnetId, securityGroupIds: securityGroups(c, s.security_groups, vpcId, `${field}.security_groups`), allowIpSpoofing: s.allow_ip_spoofing === true };
}

export function createInstance(c: HandlerContext): HandlerResult {
  const b = obj(c.req.body);
  if (!b) throw invalid('bad_request', 'The body must be a JSON object (an instance prototype).');
  const name = checkName(b.name, 'name');
  const pni = obj(b.primary_network_interface);
  const primarySubnet = c.state.subnets.get(idOf(pni?.subnet) ?? '');
  const vpcId = idOf(b.vpc) ?? primarySubnet?.vpcId ?? '';
  if (idOf(b.vpc) !== undefined && !c.state.vpcs.has(vpcId)) throw invalid('vpc_not_found', `VPC ${vpcId} not found.`, 'vpc.id', vpcId);
  // Names are unique in a VPC, for as long as an instance of that name exists (deleting included).
  for (const other of c.state.instances.values()) {
    if (other.vpcId === vpcId && other.name === name) throw invalid('validation_unique_failed', `Provided Name (${name}) is not unique`, 'name', name);
  }
  const profileName = str(obj(b.profile)?.name);
  if (!profileName) throw missing('profile.name');
  const profile = c.state.profiles.get(profileName);
  if (!profile) throw invalid('instance_profile_not_found', `Instance profile ${profileName} not found.`, 'profile.name', profileName);
  const zone = str(obj(b.zone)?.name);
  if (!zone) throw missing('zone.name');
  if (!c.state.zones.includes(zone)) throw invalid('invalid_zone', `Zone ${zone} is not in region ${c.state.region}.`, 'zone.name', zone);
  const imageId = idOf(b.image);
  if (!imageId) throw missing('image.id');
  const image = c.state.images.get(imageId);
  if (!image) throw invalid('image_not_found', `Image ${imageId} not found.`, 'image.id', imageId);
  if (!['available', 'deprecated'].includes(image.status ?? 'available')) throw invalid('image_not_available', `Image ${imageId} is ${image.status}.`, 'image.id', imageId);
  const arch = profile.architecture ?? 'amd64';
  if (image.architecture !== arch) {
    throw invalid('instance_profile_image_incompatible', `Image ${imageId} (${image.architecture}) cannot boot profile ${profileName} (${arch}).`, 'image.id', imageId);
  }
  const seImage = /hyper-protect/.test(image.osName);
  if (seImage !== (arch === 's390x' && SE_PROFILE.test(profileName))) {
    throw invalid('instance_profile_image_incompatible', `Secure Execution image and profile must go together (image ${imageId}, profile ${profileName}).`, 'image.id', imageId);
  }
  const ccm = str(b.confidential_compute_mode);
  if (ccm !== undefined && !(profile.confidentialModes ?? []).includes(ccm)) {
    throw invalid('instance_profile_confidential_compute_mode_unsupported', `Profile ${profileName} does not support confidential_compute_mode ${ccm}.`, 'confidential_compute_mode', ccm);
  }
  const secureBoot = typeof b.enable_secure_boot === 'boolean' ? b.enable_secure_boot : undefined;
  if (secureBoot !== undefined && !(profile.secureBootModes ?? []).includes(secureBoot)) {
    throw invalid('instance_profile_secure_boot_unsupported', `Profile ${profileName} does not support enable_secure_boot=${secureBoot}.`, 'enable_secure_boot', secureBoot);
  }
  const userData = b.user_data === undefined ? undefined : str(b.user_data);
  if (b.user_data !== undefined && userData === undefined) throw invalid('bad_field', 'user_data must be a string', 'user_data');
  if (userData !== undefined && Buffer.byteLength(userData, 'utf8') > USER_DATA_LIMIT) {
    throw invalid('user_data_too_large', `user_data is ${Buffer.byteLength(userData, 'utf8')} bytes; the limit is ${USER_DATA_LIMIT}.`, 'user_data');
  }
  const primary = nic(c, pni, 'primary_network_interface', zone, vpcId, 0);
  const extra = b.network_interfaces === undefined ? [] : Array.isArray(b.network_interfaces) ? b.network_interfaces : undefined;
  if (!extra) throw invalid('bad_field', 'network_interfaces must be an array', 'network_interfaces');
  const secondaries = extra.map((n, i) => nic(c, n, `network_interfaces[${i}]`, zone, vpcId, i + 1));
  const keyIds = (Array.isArray(b.keys) ? b.keys : []).map((k) => {
    const id = idOf(k);
    if (!id || !c.state.keys.has(id)) throw invalid('key_not_found', `Key ${id ?? '?'} not found.`, 'keys', id);
    return id;
  });
  const rg = idOf(b.resource_group);
  if (rg !== undefined && !c.state.resourceGroups.has(rg)) throw invalid('resource_group_not_found', `Resource group ${rg} not found.`, 'resource_group.id', rg);
  const placement = idOf(b.placement_target);
  if (placement !== undefined) {
    const host = c.state.dedicatedHosts.get(placement);
    if (!host) throw invalid('placement_target_not_found', `Placement target ${placement} not found.`, 'placement_target.id', placement);
    if (host.zone !== zone) throw invalid('invalid_zone', `Placement target ${placement} is in ${host.zone}.`, 'placement_target.id', placement);
  }
  const ms = obj(b.metadata_service);
  if (c.model.vcpusInUse() + profile.vcpus > c.state.vcpuQuota) {
    throw new VpcError('over_quota', `The instance cannot be created: it would exceed the vCPU quota of ${c.state.vcpuQuota} for region ${c.state.region} (${c.model.vcpusInUse()} in use).`, 400);
  }

  const id = c.model.instanceId(zone);
  const nics: FakeNic[] = [];
  try {
    for (const n of [primary, ...secondaries]) nics.push({ ...n, id: `${id.slice(0, 4)}-${c.model.uuid()}`, address: c.model.allocateIp(c.state.subnets.get(n.subnetId)!) });
  } catch (err) {
    for (const n of nics) c.model.releaseIp(n.subnetId, n.address);
    throw err;
  }
  const inst: FakeInstance = {
    id,
    crn: c.model.crn(zone, 'instance', id),
    name,
    status: 'pending',
    statusReasons: [],
    createdAt: c.model.now(),
    profile: profileName,
    imageId,
    zone,
    vpcId,
    resourceGroupId: rg ?? primarySubnet?.resourceGroupId ?? '',
    keyIds,
    nics,
    userData,
    metadataService: { enabled: ms?.enabled === true, protocol: str(ms?.protocol) ?? 'http' },
    confidentialComputeMode: ccm ?? (profile.confidentialModes ? 'disabled' : undefined),
    enableSecureBoot: secureBoot ?? (profile.secureBootModes ? false : undefined),
    placementTargetId: placement,
    architecture: arch,
    vcpus: profile.vcpus,
    memoryGiB: profile.memoryGiB,
    startFailure: undefined,
    deleteRequestedAt: undefined,
    prototype: b,
  };
  inst.startFailure = c.startFailures.fire(inst);
  c.state.instances.set(id, inst);
  return { status: 201, body: renderInstance(c.render, inst) };
}

function existing(c: HandlerContext): FakeInstance {
  const id = c.req.params.id ?? '';
  const inst = c.state.instances.get(id);
  if (!inst) throw notFound('Instance', id);
  return inst;
}

export function getInstance(c: HandlerContext): HandlerResult {
  return { status: 200, body: renderInstance(c.render, existing(c)) };
}

export function deleteInstance(c: HandlerContext): HandlerResult {
  const inst = existing(c);
  if (inst.status === 'deleting') throw new VpcError('instance_delete_conflict', `Instance ${inst.id} is already being deleted.`, 409);
  c.model.delete(inst);
  return { status: 204 };
}

export function listInstances(c: HandlerContext): HandlerResult {
  const q = c.req.query;
  const keep = new URLSearchParams();
  for (const k of ['name', 'vpc.id', 'resource_group.id', 'version', 'generation']) {
    const v = q.get(k);
    if (v !== null) keep.set(k, v);
  }
  const items = [...c.state.instances.values()].filter(
    (i) => (q.get('name') === null || i.name === q.get('name')) && (q.get('vpc.id') === null || i.vpcId === q.get('vpc.id')) && (q.get('resource_group.id') === null || i.resourceGroupId === q.get('resource_group.id')),
  );
  const { page, extra } = paginate(c, items, '/instances', keep);
  return { status: 200, body: { instances: page.map((i) => renderInstance(c.render, i)), ...extra } };
}
