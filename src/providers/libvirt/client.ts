/**
 * The narrow slice of libvirt the provider uses, behind an interface so tests can swap it (or wrap
 * it to inject faults). The implementation speaks libvirt's RPC protocol itself (rpc/), which needs
 * no native code and works over a local socket, `qemu+ssh://` (through the `ssh` binary, as
 * libvirt's own remote driver does), `ext` and `tcp`. Every call takes an AbortSignal and fails
 * with a ProviderError whose code says what kind of failure it was; lookups of things that do not
 * exist return undefined instead.
 */
import { classifyLibvirtError } from './errors.js';
import { RpcConnection, type ConnectionOptions } from '../../lib/libvirt-rpc/connection.js';
import {
  Proc,
  VirErr,
  readDomain,
  readNetwork,
  readPool,
  readVol,
  uuidFromBytes,
  uuidToBytes,
  writeDomain,
  writeNetwork,
  writePool,
  writeVol,
  type DomainRef,
  type NetworkRef,
  type PoolRef,
  type VolRef,
} from '../../lib/libvirt-rpc/protocol.js';
import { parseLibvirtUri, type ParsedUri } from '../../lib/libvirt-rpc/uri.js';
import { XdrReader, XdrWriter } from '../../lib/libvirt-rpc/xdr.js';
import { ProviderError } from '../errors.js';

export type { DomainRef, NetworkRef, PoolRef, VolRef };

export const DomainState = { NOSTATE: 0, RUNNING: 1, BLOCKED: 2, PAUSED: 3, SHUTDOWN: 4, SHUTOFF: 5, CRASHED: 6, PMSUSPENDED: 7 } as const;
export const DOMAIN_STATE_NAMES = ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended'];
/** virDomainShutoffReason names, for messages. */
export const SHUTOFF_REASONS = ['unknown', 'shutdown', 'destroyed', 'crashed', 'migrated', 'saved', 'failed', 'from snapshot', 'daemon'];

export const InterfaceAddressSource = { LEASE: 0, AGENT: 1, ARP: 2 } as const;
export const UndefineFlags = { MANAGED_SAVE: 1, SNAPSHOTS_METADATA: 2, NVRAM: 4 } as const;
const DEFINE_VALIDATE = 1;

export interface DomainInterface {
  name: string;
  hwaddr: string | null;
  addrs: { type: number; addr: string; prefix: number }[];
}

export interface VolumeInfo {
  type: number;
  capacity: bigint;
  allocation: bigint;
}

export const domainUuid = (d: DomainRef): string => uuidFromBytes(d.uuid);

/** libvirt's version numbers (major * 1_000_000 + minor * 1000 + release) as `major.minor.release`. */
export const versionString = (v: number): string => `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;

export interface LibvirtApi {
  /** Where the API is connected, for messages. */
  readonly description: string;
  capabilities(signal: AbortSignal): Promise<string>;
  /** Domain capabilities of one arch and virt type (firmware files, launch security support). */
  domainCapabilities(arch: string, virtType: string, signal: AbortSignal): Promise<string>;
  hypervisorVersion(signal: AbortSignal): Promise<string>;
  /**
   * The libvirt version of the daemon at the other end (virConnectGetLibVersion):
   * major * 1_000_000 + minor * 1000 + release, e.g. 10_005_000 for 10.5.0.
   */
  libVersion(signal: AbortSignal): Promise<number>;

  lookupDomainByName(name: string, signal: AbortSignal): Promise<DomainRef | undefined>;
  lookupDomainByUuid(uuid: string, signal: AbortSignal): Promise<DomainRef | undefined>;
  /** Every domain, running or not. */
  listDomains(signal: AbortSignal): Promise<DomainRef[]>;
  /** The persistent definition when `inactive`, else the live one. */
  domainXml(dom: DomainRef, signal: AbortSignal, inactive?: boolean): Promise<string>;
  domainState(dom: DomainRef, signal: AbortSignal): Promise<{ state: number; reason: number }>;
  /** Defines (with schema validation) and returns the new domain. */
  defineDomain(xml: string, signal: AbortSignal): Promise<DomainRef>;
  startDomain(dom: DomainRef, signal: AbortSignal): Promise<void>;
  destroyDomain(dom: DomainRef, signal: AbortSignal): Promise<void>;
  undefineDomain(dom: DomainRef, flags: number, signal: AbortSignal): Promise<void>;
  interfaceAddresses(dom: DomainRef, source: number, signal: AbortSignal): Promise<DomainInterface[]>;

  lookupPool(name: string, signal: AbortSignal): Promise<PoolRef | undefined>;
  poolXml(pool: PoolRef, signal: AbortSignal): Promise<string>;
  poolIsActive(pool: PoolRef, signal: AbortSignal): Promise<boolean>;
  refreshPool(pool: PoolRef, signal: AbortSignal): Promise<void>;
  listVolumes(pool: PoolRef, signal: AbortSignal): Promise<VolRef[]>;
  lookupVolume(pool: PoolRef, name: string, signal: AbortSignal): Promise<VolRef | undefined>;
  volumeXml(vol: VolRef, signal: AbortSignal): Promise<string>;
  volumeInfo(vol: VolRef, signal: AbortSignal): Promise<VolumeInfo>;
  volumePath(vol: VolRef, signal: AbortSignal): Promise<string>;
  createVolume(pool: PoolRef, xml: string, signal: AbortSignal): Promise<VolRef>;
  deleteVolume(vol: VolRef, signal: AbortSignal): Promise<void>;
  /** Replaces the volume's content from offset 0 with `data` (a stream upload). */
  uploadVolume(vol: VolRef, data: Buffer, signal: AbortSignal): Promise<void>;

  lookupNetwork(name: string, signal: AbortSignal): Promise<NetworkRef | undefined>;
  networkXml(net: NetworkRef, signal: AbortSignal): Promise<string>;
  networkIsActive(net: NetworkRef, signal: AbortSignal): Promise<boolean>;

  close(): Promise<void>;
}

const EMPTY = Buffer.alloc(0);
const NOT_FOUND_CODES = new Set<number>([VirErr.NO_DOMAIN, VirErr.NO_STORAGE_POOL, VirErr.NO_STORAGE_VOL, VirErr.NO_NETWORK]);

/** The RPC-backed implementation. One connection, opened on first use and again after it broke. */
export class RpcLibvirtApi implements LibvirtApi {
  private readonly uri: ParsedUri;
  private connecting: Promise<RpcConnection> | undefined;
  private closed = false;

  constructor(
    uri: string,
    private readonly options: ConnectionOptions = {},
  ) {
    this.uri = parseLibvirtUri(uri);
  }

  get description(): string {
    return this.uri.name;
  }

  private connection(signal: AbortSignal): Promise<RpcConnection> {
    if (this.closed) return Promise.reject(new ProviderError('UNAVAILABLE', 'the libvirt client is closed'));
    if (!this.connecting) {
      const p = RpcConnection.open(this.uri, signal, this.options);
      this.connecting = p;
      p.then(
        (c) => c.onClose(() => {
          if (this.connecting === p) this.connecting = undefined;
        }),
        () => {
          if (this.connecting === p) this.connecting = undefined;
        },
      );
    }
    return this.connecting;
  }

  private async call(action: string, procedure: number, args: Buffer, signal: AbortSignal): Promise<XdrReader> {
    try {
      const conn = await this.connection(signal);
      return new XdrReader(await conn.call(procedure, args, signal));
    } catch (err) {
      throw classifyLibvirtError(err, action, signal);
    }
  }

  /** A lookup: undefined when libvirt says the object does not exist. */
  private async lookup<T>(action: string, procedure: number, args: Buffer, read: (r: XdrReader) => T, signal: AbortSignal): Promise<T | undefined> {
    try {
      return read(await this.call(action, procedure, args, signal));
    } catch (err) {
      const code = ((err as ProviderError).cause as { virCode?: number } | undefined)?.virCode;
      if (code !== undefined && NOT_FOUND_CODES.has(code)) return undefined;
      throw err;
    }
  }

  async capabilities(signal: AbortSignal): Promise<string> {
    return (await this.call('capabilities', Proc.CONNECT_GET_CAPABILITIES, EMPTY, signal)).string();
  }

  async domainCapabilities(arch: string, virtType: string, signal: AbortSignal): Promise<string> {
    const args = new XdrWriter().optionalString(null).optionalString(arch).optionalString(null).optionalString(virtType).uint(0).bytes();
    return (await this.call('domain capabilities', Proc.CONNECT_GET_DOMAIN_CAPABILITIES, args, signal)).string();
  }

  async hypervisorVersion(signal: AbortSignal): Promise<string> {
    return versionString(Number((await this.call('version', Proc.CONNECT_GET_VERSION, EMPTY, signal)).uhyper()));
  }

  // remote_protocol.x: no arguments; remote_connect_get_lib_version_ret { unsigned hyper lib_ver; }.
  async libVersion(signal: AbortSignal): Promise<number> {
    return Number((await this.call('library version', Proc.CONNECT_GET_LIB_VERSION, EMPTY, signal)).uhyper());
  }

  lookupDomainByName(name: string, signal: AbortSignal): Promise<DomainRef | undefined> {
    return this.lookup(`lookup domain ${name}`, Proc.DOMAIN_LOOKUP_BY_NAME, new XdrWriter().string(name).bytes(), readDomain, signal);
  }

  lookupDomainByUuid(uuid: string, signal: AbortSignal): Promise<DomainRef | undefined> {
    return this.lookup(`lookup domain ${uuid}`, Proc.DOMAIN_LOOKUP_BY_UUID, new XdrWriter().fixedOpaque(uuidToBytes(uuid), 16).bytes(), readDomain, signal);
  }

  async listDomains(signal: AbortSignal): Promise<DomainRef[]> {
    const r = await this.call('list domains', Proc.CONNECT_LIST_ALL_DOMAINS, new XdrWriter().int(1).uint(0).bytes(), signal);
    return r.array(readDomain, 16384);
  }

  async domainXml(dom: DomainRef, signal: AbortSignal, inactive = false): Promise<string> {
    return (await this.call(`XML of domain ${dom.name}`, Proc.DOMAIN_GET_XML_DESC, writeDomain(new XdrWriter(), dom).uint(inactive ? 2 : 0).bytes(), signal)).string();
  }

  async domainState(dom: DomainRef, signal: AbortSignal): Promise<{ state: number; reason: number }> {
    const r = await this.call(`state of domain ${dom.name}`, Proc.DOMAIN_GET_STATE, writeDomain(new XdrWriter(), dom).uint(0).bytes(), signal);
    return { state: r.int(), reason: r.int() };
  }

  async defineDomain(xml: string, signal: AbortSignal): Promise<DomainRef> {
    return readDomain(await this.call('define domain', Proc.DOMAIN_DEFINE_XML_FLAGS, new XdrWriter().string(xml).uint(DEFINE_VALIDATE).bytes(), signal));
  }

  async startDomain(dom: DomainRef, signal: AbortSignal): Promise<void> {
    await this.call(`start domain ${dom.name}`, Proc.DOMAIN_CREATE, writeDomain(new XdrWriter(), dom).bytes(), signal);
  }

  async destroyDomain(dom: DomainRef, signal: AbortSignal): Promise<void> {
    await this.call(`destroy domain ${dom.name}`, Proc.DOMAIN_DESTROY, writeDomain(new XdrWriter(), dom).bytes(), signal);
  }

  async undefineDomain(dom: DomainRef, flags: number, signal: AbortSignal): Promise<void> {
    if (flags === 0) {
      await this.call(`undefine domain ${dom.name}`, Proc.DOMAIN_UNDEFINE, writeDomain(new XdrWriter(), dom).bytes(), signal);
      return;
    }
    await this.call(`undefine domain ${dom.name}`, Proc.DOMAIN_UNDEFINE_FLAGS, writeDomain(new XdrWriter(), dom).uint(flags).bytes(), signal);
  }

  async interfaceAddresses(dom: DomainRef, source: number, signal: AbortSignal): Promise<DomainInterface[]> {
    const r = await this.call(`addresses of domain ${dom.name}`, Proc.DOMAIN_INTERFACE_ADDRESSES, writeDomain(new XdrWriter(), dom).uint(source).uint(0).bytes(), signal);
    return r.array(
      (x) => ({
        name: x.string(),
        hwaddr: x.optionalString(),
        addrs: x.array((a) => ({ type: a.int(), addr: a.string(), prefix: a.uint() }), 2048),
      }),
      2048,
    );
  }

  lookupPool(name: string, signal: AbortSignal): Promise<PoolRef | undefined> {
    return this.lookup(`lookup pool ${name}`, Proc.STORAGE_POOL_LOOKUP_BY_NAME, new XdrWriter().string(name).bytes(), readPool, signal);
  }

  async poolXml(pool: PoolRef, signal: AbortSignal): Promise<string> {
    return (await this.call(`XML of pool ${pool.name}`, Proc.STORAGE_POOL_GET_XML_DESC, writePool(new XdrWriter(), pool).uint(0).bytes(), signal)).string();
  }

  async poolIsActive(pool: PoolRef, signal: AbortSignal): Promise<boolean> {
    return (await this.call(`state of pool ${pool.name}`, Proc.STORAGE_POOL_IS_ACTIVE, writePool(new XdrWriter(), pool).bytes(), signal)).int() === 1;
  }

  async refreshPool(pool: PoolRef, signal: AbortSignal): Promise<void> {
    await this.call(`refresh pool ${pool.name}`, Proc.STORAGE_POOL_REFRESH, writePool(new XdrWriter(), pool).uint(0).bytes(), signal);
  }

  async listVolumes(pool: PoolRef, signal: AbortSignal): Promise<VolRef[]> {
    const r = await this.call(`volumes of pool ${pool.name}`, Proc.STORAGE_POOL_LIST_ALL_VOLUMES, writePool(new XdrWriter(), pool).int(1).uint(0).bytes(), signal);
    return r.array(readVol, 16384);
  }

  lookupVolume(pool: PoolRef, name: string, signal: AbortSignal): Promise<VolRef | undefined> {
    return this.lookup(`lookup volume ${name}`, Proc.STORAGE_VOL_LOOKUP_BY_NAME, writePool(new XdrWriter(), pool).string(name).bytes(), readVol, signal);
  }

  async volumeXml(vol: VolRef, signal: AbortSignal): Promise<string> {
    return (await this.call(`XML of volume ${vol.name}`, Proc.STORAGE_VOL_GET_XML_DESC, writeVol(new XdrWriter(), vol).uint(0).bytes(), signal)).string();
  }

  async volumeInfo(vol: VolRef, signal: AbortSignal): Promise<VolumeInfo> {
    const r = await this.call(`info of volume ${vol.name}`, Proc.STORAGE_VOL_GET_INFO, writeVol(new XdrWriter(), vol).bytes(), signal);
    return { type: r.int(), capacity: r.uhyper(), allocation: r.uhyper() };
  }

  async volumePath(vol: VolRef, signal: AbortSignal): Promise<string> {
    return (await this.call(`path of volume ${vol.name}`, Proc.STORAGE_VOL_GET_PATH, writeVol(new XdrWriter(), vol).bytes(), signal)).string();
  }

  async createVolume(pool: PoolRef, xml: string, signal: AbortSignal): Promise<VolRef> {
    return readVol(await this.call(`create volume in ${pool.name}`, Proc.STORAGE_VOL_CREATE_XML, writePool(new XdrWriter(), pool).string(xml).uint(0).bytes(), signal));
  }

  async deleteVolume(vol: VolRef, signal: AbortSignal): Promise<void> {
    await this.call(`delete volume ${vol.name}`, Proc.STORAGE_VOL_DELETE, writeVol(new XdrWriter(), vol).uint(0).bytes(), signal);
  }

  async uploadVolume(vol: VolRef, data: Buffer, signal: AbortSignal): Promise<void> {
    const args = writeVol(new XdrWriter(), vol).uhyper(0).uhyper(data.length).uint(0).bytes();
    try {
      const conn = await this.connection(signal);
      await conn.upload(Proc.STORAGE_VOL_UPLOAD, args, data, signal);
    } catch (err) {
      throw classifyLibvirtError(err, `upload to volume ${vol.name}`, signal);
    }
  }

  lookupNetwork(name: string, signal: AbortSignal): Promise<NetworkRef | undefined> {
    return this.lookup(`lookup network ${name}`, Proc.NETWORK_LOOKUP_BY_NAME, new XdrWriter().string(name).bytes(), readNetwork, signal);
  }

  async networkXml(net: NetworkRef, signal: AbortSignal): Promise<string> {
    return (await this.call(`XML of network ${net.name}`, Proc.NETWORK_GET_XML_DESC, writeNetwork(new XdrWriter(), net).uint(0).bytes(), signal)).string();
  }

  async networkIsActive(net: NetworkRef, signal: AbortSignal): Promise<boolean> {
    return (await this.call(`state of network ${net.name}`, Proc.NETWORK_IS_ACTIVE, writeNetwork(new XdrWriter(), net).bytes(), signal)).int() === 1;
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.connecting;
    this.connecting = undefined;
    if (c) await (await c.catch(() => undefined))?.close();
  }
}
