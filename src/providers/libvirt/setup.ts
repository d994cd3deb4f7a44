/**
 * Start-up of the libvirt provider: ask the host what it is and check every configured object
 * (pool, network, base volume, launch security, static range), so that a wrong configuration stops
 * the daemon with a message naming the key, not the first pod. Each step is a function of its own;
 * verify.ts runs them one by one.
 */
import { messageOf } from '../../util/errors.js';
import { posix } from 'node:path';
import { ProviderError, isProviderError } from '../errors.js';
import { closeOnFailure } from '../plugin.js';
import type { ProviderHost } from '../provider.js';
import type { ProviderStart } from '../registry.js';
import { RpcLibvirtApi, versionString, type LibvirtApi, type NetworkRef, type PoolRef } from './client.js';
import type { LibvirtConfig } from './config.js';
import { SEV_SNP_MIN_LIBVIRT, type Arch, type DomainType, type LaunchSecurity } from './domain-xml.js';
import { HostCapabilityError, decideDomainType, hostFacts, launchSecurityTypes } from './host.js';
import { LibvirtProvider } from './provider.js';
import { withRetries } from './retry.js';
import { contains, parseCidr, type Ipv4Range } from './static-ip.js';
import { elements, find, parseXml, textOf } from '../../lib/xml.js';

export interface LibvirtSettings {
  arch: Arch;
  domainType: DomainType;
  /** One line: why this domain type. */
  domainTypeReason: string;
  launchSecurity: LaunchSecurity;
  pool: PoolRef;
  /** The pool's folder on the libvirt host. */
  poolPath: string;
  network: NetworkRef;
  /** The network's own IPv4 addresses (the host side), e.g. the bridge's. */
  networkAddresses: string[];
  staticRange: Ipv4Range | undefined;
  /** The gateway handed to VMs with a static address: the network's address inside the range. */
  gateway: string | undefined;
  /** Console logs are volumes of the pool (LIBVIRT_DATA_DIR is the pool's folder). */
  consoleInPool: boolean;
}

/**
 * Everything the plugin's `create` does once the keys parsed: the host and every configured object
 * asked about, then the provider. `rawApi` is the RPC client (a test may hand in a wrapper around
 * it); transient-failure retries are added here.
 */
export async function startLibvirt(
  host: Pick<ProviderHost, 'logger'>,
  config: LibvirtConfig,
  signal: AbortSignal,
  rawApi: LibvirtApi = new RpcLibvirtApi(config.uri),
): Promise<ProviderStart & { provider: LibvirtProvider }> {
  const api = withRetries(rawApi);
  const log = host.logger.child({ component: 'libvirt' });
  return closeOnFailure(
    () => api.close(),
    async () => {
      const settings = await resolveSettings(api, config, signal);
      log.info(
        { uri: api.description, arch: settings.arch, domainType: settings.domainType, launchSecurity: settings.launchSecurity || 'none', pool: settings.pool.name, network: settings.network.name, ipSource: config.ipSource },
        `libvirt provider ready: ${settings.arch} pod VMs, ${settings.domainTypeReason}`,
      );
      return { provider: new LibvirtProvider(api, config, settings, host) };
    },
  );
}

const invalid = (message: string, cause?: unknown): ProviderError => new ProviderError('INVALID_CONFIG', message, { cause });

/** Transport, credential and configuration errors keep their kind; anything else is a configuration error naming the key. */
function asConfigError(err: unknown, what: string): ProviderError {
  if (isProviderError(err) && ['UNAVAILABLE', 'CANCELLED', 'UNAUTHORIZED', 'INVALID_CONFIG'].includes(err.code)) return err;
  return invalid(`${what}: ${messageOf(err)}`, err);
}

export async function resolveHost(api: LibvirtApi, config: LibvirtConfig, signal: AbortSignal): Promise<Pick<LibvirtSettings, 'arch' | 'domainType' | 'domainTypeReason' | 'launchSecurity'>> {
  const caps = await api.capabilities(signal);
  let host: Pick<LibvirtSettings, 'arch' | 'domainType' | 'domainTypeReason' | 'launchSecurity'>;
  try {
    const facts = hostFacts(caps);
    const { type, reason } = decideDomainType(facts, config.domainType);
    host = { arch: facts.arch, domainType: type, domainTypeReason: reason, launchSecurity: resolveLaunchSecurity(config, facts.arch, type) };
  } catch (err) {
    if (err instanceof HostCapabilityError) throw invalid(err.message, err);
    throw err;
  }
  if (host.launchSecurity === 'sev-snp') await checkSevSnpSupport(api, host.arch, host.domainType, signal);
  return host;
}

/**
 * SEV-SNP needs libvirt >= 10.5.0, the first release that knows `<launchSecurity type='sev-snp'>`
 * (older ones refuse the definition in their schema, so every create would fail), and a host whose
 * domain capabilities offer `sev-snp` for this arch and type (SNP enabled in the host firmware and
 * kvm_amd, a QEMU with SNP support). Both are asked once, at start-up.
 */
export async function checkSevSnpSupport(api: LibvirtApi, arch: Arch, type: DomainType, signal: AbortSignal): Promise<void> {
  const key = 'LIBVIRT_LAUNCH_SECURITY=sev-snp';
  let version: number;
  let offered: string[];
  try {
    version = await api.libVersion(signal);
    if (version < SEV_SNP_MIN_LIBVIRT) {
      throw invalid(`${key} needs libvirt ${versionString(SEV_SNP_MIN_LIBVIRT)} or newer (the first release with <launchSecurity type='sev-snp'>); ${api.description} runs libvirt ${versionString(version)}`);
    }
    offered = launchSecurityTypes(await api.domainCapabilities(arch, type, signal));
  } catch (err) {
    throw asConfigError(err, key);
  }
  if (!offered.includes('sev-snp')) {
    throw invalid(
      `${key}: libvirt ${versionString(version)} on ${api.description} does not offer SEV-SNP for ${type} guests on ${arch} (its domain capabilities list ${offered.length ? `only ${offered.join(', ')}` : 'no launch security'}); the host needs SEV-SNP enabled in its firmware and in kvm_amd, and a QEMU with SEV-SNP support`,
    );
  }
}

export function resolveLaunchSecurity(config: Pick<LibvirtConfig, 'disableCvm' | 'launchSecurity' | 'firmware'>, arch: Arch, type: DomainType): LaunchSecurity {
  if (config.disableCvm) {
    if (config.launchSecurity) throw invalid(`LIBVIRT_LAUNCH_SECURITY=${config.launchSecurity} contradicts DISABLECVM=true; set DISABLECVM=false for confidential VMs, or leave LIBVIRT_LAUNCH_SECURITY empty`);
    return '';
  }
  const ls = config.launchSecurity || (arch === 's390x' ? 's390-pv' : '');
  if (!ls) throw invalid(`DISABLECVM=false needs a confidential VM type for ${arch}: set LIBVIRT_LAUNCH_SECURITY=sev-snp (AMD) or DISABLECVM=true`);
  if (ls === 's390-pv' && arch !== 's390x') throw invalid(`LIBVIRT_LAUNCH_SECURITY=s390-pv (IBM Secure Execution) needs an s390x host; this one is ${arch}`);
  if (ls === 'sev-snp') {
    if (arch !== 'x86_64') throw invalid(`LIBVIRT_LAUNCH_SECURITY=sev-snp needs an x86_64 host; this one is ${arch}`);
    if (type !== 'kvm') throw invalid('LIBVIRT_LAUNCH_SECURITY=sev-snp needs KVM; the domain type here is qemu (TCG)');
    if (!config.firmware) throw invalid('LIBVIRT_LAUNCH_SECURITY=sev-snp needs an SEV-capable firmware image in LIBVIRT_EFI_FIRMWARE (e.g. OVMF.amdsev.fd)');
  }
  return ls;
}

export async function resolvePool(api: LibvirtApi, config: LibvirtConfig, signal: AbortSignal): Promise<{ pool: PoolRef; poolPath: string }> {
  try {
    const pool = await api.lookupPool(config.poolName, signal);
    if (!pool) throw invalid(`LIBVIRT_POOL ${config.poolName}: no such storage pool on ${api.description}`);
    if (!(await api.poolIsActive(pool, signal))) throw invalid(`LIBVIRT_POOL ${config.poolName} is not active (virsh pool-start ${config.poolName})`);
    const xml = parseXml(await api.poolXml(pool, signal));
    return { pool, poolPath: textOf(find(xml, 'target', 'path')).trim() };
  } catch (err) {
    throw asConfigError(err, `LIBVIRT_POOL ${config.poolName}`);
  }
}

export async function resolveNetwork(api: LibvirtApi, config: LibvirtConfig, signal: AbortSignal): Promise<{ network: NetworkRef; networkAddresses: string[]; hasDhcp: boolean }> {
  try {
    const network = await api.lookupNetwork(config.networkName, signal);
    if (!network) throw invalid(`LIBVIRT_NET ${config.networkName}: no such network on ${api.description}`);
    if (!(await api.networkIsActive(network, signal))) throw invalid(`LIBVIRT_NET ${config.networkName} is not active (virsh net-start ${config.networkName})`);
    const xml = parseXml(await api.networkXml(network, signal));
    const ips = elements(xml, 'ip').filter((ip) => (ip.attrs.family ?? 'ipv4') === 'ipv4');
    return { network, networkAddresses: ips.map((ip) => ip.attrs.address ?? '').filter(Boolean), hasDhcp: ips.some((ip) => find(ip, 'dhcp') !== undefined) };
  } catch (err) {
    throw asConfigError(err, `LIBVIRT_NET ${config.networkName}`);
  }
}

export interface BaseVolume {
  name: string;
  path: string;
  format: string;
  capacity: bigint;
}

/** The base volume's path, format and size; `key` names where the name came from, for messages. */
export async function resolveBaseVolume(api: LibvirtApi, pool: PoolRef, name: string, signal: AbortSignal, key = 'LIBVIRT_VOL_NAME'): Promise<BaseVolume> {
  const vol = await api.lookupVolume(pool, name, signal);
  if (!vol) throw invalid(`${key} ${name}: no such volume in pool ${pool.name}`);
  const xml = parseXml(await api.volumeXml(vol, signal));
  const format = find(xml, 'target', 'format')?.attrs.type ?? 'raw';
  const path = textOf(find(xml, 'target', 'path')).trim();
  const unit = find(xml, 'capacity')?.attrs.unit ?? 'bytes';
  if (unit !== 'bytes') throw new ProviderError('INTERNAL', `volume ${name}: capacity in ${unit}`);
  return { name, path, format, capacity: BigInt(textOf(find(xml, 'capacity')).trim() || '0') };
}

export function resolveStaticRange(config: LibvirtConfig, networkAddresses: string[]): Pick<LibvirtSettings, 'staticRange' | 'gateway'> {
  if (config.ipSource !== 'static') return { staticRange: undefined, gateway: undefined };
  if (!config.staticIpRange) throw invalid('LIBVIRT_IP_SOURCE=static needs LIBVIRT_STATIC_IP_RANGE (a CIDR range on the network, e.g. 10.252.0.0/24)');
  const range = parseCidr(config.staticIpRange);
  return { staticRange: range, gateway: networkAddresses.find((a) => contains(range, a)) };
}

export function checkBootKeys(config: LibvirtConfig): void {
  if (!config.kernel && (config.initrd || config.cmdline)) throw invalid('LIBVIRT_INITRD and LIBVIRT_CMDLINE are used only with LIBVIRT_KERNEL, which is empty');
}

export async function resolveSettings(api: LibvirtApi, config: LibvirtConfig, signal: AbortSignal): Promise<LibvirtSettings> {
  checkBootKeys(config);
  const host = await resolveHost(api, config, signal);
  const { pool, poolPath } = await resolvePool(api, config, signal);
  const { network, networkAddresses, hasDhcp } = await resolveNetwork(api, config, signal);
  if (config.ipSource === 'lease' && !hasDhcp) {
    throw invalid(`LIBVIRT_IP_SOURCE=lease reads the DHCP leases of network ${config.networkName}, which has no <dhcp>; use LIBVIRT_IP_SOURCE=static with LIBVIRT_STATIC_IP_RANGE, or arp`);
  }
  await resolveBaseVolume(api, pool, config.volName, signal).catch((err: unknown) => {
    throw asConfigError(err, `LIBVIRT_VOL_NAME ${config.volName}`);
  });
  const consoleInPool = poolPath !== '' && posix.normalize(`${config.dataDir}/`) === posix.normalize(`${poolPath}/`);
  return { ...host, pool, poolPath, network, networkAddresses, ...resolveStaticRange(config, networkAddresses), consoleInPool };
}
