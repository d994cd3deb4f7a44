/** Read-only VPC resources: profiles, images, subnets, security groups, keys, dedicated hosts, regions. */
import { notFound } from '../errors.js';
import { renderImage, renderProfile, renderSubnet } from '../render.js';
import { paginate, type HandlerContext, type HandlerResult } from './context.js';

const param = (c: HandlerContext, name: string): string => c.req.params[name] ?? '';

export function getInstanceProfile(c: HandlerContext): HandlerResult {
  const p = c.state.profiles.get(param(c, 'name'));
  if (!p) throw notFound('Instance profile', param(c, 'name'));
  return { status: 200, body: renderProfile(c.render, p) };
}

export function listInstanceProfiles(c: HandlerContext): HandlerResult {
  return { status: 200, body: { profiles: [...c.state.profiles.values()].map((p) => renderProfile(c.render, p)), total_count: c.state.profiles.size } };
}

export function getImage(c: HandlerContext): HandlerResult {
  const i = c.state.images.get(param(c, 'id'));
  if (!i) throw notFound('Image', param(c, 'id'));
  return { status: 200, body: renderImage(c.render, i) };
}

export function getSubnet(c: HandlerContext): HandlerResult {
  const s = c.state.subnets.get(param(c, 'id'));
  if (!s) throw notFound('Subnet', param(c, 'id'));
  return { status: 200, body: renderSubnet(c.render, s) };
}

function renderGroup(c: HandlerContext, id: string): Record<string, unknown> {
  const g = c.state.securityGroups.get(id)!;
  return { id: g.id, name: g.name, crn: `crn:v1:bluemix:public:is:${c.state.region}:a/${c.state.account}::security-group:${g.id}`, href: `${c.render.base}/security_groups/${g.id}`, vpc: { id: g.vpcId } };
}

export function getSecurityGroup(c: HandlerContext): HandlerResult {
  if (!c.state.securityGroups.has(param(c, 'id'))) throw notFound('Security group', param(c, 'id'));
  return { status: 200, body: renderGroup(c, param(c, 'id')) };
}

export function listSecurityGroups(c: HandlerContext): HandlerResult {
  const vpc = c.req.query.get('vpc.id');
  const keep = new URLSearchParams(vpc === null ? {} : { 'vpc.id': vpc });
  const items = [...c.state.securityGroups.values()].filter((g) => vpc === null || g.vpcId === vpc);
  const { page, extra } = paginate(c, items, '/security_groups', keep);
  return { status: 200, body: { security_groups: page.map((g) => renderGroup(c, g.id)), ...extra } };
}

export function getKey(c: HandlerContext): HandlerResult {
  const k = c.state.keys.get(param(c, 'id'));
  if (!k) throw notFound('Key', param(c, 'id'));
  return { status: 200, body: { id: k.id, name: k.name, type: 'ed25519', fingerprint: `SHA256:${k.id.slice(5, 20)}` } };
}

export function getDedicatedHost(c: HandlerContext): HandlerResult {
  const h = c.state.dedicatedHosts.get(param(c, 'id'));
  if (!h || h.group) throw notFound('Dedicated host', param(c, 'id'));
  return { status: 200, body: { id: h.id, name: h.name, zone: { name: h.zone }, lifecycle_state: 'stable', state: 'available' } };
}

export function getDedicatedHostGroup(c: HandlerContext): HandlerResult {
  const h = c.state.dedicatedHosts.get(param(c, 'id'));
  if (!h || !h.group) throw notFound('Dedicated host group', param(c, 'id'));
  return { status: 200, body: { id: h.id, name: h.name, zone: { name: h.zone } } };
}

export function getVpc(c: HandlerContext): HandlerResult {
  const v = c.state.vpcs.get(param(c, 'id'));
  if (!v) throw notFound('VPC', param(c, 'id'));
  return { status: 200, body: { id: v.id, name: v.name, status: 'available' } };
}

export function listRegions(c: HandlerContext): HandlerResult {
  return {
    status: 200,
    body: { regions: [c.state.region, 'us-east', 'eu-de', 'jp-tok'].map((name) => ({ name, endpoint: `https://${name}.iaas.cloud.ibm.com`, href: `${c.render.base}/regions/${name}`, status: 'available' })) },
  };
}
