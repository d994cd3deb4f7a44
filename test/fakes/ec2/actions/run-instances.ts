/**
 * RunInstances: validate into a plan, honour the ClientToken (the SDK sends one on every call and
 * keeps it across its own retries, so a retried launch returns the instance already made), then
 * create the instance with its root volume and primary interface.
 */
import { Ec2Error } from '../errors.js';
import type { Ec2Model } from '../model.js';
import { renderInstance } from '../render.js';
import type { FakeInstance, FakeNetworkInterface, FakeVolume } from '../resources.js';
import type { XmlNode } from '../xml.js';
import { dryRunGate, type ActionContext } from './context.js';
import { planLaunch, type LaunchPlan } from './launch-plan.js';

/** The request minus what may differ between attempts of the same launch. */
function fingerprint(params: URLSearchParams): string {
  const skip = new Set(['Action', 'Version', 'ClientToken', 'DryRun']);
  return JSON.stringify([...params].filter(([k]) => !skip.has(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function reservation(ctx: ActionContext, inst: FakeInstance, omitPrivateIp: boolean): XmlNode {
  return {
    reservationId: inst.reservationId,
    ownerId: ctx.state.ownerId,
    groupSet: [],
    instancesSet: [renderInstance(ctx.state, inst, { omitPrivateIp })],
  };
}

function launch(model: Ec2Model, plan: LaunchPlan, clientToken: string | undefined): FakeInstance {
  const { state } = model;
  // The address first: running out of them must fail the request before anything exists.
  const privateIp = model.allocatePrivateIp(plan.subnet);
  const instanceId = model.newId('i');
  const launchTime = new Date(model.now());
  const nic: FakeNetworkInterface = {
    networkInterfaceId: model.newId('eni'),
    subnetId: plan.subnet.subnetId,
    vpcId: plan.subnet.vpcId,
    availabilityZone: plan.subnet.availabilityZone,
    privateIpAddress: privateIp,
    macAddress: model.macAddress(),
    securityGroupIds: plan.securityGroupIds,
    status: 'in-use',
    attachment: { instanceId, attachmentId: model.newId('eni-attach'), deviceIndex: 0, deleteOnTermination: plan.nicDeleteOnTermination, attachTime: launchTime },
    associatePublicIpAddress: plan.associatePublicIp,
    tags: { ...plan.tags['network-interface'] },
  };
  state.networkInterfaces.set(nic.networkInterfaceId, nic);
  const mappings = plan.volumes.map((v) => {
    const vol: FakeVolume = {
      volumeId: model.newId('vol'),
      sizeGiB: v.sizeGiB,
      volumeType: v.volumeType,
      snapshotId: v.snapshotId,
      encrypted: v.encrypted,
      availabilityZone: plan.subnet.availabilityZone,
      state: 'in-use',
      attachment: { instanceId, device: v.deviceName, deleteOnTermination: v.deleteOnTermination },
      tags: { ...plan.tags.volume },
    };
    state.volumes.set(vol.volumeId, vol);
    return { deviceName: v.deviceName, volumeId: vol.volumeId, volumeSizeGiB: v.sizeGiB, volumeType: v.volumeType, deleteOnTermination: v.deleteOnTermination };
  });
  const inst: FakeInstance = {
    instanceId,
    reservationId: model.newId('r'),
    imageId: plan.image.imageId,
    instanceType: plan.type.instanceType,
    keyName: plan.keyName,
    subnetId: plan.subnet.subnetId,
    vpcId: plan.subnet.vpcId,
    availabilityZone: plan.subnet.availabilityZone,
    securityGroupIds: plan.securityGroupIds,
    state: 'pending',
    tags: { ...plan.tags.instance },
    userData: plan.userData,
    cpuOptions: plan.cpuOptions,
    metadataOptions: plan.metadataOptions,
    blockDeviceMappings: mappings,
    networkInterfaces: [nic],
    rootDeviceName: plan.image.rootDeviceName ?? '/dev/xvda',
    bootMode: plan.image.bootMode ?? 'uefi',
    architecture: plan.image.architecture ?? 'x86_64',
    clientToken,
    launchTemplateName: plan.launchTemplateName,
    launchTime,
  };
  model.addInstance(inst);
  return inst;
}

export function runInstances(ctx: ActionContext): XmlNode {
  const plan = planLaunch(ctx.state, ctx.params);
  dryRunGate(ctx);
  const clientToken = ctx.params.str('ClientToken') || undefined;
  const print = fingerprint(ctx.params.raw);
  if (clientToken) {
    const earlier = ctx.model.findClientToken(clientToken);
    if (earlier) {
      if (earlier.fingerprint !== print) {
        throw new Ec2Error('IdempotentParameterMismatch', `The client token '${clientToken}' was already used with different parameters.`);
      }
      const inst = ctx.state.instances.get(earlier.instanceId);
      if (inst) return reservation(ctx, inst, ctx.state.omitPrivateIpInRunResponse);
    }
  }
  const inst = launch(ctx.model, plan, clientToken);
  if (clientToken) ctx.model.rememberClientToken(clientToken, inst.instanceId, print);
  return reservation(ctx, inst, ctx.state.omitPrivateIpInRunResponse);
}
