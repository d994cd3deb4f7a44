/**
 * The fake's engine room: id and address allocation, and instance lifecycle. Instance states are
 * advanced lazily by `tick()` at the start of each request (no timers), comparing the clock with
 * the knobs in `state`, so a test may change `bootDelayMs` and the like at any time.
 */
import { Ec2Error } from './errors.js';
import { Ipv4Pool } from './ipv4.js';
import { mulberry32, randomHex } from './random.js';
import type { FakeAddress, FakeEc2State, FakeInstance, FakeNetworkInterface, InstanceStateName } from './resources.js';
import { PUBLIC_IP_CIDR, type SubnetSeed } from './seeds.js';

export class Ec2Model {
  private readonly random: () => number;
  private readonly issued = new Set<string>();
  private readonly subnetPools = new Map<string, Ipv4Pool>();
  private readonly publicPool = new Ipv4Pool(PUBLIC_IP_CIDR, 1, 1);
  private readonly booting = new Set<FakeInstance>();
  private readonly shuttingDown = new Set<FakeInstance>();
  /** Terminated instances in the order they terminated, for `terminatedVisibleMs`. */
  private terminatedQueue: FakeInstance[] = [];
  private readonly clientTokens = new Map<string, { instanceId: string; fingerprint: string }>();

  constructor(
    readonly state: FakeEc2State,
    readonly now: () => number,
    idSeed: number,
  ) {
    // Ids come from their own stream so that they do not shift the fault dice, and vice versa.
    this.random = mulberry32(idSeed);
  }

  /** `prefix-` + 17 hex digits, the shape of current EC2 ids; never repeats within one fake. */
  newId(prefix: string): string {
    for (;;) {
      const id = `${prefix}-0${randomHex(this.random, 16)}`;
      if (!this.issued.has(id)) {
        this.issued.add(id);
        return id;
      }
    }
  }

  macAddress(): string {
    const bytes = Array.from({ length: 5 }, () => randomHex(this.random, 2));
    return ['02', ...bytes].join(':');
  }

  private subnetPool(subnet: SubnetSeed): Ipv4Pool {
    let pool = this.subnetPools.get(subnet.subnetId);
    if (!pool) this.subnetPools.set(subnet.subnetId, (pool = new Ipv4Pool(subnet.cidrBlock, 4, 1)));
    return pool;
  }

  freePrivateIps(subnet: SubnetSeed): number {
    return this.subnetPool(subnet).free;
  }

  allocatePrivateIp(subnet: SubnetSeed): string {
    const ip = this.subnetPool(subnet).allocate();
    if (!ip) throw new Ec2Error('InsufficientFreeAddressesInSubnet', `There are not enough free addresses in subnet '${subnet.subnetId}' to satisfy the requested number of instances.`);
    return ip;
  }

  releasePrivateIp(subnetId: string, ip: string): void {
    this.subnetPools.get(subnetId)?.release(ip);
  }

  allocatePublicIp(): string | undefined {
    return this.publicPool.allocate();
  }

  releasePublicIp(ip: string): void {
    this.publicPool.release(ip);
  }

  // ---- client tokens (RunInstances idempotency) ----

  findClientToken(token: string): { instanceId: string; fingerprint: string } | undefined {
    return this.clientTokens.get(token);
  }

  rememberClientToken(token: string, instanceId: string, fingerprint: string): void {
    this.clientTokens.set(token, { instanceId, fingerprint });
  }

  // ---- lifecycle ----

  addInstance(inst: FakeInstance): void {
    this.state.instances.set(inst.instanceId, inst);
    this.booting.add(inst);
  }

  /** Moves instances along pending → running and shutting-down → terminated → gone, as the clock says. */
  tick(): void {
    const now = this.now();
    for (const inst of this.booting) {
      if (inst.state !== 'pending') this.booting.delete(inst);
      else if (now - inst.launchTime.getTime() >= this.state.bootDelayMs) {
        this.booting.delete(inst);
        this.becomeRunning(inst);
      }
    }
    for (const inst of this.shuttingDown) {
      if (now - (inst.terminateRequestedAt ?? now) >= this.state.terminateDelayMs) {
        this.shuttingDown.delete(inst);
        this.becomeTerminated(inst, now);
      }
    }
    while (this.terminatedQueue.length > 0) {
      const head = this.terminatedQueue[0]!;
      if (now - (head.terminatedAt ?? now) < this.state.terminatedVisibleMs) break;
      this.terminatedQueue.shift();
      if (this.state.instances.get(head.instanceId) === head) this.state.instances.delete(head.instanceId);
    }
  }

  /** Starts terminating; returns the state before. Terminating a terminated instance changes nothing. */
  terminate(inst: FakeInstance): InstanceStateName {
    const previous = inst.state;
    if (previous === 'terminated' || previous === 'shutting-down') return previous;
    this.booting.delete(inst);
    inst.state = 'shutting-down';
    inst.terminateRequestedAt = this.now();
    if (this.state.terminateDelayMs <= 0) this.becomeTerminated(inst, this.now());
    else this.shuttingDown.add(inst);
    return previous;
  }

  /** Forgets every terminated instance now; returns how many. */
  purgeTerminated(): number {
    let n = 0;
    for (const [id, inst] of this.state.instances) {
      if (inst.state !== 'terminated') continue;
      this.state.instances.delete(id);
      n++;
    }
    this.terminatedQueue = [];
    return n;
  }

  private becomeRunning(inst: FakeInstance): void {
    inst.state = 'running';
    for (const nic of inst.networkInterfaces) {
      if (nic.associatePublicIpAddress && !nic.association) this.assignAutoPublicIp(nic);
    }
  }

  private assignAutoPublicIp(nic: FakeNetworkInterface): void {
    const publicIp = this.allocatePublicIp();
    if (publicIp) nic.association = { publicIp, ipOwnerId: 'amazon' };
  }

  /** Termination's side effects: addresses let go, DeleteOnTermination volumes and interfaces deleted. */
  private becomeTerminated(inst: FakeInstance, now: number): void {
    inst.state = 'terminated';
    inst.terminatedAt = now;
    this.terminatedQueue.push(inst);
    for (const nic of inst.networkInterfaces) {
      this.dropAssociation(nic);
      if (nic.attachment?.deleteOnTermination ?? true) {
        nic.status = 'deleted';
        this.releasePrivateIp(nic.subnetId, nic.privateIpAddress);
        this.state.networkInterfaces.delete(nic.networkInterfaceId);
      } else {
        nic.status = 'available';
      }
      nic.attachment = undefined;
    }
    for (const bdm of inst.blockDeviceMappings) {
      const vol = this.state.volumes.get(bdm.volumeId);
      if (!vol) continue;
      vol.attachment = undefined;
      if (bdm.deleteOnTermination) {
        vol.state = 'deleted';
        this.state.volumes.delete(vol.volumeId);
      } else {
        vol.state = 'available';
      }
    }
  }

  // ---- public addresses ----

  /** Points an Elastic IP at an interface, displacing whatever public address the interface had. */
  associateAddress(addr: FakeAddress, nic: FakeNetworkInterface): string {
    this.dropAssociation(nic);
    const associationId = this.newId('eipassoc');
    addr.associationId = associationId;
    addr.networkInterfaceId = nic.networkInterfaceId;
    addr.instanceId = nic.attachment?.instanceId;
    addr.privateIpAddress = nic.privateIpAddress;
    nic.association = { publicIp: addr.publicIp, ipOwnerId: this.state.ownerId, allocationId: addr.allocationId, associationId };
    return associationId;
  }

  /**
   * Takes an Elastic IP off its interface. As in EC2, an interface launched with a public IP gets a
   * fresh auto-assigned one back while its instance runs.
   */
  disassociateAddress(addr: FakeAddress): void {
    const nic = addr.networkInterfaceId ? this.state.networkInterfaces.get(addr.networkInterfaceId) : undefined;
    if (nic?.association?.allocationId === addr.allocationId) {
      this.dropAssociation(nic);
      const instance = nic.attachment ? this.state.instances.get(nic.attachment.instanceId) : undefined;
      if (nic.associatePublicIpAddress && instance?.state === 'running') this.assignAutoPublicIp(nic);
    }
    clearAssociation(addr);
  }

  private dropAssociation(nic: FakeNetworkInterface): void {
    const assoc = nic.association;
    if (!assoc) return;
    nic.association = undefined;
    if (assoc.allocationId) {
      const addr = this.state.addresses.get(assoc.allocationId);
      if (addr) clearAssociation(addr);
    } else {
      this.releasePublicIp(assoc.publicIp);
    }
  }
}

function clearAssociation(addr: FakeAddress): void {
  addr.associationId = undefined;
  addr.instanceId = undefined;
  addr.networkInterfaceId = undefined;
  addr.privateIpAddress = undefined;
}
