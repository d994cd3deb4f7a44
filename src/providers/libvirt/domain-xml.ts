/**
 * The pod VM's domain definition, per host architecture (reference §4.5 step 4), built with the XML
 * builder so that no configured or requested value can change the document's shape.
 *
 * Common to every architecture: the root overlay as a virtio disk (`vda`, boot order 1), the cidata
 * seed as a read-only raw virtio disk (`vdb`; NoCloud reads any block device labelled `cidata`), a
 * virtio NIC with the MAC the seed's network-config matches, a virtio RNG, the serial console into
 * a file, and our metadata. Disks name their pool and volume (`type='volume'`), so a domain
 * defined before its volumes exist is valid and deleting it finds exactly its volumes.
 *
 * - x86_64: machine q35; `<cpu mode='host-model'/>` with KVM (TCG takes QEMU's default model);
 *   firmware → a read-only pflash loader (libvirt makes the NVRAM); SEV-SNP (libvirt >= 10.5.0, checked at
 *   start-up) → `<launchSecurity type='sev-snp'><policy>`, the firmware as a stateless ROM, host-passthrough
 *   CPU, IOMMU on for virtio devices, no balloon, no core dumps.
 * - s390x: machine s390-ccw-virtio, sclp console, IOMMU on for virtio devices (Secure Execution
 *   needs it), `<launchSecurity type='s390-pv'/>` for Secure Execution.
 * - aarch64: machine virt, `cpu mode='host-passthrough'` with KVM and `maximum` under TCG.
 */
import { el, serialize, text, type XmlElement } from '../../lib/xml.js';

export type Arch = 'x86_64' | 's390x' | 'aarch64';
export type DomainType = 'kvm' | 'qemu';
export type LaunchSecurity = '' | 's390-pv' | 'sev-snp';

export const SUPPORTED_ARCHES: readonly Arch[] = ['x86_64', 's390x', 'aarch64'];

/**
 * The SNP guest policy (64 bits, SEV-SNP firmware ABI §4.3): bit 16 SMT allowed, bit 17 reserved and
 * must be 1, no minimum ABI version, no debugging, no migration agent. libvirt's documented example
 * and QEMU's default (https://libvirt.org/formatdomain.html#launch-security).
 */
export const SEV_SNP_POLICY = '0x00030000';

/** The first libvirt release that knows `<launchSecurity type='sev-snp'>`, as virConnectGetLibVersion counts. */
export const SEV_SNP_MIN_LIBVIRT = 10_005_000;

export interface DomainSpec {
  name: string;
  uuid: string;
  arch: Arch;
  type: DomainType;
  vcpus: number;
  memoryMiB: number;
  cpuset?: string;
  /** Firmware image on the libvirt host; empty = the hypervisor's default (SeaBIOS on x86). */
  firmware?: string;
  /** Direct kernel boot instead of booting the root disk. */
  kernel?: { path: string; initrd?: string; cmdline?: string };
  launchSecurity: LaunchSecurity;
  pool: string;
  rootVolume: string;
  cidataVolume: string;
  network: string;
  mac: string;
  /** File the serial console writes to, on the libvirt host. */
  consoleLog: string;
  metadata: XmlElement;
}

const MACHINE: Record<Arch, string> = { x86_64: 'q35', s390x: 's390-ccw-virtio', aarch64: 'virt' };
export const DESCRIPTION = 'This Virtual Machine is the peer-pod VM';

export function domainElement(s: DomainSpec): XmlElement {
  const confidential = s.launchSecurity !== '';
  // Secure Execution and SEV guests can only do DMA through bounce buffers: virtio needs the IOMMU platform.
  const iommu = confidential || s.arch === 's390x' ? 'on' : undefined;
  const virtioDriver = (attrs: Record<string, string | undefined>): XmlElement => el('driver', { ...attrs, iommu });

  // An explicit loader, not `firmware='efi'` autoselection: libvirt refuses the two together.
  // SEV-SNP: the firmware is part of the launch measurement, so it is a ROM with no NVRAM; `stateless='yes'`
  // (libvirt >= 8.6.0) says so and makes libvirt refuse to attach any
  // (https://libvirt.org/formatdomain.html#bios-bootloader).
  const os = el(
    'os',
    {},
    text('type', 'hvm', { arch: s.arch, machine: MACHINE[s.arch] }),
    s.firmware && s.arch !== 's390x'
      ? s.launchSecurity === 'sev-snp'
        ? text('loader', s.firmware, { type: 'rom', stateless: 'yes' })
        : text('loader', s.firmware, { readonly: 'yes', type: 'pflash' })
      : undefined,
    s.kernel ? [text('kernel', s.kernel.path), s.kernel.initrd ? text('initrd', s.kernel.initrd) : undefined, s.kernel.cmdline ? text('cmdline', s.kernel.cmdline) : undefined] : undefined,
  );

  const features = s.arch === 'x86_64' ? el('features', {}, el('acpi'), el('apic'), el('vmport', { state: 'off' })) : undefined;

  let cpu: XmlElement | undefined;
  if (s.arch === 'x86_64' && s.type === 'kvm') cpu = el('cpu', { mode: s.launchSecurity === 'sev-snp' ? 'host-passthrough' : 'host-model' });
  if (s.arch === 'aarch64') cpu = el('cpu', { mode: s.type === 'kvm' ? 'host-passthrough' : 'maximum' });
  if (s.arch === 's390x' && s.type === 'kvm') cpu = el('cpu', { mode: 'host-model' });

  const console =
    s.arch === 's390x'
      ? [el('console', { type: 'file' }, el('source', { path: s.consoleLog }), el('target', { type: 'sclp', port: 0 }))]
      : [
          el('serial', { type: 'file' }, el('source', { path: s.consoleLog }), el('target', { port: 0 })),
          el('console', { type: 'file' }, el('source', { path: s.consoleLog }), el('target', { type: 'serial', port: 0 })),
        ];

  const devices = el(
    'devices',
    {},
    el(
      'disk',
      { type: 'volume', device: 'disk' },
      virtioDriver({ name: 'qemu', type: 'qcow2' }),
      el('source', { pool: s.pool, volume: s.rootVolume }),
      el('target', { dev: 'vda', bus: 'virtio' }),
      s.kernel ? undefined : el('boot', { order: 1 }),
    ),
    el(
      'disk',
      { type: 'volume', device: 'disk' },
      virtioDriver({ name: 'qemu', type: 'raw' }),
      el('source', { pool: s.pool, volume: s.cidataVolume }),
      el('target', { dev: 'vdb', bus: 'virtio' }),
      el('readonly'),
    ),
    el(
      'interface',
      { type: 'network' },
      el('mac', { address: s.mac }),
      el('source', { network: s.network }),
      el('model', { type: 'virtio' }),
      iommu ? el('driver', { iommu }) : undefined,
      // A directly booted kernel needs no network boot ROM (iPXE costs seconds under TCG).
      s.kernel ? el('rom', { enabled: 'no' }) : undefined,
    ),
    console,
    el('rng', { model: 'virtio' }, el('backend', { model: 'random' }, '/dev/urandom'), iommu ? el('driver', { iommu }) : undefined),
    s.launchSecurity === 'sev-snp' ? el('memballoon', { model: 'none' }) : el('memballoon', { model: 'virtio' }, iommu ? el('driver', { iommu }) : undefined),
  );

  return el(
    'domain',
    { type: s.type },
    text('name', s.name),
    text('uuid', s.uuid),
    text('description', DESCRIPTION),
    el('metadata', {}, s.metadata),
    text('memory', s.memoryMiB, { unit: 'MiB', dumpCore: confidential ? 'off' : 'on' }),
    text('vcpu', s.vcpus, { placement: 'static', cpuset: s.cpuset || undefined }),
    os,
    features,
    cpu,
    el('clock', { offset: 'utc' }),
    text('on_poweroff', 'destroy'),
    text('on_reboot', 'restart'),
    text('on_crash', 'destroy'),
    devices,
    s.launchSecurity === 's390-pv' ? el('launchSecurity', { type: 's390-pv' }) : undefined,
    s.launchSecurity === 'sev-snp' ? sevSnpLaunchSecurity(s.kernel !== undefined) : undefined,
  );
}

/**
 * `<launchSecurity type='sev-snp'>` as libvirt documents it (since 10.5.0,
 * https://libvirt.org/formatdomain.html#launch-security): `policy` is the one element its schema
 * requires. `cbitpos` and `reducedPhysBits` are host-dependent and optional in the schema; left out,
 * libvirt fills them from the host's SEV capabilities (`virsh domcapabilities`) when the guest starts,
 * which is right on every SNP host where a fixed value would not be. `kernelHashes='yes'` when the
 * kernel is booted directly. The other attributes and elements (`authorKey`, `vcek`, `guestVisibleWorkarounds`, `idBlock`, `idAuth`, `hostData`) are
 * optional attestation inputs this provider has no configuration for.
 */
function sevSnpLaunchSecurity(directKernel: boolean): XmlElement {
  // With LIBVIRT_KERNEL the kernel, initrd and command line come from the host, outside the firmware:
  // kernelHashes puts their hashes into the launch measurement, so attestation covers them too.
  return el('launchSecurity', { type: 'sev-snp', kernelHashes: directKernel ? 'yes' : undefined }, text('policy', SEV_SNP_POLICY));
}

export function domainXml(s: DomainSpec): string {
  return serialize(domainElement(s));
}

/** Random locally administered MAC in QEMU's 52:54:00 range. */
export function randomMac(random: (n: number) => Buffer): string {
  const b = random(3);
  return `52:54:00:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}
