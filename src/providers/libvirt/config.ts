/**
 * The `libvirt` provider's keys (reference §4.5): upstream's flags, ConfigMap names and defaults,
 * plus what this implementation adds for local use: direct kernel boot, the domain type override,
 * how the VM's address is found (DHCP lease, ARP, or a static range we assign from) and how long.
 */
import { z, type ZodType } from 'zod';
import { absolutePath, bool, duration, int, oneOf, option, redact, resolveOptions, str, type RawSources, type Resolved } from '../../config/options.js';
import { LibvirtUriError, parseLibvirtUri } from '../../lib/libvirt-rpc/uri.js';
import { CidrError, parseCidr } from './static-ip.js';

const libvirtUri = (): ZodType<string, string> =>
  z.string().transform((v, ctx) => {
    try {
      parseLibvirtUri(v.trim());
      return v.trim();
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof LibvirtUriError ? err.message : String(err) });
      return z.NEVER;
    }
  });

/** Empty, or an absolute path (on the libvirt host). */
const optionalPath = (): ZodType<string, string> => z.string().refine((v) => v === '' || v.startsWith('/'), 'expected an absolute path (on the libvirt host) or nothing');

const objectName = (what: string): ZodType<string, string> =>
  z.string().refine((v) => /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,253}$/.test(v), `expected a libvirt ${what} name (letters, digits, _ . + -)`);

const cidr = (): ZodType<string, string> =>
  z.string().transform((v, ctx) => {
    if (v.trim() === '') return '';
    try {
      return parseCidr(v).cidr;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof CidrError ? err.message : String(err) });
      return z.NEVER;
    }
  });

export const libvirtOptions = {
  uri: option({
    flag: 'uri',
    env: ['LIBVIRT_URI'],
    default: 'qemu+ssh://root@192.168.122.1/system?no_verify=1',
    schema: libvirtUri(),
    description: 'libvirt connection URI: qemu:///system, qemu+ssh://user@host/system?keyfile=…&no_verify=1 (key from Secret ssh-key-secret at /root/.ssh/id_rsa), qemu+unix:///system?socket=…',
  }),
  poolName: option({ flag: 'pool-name', env: ['LIBVIRT_POOL'], default: 'default', schema: objectName('storage pool'), description: 'storage pool holding the base volume; the root overlays and cidata seeds are created in it' }),
  networkName: option({ flag: 'network-name', env: ['LIBVIRT_NET'], default: 'default', schema: objectName('network'), description: 'libvirt network the pod VM NIC joins' }),
  volName: option({ flag: 'vol-name', env: ['LIBVIRT_VOL_NAME'], default: 'podvm-base.qcow2', schema: objectName('volume'), description: 'base volume (the pod VM image) in the pool; the `image` annotation names another volume of the pool' }),
  launchSecurity: option({
    flag: 'launch-security',
    env: ['LIBVIRT_LAUNCH_SECURITY'],
    default: '',
    schema: oneOf(['', 's390-pv', 'sev-snp']),
    description: 'confidential VM type when DISABLECVM=false: s390-pv (IBM Secure Execution) or sev-snp (AMD, x86_64); empty = s390-pv on s390x hosts',
  }),
  firmware: option({ flag: 'firmware', env: ['LIBVIRT_EFI_FIRMWARE'], default: '/usr/share/OVMF/OVMF_CODE_4M.fd', schema: optionalPath(), description: 'UEFI firmware image on the libvirt host (x86_64, aarch64); empty = the hypervisor default (SeaBIOS on x86_64)' }),
  cpu: option({ flag: 'cpu', env: ['LIBVIRT_CPU'], default: '2', schema: int(1, 512), description: 'vCPUs of a pod VM unless the pod asks (default_vcpus annotation)' }),
  memory: option({ flag: 'memory', env: ['LIBVIRT_MEMORY'], default: '8192', schema: int(64, 4_194_304), description: 'memory of a pod VM in MiB unless the pod asks (default_memory annotation)' }),
  cpuset: option({
    flag: 'cpuset',
    env: ['LIBVIRT_CPUSET'],
    default: '',
    schema: z.string().refine((v) => v === '' || /^\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*$/.test(v), 'expected host CPUs like 0-3,8 (or empty)'),
    description: 'host CPUs the vCPUs may run on, e.g. 0-3,8; empty = any',
  }),
  rootDiskSize: option({ flag: 'root-disk-size', env: ['LIBVIRT_ROOT_DISK_SIZE'], default: '10', schema: int(0, 65_536), description: 'root overlay size in GiB (raised to the base volume\'s size); 0 = the base volume\'s' }),
  dataDir: option({
    flag: 'data-dir',
    env: ['LIBVIRT_DATA_DIR'],
    default: '/var/lib/libvirt/images',
    schema: absolutePath(),
    description: 'folder on the libvirt host for the pod VMs\' serial console logs (<name>-console.log); when it is the pool\'s folder the log is a volume, deleted with the VM',
  }),
  disableCvm: option({ flag: 'disable-cvm', env: ['DISABLECVM'], default: 'true', schema: bool(), boolean: true, description: 'create ordinary VMs instead of confidential ones (no launch security)' }),
  kernel: option({ flag: 'libvirt-kernel', env: ['LIBVIRT_KERNEL'], default: '', schema: optionalPath(), description: 'boot this kernel (path on the libvirt host) directly instead of the root disk' }),
  initrd: option({ flag: 'libvirt-initrd', env: ['LIBVIRT_INITRD'], default: '', schema: optionalPath(), description: 'initramfs for LIBVIRT_KERNEL' }),
  cmdline: option({ flag: 'libvirt-cmdline', env: ['LIBVIRT_CMDLINE'], default: '', schema: str(), description: 'kernel command line for LIBVIRT_KERNEL (with a static address, ip=<addr>::<gw>:<mask>:<name>::off is appended)' }),
  domainType: option({
    flag: 'libvirt-domain-type',
    env: ['LIBVIRT_DOMAIN_TYPE'],
    default: 'auto',
    schema: oneOf(['auto', 'kvm', 'qemu']),
    description: 'kvm, qemu (TCG emulation), or auto: kvm only when libvirt offers it and the host CPU has vmx/svm (s390x: sie)',
  }),
  ipSource: option({
    flag: 'libvirt-ip-source',
    env: ['LIBVIRT_IP_SOURCE'],
    default: 'lease',
    schema: oneOf(['lease', 'arp', 'static']),
    description: 'how the VM\'s address is found: lease (the network\'s DHCP leases), arp (the host\'s ARP table), static (assigned from LIBVIRT_STATIC_IP_RANGE and handed to the VM)',
  }),
  staticIpRange: option({
    flag: 'libvirt-static-ip-range',
    env: ['LIBVIRT_STATIC_IP_RANGE'],
    default: '',
    schema: cidr(),
    description: 'IPv4 range (CIDR) the static addresses come from; the network and broadcast addresses and the network\'s own address (the gateway) are never assigned',
  }),
  ipTimeout: option({ flag: 'libvirt-ip-timeout', env: ['LIBVIRT_IP_TIMEOUT'], default: '60s', schema: duration({ min: 1_000, max: 3_600_000 }), description: 'how long to wait for a lease or ARP address (a VM that gets none in time is a failed create)' }),
};

export type LibvirtConfig = Resolved<typeof libvirtOptions>;

export function loadLibvirtConfig(sources: RawSources): LibvirtConfig {
  return resolveOptions(libvirtOptions, sources);
}

export function describeLibvirtConfig(sources: RawSources): Record<string, unknown> {
  return redact(libvirtOptions, loadLibvirtConfig(sources));
}
