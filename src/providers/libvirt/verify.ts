/**
 * `cloud-api-adaptor libvirt --verify` (and CLOUD_CONFIG_VERIFY=true): one line per check —
 * connection, domain type decision, pool, network, base volume, firmware file, kernel files, static
 * range, launch security. A failure in one does not hide the others; nothing runs after the
 * connection failed.
 */
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { VerifyCheck } from '../registry.js';
import { VerifyChecks } from '../verify-checks.js';
import { RpcLibvirtApi, type LibvirtApi } from './client.js';
import type { LibvirtConfig } from './config.js';
import { knownFirmware } from './host.js';
import { parseLibvirtUri } from '../../lib/libvirt-rpc/uri.js';
import { checkBootKeys, resolveBaseVolume, resolveHost, resolveNetwork, resolvePool, resolveStaticRange, type LibvirtSettings } from './setup.js';
import { pickAddress } from './static-ip.js';

export async function verifyLibvirt(config: LibvirtConfig, _log: Logger, signal: AbortSignal, makeApi: (c: LibvirtConfig) => LibvirtApi = (c) => new RpcLibvirtApi(c.uri)): Promise<VerifyCheck[]> {
  const runner = new VerifyChecks();
  const checks = runner.results;
  const check = (name: string, fn: () => Promise<string> | string): Promise<boolean> => runner.check(name, fn);
  const api = makeApi(config);
  const uri = parseLibvirtUri(config.uri);
  const local = uri.transport.kind === 'unix';
  try {
    if (!(await check('connection', async () => `${api.description} via ${local ? 'local socket' : uri.transport.kind === 'command' ? uri.transport.description : 'tcp'}: QEMU ${await api.hypervisorVersion(signal)}`))) return checks;
    let host: Pick<LibvirtSettings, 'arch' | 'domainType' | 'domainTypeReason' | 'launchSecurity'> | undefined;
    await check('domain type', async () => {
      host = await resolveHost(api, { ...config, disableCvm: true, launchSecurity: '' }, signal);
      return `${host.arch}: ${host.domainTypeReason}`;
    });
    let pool: LibvirtSettings['pool'] | undefined;
    await check('pool', async () => {
      const p = await resolvePool(api, config, signal);
      pool = p.pool;
      return `${config.poolName} at ${p.poolPath}${config.dataDir.replace(/\/+$/, '') === p.poolPath.replace(/\/+$/, '') ? ' (console logs are volumes of it)' : `; console logs in ${config.dataDir}`}`;
    });
    let networkAddresses: string[] = [];
    await check('network', async () => {
      const n = await resolveNetwork(api, config, signal);
      networkAddresses = n.networkAddresses;
      if (config.ipSource === 'lease' && !n.hasDhcp) throw new Error(`${config.networkName} has no DHCP, so LIBVIRT_IP_SOURCE=lease never finds an address`);
      return `${config.networkName} (${n.networkAddresses.join(', ') || 'no IPv4 address'}${n.hasDhcp ? ', DHCP' : ', no DHCP'}); addresses by ${config.ipSource}`;
    });
    if (pool) {
      const p = pool;
      await check('base volume', async () => {
        const b = await resolveBaseVolume(api, p, config.volName, signal);
        return `${b.name}: ${b.format}, ${Number(b.capacity / 1048576n)} MiB, ${b.path}`;
      });
    }
    await check('firmware', async () => {
      if (!config.firmware) return 'none: the hypervisor default (SeaBIOS on x86_64)';
      if (host?.arch === 's390x') return 'not used on s390x';
      if (local && existsSync(config.firmware)) return `${config.firmware} exists`;
      const known = host ? knownFirmware(await api.domainCapabilities(host.arch, host.domainType, signal)) : [];
      if (known.includes(config.firmware)) return `${config.firmware} (listed by libvirt)`;
      throw new Error(`${config.firmware} is not on ${local ? 'this machine' : 'the libvirt host'} as far as libvirt reports (known: ${known.join(', ') || 'none'}); set LIBVIRT_EFI_FIRMWARE, or empty for the default firmware`);
    });
    if (config.kernel) {
      await check('kernel', async () => {
        checkBootKeys(config);
        if (!local) return `${config.kernel}${config.initrd ? ` + ${config.initrd}` : ''} (on the remote host; not checked)`;
        const missing = [config.kernel, config.initrd].filter((f) => f && !existsSync(f));
        if (missing.length) throw new Error(`not found: ${missing.join(', ')}`);
        return `${config.kernel}${config.initrd ? ` + ${config.initrd}` : ''}`;
      });
    }
    if (config.ipSource === 'static') {
      await check('static addresses', async () => {
        const r = resolveStaticRange(config, networkAddresses);
        const first = pickAddress(r.staticRange!, new Set(), new Set(networkAddresses));
        return `${r.staticRange!.cidr}, gateway ${r.gateway ?? 'none'}, first address ${first ?? 'none'}`;
      });
    }
    if (host) {
      const h = host;
      await check('launch security', async () => {
        const { launchSecurity } = await resolveHost(api, config, signal);
        return launchSecurity ? `${launchSecurity} on ${h.arch}` : 'none (DISABLECVM=true: ordinary VMs)';
      });
    }
  } finally {
    await api.close();
  }
  return checks;
}
