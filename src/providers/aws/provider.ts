/**
 * Peer-pod VMs as EC2 instances (reference §4.2). One object per daemon; every method may run
 * concurrently. Every instance, its root volume and its network interface carry our tags from the
 * moment RunInstances creates them, so `listInstances` can always find what a crash left behind.
 */
import { messageOf } from '../../util/errors.js';
import { createHash, randomBytes } from 'node:crypto';
import type { Instance as Ec2Instance, RunInstancesCommandInput, Tag } from '@aws-sdk/client-ec2';
import type { Logger } from 'pino';
import { ProviderError, isProviderError } from '../errors.js';
import { tryTypesInTurn } from '../capacity-fallback.js';
import { CloudProvider, type CloudParts } from '../cloud-provider.js';
import { afterCreated, checkUserDataBytes } from '../create-checks.js';
import { candidateTypes, type InstanceTypeInfo } from '../instance-type.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider } from '../provider.js';
import { requestLog } from '../request-log.js';
import { Backoff, sleep } from '../../util/backoff.js';
import type { Ec2Api } from './client.js';
import type { AwsConfig } from './config.js';
import { ec2ErrorCode } from './errors.js';

/** EC2 refuses more than this many bytes of user-data, counted before base64. */
export const MAX_USER_DATA_BYTES = 16_384;
/** How long to wait for a private IP (absent from the RunInstances reply) or, with a public IP, for `running`. */
const ADDRESS_WAIT_MS = 120_000;
const INSTANCE_ID = /^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
/** Instances in these states still exist (and still cost money). */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

/** What start-up learned from the configuration, the metadata service and the cloud. */
export interface AwsSettings {
  region: string;
  subnetId: string;
  securityGroupIds: string[];
  keyName: string;
  /** The AMI's root device (for the root volume size mapping); empty in launch-template mode. */
  rootDeviceName: string;
  /** GiB; 0 = leave the AMI's. */
  rootVolumeSize: number;
  /** The allowed types (or just the default), sorted for selection. */
  specList: InstanceTypeInfo[];
}

export class AwsProvider extends CloudProvider<Ec2Api, AwsConfig, AwsSettings> implements Provider {
  readonly name = 'aws';
  private readonly imageRoots = new Map<string, { rootDeviceName: string; sizeGiB: number }>();

  constructor(parts: CloudParts<Ec2Api, AwsConfig, AwsSettings>) {
    super('aws', 'instances get one interface', parts);
  }

  async createInstance(req: CreateInstanceRequest, signal: AbortSignal): Promise<Instance> {
    checkUserDataBytes(req, MAX_USER_DATA_BYTES, `EC2 accepts at most ${MAX_USER_DATA_BYTES} bytes (before base64)`);
    const log = requestLog(this.log, req.logger, { sandbox: req.sandboxId });
    this.multiNic.check(req.spec, log);
    const base = await this.baseInput(req, signal);
    // One nonce per createInstance call: the SDK's own retries of a RunInstances whose reply was
    // lost reuse the token and get the same instance back instead of a second one.
    const nonce = randomBytes(8).toString('hex');
    const candidates = this.config.useLaunchTemplate ? [''] : this.candidateTypes(req);
    const { result: created, type } = await tryTypesInTurn({
      candidates,
      where: `in ${this.settings.region}`,
      log,
      signal,
      cloudCode: (err) => ec2ErrorCode(err.cause),
      attempt: (t) =>
        this.api.runInstances(
          { ...base, ...(t ? { InstanceType: t as RunInstancesCommandInput['InstanceType'] } : {}), ClientToken: clientToken(req.sandboxId, t, nonce) },
          signal,
        ),
    });
    const id = created.InstanceId!;
    const instanceType = created.InstanceType ?? type;
    log.info({ instanceId: id, instanceType }, `created instance ${id} (${instanceType}) for ${req.instanceName}`);
    return afterCreated({ id, what: `instance ${id} created but not reachable`, signal }, async () => ({ id, name: req.instanceName, ips: await this.addressesOf(created, signal), instanceType }));
  }

  async deleteInstance(instanceId: string, signal: AbortSignal, logger?: Logger): Promise<void> {
    const log = requestLog(this.log, logger);
    if (!INSTANCE_ID.test(instanceId)) {
      // Never a silent success: a delete that "succeeds" on a bad id is how VMs leak (reference §7.2).
      throw new ProviderError('INVALID_REQUEST', `"${instanceId}" is not an EC2 instance id (i- followed by 8 or 17 hex digits)`);
    }
    for (const addr of await this.api.describeAddresses([{ Name: 'instance-id', Values: [instanceId] }], signal)) {
      if (addr.AssociationId) await ignoreNotFound(this.api.disassociateAddress(addr.AssociationId, signal));
      if (addr.AllocationId) {
        await ignoreNotFound(this.api.releaseAddress(addr.AllocationId, signal));
        log.info({ instanceId, allocationId: addr.AllocationId }, `released elastic IP ${addr.PublicIp ?? addr.AllocationId}`);
      }
    }
    try {
      await this.api.terminateInstances([instanceId], signal);
      log.info({ instanceId }, `terminating instance ${instanceId}`);
    } catch (err) {
      if (isProviderError(err, 'NOT_FOUND')) {
        log.info({ instanceId }, `instance ${instanceId} is already gone`);
        return;
      }
      throw err;
    }
  }

  async listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    const filters = [
      ...Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })),
      { Name: 'instance-state-name', Values: LIVE_STATES },
    ];
    const found = await this.api.describeInstances({ Filters: filters }, signal);
    return found.map((i) => {
      const t = tagRecord(i.Tags);
      return { id: i.InstanceId!, name: t.Name ?? '', tags: t };
    });
  }

  async teardown(): Promise<void> {
    this.api.close();
  }

  private candidateTypes(req: CreateInstanceRequest): string[] {
    return candidateTypes({ spec: req.spec, specList: this.settings.specList, defaultType: this.config.instanceType, allowed: this.config.instanceTypes });
  }

  /** Everything of RunInstances but the type and the idempotency token. */
  private async baseInput(req: CreateInstanceRequest, signal: AbortSignal): Promise<RunInstancesCommandInput> {
    const c = this.config;
    const s = this.settings;
    // Ours last: TAGS may add tags but never overwrite the ones the daemon finds its instances by.
    const tags = toTags({ Name: req.instanceName, ...c.tags, ...req.tags });
    const input: RunInstancesCommandInput = {
      MinCount: 1,
      MaxCount: 1,
      UserData: Buffer.from(req.userData, 'utf8').toString('base64'),
      TagSpecifications: (['instance', 'volume', 'network-interface'] as const).map((ResourceType) => ({ ResourceType, Tags: tags })),
    };
    if (c.useLaunchTemplate) return { ...input, LaunchTemplate: { LaunchTemplateName: c.launchTemplateName } };

    const imageId = req.spec.image || c.imageId;
    const root = await this.imageRoot(imageId, signal);
    Object.assign(input, {
      ImageId: imageId,
      // IMDSv2 only, and a hop limit of 1 so containers in the pod's namespace cannot reach it.
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
      ...(s.keyName ? { KeyName: s.keyName } : {}),
      ...(c.disableCvm ? {} : { CpuOptions: { AmdSevSnp: 'enabled' } }),
    } satisfies Partial<RunInstancesCommandInput>);
    if (c.usePublicIp) {
      input.NetworkInterfaces = [
        { DeviceIndex: 0, AssociatePublicIpAddress: true, SubnetId: s.subnetId, Groups: s.securityGroupIds, DeleteOnTermination: true },
      ];
    } else {
      input.SubnetId = s.subnetId || undefined;
      input.SecurityGroupIds = s.securityGroupIds.length ? s.securityGroupIds : undefined;
    }
    const size = s.rootVolumeSize > 0 ? Math.max(s.rootVolumeSize, root.sizeGiB) : 0;
    if (size > 0 && root.rootDeviceName) {
      input.BlockDeviceMappings = [{ DeviceName: root.rootDeviceName, Ebs: { VolumeSize: size, DeleteOnTermination: true } }];
    }
    return input;
  }

  /** Root device and size of an AMI; the configured one is known from start-up, overrides are looked up once. */
  private async imageRoot(imageId: string, signal: AbortSignal): Promise<{ rootDeviceName: string; sizeGiB: number }> {
    if (imageId === this.config.imageId) return { rootDeviceName: this.settings.rootDeviceName, sizeGiB: 0 };
    const known = this.imageRoots.get(imageId);
    if (known) return known;
    const [image] = await this.api.describeImages([imageId], signal).catch((err: unknown) => {
      throw isProviderError(err, 'NOT_FOUND') || isProviderError(err, 'INVALID_REQUEST')
        ? new ProviderError('INVALID_REQUEST', `image ${imageId} from the pod's image annotation: ${messageOf(err)}`, { cause: err })
        : err;
    });
    if (!image) throw new ProviderError('INVALID_REQUEST', `image ${imageId} from the pod's image annotation does not exist`);
    const root = imageRootOf(image);
    this.imageRoots.set(imageId, root);
    return root;
  }

  /**
   * Private IPs of every interface, as RunInstances returned them; when absent, or when the
   * forwarder is to be reached on a public IP, ask DescribeInstances until they are there.
   */
  private async addressesOf(created: Ec2Instance, signal: AbortSignal): Promise<string[]> {
    let ips = privateIps(created);
    if (ips.length > 0 && !this.config.usePublicIp) return ips;
    const id = created.InstanceId!;
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(ADDRESS_WAIT_MS)]);
    const backoff = new Backoff({ initialMs: 250, maxMs: 3_000 });
    for (;;) {
      const [current] = await this.api.describeInstances({ InstanceIds: [id] }, deadline).catch((err: unknown) => {
        // Eventual consistency: a new instance can be unknown to Describe* for a moment.
        if (isProviderError(err, 'NOT_FOUND')) return [];
        throw err;
      });
      if (current) {
        ips = privateIps(current);
        const state = current.State?.Name ?? '';
        if (state === 'terminated' || state === 'shutting-down') {
          throw new ProviderError('UNAVAILABLE', `instance ${id} is ${state} (${current.StateReason?.Message ?? 'no reason given'})`);
        }
        if (!this.config.usePublicIp && ips.length > 0) return ips;
        const publicIp = current.PublicIpAddress || current.NetworkInterfaces?.[0]?.Association?.PublicIp;
        if (this.config.usePublicIp && state === 'running' && publicIp && ips.length > 0) return [publicIp, ...ips];
      }
      try {
        await sleep(backoff.next(), deadline);
      } catch {
        if (signal.aborted) throw new ProviderError('CANCELLED', `cancelled while waiting for the addresses of ${id}`);
        throw new ProviderError('UNAVAILABLE', `instance ${id} has no ${this.config.usePublicIp ? 'public IP' : 'private IP'} after ${ADDRESS_WAIT_MS / 1000}s`);
      }
    }
  }
}

export function imageRootOf(image: { RootDeviceName?: string; BlockDeviceMappings?: { DeviceName?: string; Ebs?: { VolumeSize?: number } }[] }): {
  rootDeviceName: string;
  sizeGiB: number;
} {
  const rootDeviceName = image.RootDeviceName ?? '';
  const mapping = image.BlockDeviceMappings?.find((m) => m.DeviceName === rootDeviceName);
  return { rootDeviceName, sizeGiB: mapping?.Ebs?.VolumeSize ?? 0 };
}

function privateIps(i: Ec2Instance): string[] {
  const ips = new Set<string>();
  const nics = [...(i.NetworkInterfaces ?? [])].sort((a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0));
  if (i.PrivateIpAddress) ips.add(i.PrivateIpAddress);
  for (const nic of nics) if (nic.PrivateIpAddress) ips.add(nic.PrivateIpAddress);
  ips.delete('0.0.0.0');
  return [...ips];
}

function toTags(record: Record<string, string>): Tag[] {
  return Object.entries(record).map(([Key, Value]) => ({ Key, Value }));
}

function tagRecord(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key) out[t.Key] = t.Value ?? '';
  return out;
}

/** ≤ 64 ASCII characters, unique per call and type (a different type with one token is an EC2 error). */
function clientToken(sandboxId: string, type: string, nonce: string): string {
  return createHash('sha256').update(`${sandboxId}/${type}/${nonce}`).digest('hex').slice(0, 48);
}

async function ignoreNotFound(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isProviderError(err, 'NOT_FOUND')) throw err;
  }
}
