/** Read-only lookups of the seeded catalogue: images, instance types, subnets, groups, key pairs, regions. */
import { Ec2Error, notFound } from '../errors.js';
import { filterPredicate, readFilters } from '../filters.js';
import { paginate } from '../pagination.js';
import { renderImage, renderInstanceType, renderKeyPair, renderSecurityGroup, renderSubnet } from '../render.js';
import type { ImageSeed, InstanceTypeSeed, KeyPairSeed, SecurityGroupSeed, SubnetSeed } from '../seeds.js';
import type { XmlNode } from '../xml.js';
import { checkIdShape, dryRunGate, lookupAll, narrowTo, type ActionContext } from './context.js';

export function describeImages(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const ids = p.list('ImageId');
  checkIdShape(ids, 'ami', 'InvalidAMIID.Malformed');
  const matches = filterPredicate<ImageSeed>(readFilters(p), {
    'image-id': (i) => [i.imageId],
    name: (i) => [i.name],
    state: () => ['available'],
    architecture: (i) => [i.architecture ?? 'x86_64'],
    'boot-mode': (i) => [i.bootMode ?? 'uefi'],
  });
  dryRunGate(ctx);
  const missing = [...new Set(ids)].filter((id) => !ctx.state.images.has(id));
  // EC2 brackets the ids in this one message: "The image id '[ami-1]' does not exist".
  if (missing.length === 1) throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${missing[0]}]' does not exist`);
  if (missing.length > 1) throw new Ec2Error('InvalidAMIID.NotFound', `The image ids '[${missing.join(', ')}]' do not exist`);
  const images = ids.length > 0 ? [...new Set(ids)].map((id) => ctx.state.images.get(id)!) : [...ctx.state.images.values()];
  const page = paginate(images.filter(matches), p, (i) => i.imageId, { min: 5, max: 1000 });
  return { imagesSet: page.items.map((i) => renderImage(ctx.state, i)), nextToken: page.nextToken };
}

export function describeInstanceTypes(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const names = p.list('InstanceType');
  const matches = filterPredicate<InstanceTypeSeed>(readFilters(p), {
    'instance-type': (t) => [t.instanceType],
    'processor-info.supported-features': (t) => t.supportedFeatures ?? [],
    'processor-info.supported-architecture': (t) => t.architectures ?? ['x86_64'],
    'vcpu-info.default-vcpus': (t) => [t.vCpus],
    'memory-info.size-in-mib': (t) => [t.memoryMiB],
  });
  dryRunGate(ctx);
  const unknown = [...new Set(names)].filter((n) => !ctx.state.instanceTypes.has(n));
  if (unknown.length > 0) throw new Ec2Error('InvalidInstanceType', `The following supplied instance types do not exist: [${unknown.join(', ')}]`);
  const types = names.length > 0 ? [...new Set(names)].map((n) => ctx.state.instanceTypes.get(n)!) : [...ctx.state.instanceTypes.values()];
  const page = paginate(types.filter(matches), p, (t) => t.instanceType, { min: 5, max: 100 });
  return { instanceTypeSet: page.items.map(renderInstanceType), nextToken: page.nextToken };
}

export function describeSubnets(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const ids = p.list('SubnetId');
  checkIdShape(ids, 'subnet', 'InvalidSubnetID.Malformed');
  const matches = filterPredicate<SubnetSeed>(readFilters(p), {
    'subnet-id': (s) => [s.subnetId],
    'vpc-id': (s) => [s.vpcId],
    'availability-zone': (s) => [s.availabilityZone],
    'cidr-block': (s) => [s.cidrBlock],
    state: () => ['available'],
  });
  dryRunGate(ctx);
  const subnets = ids.length > 0 ? lookupAll(ids, ctx.state.subnets, 'InvalidSubnetID.NotFound', 'subnet ID') : [...ctx.state.subnets.values()];
  const page = paginate(subnets.filter(matches), p, (s) => s.subnetId, { min: 5, max: 1000 });
  return { subnetSet: page.items.map((s) => renderSubnet(ctx.state, s, ctx.model.freePrivateIps(s))), nextToken: page.nextToken };
}

export function describeSecurityGroups(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const ids = p.list('GroupId');
  const names = p.list('GroupName');
  checkIdShape(ids, 'sg', 'InvalidGroupId.Malformed');
  const matches = filterPredicate<SecurityGroupSeed>(readFilters(p), {
    'group-id': (g) => [g.groupId],
    'group-name': (g) => [g.groupName],
    'vpc-id': (g) => [g.vpcId],
  });
  dryRunGate(ctx);
  const byId = ids.length > 0 ? lookupAll(ids, ctx.state.securityGroups, 'InvalidGroup.NotFound', 'security group') : [...ctx.state.securityGroups.values()];
  const groups = narrowTo(byId, names, (g) => g.groupName, (missing) => notFound('InvalidGroup.NotFound', 'security group', missing));
  const page = paginate(groups.filter(matches), p, (g) => g.groupId, { min: 5, max: 1000 });
  return { securityGroupInfo: page.items.map((g) => renderSecurityGroup(ctx.state, g)), nextToken: page.nextToken };
}

export function describeKeyPairs(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const names = p.list('KeyName');
  const ids = p.list('KeyPairId');
  const matches = filterPredicate<KeyPairSeed>(readFilters(p), {
    'key-name': (k) => [k.keyName],
    'key-pair-id': (k) => [k.keyPairId],
  });
  dryRunGate(ctx);
  const byName = names.length > 0 ? lookupAll(names, ctx.state.keyPairs, 'InvalidKeyPair.NotFound', 'key pair') : [...ctx.state.keyPairs.values()];
  const keys = narrowTo(byName, ids, (k) => k.keyPairId, (missing) => notFound('InvalidKeyPair.NotFound', 'key pair', missing));
  return { keySet: keys.filter(matches).map(renderKeyPair) };
}

export function describeRegions(ctx: ActionContext): XmlNode {
  const wanted = ctx.params.list('RegionName');
  const matches = filterPredicate<string>(readFilters(ctx.params), { 'region-name': (r) => [r], endpoint: (r) => [`ec2.${r}.amazonaws.com`] });
  dryRunGate(ctx);
  const regions = ctx.state.regions.filter((r) => (wanted.length === 0 || wanted.includes(r)) && matches(r));
  return { regionInfo: regions.map((r) => ({ regionName: r, regionEndpoint: `ec2.${r}.amazonaws.com`, optInStatus: 'opt-in-not-required' })) };
}
