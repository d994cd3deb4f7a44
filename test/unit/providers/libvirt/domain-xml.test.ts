import { describe, expect, it } from 'vitest';
import { DESCRIPTION, SEV_SNP_MIN_LIBVIRT, SEV_SNP_POLICY, domainXml, randomMac, type DomainSpec } from '../../../../src/providers/libvirt/domain-xml.js';
import { metadataElement, readMetadata } from '../../../../src/providers/libvirt/metadata.js';
import { elements, find, parseXml, textOf, type XmlElement } from '../../../../src/lib/xml.js';

const base: DomainSpec = {
  name: 'podvm-nginx-0123abcd',
  uuid: '11111111-2222-4333-8444-555555555555',
  arch: 'x86_64',
  type: 'qemu',
  vcpus: 2,
  memoryMiB: 2048,
  launchSecurity: '',
  pool: 'default',
  rootVolume: 'podvm-nginx-0123abcd-root.qcow2',
  cidataVolume: 'podvm-nginx-0123abcd-cloudinit.iso',
  network: 'default',
  mac: '52:54:00:01:02:03',
  consoleLog: '/var/lib/libvirt/images/podvm-nginx-0123abcd-console.log',
  metadata: metadataElement({ tags: { 'peerpod-sandbox': '0123abcd' } }),
};

const parse = (s: Partial<DomainSpec>): XmlElement => parseXml(domainXml({ ...base, ...s }));
const devices = (d: XmlElement): XmlElement => find(d, 'devices')!;
const iommuOf = (d: XmlElement): (string | undefined)[] => [
  ...elements(devices(d), 'disk').map((x) => find(x, 'driver')?.attrs.iommu),
  find(devices(d), 'interface', 'driver')?.attrs.iommu,
  find(devices(d), 'rng', 'driver')?.attrs.iommu,
];

describe('domain XML', () => {
  it('x86_64 under TCG: q35, no CPU model, volume disks vda/vdb (seed read-only), NIC with our MAC, console to the file, our metadata', () => {
    const d = parse({});
    expect(d.attrs.type).toBe('qemu');
    expect(textOf(find(d, 'name'))).toBe(base.name);
    expect(textOf(find(d, 'uuid'))).toBe(base.uuid);
    expect(textOf(find(d, 'description'))).toBe(DESCRIPTION);
    expect(find(d, 'memory')?.attrs).toEqual({ unit: 'MiB', dumpCore: 'on' });
    expect(textOf(find(d, 'memory'))).toBe('2048');
    expect(find(d, 'vcpu')?.attrs).toEqual({ placement: 'static' });
    expect(find(d, 'os', 'type')?.attrs).toEqual({ arch: 'x86_64', machine: 'q35' });
    expect(find(d, 'os', 'loader')).toBeUndefined();
    expect(find(d, 'cpu')).toBeUndefined();
    expect(elements(find(d, 'features')!).map((f) => f.name)).toEqual(['acpi', 'apic', 'vmport']);
    const [root, seed] = elements(devices(d), 'disk');
    expect(find(root!, 'source')?.attrs).toEqual({ pool: 'default', volume: base.rootVolume });
    expect(find(root!, 'target')?.attrs).toEqual({ dev: 'vda', bus: 'virtio' });
    expect(find(root!, 'boot')?.attrs).toEqual({ order: '1' });
    expect(find(root!, 'driver')?.attrs).toEqual({ name: 'qemu', type: 'qcow2' });
    expect(find(seed!, 'driver')?.attrs).toEqual({ name: 'qemu', type: 'raw' });
    expect(find(seed!, 'readonly')).toBeDefined();
    expect(find(devices(d), 'interface', 'mac')?.attrs.address).toBe(base.mac);
    expect(find(devices(d), 'interface', 'source')?.attrs.network).toBe('default');
    expect(find(devices(d), 'serial', 'source')?.attrs.path).toBe(base.consoleLog);
    expect(find(devices(d), 'console', 'target')?.attrs).toEqual({ type: 'serial', port: '0' });
    expect(iommuOf(d)).toEqual([undefined, undefined, undefined, undefined]);
    expect(readMetadata(d)?.tags).toEqual({ 'peerpod-sandbox': '0123abcd' });
    expect(find(d, 'launchSecurity')).toBeUndefined();
    expect(['on_poweroff', 'on_reboot', 'on_crash'].map((n) => textOf(find(d, n)))).toEqual(['destroy', 'restart', 'destroy']);
  });

  it('x86_64 with KVM, firmware and a cpuset: host-model CPU, a read-only pflash loader, the cpuset', () => {
    const d = parse({ type: 'kvm', firmware: '/usr/share/OVMF/OVMF_CODE_4M.fd', cpuset: '0-3,8' });
    expect(d.attrs.type).toBe('kvm');
    expect(find(d, 'cpu')?.attrs).toEqual({ mode: 'host-model' });
    expect(find(d, 'os')?.attrs).toEqual({}); // an explicit loader, not firmware autoselection
    expect(find(d, 'os', 'loader')?.attrs).toEqual({ readonly: 'yes', type: 'pflash' });
    expect(textOf(find(d, 'os', 'loader'))).toBe('/usr/share/OVMF/OVMF_CODE_4M.fd');
    expect(find(d, 'vcpu')?.attrs.cpuset).toBe('0-3,8');
  });

  it('AMD SEV-SNP: launchSecurity with the policy, the firmware as a stateless ROM, IOMMU for virtio, no balloon, no core dumps', () => {
    const d = parse({ type: 'kvm', launchSecurity: 'sev-snp', firmware: '/usr/share/OVMF/OVMF.amdsev.fd' });
    expect(find(d, 'launchSecurity')?.attrs).toEqual({ type: 'sev-snp' });
    expect(textOf(find(d, 'launchSecurity', 'policy'))).toBe(SEV_SNP_POLICY);
    expect(find(d, 'os')?.attrs).toEqual({}); // no firmware autoselection
    expect(find(d, 'os', 'loader')?.attrs).toEqual({ type: 'rom', stateless: 'yes' });
    expect(textOf(find(d, 'os', 'loader'))).toBe('/usr/share/OVMF/OVMF.amdsev.fd');
    expect(find(d, 'os', 'nvram')).toBeUndefined();
    expect(find(d, 'cpu')?.attrs).toEqual({ mode: 'host-passthrough' });
    expect(find(d, 'memory')?.attrs.dumpCore).toBe('off');
    expect(find(devices(d), 'memballoon')?.attrs.model).toBe('none');
    expect(iommuOf(d)).toEqual(['on', 'on', 'on', 'on']);
  });

  it('AMD SEV-SNP: exactly libvirt\'s documented form, <launchSecurity type=\'sev-snp\'><policy>0x00030000</policy>, nothing host-specific', () => {
    const xml = domainXml({ ...base, type: 'kvm', launchSecurity: 'sev-snp', firmware: '/fw/OVMF.amdsev.fd' });
    const ls = find(parseXml(xml), 'launchSecurity')!;
    // cbitpos and reducedPhysBits are optional in libvirt's schema and filled in from the host's SEV capabilities.
    expect(elements(ls).map((e) => e.name)).toEqual(['policy']);
    expect(SEV_SNP_POLICY).toBe('0x00030000');
    // The SNP guest policy: bit 16 (SMT allowed) and bit 17 (reserved, must be one); no debug (19), no migration agent (18).
    expect(BigInt(SEV_SNP_POLICY)).toBe((1n << 16n) | (1n << 17n));
    expect(xml).toContain('<launchSecurity type="sev-snp">\n    <policy>0x00030000</policy>\n  </launchSecurity>');
    expect(xml).toContain('<loader type="rom" stateless="yes">/fw/OVMF.amdsev.fd</loader>');
    // No memory backing element: libvirt documents none for SNP, QEMU sets up the guest's private memory itself.
    expect(find(parseXml(xml), 'memoryBacking')).toBeUndefined();
    // Direct kernel boot: the kernel, initrd and command line join the measurement (kernelHashes); the ROM stays the loader.
    const k = parse({ type: 'kvm', launchSecurity: 'sev-snp', firmware: '/fw/OVMF.amdsev.fd', kernel: { path: '/boot/vmlinuz' } });
    expect(find(k, 'launchSecurity')?.attrs).toEqual({ type: 'sev-snp', kernelHashes: 'yes' });
    expect(find(k, 'os', 'loader')?.attrs).toEqual({ type: 'rom', stateless: 'yes' });
  });

  it('SEV_SNP_MIN_LIBVIRT is 10.5.0 in virConnectGetLibVersion\'s numbering', () => {
    expect(SEV_SNP_MIN_LIBVIRT).toBe(10 * 1_000_000 + 5 * 1000 + 0);
  });

  it('s390x with Secure Execution: s390-ccw-virtio, sclp console, IOMMU on, launchSecurity s390-pv, no firmware', () => {
    const d = parse({ arch: 's390x', type: 'kvm', launchSecurity: 's390-pv', firmware: '/usr/share/OVMF/OVMF_CODE_4M.fd' });
    expect(find(d, 'os', 'type')?.attrs).toEqual({ arch: 's390x', machine: 's390-ccw-virtio' });
    expect(find(d, 'os', 'loader')).toBeUndefined();
    expect(find(d, 'features')).toBeUndefined();
    expect(find(d, 'launchSecurity')?.attrs).toEqual({ type: 's390-pv' });
    expect(elements(devices(d), 'serial')).toEqual([]);
    expect(find(devices(d), 'console', 'target')?.attrs).toEqual({ type: 'sclp', port: '0' });
    expect(iommuOf(d)).toEqual(['on', 'on', 'on', 'on']);
    expect(find(devices(d), 'memballoon', 'driver')?.attrs.iommu).toBe('on');
    // Without Secure Execution the IOMMU stays on (the upstream s390x definition) and no launchSecurity.
    const plain = parse({ arch: 's390x', type: 'kvm' });
    expect(find(plain, 'launchSecurity')).toBeUndefined();
    expect(iommuOf(plain)).toEqual(['on', 'on', 'on', 'on']);
  });

  it('aarch64: virt machine, maximum CPU under TCG and host-passthrough with KVM', () => {
    const tcg = parse({ arch: 'aarch64', type: 'qemu' });
    expect(find(tcg, 'os', 'type')?.attrs).toEqual({ arch: 'aarch64', machine: 'virt' });
    expect(find(tcg, 'cpu')?.attrs).toEqual({ mode: 'maximum' });
    expect(find(parse({ arch: 'aarch64', type: 'kvm' }), 'cpu')?.attrs).toEqual({ mode: 'host-passthrough' });
  });

  it('direct kernel boot: kernel, initrd and command line instead of a boot disk', () => {
    const d = parse({ kernel: { path: '/boot/vmlinuz', initrd: '/boot/initrd.img', cmdline: 'console=ttyS0 a=<b>&c' } });
    expect(textOf(find(d, 'os', 'kernel'))).toBe('/boot/vmlinuz');
    expect(textOf(find(d, 'os', 'initrd'))).toBe('/boot/initrd.img');
    expect(textOf(find(d, 'os', 'cmdline'))).toBe('console=ttyS0 a=<b>&c');
    expect(find(devices(d), 'disk', 'boot')).toBeUndefined();
    // No network boot ROM for a kernel booted directly; a disk-booted VM keeps it.
    expect(find(devices(d), 'interface', 'rom')?.attrs).toEqual({ enabled: 'no' });
    expect(find(devices(parse({})), 'interface', 'rom')).toBeUndefined();
  });

  it('values from configuration and pods cannot add elements', () => {
    const evil = `x'/><disk type='file'><source file='/etc/shadow'/></disk><x a='`;
    const d = parse({ consoleLog: `/tmp/${evil}`, network: evil, metadata: metadataElement({ tags: { [evil]: evil } }) });
    expect(elements(devices(d), 'disk')).toHaveLength(2);
    expect(find(devices(d), 'interface', 'source')?.attrs.network).toBe(evil);
    expect(readMetadata(d)?.tags).toEqual({ [evil]: evil });
  });

  it('MACs are locally administered in QEMU\'s range', () => {
    expect(randomMac(() => Buffer.from([0xab, 0x01, 0xff]))).toBe('52:54:00:ab:01:ff');
  });
});
