/** Elastic IPs: AllocateAddress, DescribeAddresses, AssociateAddress, DisassociateAddress, ReleaseAddress. */
import { Ec2Error, missingParameter, notFound } from '../errors.js';
import { filterPredicate, readFilters } from '../filters.js';
import { renderAddress } from '../render.js';
import type { FakeAddress, FakeNetworkInterface } from '../resources.js';
import type { XmlNode } from '../xml.js';
import { checkIdShape, dryRunGate, lookupAll, narrowTo, type ActionContext } from './context.js';
import { readTagSpecifications } from './tags.js';

function address(ctx: ActionContext, allocationId: string): FakeAddress {
  const addr = ctx.state.addresses.get(allocationId);
  if (!addr) throw notFound('InvalidAllocationID.NotFound', 'allocation ID', [allocationId]);
  return addr;
}

export function allocateAddress(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  p.oneOf('Domain', ['vpc'] as const);
  const tags = readTagSpecifications(p, ['elastic-ip'] as const)['elastic-ip'];
  dryRunGate(ctx);
  const publicIp = ctx.model.allocatePublicIp();
  if (!publicIp) throw new Ec2Error('AddressLimitExceeded', 'The maximum number of addresses has been reached.');
  const addr: FakeAddress = { allocationId: ctx.model.newId('eipalloc'), publicIp, domain: 'vpc', tags };
  ctx.state.addresses.set(addr.allocationId, addr);
  return { publicIp, allocationId: addr.allocationId, domain: 'vpc', publicIpv4Pool: 'amazon', networkBorderGroup: ctx.state.region };
}

export function describeAddresses(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const allocationIds = p.list('AllocationId');
  const publicIps = p.list('PublicIp');
  const matches = filterPredicate<FakeAddress>(
    readFilters(p),
    {
      'allocation-id': (a) => [a.allocationId],
      'association-id': (a) => [a.associationId],
      'instance-id': (a) => [a.instanceId],
      'network-interface-id': (a) => [a.networkInterfaceId],
      'private-ip-address': (a) => [a.privateIpAddress],
      'public-ip': (a) => [a.publicIp],
      domain: (a) => [a.domain],
    },
    (a) => a.tags,
  );
  dryRunGate(ctx);
  const byId = allocationIds.length > 0 ? lookupAll(allocationIds, ctx.state.addresses, 'InvalidAllocationID.NotFound', 'allocation ID') : [...ctx.state.addresses.values()];
  const found = narrowTo(byId, publicIps, (a) => a.publicIp, (missing) => new Ec2Error('InvalidAddress.NotFound', `Address '${missing.join(', ')}' not found.`));
  return { addressesSet: found.filter(matches).map((a) => renderAddress(ctx.state, a)) };
}

/** The interface an association targets: the one named, or the instance's primary one. */
function targetInterface(ctx: ActionContext): FakeNetworkInterface {
  const p = ctx.params;
  const instanceId = p.str('InstanceId');
  const nicId = p.str('NetworkInterfaceId');
  if (!instanceId && !nicId) throw missingParameter('InstanceId');
  let nic: FakeNetworkInterface | undefined;
  if (nicId) {
    nic = ctx.state.networkInterfaces.get(nicId);
    if (!nic) throw notFound('InvalidNetworkInterfaceID.NotFound', 'networkInterface ID', [nicId]);
  }
  if (instanceId) {
    checkIdShape([instanceId], 'i', 'InvalidInstanceID.Malformed');
    const [inst] = lookupAll([instanceId], ctx.state.instances, 'InvalidInstanceID.NotFound', 'instance ID');
    if (!inst || inst.state !== 'running') {
      throw new Ec2Error('IncorrectInstanceState', `The ${inst?.state ?? 'unknown'} instance '${instanceId}' is not in a valid state for this operation.`);
    }
    if (nic && nic.attachment?.instanceId !== instanceId) {
      throw new Ec2Error('InvalidParameterCombination', `Network interface ${nic.networkInterfaceId} is not attached to instance ${instanceId}.`);
    }
    nic ??= inst.networkInterfaces.find((n) => n.attachment?.deviceIndex === 0);
    if (!nic) throw new Ec2Error('InvalidInstanceID', `The instance '${instanceId}' has no primary network interface.`);
  }
  return nic!;
}

export function associateAddress(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const addr = address(ctx, p.required('AllocationId'));
  const nic = targetInterface(ctx);
  const elsewhere = addr.associationId !== undefined && addr.networkInterfaceId !== nic.networkInterfaceId;
  if (elsewhere && !p.bool('AllowReassociation')) {
    throw new Ec2Error('Resource.AlreadyAssociated', `resource ${addr.allocationId} is already associated with associate-id ${addr.associationId}`);
  }
  dryRunGate(ctx);
  if (addr.associationId !== undefined) ctx.model.disassociateAddress(addr);
  return { associationId: ctx.model.associateAddress(addr, nic) };
}

export function disassociateAddress(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const associationId = p.str('AssociationId');
  const publicIp = p.str('PublicIp');
  if (!associationId && !publicIp) throw missingParameter('AssociationId');
  const addr = [...ctx.state.addresses.values()].find((a) => (associationId ? a.associationId === associationId : a.publicIp === publicIp && a.associationId));
  if (!addr) {
    if (associationId) throw notFound('InvalidAssociationID.NotFound', 'association ID', [associationId]);
    throw new Ec2Error('InvalidAddress.NotFound', `Address '${publicIp}' not found.`);
  }
  dryRunGate(ctx);
  ctx.model.disassociateAddress(addr);
  return { return: true };
}

export function releaseAddress(ctx: ActionContext): XmlNode {
  const addr = address(ctx, ctx.params.required('AllocationId'));
  if (addr.associationId !== undefined) throw new Ec2Error('InvalidIPAddress.InUse', `Address '${addr.publicIp}' is in use.`);
  dryRunGate(ctx);
  ctx.state.addresses.delete(addr.allocationId);
  ctx.model.releasePublicIp(addr.publicIp);
  return { return: true };
}
