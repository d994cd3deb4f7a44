/**
 * Peer-pod VMs as libvirt domains (reference §4.5). One object per daemon; every method may run
 * concurrently.
 *
 * createInstance defines the domain *first*, with our tags in its metadata and a UUID we chose, and
 * only then makes its volumes and starts it. So from the first step on the instance can be found by
 * its tags and deleted by its id, and every failure after the define carries `partialInstanceId`
 * (the UUID): a pod VM image that never boots (upstream #1737) leaves a stopped domain the caller
 * deletes, with its volumes, instead of a leak per retry. A domain of the same name that already
 * exists is never reused or redefined: the create fails and, if that domain carries this sandbox's
 * tags, names it as the partial instance so the caller's clean-up removes it.
 *
 * deleteInstance destroys, deletes the volumes the domain's definition references that are ours
 * (in our pool, named `<name>-root.qcow2`, `<name>-cloudinit.iso`, `<name>-console.log`), then
 * undefines (with NVRAM, falling back to a plain undefine). The domain goes last, so a delete that
 * fails half-way can be repeated. It refuses UUIDs of domains without our metadata.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { afterCreated } from '../create-checks.js';
import { ProviderError, asProviderError, isProviderError } from '../errors.js';
import { TagKey } from '../naming.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider, ProviderHost } from '../provider.js';
import { requestLog } from '../request-log.js';
import { Backoff, sleep } from '../../util/backoff.js';
import { buildCidataIso } from './cidata.js';
import { DOMAIN_STATE_NAMES, DomainState, InterfaceAddressSource, SHUTOFF_REASONS, UndefineFlags, domainUuid, type DomainRef, type LibvirtApi, type VolRef } from './client.js';
import type { LibvirtConfig } from './config.js';
import { domainXml, randomMac } from './domain-xml.js';
import { virErrorCode } from './errors.js';
import { metadataElement, readMetadata, type InstanceMetadata } from './metadata.js';
import { VirErr } from '../../lib/libvirt-rpc/protocol.js';
import { parseLibvirtUri } from '../../lib/libvirt-rpc/uri.js';
import { resolveBaseVolume, type BaseVolume, type LibvirtSettings } from './setup.js';
import { netmaskOf, pickAddress } from './static-ip.js';
import { Serializer } from '../../util/serializer.js';
import { el, elements, find, parseXml, serialize, text, type XmlElement } from '../../lib/xml.js';
import { timeoutSignal } from '../../util/timers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What `naming.ts` produces; anything else could not be a volume name prefix. */
const INSTANCE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,253}$/;
const GiB = 1n << 30n;
/** Terminal escape sequences (SeaBIOS clears the screen on the serial console). */
// eslint-disable-next-line no-control-regex
const ANSI_ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/g;
/** How often a booting domain's state is polled while the daemon waits for its forwarder. */
const EXIT_POLL_MS = 1000;
/** Domain reads at once when listing. */
const LIST_CONCURRENCY = 8;

export interface VolumeNames {
  root: string;
  cidata: string;
  console: string;
}

export const volumeNames = (instanceName: string): VolumeNames => ({
  root: `${instanceName}-root.qcow2`,
  cidata: `${instanceName}-cloudinit.iso`,
  console: `${instanceName}-console.log`,
});

interface Created {
  dom: DomainRef;
  address: InstanceMetadata['address'];
}

export class LibvirtProvider implements Provider {
  readonly name = 'libvirt';
  private readonly log: Logger;
  private readonly allocation = new Serializer();

  constructor(
    private readonly api: LibvirtApi,
    private readonly config: LibvirtConfig,
    readonly settings: LibvirtSettings,
    host: Pick<ProviderHost, 'logger'>,
    private readonly random: (n: number) => Buffer = randomBytes,
  ) {
    this.log = host.logger.child({ component: 'libvirt' });
  }

  async createInstance(req: CreateInstanceRequest, signal: AbortSignal): Promise<Instance> {
    const name = req.instanceName;
    if (!INSTANCE_NAME.test(name)) throw new ProviderError('INVALID_REQUEST', `instance name ${JSON.stringify(name)} is not a valid pod VM name (lower-case letters, digits and -, at most 63)`);
    const image = req.spec.image;
    if (image && !VOLUME_NAME.test(image)) throw new ProviderError('INVALID_REQUEST', `image annotation ${JSON.stringify(image)} is not a volume name`);
    const base = await this.baseVolume(image, signal);
    const uuid = randomUUID();
    const mac = randomMac(this.random);
    const vols = volumeNames(name);
    const log = requestLog(this.log, req.logger, { sandbox: req.sandboxId }).child({ instanceName: name, instanceId: uuid });

    const created = await this.define(req, uuid, mac, signal);
    log.info({ address: created.address?.ip }, `defined domain ${name} (${uuid})`);
    return afterCreated({ id: uuid, what: `pod VM ${name} (${uuid})`, signal }, async () => {
      await this.createVolumes(vols, base, { instanceId: uuid, hostname: name, userData: req.userData, mac, address: created.address }, signal);
      log.debug({ volumes: vols }, `volumes of ${name} created (root overlay of ${base.name}, cidata seed)`);
      await this.api.startDomain(created.dom, signal);
      log.info(`started domain ${name}`);
      const ips = await this.addressesOf(created, mac, signal);
      log.info({ ips }, `domain ${name} is at ${ips.join(', ')}`);
      return { id: uuid, name, ips };
    });
  }

  async deleteInstance(instanceId: string, signal: AbortSignal, logger?: Logger): Promise<void> {
    const base = requestLog(this.log, logger);
    if (!UUID.test(instanceId)) {
      // Never a silent success: a delete that "succeeds" on a bad id is how VMs leak (reference §7.2).
      throw new ProviderError('INVALID_REQUEST', `"${instanceId}" is not a libvirt domain UUID`);
    }
    const dom = await this.api.lookupDomainByUuid(instanceId, signal);
    if (!dom) {
      base.info({ instanceId }, `domain ${instanceId} is already gone`);
      return;
    }
    let doc: XmlElement;
    try {
      doc = parseXml(await this.api.domainXml(dom, signal, true));
    } catch (err) {
      if (isProviderError(err, 'NOT_FOUND')) return;
      throw err;
    }
    if (!readMetadata(doc)) {
      throw new ProviderError('INVALID_REQUEST', `domain ${dom.name} (${instanceId}) was not created by the cloud-api-adaptor; refusing to delete it`);
    }
    const log = base.child({ instanceId, instanceName: dom.name });
    const state = await this.api.domainState(dom, signal).catch(notFoundAs(undefined));
    if (state === undefined) return;
    if (state.state !== DomainState.SHUTOFF) {
      await this.api.destroyDomain(dom, signal).catch((err: unknown) => {
        // Not running (any more), or gone: both fine.
        if (!isProviderError(err, 'NOT_FOUND') && virErrorCode(err) !== VirErr.OPERATION_INVALID) throw err;
      });
      log.info(`destroyed domain ${dom.name}`);
    }
    for (const volume of this.ownedVolumes(doc, dom.name)) {
      const vol = await this.api.lookupVolume(this.settings.pool, volume, signal);
      if (!vol) continue;
      await this.api.deleteVolume(vol, signal).catch(notFoundAs(undefined));
      log.info(`deleted volume ${volume}`);
    }
    try {
      await this.api.undefineDomain(dom, UndefineFlags.NVRAM | UndefineFlags.MANAGED_SAVE | UndefineFlags.SNAPSHOTS_METADATA, signal);
    } catch (err) {
      if (isProviderError(err, 'NOT_FOUND')) return;
      if (isProviderError(err, 'CANCELLED') || isProviderError(err, 'UNAVAILABLE')) throw err;
      log.warn({ err }, 'undefine with NVRAM failed; trying a plain undefine');
      await this.api.undefineDomain(dom, 0, signal).catch(notFoundAs(undefined));
    }
    log.info(`deleted domain ${dom.name} (${instanceId})`);
  }

  async listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    const found = await this.ourDomains(signal);
    return found
      .filter(({ meta }) => Object.entries(tags).every(([k, v]) => meta.tags[k] === v))
      .map(({ dom, meta }) => ({ id: domainUuid(dom), name: dom.name, tags: meta.tags }));
  }

  async teardown(): Promise<void> {
    await this.api.close();
  }

  /** Polls the domain's state every EXIT_POLL_MS; a shut-off, crashed or vanished domain is an exit. */
  async watchForExit(instance: Instance, signal: AbortSignal): Promise<string | undefined> {
    while (!signal.aborted) {
      try {
        await sleep(EXIT_POLL_MS, signal);
      } catch {
        return undefined;
      }
      try {
        const dom = await this.api.lookupDomainByUuid(instance.id, signal);
        if (!dom) return `domain ${instance.name} (${instance.id}) is gone`;
        const { state, reason } = await this.api.domainState(dom, signal);
        if (state === DomainState.SHUTOFF || state === DomainState.CRASHED) {
          const why = state === DomainState.SHUTOFF ? `shut off: ${SHUTOFF_REASONS[reason] ?? reason}` : 'crashed';
          return `domain ${instance.name} ${why}${await this.consoleTail(instance.name)}`;
        }
      } catch {
        // A failed query says nothing about the VM; the next poll asks again.
      }
    }
    return undefined;
  }

  /**
   * The last lines of the VM's serial console, when this daemon can read the file (a local
   * libvirt), so the error says why the image did not come up; else where the log is.
   */
  private async consoleTail(name: string): Promise<string> {
    const path = this.consolePath(name);
    const text = parseLibvirtUri(this.config.uri).transport.kind === 'unix' ? await readFile(path, 'utf8').catch(() => undefined) : undefined;
    if (text === undefined) return `; see the console log ${path} on the libvirt host`;
    const lines = text.replace(ANSI_ESCAPE, '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    // The image's own failure line and what was printed just before it (the failing program's error).
    const failedAt = lines.findLastIndex((l) => l.startsWith('PODVM_FAILED:'));
    const shown = failedAt >= 0 ? lines.slice(Math.max(0, failedAt - 2), failedAt + 1) : lines.slice(-3);
    return `; console ${path}: ${shown.join(' | ') || '(empty)'}`;
  }

  // ---- create steps ------------------------------------------------------------------------

  private async baseVolume(image: string, signal: AbortSignal): Promise<BaseVolume> {
    try {
      return await resolveBaseVolume(this.api, this.settings.pool, image || this.config.volName, signal, image ? 'image annotation' : 'LIBVIRT_VOL_NAME');
    } catch (err) {
      // A missing volume named by the pod is the pod's mistake; the configured one is ours.
      if (image && isProviderError(err, 'INVALID_CONFIG')) throw new ProviderError('INVALID_REQUEST', err.message, { cause: err });
      throw asProviderError(err, signal);
    }
  }

  /** Defines the domain (allocating its static address first, one allocation at a time). */
  private async define(req: CreateInstanceRequest, uuid: string, mac: string, signal: AbortSignal): Promise<Created> {
    const run = async (): Promise<Created> => {
      const existing = await this.api.lookupDomainByName(req.instanceName, signal);
      if (existing) throw await this.existingDomainError(existing, req, signal);
      const address = this.settings.staticRange ? await this.allocateAddress(signal) : undefined;
      const xml = this.domainDefinition(req, uuid, mac, address);
      try {
        return { dom: await this.api.defineDomain(xml, signal), address };
      } catch (err) {
        // The daemon answered with an error: nothing was defined. Another create of the same name may have won a race.
        if (virErrorCode(err) !== undefined) {
          const raced = await this.api.lookupDomainByName(req.instanceName, signal).catch(() => undefined);
          if (raced && domainUuid(raced) !== uuid) throw await this.existingDomainError(raced, req, signal);
          throw err;
        }
        // No answer (connection lost, cancelled): the domain may exist; the caller deletes it by this id.
        const perr = asProviderError(err, signal);
        throw new ProviderError(perr.code, `defining pod VM ${req.instanceName} (${uuid}): ${perr.message}`, { partialInstanceId: uuid, cause: err });
      }
    };
    return this.settings.staticRange ? this.allocation.run(run) : run();
  }

  private async existingDomainError(dom: DomainRef, req: CreateInstanceRequest, signal: AbortSignal): Promise<ProviderError> {
    const id = domainUuid(dom);
    const meta = await this.api
      .domainXml(dom, signal)
      .then((x) => readMetadata(parseXml(x)))
      .catch(() => undefined);
    const same = (k: string): boolean => meta?.tags[k] !== undefined && meta.tags[k] === req.tags[k];
    if (same(TagKey.SANDBOX) && same(TagKey.CLUSTER) && same(TagKey.NODE)) {
      return new ProviderError(
        'UNAVAILABLE',
        `a pod VM named ${req.instanceName} already exists (${id}), left by an earlier attempt for this sandbox; it is not reused: delete it (the error names it as the partial instance) and start again`,
        { partialInstanceId: id },
      );
    }
    return new ProviderError('INVALID_REQUEST', `a domain named ${req.instanceName} already exists on ${this.api.description} (${id}) and was not made for this sandbox; it is left alone`);
  }

  /** The lowest free address of the range; the caller holds the allocation lock until the define. */
  private async allocateAddress(signal: AbortSignal): Promise<{ ip: string; prefix: number }> {
    const range = this.settings.staticRange!;
    const used = new Set<string>();
    for (const { meta } of await this.ourDomains(signal, true)) if (meta.address) used.add(meta.address.ip);
    const ip = pickAddress(range, used, new Set(this.settings.networkAddresses));
    if (!ip) throw new ProviderError('CAPACITY', `LIBVIRT_STATIC_IP_RANGE ${range.cidr} is full (${used.size} addresses in use)`);
    return { ip, prefix: range.prefix };
  }

  domainDefinition(req: CreateInstanceRequest, uuid: string, mac: string, address: InstanceMetadata['address']): string {
    const c = this.config;
    const s = this.settings;
    const vols = volumeNames(req.instanceName);
    const consoleLog = `${c.dataDir.replace(/\/+$/, '')}/${vols.console}`;
    let cmdline = c.cmdline;
    if (c.kernel && address && s.staticRange) {
      // The kernel's (and initramfs-tools'/dracut's) ip= syntax: client::gateway:netmask:hostname:device:autoconf.
      cmdline = `${cmdline} ip=${address.ip}::${s.gateway ?? ''}:${netmaskOf(s.staticRange)}:${req.instanceName}::off`.trim();
    }
    return domainXml({
      name: req.instanceName,
      uuid,
      arch: s.arch,
      type: s.domainType,
      vcpus: req.spec.vcpus > 0 ? req.spec.vcpus : c.cpu,
      memoryMiB: req.spec.memoryMiB > 0 ? req.spec.memoryMiB : c.memory,
      cpuset: c.cpuset,
      firmware: c.firmware,
      kernel: c.kernel ? { path: c.kernel, initrd: c.initrd || undefined, cmdline: cmdline || undefined } : undefined,
      launchSecurity: s.launchSecurity,
      pool: s.pool.name,
      rootVolume: vols.root,
      cidataVolume: vols.cidata,
      network: s.network.name,
      mac,
      consoleLog,
      metadata: metadataElement({ tags: { ...req.tags }, ...(address ? { address } : {}) }),
    });
  }

  private async createVolumes(
    vols: VolumeNames,
    base: BaseVolume,
    seed: { instanceId: string; hostname: string; userData: string; mac: string; address: InstanceMetadata['address'] },
    signal: AbortSignal,
  ): Promise<void> {
    const wanted = BigInt(this.config.rootDiskSize) * GiB;
    const capacity = wanted > base.capacity ? wanted : base.capacity;
    const root = el(
      'volume',
      {},
      text('name', vols.root),
      text('capacity', capacity.toString(), { unit: 'bytes' }),
      el('target', {}, el('format', { type: 'qcow2' })),
      el('backingStore', {}, text('path', base.path), el('format', { type: base.format })),
    );
    await this.createVolume(vols.root, serialize(root), signal);

    const iso = buildCidataIso({
      instanceId: seed.instanceId,
      hostname: seed.hostname,
      userData: seed.userData,
      ...(seed.address ? { network: { mac: seed.mac, ip: seed.address.ip, prefix: seed.address.prefix, gateway: this.settings.gateway } } : {}),
    });
    const isoVol = await this.createVolume(vols.cidata, serialize(rawVolume(vols.cidata, iso.length)), signal);
    await this.api.uploadVolume(isoVol, iso, signal);

    if (this.settings.consoleInPool) await this.createVolume(vols.console, serialize(rawVolume(vols.console, 0)), signal);
  }

  /** Creates a volume; one of the same name is a leftover of an interrupted create of this very instance name, and is replaced. */
  private async createVolume(name: string, xml: string, signal: AbortSignal): Promise<VolRef> {
    try {
      return await this.api.createVolume(this.settings.pool, xml, signal);
    } catch (err) {
      if (virErrorCode(err) !== VirErr.STORAGE_VOL_EXIST) throw err;
      const stale = await this.api.lookupVolume(this.settings.pool, name, signal);
      if (stale) {
        this.log.warn({ volume: name }, `volume ${name} exists without its domain (an interrupted create); replacing it`);
        await this.api.deleteVolume(stale, signal).catch(notFoundAs(undefined));
      }
      return await this.api.createVolume(this.settings.pool, xml, signal);
    }
  }

  /** The static address once the domain runs; else the lease/ARP address, watching for a VM that stops before it has one. */
  private async addressesOf(created: Created, mac: string, signal: AbortSignal): Promise<string[]> {
    const { dom, address } = created;
    if (address) {
      await this.assertRunning(dom, signal);
      return [address.ip];
    }
    const source = this.config.ipSource === 'arp' ? InterfaceAddressSource.ARP : InterfaceAddressSource.LEASE;
    const timeoutMs = this.config.ipTimeout;
    const deadline = AbortSignal.any([signal, timeoutSignal(timeoutMs)]);
    const backoff = new Backoff({ initialMs: 250, maxMs: 3_000 });
    let lastError = '';
    for (;;) {
      try {
        await this.assertRunning(dom, deadline);
        const ifaces = await this.api.interfaceAddresses(dom, source, deadline);
        const ips = ifaces.filter((i) => (i.hwaddr ?? '').toLowerCase() === mac).flatMap((i) => i.addrs.filter((a) => a.type === 0).map((a) => a.addr));
        if (ips.length > 0) return ips;
      } catch (err) {
        if (signal.aborted) throw asProviderError(err, signal);
        if (!deadline.aborted) {
          // A stopped or vanished domain will not get an address; a failing address query may recover.
          if (err instanceof DomainStoppedError || !isProviderError(err) || ['INVALID_CONFIG', 'NOT_FOUND'].includes(err.code)) throw err;
          lastError = err.message;
        }
      }
      try {
        await sleep(backoff.next(), deadline);
      } catch {
        // fall through to the deadline check
      }
      if (signal.aborted) throw new ProviderError('CANCELLED', `cancelled while waiting for the address of ${dom.name}`);
      if (deadline.aborted) {
        throw new ProviderError(
          'UNAVAILABLE',
          `no ${this.config.ipSource === 'arp' ? 'ARP' : 'DHCP lease'} address for ${dom.name} (MAC ${mac}) within ${timeoutMs / 1000}s` +
            `${lastError ? ` (last error: ${lastError})` : ''}; does the pod VM image boot? See its console log ${this.consolePath(dom.name)}`,
        );
      }
    }
  }

  private async assertRunning(dom: DomainRef, signal: AbortSignal): Promise<void> {
    const { state, reason } = await this.api.domainState(dom, signal);
    if (state === DomainState.SHUTOFF || state === DomainState.CRASHED || state === DomainState.SHUTDOWN) {
      const why = state === DomainState.SHUTOFF ? SHUTOFF_REASONS[reason] ?? String(reason) : DOMAIN_STATE_NAMES[state];
      throw new DomainStoppedError(
        `domain ${dom.name} stopped (${DOMAIN_STATE_NAMES[state]}: ${why}) before it had an address; does the pod VM image boot? See its console log ${this.consolePath(dom.name)}`,
      );
    }
  }

  private consolePath(name: string): string {
    return `${this.config.dataDir.replace(/\/+$/, '')}/${volumeNames(name).console}`;
  }

  // ---- list and delete helpers -------------------------------------------------------------

  /** Every domain with our metadata (read concurrently, a few at a time). */
  private async ourDomains(signal: AbortSignal, inactive = false): Promise<{ dom: DomainRef; meta: InstanceMetadata }[]> {
    const doms = await this.api.listDomains(signal);
    const out: { dom: DomainRef; meta: InstanceMetadata }[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < doms.length) {
        const dom = doms[next++]!;
        const xml = await this.api.domainXml(dom, signal, inactive).catch(notFoundAs(undefined));
        if (xml === undefined) continue;
        const meta = readMetadata(parseXml(xml));
        if (meta) out.push({ dom, meta });
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, doms.length) }, worker));
    return out;
  }

  /** Volumes the definition references that are ours to delete: in our pool and named after the instance. */
  private ownedVolumes(doc: XmlElement, name: string): string[] {
    const mine = volumeNames(name);
    const allowed = new Set([mine.root, mine.cidata, mine.console]);
    const out = new Set<string>();
    const devices = find(doc, 'devices');
    for (const disk of devices ? elements(devices, 'disk') : []) {
      const src = find(disk, 'source');
      if (disk.attrs.type === 'volume' && src?.attrs.pool === this.settings.pool.name && allowed.has(src.attrs.volume ?? '')) out.add(src.attrs.volume!);
    }
    if (this.settings.consoleInPool) {
      const consolePath = `${this.settings.poolPath.replace(/\/+$/, '')}/${mine.console}`;
      for (const dev of devices ? [...elements(devices, 'serial'), ...elements(devices, 'console')] : []) {
        if (find(dev, 'source')?.attrs.path === consolePath) out.add(mine.console);
      }
    }
    return [...out];
  }
}

/** The VM stopped (crashed, powered off) before it had an address. */
class DomainStoppedError extends ProviderError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

function rawVolume(name: string, bytes: number): XmlElement {
  return el('volume', {}, text('name', name), text('capacity', bytes, { unit: 'bytes' }), el('target', {}, el('format', { type: 'raw' })));
}

/** `.catch(notFoundAs(v))`: a NOT_FOUND becomes v, anything else is rethrown. */
function notFoundAs<T>(value: T): (err: unknown) => T {
  return (err) => {
    if (isProviderError(err, 'NOT_FOUND')) return value;
    throw err;
  };
}

