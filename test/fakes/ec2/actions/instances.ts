/** DescribeInstances and TerminateInstances. */
import { Ec2Error, missingParameter } from '../errors.js';
import { filterPredicate, readFilters, type FilterFields } from '../filters.js';
import { paginate } from '../pagination.js';
import { renderInstance, stateNode } from '../render.js';
import { STATE_CODES, type FakeInstance } from '../resources.js';
import type { XmlNode } from '../xml.js';
import { checkIdShape, dryRunGate, lookupAll, type ActionContext } from './context.js';

/** Terminated instances have given up their network, so network filters no longer match them. */
function live<T>(inst: FakeInstance, value: T): T[] {
  return inst.state === 'terminated' ? [] : [value];
}

const INSTANCE_FILTERS: FilterFields<FakeInstance> = {
  'instance-id': (i) => [i.instanceId],
  'instance-state-name': (i) => [i.state],
  'instance-state-code': (i) => [STATE_CODES[i.state]],
  'instance-type': (i) => [i.instanceType],
  'image-id': (i) => [i.imageId],
  'availability-zone': (i) => [i.availabilityZone],
  'key-name': (i) => [i.keyName],
  'client-token': (i) => [i.clientToken],
  'subnet-id': (i) => live(i, i.subnetId),
  'vpc-id': (i) => live(i, i.vpcId),
  'private-ip-address': (i) => live(i, i.networkInterfaces[0]?.privateIpAddress),
  'ip-address': (i) => live(i, i.networkInterfaces[0]?.association?.publicIp),
  'network-interface.network-interface-id': (i) => (i.state === 'terminated' ? [] : i.networkInterfaces.map((n) => n.networkInterfaceId)),
};

/** Creation order, then id: a total order that survives instances coming and going. */
function launchOrder(i: FakeInstance): string {
  return `${String(i.launchTime.getTime()).padStart(15, '0')}/${i.instanceId}`;
}

function instanceIds(ctx: ActionContext): string[] {
  const ids = ctx.params.list('InstanceId');
  checkIdShape(ids, 'i', 'InvalidInstanceID.Malformed');
  return ids;
}

export function describeInstances(ctx: ActionContext): XmlNode {
  const p = ctx.params;
  const ids = instanceIds(ctx);
  if (ids.length > 0 && p.has('MaxResults')) {
    throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  }
  const matches = filterPredicate(readFilters(p), INSTANCE_FILTERS, (i) => i.tags);
  dryRunGate(ctx);
  const candidates = ids.length > 0 ? lookupAll(ids, ctx.state.instances, 'InvalidInstanceID.NotFound', 'instance ID') : [...ctx.state.instances.values()];
  const page = paginate(candidates.filter(matches), p, launchOrder, { min: 5, max: 1000 });
  return {
    reservationSet: page.items.map((inst) => ({
      reservationId: inst.reservationId,
      ownerId: ctx.state.ownerId,
      groupSet: [],
      instancesSet: [renderInstance(ctx.state, inst)],
    })),
    nextToken: page.nextToken,
  };
}

export function terminateInstances(ctx: ActionContext): XmlNode {
  const ids = instanceIds(ctx);
  if (ids.length === 0) throw missingParameter('InstanceId');
  const instances = lookupAll(ids, ctx.state.instances, 'InvalidInstanceID.NotFound', 'instance ID');
  dryRunGate(ctx);
  return {
    instancesSet: instances.map((inst) => {
      const previous = ctx.model.terminate(inst);
      return { instanceId: inst.instanceId, currentState: stateNode(inst.state), previousState: stateNode(previous) };
    }),
  };
}
