/**
 * Peer-pod VMs as Azure confidential VMs (reference §4.3). One object per daemon; every method may
 * run concurrently. A create is one VM PUT (a long-running operation) that brings its NIC, OS disk
 * and public IP along, all with `deleteOption: Delete`, so one VM DELETE removes everything and no
 * NIC can outlive its VM. The VM and its NIC and public IP carry our tags from the PUT on, so
 * `listInstances` finds what a crash left behind.
 */
import type { VirtualMachine } from '@azure/arm-compute';
import type { Logger } from 'pino';
import { tryTypesInTurn } from '../capacity-fallback.js';
import { CloudProvider, type CloudParts } from '../cloud-provider.js';
import { afterCreated } from '../create-checks.js';
import { ProviderError, asProviderError, isProviderError } from '../errors.js';
import { candidateTypes, type InstanceTypeInfo } from '../instance-type.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider } from '../provider.js';
import { requestLog } from '../request-log.js';
import { Backoff, sleep } from '../../util/backoff.js';
import type { ArmApi } from './client.js';
import type { CloudEndpoints } from './cloud.js';
import type { AzureConfig } from './config.js';
import { armError, armErrorCode } from './errors.js';
import { IMAGE_ID_FORMS, groupAndName, isValidVmName, parseImageId, parseVmId, vmId, type ImageRef } from './ids.js';
import { freshPublicKey } from './ssh.js';
import { MAX_USER_DATA_BASE64, buildVm } from './vm-spec.js';

/** How long to wait for the NIC to show the addresses of a VM that Azure reports created. */
const ADDRESS_WAIT_MS = 120_000;
/** Error codes that mean "the image you named is not there (or not yours to read)". */
const IMAGE_ERRORS = new Set(['ImageNotFound', 'GalleryImageNotFound', 'InvalidImageReference', 'ImageVersionNotFound']);

/** What start-up learned from the configuration and the cloud. */
export interface AzureSettings {
  cloud: CloudEndpoints;
  /** The allowed sizes (or just the default), sorted for selection. */
  specList: InstanceTypeInfo[];
  /** The operator's key from `-ssh-key-path`; undefined = a fresh key per VM. */
  sshPublicKey?: string;
  /** Which identity signs the calls (no ids, no secrets). */
  identity: string;
}

export class AzureProvider extends CloudProvider<ArmApi, AzureConfig, AzureSettings> implements Provider {
  readonly name = 'azure';

  constructor(parts: CloudParts<ArmApi, AzureConfig, AzureSettings>) {
    super('azure', 'VMs get one NIC', parts);
  }

  async createInstance(req: CreateInstanceRequest, signal: AbortSignal): Promise<Instance> {
    const c = this.config;
    const userDataBase64 = Buffer.from(req.userData, 'utf8').toString('base64');
    if (userDataBase64.length > MAX_USER_DATA_BASE64) {
      throw new ProviderError(
        'INVALID_REQUEST',
        `user-data for ${req.instanceName} is ${Buffer.byteLength(req.userData, 'utf8')} bytes, ${userDataBase64.length} bytes in base64; Azure accepts at most ${MAX_USER_DATA_BASE64} bytes of base64 userData`,
      );
    }
    if (!isValidVmName(req.instanceName)) {
      throw new ProviderError('INVALID_REQUEST', `"${req.instanceName}" is not a valid Azure VM name (1–64 letters, digits, _ . -)`);
    }
    const log = requestLog(this.log, req.logger, { sandbox: req.sandboxId });
    this.multiNic.check(req.spec, log);
    const image = this.imageFor(req);
    const candidates = this.candidateSizes(req);
    // One key per create call: a PUT that changes the key of an existing VM is refused
    // (PropertyChangeNotAllowed), and the fallback to another size PUTs the same VM again.
    const sshPublicKey = this.settings.sshPublicKey ?? (await freshPublicKey());
    // Ours last: TAGS may add tags but never overwrite the ones the daemon finds its VMs by.
    const tags = { ...c.tags, ...req.tags };
    const id = vmId({ subscriptionId: c.subscriptionId, resourceGroup: c.resourceGroup, name: req.instanceName });
    /** Whether a VM of this name may exist now (so the caller must delete `id` after a failure). */
    let mayExist = false;
    const { result: created, type: size } = await tryTypesInTurn({
      candidates,
      where: `in ${c.region}${c.zone ? ` zone ${c.zone}` : ''}`,
      noun: 'size',
      log,
      signal,
      cloudCode: (err) => armErrorCode(err.cause),
      attempt: async (size) => {
        const vm = buildVm({
          name: req.instanceName,
          location: c.region,
          size,
          image,
          userDataBase64,
          tags,
          adminUserName: c.sshUserName,
          sshPublicKey,
          subnetId: c.subnetId,
          securityGroupId: c.securityGroupId,
          usePublicIp: c.usePublicIp,
          confidential: !c.disableCvm,
          secureBoot: c.enableSecureBoot,
          osDiskSizeGb: c.rootVolumeSize,
          zone: c.zone,
        });
        let accepted = false;
        try {
          return await this.api.createVm(c.resourceGroup, req.instanceName, vm, signal, () => (accepted = true));
        } catch (err) {
          const perr = asProviderError(err, signal);
          mayExist ||= accepted || !refusedUpFront(perr);
          const partial = mayExist ? { partialInstanceId: id } : {};
          // The same VM is PUT again with the next size: a partial id rides along to the final error.
          if (perr.code === 'CAPACITY') throw new ProviderError('CAPACITY', perr.message, { ...partial, cause: perr });
          if (IMAGE_ERRORS.has(armErrorCode(perr)) || (perr.code === 'NOT_FOUND' && /image/i.test(perr.message))) {
            const from = req.spec.image ? "from the pod's image annotation" : '(AZURE_IMAGE_ID)';
            throw new ProviderError(req.spec.image ? 'INVALID_REQUEST' : 'INVALID_CONFIG', `image ${image.id} ${from}: ${perr.message}`, { ...partial, cause: err });
          }
          throw new ProviderError(perr.code, perr.message, { ...partial, cause: perr.cause ?? perr });
        }
      },
    });
    const instanceType = created.hardwareProfile?.vmSize ?? size;
    log.info({ instanceId: id, instanceType }, `created VM ${req.instanceName} (${instanceType}) in ${c.resourceGroup}`);
    return afterCreated({ id, what: `VM ${req.instanceName} created but not reachable`, signal }, async () => ({ id, name: req.instanceName, ips: await this.addressesOf(created, signal), instanceType }));
  }

  async deleteInstance(instanceId: string, signal: AbortSignal, logger?: Logger): Promise<void> {
    const log = requestLog(this.log, logger);
    // Never a silent success: a delete that "succeeds" on a bad id is how VMs leak (reference §7.2).
    const ref = parseVmId(instanceId);
    if (ref.subscriptionId.toLowerCase() !== this.config.subscriptionId.toLowerCase()) {
      throw new ProviderError('INVALID_REQUEST', `VM ${instanceId} is in subscription ${ref.subscriptionId}; this provider manages ${this.config.subscriptionId}`);
    }
    try {
      await this.api.deleteVm(ref.resourceGroup, ref.name, signal);
      log.info({ instanceId }, `deleted VM ${ref.name} with its NIC, OS disk and public IP`);
    } catch (err) {
      if (isProviderError(err, 'NOT_FOUND')) {
        log.info({ instanceId }, `VM ${ref.name} is already gone`);
        return;
      }
      throw err;
    }
  }

  async listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    const c = this.config;
    const wanted = Object.entries(tags).map(([k, v]) => [k.toLowerCase(), v] as const);
    const vms = await this.api.listVms(c.resourceGroup, signal);
    return vms
      .filter((vm) => vm.name && vm.provisioningState !== 'Deleting')
      .filter((vm) => {
        const have = new Map(Object.entries(vm.tags ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
        return wanted.every(([k, v]) => have.get(k) === v);
      })
      .map((vm) => ({ id: vmId({ subscriptionId: c.subscriptionId, resourceGroup: c.resourceGroup, name: vm.name! }), name: vm.name!, tags: { ...vm.tags } }));
  }

  async teardown(): Promise<void> {
    this.api.close();
  }

  private imageFor(req: CreateInstanceRequest): ImageRef {
    const id = req.spec.image || this.config.imageId;
    const ref = parseImageId(id);
    if (!ref) throw new ProviderError('INVALID_REQUEST', `image "${id}" from the pod's image annotation is not an Azure image id (${IMAGE_ID_FORMS})`);
    return ref;
  }

  private candidateSizes(req: CreateInstanceRequest): string[] {
    return candidateTypes({ spec: req.spec, specList: this.settings.specList, defaultType: this.config.instanceSize, allowed: this.config.instanceSizes });
  }

  /** Public IPs first (when asked for), then private ones, from the VM's NICs. */
  private async addressesOf(vm: VirtualMachine, signal: AbortSignal): Promise<string[]> {
    const nics = [...(vm.networkProfile?.networkInterfaces ?? [])].sort((a, b) => Number(b.primary ?? false) - Number(a.primary ?? false));
    if (nics.length === 0) throw new ProviderError('INTERNAL', `VM ${vm.name ?? '?'} has no network interface`);
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(ADDRESS_WAIT_MS)]);
    const backoff = new Backoff({ initialMs: 250, maxMs: 3_000 });
    for (;;) {
      try {
        const ips = await this.readAddresses(nics.map((n) => n.id ?? ''), deadline);
        if (ips) return ips;
      } catch (err) {
        // Eventual consistency: a NIC made with the VM can be unknown to the network API for a moment.
        if (!isProviderError(err, 'NOT_FOUND')) throw err;
      }
      try {
        await sleep(backoff.next(), deadline);
      } catch {
        if (signal.aborted) throw new ProviderError('CANCELLED', `cancelled while waiting for the addresses of ${vm.name ?? '?'}`);
        throw new ProviderError('UNAVAILABLE', `VM ${vm.name ?? '?'} has no ${this.config.usePublicIp ? 'public IP' : 'private IP'} after ${ADDRESS_WAIT_MS / 1000}s`);
      }
    }
  }

  /** The addresses, or undefined while one that must be there is missing. */
  private async readAddresses(nicIds: string[], signal: AbortSignal): Promise<string[] | undefined> {
    const privates: string[] = [];
    const publics: string[] = [];
    for (const nicId of nicIds) {
      const ref = groupAndName(nicId);
      if (!ref) throw new ProviderError('INTERNAL', `unexpected NIC id "${nicId}"`);
      const nic = await this.api.getNic(ref.resourceGroup, ref.name, signal);
      const configs = [...(nic.ipConfigurations ?? [])].sort((a, b) => Number(b.primary ?? false) - Number(a.primary ?? false));
      for (const ipc of configs) {
        if (ipc.privateIPAddress) privates.push(ipc.privateIPAddress);
        const pipId = ipc.publicIPAddress?.id;
        if (this.config.usePublicIp && pipId) {
          const pipRef = groupAndName(pipId);
          if (!pipRef) throw new ProviderError('INTERNAL', `unexpected public IP id "${pipId}"`);
          const pip = await this.api.getPublicIp(pipRef.resourceGroup, pipRef.name, signal);
          if (!pip.ipAddress) return undefined;
          publics.push(pip.ipAddress);
        }
      }
    }
    if (privates.length === 0 || (this.config.usePublicIp && publics.length === 0)) return undefined;
    return [...publics, ...privates];
  }
}

/**
 * Resource Manager refused the PUT itself with a 4xx (validation, quota, SKU not available,
 * throttling after the retries): nothing was created. Anything else (a lost reply, a 5xx, a cut
 * connection, an abort) may have left a VM behind.
 */
function refusedUpFront(err: ProviderError): boolean {
  const status = armError(err.cause).status;
  return status !== undefined && status >= 400 && status < 500;
}
