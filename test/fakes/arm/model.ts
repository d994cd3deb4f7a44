/**
 * The fake's Compute and Network behaviour, independent of HTTP: VM create/update/delete as
 * long-running operations with their NIC, public IP and OS disk, ARM's validation of what matters to
 * the provider (sizes, confidential VM settings, images, SSH keys, userData size, subnets, quotas,
 * immutable properties), and time-driven completion (`tick()` brings everything up to `now`).
 */
import { randomUUID } from 'node:crypto';
import { Ipv4Pool } from '../ec2/ipv4.js';
import { ArmError } from './errors.js';
import type { FakeArmState, FakeDisk, FakeNic, FakeOperation, FakePublicIp, FakeVm, Json } from './resources.js';
import { PUBLIC_IP_CIDR, type ImageSeed, type SizeSeed } from './seeds.js';

export const MAX_USER_DATA_BASE64 = 65_536;
const FORBIDDEN_TAG_NAME = /[<>%&\\?/]/;
const SSH_KEY = /^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( .*)?$/;

export const vmKey = (resourceGroup: string, name: string): string => `${resourceGroup}/${name}`.toLowerCase();

export interface PutResult {
  status: 200 | 201;
  vm: FakeVm;
  operation: FakeOperation;
}

export interface DeleteResult {
  status: 202 | 204;
  operation?: FakeOperation;
}

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export class ArmModel {
  createDurationMs = 0;
  deleteDurationMs = 0;
  private readonly privatePools = new Map<string, Ipv4Pool>();
  private readonly publicPool = new Ipv4Pool(PUBLIC_IP_CIDR, 1, 1);

  constructor(
    readonly state: FakeArmState,
    readonly now: () => number,
  ) {}

  // ---- time ----

  /** Finishes every operation that is due. */
  tick(): void {
    const t = this.now();
    for (const op of this.state.operations.values()) {
      if (op.status !== 'InProgress' || op.doneAt > t) continue;
      op.status = op.error ? 'Failed' : 'Succeeded';
      const vm = this.state.vms.get(op.vmKey);
      if (!vm) continue;
      if (op.kind === 'delete') {
        if (op.error) vm.provisioningState = 'Failed';
        else this.removeVm(vm);
      } else {
        vm.provisioningState = op.error ? 'Failed' : 'Succeeded';
      }
    }
  }

  // ---- virtual machines ----

  putVm(sub: string, resourceGroup: string, name: string, body: unknown, asyncFailure?: { code: string; message: string }): PutResult {
    this.tick();
    this.requireGroup(resourceGroup);
    const b = obj(body);
    const props = obj(b.properties);
    const tags = this.validTags(b.tags);
    const location = str(b.location).replace(/\s+/g, '').toLowerCase();
    if (location !== this.state.region.toLowerCase()) {
      throw new ArmError('LocationNotAvailableForResourceType', `The provided location '${str(b.location)}' is not available for resource type 'Microsoft.Compute/virtualMachines'. This fake serves '${this.state.region}'.`);
    }
    const size = this.size(str(obj(props.hardwareProfile).vmSize));
    const userData = this.userData(props.userData);
    const image = this.image(obj(obj(props.storageProfile).imageReference));
    this.checkSecurity(props, size, image);
    this.checkOsProfile(obj(props.osProfile));
    if (str(obj(obj(props.storageProfile).osDisk).createOption) !== 'FromImage') {
      throw new ArmError('InvalidParameter', "osDisk.createOption must be 'FromImage' for a VM created from an image.");
    }
    const network = this.checkNetwork(obj(props.networkProfile));
    const key = vmKey(resourceGroup, name);
    const existing = this.state.vms.get(key);
    if (existing) return this.updateVm(existing, b, props, tags, size, userData, asyncFailure);

    this.checkQuota(size, size.cores);
    const id = `/subscriptions/${sub}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`;
    const groupPrefix = `/subscriptions/${sub}/resourceGroups/${resourceGroup}/providers`;
    const nicIds = network.map((cfg) => this.createNic(groupPrefix, resourceGroup, id, cfg).id);
    const disk = this.createDisk(groupPrefix, resourceGroup, id, obj(obj(props.storageProfile).osDisk), name);
    const vm: FakeVm = {
      id,
      name,
      resourceGroup,
      location: this.state.region,
      tags,
      ...(Array.isArray(b.zones) ? { zones: b.zones.map(String) } : {}),
      vmSize: size.name,
      provisioningState: 'Creating',
      properties: props,
      userData,
      nicIds,
      osDiskId: disk.id,
      vmId: randomUUID(),
      timeCreated: new Date(this.now()).toISOString(),
    };
    this.state.vms.set(key, vm);
    const operation = this.startOperation('create', key, this.createDurationMs, asyncFailure);
    vm.operationId = operation.id;
    return { status: 201, vm, operation };
  }

  deleteVm(resourceGroup: string, name: string, asyncFailure?: { code: string; message: string }): DeleteResult {
    this.tick();
    this.requireGroup(resourceGroup);
    const key = vmKey(resourceGroup, name);
    const vm = this.state.vms.get(key);
    if (!vm) return { status: 204 };
    const current = vm.operationId ? this.state.operations.get(vm.operationId) : undefined;
    if (vm.provisioningState === 'Deleting' && current) return { status: 202, operation: current };
    vm.provisioningState = 'Deleting';
    const operation = this.startOperation('delete', key, this.deleteDurationMs, asyncFailure);
    vm.operationId = operation.id;
    return { status: 202, operation };
  }

  getVm(resourceGroup: string, name: string): FakeVm {
    this.tick();
    this.requireGroup(resourceGroup);
    const vm = this.state.vms.get(vmKey(resourceGroup, name));
    if (!vm) throw new ArmError('ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachines/${name}' under resource group '${resourceGroup}' was not found.`);
    return vm;
  }

  listVms(resourceGroup: string): FakeVm[] {
    this.tick();
    this.requireGroup(resourceGroup);
    return [...this.state.vms.values()].filter((vm) => vm.resourceGroup.toLowerCase() === resourceGroup.toLowerCase());
  }

  operation(id: string): FakeOperation {
    this.tick();
    const op = this.state.operations.get(id);
    if (!op) throw new ArmError('NotFound', `The operation '${id}' was not found.`, 404);
    return op;
  }

  // ---- network and catalogue lookups ----

  requireGroup(resourceGroup: string): void {
    const known = [...this.state.resourceGroups].some((g) => g.toLowerCase() === resourceGroup.toLowerCase());
    if (!known) throw new ArmError('ResourceGroupNotFound', `Resource group '${resourceGroup}' could not be found.`);
  }

  nic(id: string): FakeNic {
    this.tick();
    const nic = this.state.nics.get(id.toLowerCase());
    if (!nic) throw new ArmError('ResourceNotFound', `The Resource '${id}' was not found.`);
    return nic;
  }

  publicIp(id: string): FakePublicIp {
    this.tick();
    const pip = this.state.publicIps.get(id.toLowerCase());
    if (!pip) throw new ArmError('ResourceNotFound', `The Resource '${id}' was not found.`);
    return pip;
  }

  findImage(id: string): ImageSeed | undefined {
    const wanted = id.toLowerCase();
    for (const seed of this.state.images.values()) {
      const seedId = seed.id.toLowerCase();
      // An image definition without a version stands for its latest version.
      if (seedId === wanted || seedId.startsWith(`${wanted}/versions/`)) return seed;
    }
    return undefined;
  }

  // ---- validation ----

  private size(name: string): SizeSeed {
    const size = this.state.sizes.get(name.toLowerCase());
    if (!size) throw new ArmError('InvalidParameter', `The value '${name}' provided for the VM size is not valid. The valid sizes in the current region are: ${[...this.state.sizes.values()].map((s) => s.name).join(',')}.`);
    return size;
  }

  private validTags(raw: unknown): Record<string, string> {
    const tags: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj(raw))) {
      if (FORBIDDEN_TAG_NAME.test(k)) throw new ArmError('InvalidTagNameCharacters', `The tag names '${k}' have reserved characters '<,>,%,&,\\,?,/' or control characters.`);
      tags[k] = String(v);
    }
    return tags;
  }

  private userData(raw: unknown): string {
    if (raw === undefined) return '';
    const b64 = str(raw);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new ArmError('InvalidParameter', "The value of parameter 'userData' is invalid: it must be base64 encoded.");
    if (b64.length > MAX_USER_DATA_BASE64) throw new ArmError('InvalidParameter', `The property 'userData' exceeds the maximum size of 64 KB (got ${b64.length} bytes).`);
    return Buffer.from(b64, 'base64').toString('utf8');
  }

  private image(ref: Json): ImageSeed {
    const community = str(ref.communityGalleryImageId);
    const id = community || str(ref.id);
    if (!id) throw new ArmError('InvalidParameter', "Required parameter 'imageReference.id' (or a gallery image id) is missing (null).");
    if (community && !community.toLowerCase().startsWith('/communitygalleries/')) {
      throw new ArmError('InvalidParameter', `'${community}' is not a community gallery image id.`);
    }
    const seed = this.findImage(id);
    if (!seed) {
      const code = /\/galleries\/|^\/communitygalleries\//i.test(id) ? 'GalleryImageNotFound' : 'ImageNotFound';
      throw new ArmError(code, `The platform image '${id}' is not available. Verify that all fields in the storage profile are correct.`, 404);
    }
    return seed;
  }

  private checkSecurity(props: Json, size: SizeSeed, image: ImageSeed): void {
    const security = obj(props.securityProfile);
    if (security.securityType !== 'ConfidentialVM') return;
    if (!size.confidential) throw new ArmError('BadRequest', `The VM size '${size.name}' is not supported for creation of VMs with Confidential VM security type.`);
    if (obj(security.uefiSettings).vTpmEnabled !== true) throw new ArmError('BadRequest', "Use of Confidential VM requires 'securityProfile.uefiSettings.vTpmEnabled' to be true.");
    const encryption = obj(obj(obj(obj(props.storageProfile).osDisk).managedDisk).securityProfile).securityEncryptionType;
    if (encryption !== 'VMGuestStateOnly' && encryption !== 'DiskWithVMGuestState') {
      throw new ArmError('BadRequest', "Use of Confidential VM requires 'osDisk.managedDisk.securityProfile.securityEncryptionType' to be set.");
    }
    if (image.securityType !== 'ConfidentialVMSupported') throw new ArmError('BadRequest', `The image '${image.id}' does not support Confidential VM security type.`);
  }

  private checkOsProfile(os: Json): void {
    if (!str(os.adminUsername)) throw new ArmError('InvalidParameter', "Required parameter 'osProfile.adminUsername' is missing (null).");
    if (!str(os.computerName)) throw new ArmError('InvalidParameter', "Required parameter 'osProfile.computerName' is missing (null).");
    const linux = obj(os.linuxConfiguration);
    if (linux.disablePasswordAuthentication === true) {
      const keys = arr(obj(linux.ssh).publicKeys).map(obj);
      if (keys.length === 0) throw new ArmError('InvalidParameter', 'Password authentication is disabled, so an SSH public key is required.');
      for (const k of keys) {
        if (!SSH_KEY.test(str(k.keyData))) throw new ArmError('InvalidParameter', 'The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.');
        if (!str(k.path).startsWith('/home/')) throw new ArmError('InvalidParameter', 'The value of parameter linuxConfiguration.ssh.publicKeys.path is invalid.');
      }
    } else if (!str(os.adminPassword)) {
      throw new ArmError('InvalidParameter', "Required parameter 'adminPassword' is missing (null).");
    }
  }

  private checkNetwork(net: Json): Json[] {
    const configs = arr(net.networkInterfaceConfigurations).map(obj);
    if (configs.length === 0) throw new ArmError('InvalidParameter', 'fake ARM: the VM must declare its NIC in networkProfile.networkInterfaceConfigurations.');
    if (!str(net.networkApiVersion)) throw new ArmError('InvalidParameter', "'networkApiVersion' must be set when networkInterfaceConfigurations are given.");
    for (const cfg of configs) {
      const props = obj(cfg.properties);
      const ipConfigs = arr(props.ipConfigurations).map(obj);
      if (!str(cfg.name) || ipConfigs.length === 0) throw new ArmError('InvalidParameter', 'A network interface configuration needs a name and an IP configuration.');
      for (const ipc of ipConfigs) {
        const subnetId = str(obj(obj(ipc.properties).subnet).id);
        if (!this.state.subnets.has(subnetId.toLowerCase())) {
          throw new ArmError('InvalidResourceReference', `Resource ${subnetId} referenced by resource ${str(cfg.name)} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`);
        }
      }
      for (const ipc of ipConfigs) {
        const pip = obj(obj(ipc.properties).publicIPAddressConfiguration);
        if (str(pip.name) && str(obj(pip.sku).name) !== 'Standard') {
          throw new ArmError('BasicPublicIpRetired', 'Basic SKU public IP addresses can no longer be created; use the Standard SKU.');
        }
      }
      const nsg = str(obj(props.networkSecurityGroup).id);
      if (nsg && !this.state.nsgs.has(nsg.toLowerCase())) throw new ArmError('InvalidResourceReference', `Resource ${nsg} referenced by resource ${str(cfg.name)} was not found.`);
    }
    return configs;
  }

  private checkQuota(size: SizeSeed, extraCores: number, except?: FakeVm): void {
    const limit = this.state.familyCoresQuota[size.family];
    if (limit === undefined || extraCores <= 0) return;
    const usage = [...this.state.vms.values()]
      .filter((vm) => vm !== except && this.state.sizes.get(vm.vmSize.toLowerCase())?.family === size.family)
      .reduce((n, vm) => n + (this.state.sizes.get(vm.vmSize.toLowerCase())?.cores ?? 0), 0);
    if (usage + extraCores > limit) {
      throw new ArmError(
        'OperationNotAllowed',
        `Operation could not be completed as it results in exceeding approved ${size.family} Cores quota. Additional details - Deployment Model: Resource Manager, Location: ${this.state.region}, Current Limit: ${limit}, Current Usage: ${usage}, Additional Required: ${extraCores}, (Minimum) New Limit Required: ${usage + extraCores}. Submit a request for Quota increase at https://aka.ms/ProdportalCRP by specifying parameters listed in the 'Details' section for deployment to succeed.`,
      );
    }
  }

  // ---- changes ----

  private updateVm(vm: FakeVm, b: Json, props: Json, tags: Record<string, string>, size: SizeSeed, userData: string, asyncFailure?: { code: string; message: string }): PutResult {
    if (vm.provisioningState === 'Deleting') {
      throw new ArmError('OperationNotAllowed', `Operation 'PUT' is not allowed on VM '${vm.name}' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).`);
    }
    const current = vm.operationId ? this.state.operations.get(vm.operationId) : undefined;
    if (current?.status === 'InProgress') {
      // A retry of the same PUT (its reply was lost) joins the operation in progress.
      if (JSON.stringify(props) === JSON.stringify(vm.properties) && JSON.stringify(tags) === JSON.stringify(vm.tags)) return { status: 200, vm, operation: current };
      throw new ArmError('AnotherOperationInProgress', `Operation '${current.kind}' is in progress on VM '${vm.name}'; retry after it completes.`);
    }
    for (const [path, get] of IMMUTABLE) {
      if (JSON.stringify(get(props)) !== JSON.stringify(get(vm.properties))) throw new ArmError('PropertyChangeNotAllowed', `Changing property '${path}' is not allowed.`);
    }
    const oldCores = this.state.sizes.get(vm.vmSize.toLowerCase())?.cores ?? 0;
    this.checkQuota(size, size.cores - (this.state.sizes.get(vm.vmSize.toLowerCase())?.family === size.family ? oldCores : 0), vm);
    Object.assign(vm, { vmSize: size.name, properties: props, tags, userData, provisioningState: 'Updating' as const });
    if (Array.isArray(b.zones)) vm.zones = b.zones.map(String);
    const operation = this.startOperation('update', vmKey(vm.resourceGroup, vm.name), this.createDurationMs, asyncFailure);
    vm.operationId = operation.id;
    return { status: 200, vm, operation };
  }

  private startOperation(kind: FakeOperation['kind'], key: string, durationMs: number, error?: { code: string; message: string }): FakeOperation {
    const t = this.now();
    const op: FakeOperation = { id: randomUUID(), kind, vmKey: key, status: 'InProgress', startedAt: t, doneAt: t + durationMs, ...(error ? { error } : {}) };
    this.state.operations.set(op.id, op);
    return op;
  }

  private createNic(groupPrefix: string, resourceGroup: string, vmId: string, cfg: Json): FakeNic {
    const props = obj(cfg.properties);
    const ipc = obj(arr(props.ipConfigurations)[0]);
    const ipProps = obj(ipc.properties);
    const subnetId = str(obj(ipProps.subnet).id);
    const name = str(cfg.name);
    const id = `${groupPrefix}/Microsoft.Network/networkInterfaces/${name}`;
    const existing = this.state.nics.get(id.toLowerCase());
    if (existing?.vmId && existing.vmId !== vmId) throw new ArmError('NicInUse', `Network interface ${id} is used by virtual machine ${existing.vmId}.`, 400);
    if (existing) this.releaseNic(existing);
    const privateIp = this.pool(subnetId).allocate();
    if (!privateIp) throw new ArmError('SubnetIsFull', `Subnet ${subnetId} has no free address.`);
    const nic: FakeNic = {
      id,
      name,
      resourceGroup,
      location: this.state.region,
      tags: this.validTags(cfg.tags ?? props.tags),
      subnetId,
      privateIp,
      ipConfigName: str(ipc.name) || 'ipconfig1',
      nsgId: str(obj(props.networkSecurityGroup).id) || undefined,
      vmId,
      deleteOption: props.deleteOption === 'Delete' ? 'Delete' : 'Detach',
    };
    const pipCfg = obj(ipProps.publicIPAddressConfiguration);
    if (str(pipCfg.name)) nic.publicIpId = this.createPublicIp(groupPrefix, resourceGroup, nic.id, pipCfg).id;
    this.state.nics.set(id.toLowerCase(), nic);
    return nic;
  }

  private createPublicIp(groupPrefix: string, resourceGroup: string, nicId: string, cfg: Json): FakePublicIp {
    const props = obj(cfg.properties);
    const name = str(cfg.name);
    const id = `${groupPrefix}/Microsoft.Network/publicIPAddresses/${name}`;
    const ipAddress = this.publicPool.allocate();
    if (!ipAddress) throw new ArmError('PublicIPCountLimitReached', 'No public IP address left in the fake\'s range.');
    const pip: FakePublicIp = {
      id,
      name,
      resourceGroup,
      location: this.state.region,
      tags: this.validTags(cfg.tags ?? props.tags),
      ipAddress,
      sku: str(obj(cfg.sku).name) || 'Basic',
      allocationMethod: str(props.publicIPAllocationMethod) || 'Dynamic',
      nicId,
      deleteOption: props.deleteOption === 'Delete' ? 'Delete' : 'Detach',
    };
    this.state.publicIps.set(id.toLowerCase(), pip);
    return pip;
  }

  private createDisk(groupPrefix: string, resourceGroup: string, vmId: string, osDisk: Json, vmName: string): FakeDisk {
    const name = str(osDisk.name) || `${vmName}_OsDisk_1_${randomUUID().replace(/-/g, '')}`;
    const managed = obj(osDisk.managedDisk);
    const disk: FakeDisk = {
      id: `${groupPrefix}/Microsoft.Compute/disks/${name}`,
      name,
      resourceGroup,
      sizeGb: typeof osDisk.diskSizeGB === 'number' ? osDisk.diskSizeGB : 30,
      storageAccountType: str(managed.storageAccountType) || 'Standard_LRS',
      securityEncryptionType: str(obj(managed.securityProfile).securityEncryptionType) || undefined,
      vmId,
      deleteOption: osDisk.deleteOption === 'Delete' ? 'Delete' : 'Detach',
    };
    this.state.disks.set(disk.id.toLowerCase(), disk);
    return disk;
  }

  /** A finished delete: the VM goes, and what it brought goes or stays by its deleteOption. */
  private removeVm(vm: FakeVm): void {
    this.state.vms.delete(vmKey(vm.resourceGroup, vm.name));
    for (const nicId of vm.nicIds) {
      const nic = this.state.nics.get(nicId.toLowerCase());
      if (!nic) continue;
      if (nic.deleteOption === 'Delete') this.releaseNic(nic);
      else nic.vmId = undefined;
    }
    const disk = this.state.disks.get(vm.osDiskId.toLowerCase());
    if (disk?.deleteOption === 'Delete') this.state.disks.delete(disk.id.toLowerCase());
    else if (disk) disk.vmId = undefined;
  }

  private releaseNic(nic: FakeNic): void {
    this.state.nics.delete(nic.id.toLowerCase());
    this.pool(nic.subnetId).release(nic.privateIp);
    const pip = nic.publicIpId ? this.state.publicIps.get(nic.publicIpId.toLowerCase()) : undefined;
    if (pip?.deleteOption === 'Delete') {
      this.state.publicIps.delete(pip.id.toLowerCase());
      this.publicPool.release(pip.ipAddress);
    } else if (pip) {
      pip.nicId = undefined;
    }
  }

  private pool(subnetId: string): Ipv4Pool {
    const key = subnetId.toLowerCase();
    let pool = this.privatePools.get(key);
    if (!pool) {
      const subnet = this.state.subnets.get(key);
      if (!subnet) throw new ArmError('InvalidResourceReference', `Resource ${subnetId} was not found.`);
      // Azure keeps the first four addresses of a subnet and the last one.
      pool = new Ipv4Pool(subnet.addressPrefix, 4, 1);
      this.privatePools.set(key, pool);
    }
    return pool;
  }
}

/** Properties a PUT on an existing VM may not change (ARM answers PropertyChangeNotAllowed). */
const IMMUTABLE: [string, (p: Json) => unknown][] = [
  ['osProfile.adminUsername', (p) => obj(p.osProfile).adminUsername],
  ['osProfile.computerName', (p) => obj(p.osProfile).computerName],
  ['linuxConfiguration.ssh.publicKeys', (p) => obj(obj(obj(p.osProfile).linuxConfiguration).ssh).publicKeys],
  ['imageReference', (p) => obj(p.storageProfile).imageReference],
  ['osDisk.name', (p) => obj(obj(p.storageProfile).osDisk).name],
  ['securityProfile.securityType', (p) => obj(p.securityProfile).securityType],
  ['networkProfile.networkInterfaceConfigurations', (p) => arr(obj(p.networkProfile).networkInterfaceConfigurations).map((c) => obj(c).name)],
];
