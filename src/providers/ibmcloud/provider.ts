/**
 * Peer-pod VMs as IBM Cloud VPC instances (reference §4.4). One object per daemon; every method may run
 * concurrently.
 *
 * Tags: IBM attaches tags through the Global Tagging API, after the instance exists, so there is a
 * window in which an instance has none. Every instance therefore carries this sandbox's identity from
 * the moment POST /instances creates it: its name (`podvm-<pod>-<sid8>`, unique in the VPC) and the
 * fingerprint of cluster, node and sandbox in its primary interface's name (tags.ts). The tags are
 * attached right after the create; `listInstances` matches tags where they exist and the fingerprint
 * where they do not yet, so a create that was interrupted anywhere is found by its sandbox tags.
 */
import { messageOf } from '../../util/errors.js';
import type { Logger } from 'pino';
import { tryTypesInTurn } from '../capacity-fallback.js';
import { CloudProvider, type CloudParts } from '../cloud-provider.js';
import { afterCreated, checkUserDataBytes } from '../create-checks.js';
import { ProviderError, isProviderError } from '../errors.js';
import { candidateTypes } from '../instance-type.js';
import { TagKey, sanitize } from '../naming.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider } from '../provider.js';
import { requestLog } from '../request-log.js';
import type { VpcApi } from './client.js';
import type { IbmCloudConfig } from './config.js';
import { ibmErrorCode } from './errors.js';
import { launch } from './launch.js';
import { computeModes, imageFor, imageInfo, pairingProblem, unusableImage, type ImageInfo, type ProfileInfo } from './profiles.js';
import { waitGone, waitReady } from './readiness.js';
import type { IbmCloudSettings } from './setup.js';
import { MAX_TAG_LENGTH, checkTag, fingerprint, fingerprintVerdict, hasIdentityTags, parseTag, tagRecord, tagStrings, tagsMatch } from './tags.js';
import type { InstancePrototype } from './vpc-types.js';

/** The VPC refuses more user data than this (plain text, UTF-8 bytes). */
export const MAX_USER_DATA_BYTES = 65_536;
/** `<4 characters>_<uuid>`, the shape of VPC instance ids (e.g. `0717_1e09281b-f177-46fb-baf1-bc152b2e391a`). */
const INSTANCE_ID = /^[0-9a-z]{4}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Reasons of a `failed` instance that mean "no capacity for this profile here". */
const CAPACITY_REASON = /capacity/;
/** Tags whose values may be shortened to fit IBM's 128 characters (they are informational). */
const SHORTENABLE = new Set<string>([TagKey.POD_NAME, TagKey.POD_NAMESPACE]);

export class IbmCloudProvider extends CloudProvider<VpcApi, IbmCloudConfig, IbmCloudSettings> implements Provider {
  readonly name = 'ibmcloud';
  private readonly annotationImages = new Map<string, ImageInfo>();

  constructor(parts: CloudParts<VpcApi, IbmCloudConfig, IbmCloudSettings>) {
    super('ibmcloud', 'instances get no interface for it', parts);
  }

  async createInstance(req: CreateInstanceRequest, signal: AbortSignal): Promise<Instance> {
    checkUserDataBytes(req, MAX_USER_DATA_BYTES, `the VPC accepts at most ${MAX_USER_DATA_BYTES} bytes`);
    const log = requestLog(this.log, req.logger, { sandbox: req.sandboxId });
    this.multiNic.check(req.spec, log);
    const tags = this.tagsFor(req);
    const nicName = fingerprint({ cluster: req.tags[TagKey.CLUSTER] ?? '', node: req.tags[TagKey.NODE] ?? '', sandbox: req.sandboxId });
    const candidates = this.candidateProfiles(req);
    const byName = new Map(candidates.map((p) => [p.name, p]));
    const { result } = await tryTypesInTurn({
      candidates: candidates.map((p) => p.name),
      where: `in ${this.settings.zone}`,
      noun: 'profile',
      log,
      signal,
      cloudCode: (err) => ibmErrorCode(err.cause) || (err instanceof CapacityAfterStart ? err.reasonCode : ''),
      // A refusal that left an instance behind: it holds the name the next profile needs.
      stopOn: (err) => err.partialInstanceId !== undefined,
      attempt: async (name) => {
        const profile = byName.get(name)!;
        const prototype = this.prototype(req, profile, await this.imageFor(profile, req.spec.image, signal), nicName);
        const created = await launch({ api: this.api, log, vpcId: this.settings.vpcId, fingerprint: nicName, tags, placement: this.settings.placement }, prototype, signal);
        const id = created.id;
        log.info({ instanceId: id, instanceType: profile.name }, `created instance ${id} (${profile.name}) for ${req.instanceName}`);
        // From here on the instance exists: every failure names it for the caller to delete.
        const usable = { id, what: `instance ${id} created but not usable`, signal, passThrough: (err: unknown) => err instanceof CapacityAfterStart };
        return afterCreated(usable, async () => {
          await this.api.attachTags(created.crn, tags, signal);
          const ready = await waitReady(this.api, created, signal);
          if ('ips' in ready) return { id, name: req.instanceName, ips: ready.ips, instanceType: profile.name };
          const reason = `${ready.failed.code}: ${ready.failed.message}`;
          if (!CAPACITY_REASON.test(ready.failed.code)) throw new ProviderError('UNAVAILABLE', `instance ${id} failed to start (${reason})`);
          // Capacity shows up here, after a 201: free the name (the next profile's create reuses it).
          await this.deleteAndWaitGone(id, signal, log);
          throw new CapacityAfterStart(ready.failed.code, reason);
        });
      },
    });
    return result;
  }

  async deleteInstance(instanceId: string, signal: AbortSignal, logger?: Logger): Promise<void> {
    const log = requestLog(this.log, logger);
    if (!INSTANCE_ID.test(instanceId)) {
      // Never a silent success: a delete that "succeeds" on a bad id is how VMs leak (reference §7.2).
      throw new ProviderError('INVALID_REQUEST', `"${instanceId}" is not a VPC instance id (4 characters, "_", a UUID)`);
    }
    try {
      await this.api.deleteInstance(instanceId, signal);
      log.info({ instanceId }, `deleting instance ${instanceId}`);
    } catch (err) {
      if (isProviderError(err, 'NOT_FOUND')) {
        log.info({ instanceId }, `instance ${instanceId} is already gone`);
        return;
      }
      // 409: an instance already `deleting` cannot be deleted again, which is what we wanted.
      if (isProviderError(err, 'INVALID_REQUEST')) {
        const current = await this.api.getInstance(instanceId, signal).catch((e: unknown) => {
          if (isProviderError(e, 'NOT_FOUND')) return undefined;
          throw e;
        });
        if (!current || current.status === 'deleting') return;
      }
      throw err;
    }
  }

  async listInstances(filter: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    const sandbox = filter[TagKey.SANDBOX];
    const sid8 = sandbox !== undefined ? sanitize(sandbox).slice(0, 8) : undefined;
    const candidates = (await this.api.listInstances({ vpcId: this.settings.vpcId }, signal)).filter(
      (i) => i.name.startsWith('podvm-') && i.status !== 'deleting' && fingerprintVerdict(i.primary_network_interface?.name, filter) !== 'mismatch',
    );
    const found = await Promise.all(
      candidates.map(async (i): Promise<InstanceSummary | undefined> => {
        const tags = tagRecord(await this.api.listTags(i.crn, signal));
        if (hasIdentityTags(tags)) return tagsMatch(tags, filter) ? { id: i.id, name: i.name, tags } : undefined;
        // Not tagged (yet): the name and the fingerprint set at creation decide.
        const named = sid8 === undefined || i.name.endsWith(`-${sid8}`);
        return named && fingerprintVerdict(i.primary_network_interface?.name, filter) === 'match' ? { id: i.id, name: i.name, tags: { ...filter } } : undefined;
      }),
    );
    return found.filter((s): s is InstanceSummary => s !== undefined);
  }

  async teardown(): Promise<void> {
    this.api.close();
  }

  private async deleteAndWaitGone(id: string, signal: AbortSignal, log: Logger): Promise<void> {
    await this.deleteInstance(id, signal, log);
    await waitGone(this.api, id, signal);
  }

  /**
   * The selected profile, then (capacity fallback) the other allowed ones that fit, of the same
   * architecture and Secure Execution kind: the pod's image is built for one of them.
   */
  private candidateProfiles(req: CreateInstanceRequest): ProfileInfo[] {
    const specList = this.settings.specList;
    const names = candidateTypes({ spec: req.spec, specList, defaultType: this.settings.defaultProfile, allowed: this.config.profileList });
    const byName = new Map(specList.map((p) => [p.name, p]));
    const first = byName.get(names[0]!);
    if (!first) throw new ProviderError('INVALID_REQUEST', `instance profile ${names[0]} was not looked up at start-up`);
    return names
      .map((n) => byName.get(n))
      .filter((p): p is ProfileInfo => p !== undefined && p.architecture === first.architecture && p.secureExecution === first.secureExecution);
  }

  /** The image for this profile: the pod's annotation (checked against the profile), else the first configured one that fits. */
  private async imageFor(profile: ProfileInfo, annotation: string, signal: AbortSignal): Promise<ImageInfo> {
    if (!annotation) {
      const image = imageFor(profile, this.settings.images);
      if (!image) throw new ProviderError('INVALID_CONFIG', `no configured image boots profile ${profile.name}`);
      return image;
    }
    let image = this.settings.images.find((i) => i.id === annotation) ?? this.annotationImages.get(annotation);
    if (!image) {
      const got = await this.api.getImage(annotation, signal).catch((err: unknown) => {
        throw isProviderError(err, 'NOT_FOUND') || isProviderError(err, 'INVALID_REQUEST')
          ? new ProviderError('INVALID_REQUEST', `image ${annotation} from the pod's image annotation: ${messageOf(err)}`, { cause: err })
          : err;
      });
      const why = unusableImage(got);
      if (why) throw new ProviderError('INVALID_REQUEST', `image ${annotation} from the pod's image annotation cannot boot (${why})`);
      image = imageInfo(got);
      this.annotationImages.set(annotation, image);
    }
    const problem = pairingProblem(profile, image);
    if (problem) throw new ProviderError('INVALID_REQUEST', `the pod's image annotation: ${problem}`);
    return image;
  }

  /** Ours win over TAGS on a clash; informational values are shortened to fit IBM's 128 characters. */
  private tagsFor(req: CreateInstanceRequest): string[] {
    const record: Record<string, string> = {};
    for (const t of this.config.tags) {
      const [k, v] = parseTag(t);
      record[k] = v;
    }
    for (const [k, v] of Object.entries(req.tags)) record[k] = SHORTENABLE.has(k) ? v.slice(0, Math.max(0, MAX_TAG_LENGTH - k.length - 1)) : v;
    const tags = tagStrings(record);
    for (const t of tags) {
      const problem = checkTag(t);
      if (problem) throw new ProviderError('INVALID_REQUEST', `tag "${t}" of ${req.instanceName} is not a valid IBM tag: ${problem}`);
    }
    return tags;
  }

  private prototype(req: CreateInstanceRequest, profile: ProfileInfo, image: ImageInfo, nicName: string): InstancePrototype {
    const s = this.settings;
    return {
      name: req.instanceName,
      image: { id: image.id },
      profile: { name: profile.name },
      zone: { name: s.zone },
      vpc: { id: s.vpcId },
      ...(s.keyIds.length ? { keys: s.keyIds.map((id) => ({ id })) } : {}),
      ...(s.resourceGroupId ? { resource_group: { id: s.resourceGroupId } } : {}),
      primary_network_interface: {
        name: nicName,
        subnet: { id: s.subnetId },
        ...(s.securityGroupIds.length ? { security_groups: s.securityGroupIds.map((id) => ({ id })) } : {}),
      },
      ...(s.secondary
        ? {
            network_interfaces: [
              {
                name: 'tunnel',
                subnet: { id: s.secondary.subnetId },
                allow_ip_spoofing: true,
                ...(s.secondary.securityGroupId ? { security_groups: [{ id: s.secondary.securityGroupId }] } : {}),
              },
            ],
          }
        : {}),
      metadata_service: { enabled: true, protocol: 'http' },
      user_data: req.userData,
      ...computeModes(profile, this.config.disableCvm),
    };
  }
}

/** An instance that failed to start for want of capacity, already deleted: try the next profile. */
class CapacityAfterStart extends ProviderError {
  constructor(
    readonly reasonCode: string,
    reason: string,
  ) {
    super('CAPACITY', reason);
  }
}
