/**
 * The fake's engine room: ids, addresses and the instance lifecycle. States advance lazily in `tick()`
 * at the start of each request (no timers), comparing the clock with the knobs in `state`, so a test
 * may change `bootDelayMs` and the like at any time.
 */
import { Ipv4Pool } from '../ec2/ipv4.js';
import { seededRandom } from '../../../bench/stats.js';
import { VpcError } from './errors.js';
import type { FakeInstance, FakeVpcState } from './resources.js';
import type { SubnetSeed } from './seeds.js';

function hex(random: () => number, n: number): string {
  let out = '';
  while (out.length < n) out += Math.floor(random() * 16).toString(16);
  return out;
}

export class VpcModel {
  private readonly random: () => number;
  private readonly issued = new Set<string>();
  private readonly pools = new Map<string, Ipv4Pool>();

  constructor(
    readonly state: FakeVpcState,
    readonly now: () => number,
    idSeed: number,
  ) {
    // Ids come from their own stream so that they do not shift the fault dice, and vice versa.
    this.random = seededRandom(idSeed);
  }

  /** A version-4 UUID from the seeded stream; never repeats within one fake. */
  uuid(): string {
    for (;;) {
      const r = this.random;
      const id = `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-${'89ab'[Math.floor(r() * 4)]}${hex(r, 3)}-${hex(r, 12)}`;
      if (!this.issued.has(id)) {
        this.issued.add(id);
        return id;
      }
    }
  }

  /** `0717_<uuid>` for us-south-1, `0727_…` for zone 2: VPC ids start with a zone-derived prefix. */
  instanceId(zone: string): string {
    const n = /-(\d+)$/.exec(zone)?.[1] ?? '1';
    return `07${n}7_${this.uuid()}`;
  }

  crn(zone: string, type: string, id: string): string {
    return `crn:v1:bluemix:public:is:${zone}:a/${this.state.account}::${type}:${id}`;
  }

  allocateIp(subnet: SubnetSeed): string {
    let pool = this.pools.get(subnet.id);
    // IBM keeps back the first four and the last address of every subnet.
    if (!pool) this.pools.set(subnet.id, (pool = new Ipv4Pool(subnet.cidr, 4, 1)));
    const ip = pool.allocate();
    if (!ip) throw new VpcError('insufficient_ip_addresses', `Subnet ${subnet.id} has no free IPv4 address.`);
    return ip;
  }

  releaseIp(subnetId: string, ip: string): void {
    this.pools.get(subnetId)?.release(ip);
  }

  /** Moves instances along pending → running | failed, and deleting → gone, as the clock says. */
  tick(): void {
    const now = this.now();
    for (const inst of [...this.state.instances.values()]) {
      if (inst.status === 'pending' && now - inst.createdAt >= this.state.bootDelayMs) {
        if (inst.startFailure) {
          inst.status = 'failed';
          inst.statusReasons = [inst.startFailure];
        } else {
          inst.status = 'running';
        }
      } else if (inst.status === 'deleting' && now - (inst.deleteRequestedAt ?? now) >= this.state.deleteDelayMs) {
        this.remove(inst);
      }
    }
  }

  /** Starts the deletion; with no delay the instance is gone at once. */
  delete(inst: FakeInstance): void {
    inst.status = 'deleting';
    inst.statusReasons = [];
    inst.deleteRequestedAt = this.now();
    if (this.state.deleteDelayMs <= 0) this.remove(inst);
  }

  private remove(inst: FakeInstance): void {
    if (this.state.instances.get(inst.id) !== inst) return;
    this.state.instances.delete(inst.id);
    for (const nic of inst.nics) this.releaseIp(nic.subnetId, nic.address);
  }

  /** Live vCPUs of the account (the quota counts everything not being deleted). */
  vcpusInUse(): number {
    let n = 0;
    for (const i of this.state.instances.values()) if (i.status !== 'deleting') n += i.vcpus;
    return n;
  }
}
