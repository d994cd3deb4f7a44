/**
 * `POST /instances` made safe to retry. VPC instance names are unique in a VPC, so a create whose
 * reply was lost and that the client then retried is refused with `validation_unique_failed`: the
 * instance of that name is looked up, and if its primary interface carries this sandbox's
 * fingerprint (tags.ts) it is adopted — one instance, never two. When the create never answered at
 * all (every attempt failed), the name is looked up the same way and an instance found there is
 * reported as `partialInstanceId` for the caller to delete. A dedicated host that refuses falls back
 * to the dedicated host group (reference §4.4).
 */
import type { Logger } from 'pino';
import { ProviderError, isProviderError } from '../errors.js';
import type { VpcApi } from './client.js';
import { ibmErrorCode } from './errors.js';
import { waitGone } from './readiness.js';
import type { InstancePrototype, VpcInstance } from './vpc-types.js';

export interface LaunchContext {
  api: VpcApi;
  log: Logger;
  vpcId: string;
  /** The primary interface name this sandbox's instances carry. */
  fingerprint: string;
  /** Attached, best effort, to an instance found after a lost reply (the caller deletes it, but may crash first). */
  tags: readonly string[];
  placement: { hostId?: string; groupId?: string };
}

type Found = { instance: VpcInstance; ours: boolean } | undefined;

async function findByName(ctx: LaunchContext, name: string, signal: AbortSignal): Promise<Found> {
  const instance = (await ctx.api.listInstances({ name, vpcId: ctx.vpcId }, signal)).find((i) => i.name === name);
  return instance && { instance, ours: instance.primary_network_interface?.name === ctx.fingerprint };
}

async function createOrAdopt(ctx: LaunchContext, prototype: InstancePrototype, signal: AbortSignal): Promise<VpcInstance> {
  const name = prototype.name;
  for (let round = 0; round < 2; round++) {
    try {
      return await ctx.api.createInstance(prototype, signal);
    } catch (err) {
      if (!isProviderError(err) || err.code === 'CANCELLED') throw err;
      if (ibmErrorCode(err.cause) === 'validation_unique_failed') {
        const found = await findByName(ctx, name, signal);
        if (!found) throw new ProviderError('UNAVAILABLE', `instance name ${name} is in use, but no instance of that name is listed yet`, { cause: err });
        if (!found.ours) {
          throw new ProviderError('INVALID_REQUEST', `instance name ${name} is taken in VPC ${ctx.vpcId} by ${found.instance.id}, which belongs to another sandbox`, { cause: err });
        }
        if (found.instance.status === 'deleting') {
          ctx.log.info({ instanceId: found.instance.id }, `waiting for instance ${found.instance.id}, an earlier attempt being deleted, to free the name ${name}`);
          await waitGone(ctx.api, found.instance.id, signal);
          continue;
        }
        ctx.log.info({ instanceId: found.instance.id }, `adopted instance ${found.instance.id}: an earlier attempt of this create made it and its reply was lost`);
        return found.instance;
      }
      if (err.code === 'UNAVAILABLE' || err.code === 'THROTTLED') {
        // The outcome is unknown: an attempt may have taken effect before its reply was lost.
        const found = await findByName(ctx, name, signal).catch(() => undefined);
        if (found?.ours && found.instance.status !== 'deleting') {
          await ctx.api.attachTags(found.instance.crn, ctx.tags, AbortSignal.any([signal, AbortSignal.timeout(10_000)])).catch(() => undefined);
          throw new ProviderError(err.code, `${err.message}; instance ${found.instance.id} was created nonetheless`, { partialInstanceId: found.instance.id, cause: err });
        }
      }
      throw err;
    }
  }
  throw new ProviderError('UNAVAILABLE', `instance name ${name} is still held by an instance being deleted`);
}

/** Creates the instance, on the dedicated host, else the host group, else wherever the zone puts it. */
export async function launch(ctx: LaunchContext, prototype: InstancePrototype, signal: AbortSignal): Promise<VpcInstance> {
  const targets = [ctx.placement.hostId, ctx.placement.groupId].filter((id): id is string => Boolean(id));
  if (targets.length === 0) return createOrAdopt(ctx, prototype, signal);
  for (const [i, id] of targets.entries()) {
    try {
      return await createOrAdopt(ctx, { ...prototype, placement_target: { id } }, signal);
    } catch (err) {
      const next = targets[i + 1];
      if (next && isProviderError(err) && (err.code === 'CAPACITY' || err.code === 'INVALID_REQUEST') && !err.partialInstanceId) {
        ctx.log.warn({ placement: id, next, err }, `dedicated host ${id} refused the instance; trying dedicated host group ${next}`);
        continue;
      }
      throw err;
    }
  }
  throw new ProviderError('INTERNAL', 'no placement target to try');
}
