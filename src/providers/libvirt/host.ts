/**
 * What the provider learns about the libvirt host from its capabilities document: the
 * architecture the pod VMs get (the host's, as upstream's GetNodeInfo().Model), and whether they run
 * under KVM or TCG.
 *
 * LIBVIRT_DOMAIN_TYPE=auto chooses `kvm` only when libvirt offers a kvm domain for that arch *and*
 * the host CPU it reports has hardware virtualisation (x86_64: vmx or svm; s390x: sie). libvirt
 * lists kvm whenever /dev/kvm opens, which is not enough: on a host whose /dev/kvm is a paravirtual
 * KVM without VT-x (env-lab: kvm-pvm) a kvm guest hangs at boot. aarch64 reports no such flag, so
 * there the kvm listing decides.
 */
import { elements, find, parseXml, textOf, type XmlElement } from '../../lib/xml.js';
import { SUPPORTED_ARCHES, type Arch, type DomainType } from './domain-xml.js';
import { singleCodeError } from '../../util/coded-error.js';

export class HostCapabilityError extends singleCodeError('HostCapabilityError', 'INVALID_CONFIG') {}

export interface HostFacts {
  arch: Arch;
  /** Domain types libvirt offers for that arch (e.g. ['qemu', 'kvm']). */
  domainTypes: string[];
  cpuFeatures: string[];
}

export function hostFacts(capabilitiesXml: string): HostFacts {
  const caps = parseXml(capabilitiesXml);
  const cpu = find(caps, 'host', 'cpu');
  const arch = textOf(find(cpu, 'arch')).trim();
  if (!(SUPPORTED_ARCHES as readonly string[]).includes(arch)) {
    throw new HostCapabilityError(`the libvirt host is ${arch || 'of unknown architecture'}; pod VMs are supported on ${SUPPORTED_ARCHES.join(', ')}`);
  }
  const guest = elements(caps, 'guest').find((g: XmlElement) => find(g, 'arch')?.attrs.name === arch && textOf(find(g, 'os_type')).trim() === 'hvm');
  const guestArch = find(guest, 'arch');
  const domainTypes = guestArch ? elements(guestArch, 'domain').map((d) => d.attrs.type ?? '') : [];
  const cpuFeatures = cpu ? elements(cpu, 'feature').map((f) => f.attrs.name ?? '') : [];
  return { arch: arch as Arch, domainTypes, cpuFeatures };
}

const VIRT_FLAGS: Record<Arch, string[] | undefined> = { x86_64: ['vmx', 'svm'], s390x: ['sie'], aarch64: undefined };

/** The domain type to use and one line saying why. */
export function decideDomainType(facts: HostFacts, requested: 'auto' | 'kvm' | 'qemu'): { type: DomainType; reason: string } {
  const hasKvm = facts.domainTypes.includes('kvm');
  const hasQemu = facts.domainTypes.includes('qemu');
  if (!hasKvm && !hasQemu) throw new HostCapabilityError(`libvirt offers no hvm guest for ${facts.arch} on this host (is the QEMU driver and qemu-system-${facts.arch} installed?)`);
  if (requested === 'kvm') {
    if (!hasKvm) throw new HostCapabilityError(`LIBVIRT_DOMAIN_TYPE=kvm, but libvirt offers no kvm domain for ${facts.arch} on this host (no usable /dev/kvm)`);
    return { type: 'kvm', reason: 'kvm (LIBVIRT_DOMAIN_TYPE=kvm)' };
  }
  if (requested === 'qemu') {
    if (!hasQemu) throw new HostCapabilityError(`LIBVIRT_DOMAIN_TYPE=qemu, but libvirt offers no qemu (TCG) domain for ${facts.arch}`);
    return { type: 'qemu', reason: 'qemu (TCG emulation; LIBVIRT_DOMAIN_TYPE=qemu)' };
  }
  const flags = VIRT_FLAGS[facts.arch];
  if (!hasKvm) return { type: 'qemu', reason: `qemu (TCG emulation): libvirt offers no kvm domain for ${facts.arch}` };
  if (flags && !flags.some((f) => facts.cpuFeatures.includes(f))) {
    if (!hasQemu) throw new HostCapabilityError(`libvirt lists kvm for ${facts.arch}, but the host CPU has no ${flags.join('/')} and no TCG domain is offered`);
    return { type: 'qemu', reason: `qemu (TCG emulation): libvirt lists kvm, but the host CPU has no ${flags.join(' or ')}, so KVM would not run guests (set LIBVIRT_DOMAIN_TYPE=kvm to force it)` };
  }
  return { type: 'kvm', reason: flags ? `kvm (the host CPU has ${flags.filter((f) => facts.cpuFeatures.includes(f)).join(', ')})` : 'kvm (libvirt offers it)' };
}

/** Firmware images libvirt knows for this arch and type (domain capabilities `os/loader/value`). */
export function knownFirmware(domainCapabilitiesXml: string): string[] {
  const loader = find(parseXml(domainCapabilitiesXml), 'os', 'loader');
  return loader ? elements(loader, 'value').map((v) => textOf(v).trim()) : [];
}

/**
 * Launch security types libvirt offers for that arch and type: domain capabilities
 * `features/launchSecurity[@supported='yes']/enum[@name='sectype']/value` (libvirt >= 10.5.0,
 * https://libvirt.org/formatdomaincaps.html#launch-security), e.g. ['sev', 'sev-snp']. Empty when
 * libvirt lists none or says `supported='no'`.
 */
export function launchSecurityTypes(domainCapabilitiesXml: string): string[] {
  const ls = find(parseXml(domainCapabilitiesXml), 'features', 'launchSecurity');
  if (!ls || ls.attrs.supported !== 'yes') return [];
  const sectype = elements(ls, 'enum').find((e) => e.attrs.name === 'sectype');
  return sectype ? elements(sectype, 'value').map((v) => textOf(v).trim()) : [];
}
