import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config/errors.js';
import { isProviderError } from '../../../../src/providers/errors.js';
import { libvirtOptions, loadLibvirtConfig } from '../../../../src/providers/libvirt/config.js';
import { HostCapabilityError, decideDomainType, hostFacts, knownFirmware } from '../../../../src/providers/libvirt/host.js';
import { METADATA_NS, metadataElement, readMetadata } from '../../../../src/providers/libvirt/metadata.js';
import { resolveLaunchSecurity } from '../../../../src/providers/libvirt/setup.js';
import { Serializer, contains, intToIp, ipToInt, netmaskOf, parseCidr, pickAddress } from '../../../../src/providers/libvirt/static-ip.js';
import { el, parseXml, serialize } from '../../../../src/providers/libvirt/xml.js';

const caps = (arch: string, features: string[], domains: string[]): string => `<capabilities>
  <host><uuid>x</uuid><cpu><arch>${arch}</arch><model>M</model>${features.map((f) => `<feature name='${f}'/>`).join('')}</cpu></host>
  <guest><os_type>hvm</os_type><arch name='i686'><domain type='qemu'/><domain type='kvm'/></arch></guest>
  <guest><os_type>hvm</os_type><arch name='${arch}'><wordsize>64</wordsize>${domains.map((d) => `<domain type='${d}'/>`).join('')}</arch></guest>
</capabilities>`;

describe('domain type decision', () => {
  it('auto: kvm only when libvirt lists it and the host CPU has vmx/svm (sie on s390x)', () => {
    expect(decideDomainType(hostFacts(caps('x86_64', ['vmx', 'sse'], ['qemu', 'kvm'])), 'auto')).toEqual({ type: 'kvm', reason: 'kvm (the host CPU has vmx)' });
    expect(decideDomainType(hostFacts(caps('x86_64', ['svm'], ['qemu', 'kvm'])), 'auto').type).toBe('kvm');
    // env-lab: /dev/kvm opens (kvm-pvm), libvirt lists kvm, but there is no VT-x: a kvm guest would hang.
    const pvm = decideDomainType(hostFacts(caps('x86_64', ['hypervisor', 'avx512f'], ['qemu', 'kvm'])), 'auto');
    expect(pvm.type).toBe('qemu');
    expect(pvm.reason).toMatch(/libvirt lists kvm, but the host CPU has no vmx or svm/);
    expect(decideDomainType(hostFacts(caps('x86_64', ['vmx'], ['qemu'])), 'auto')).toEqual({ type: 'qemu', reason: 'qemu (TCG emulation): libvirt offers no kvm domain for x86_64' });
    expect(decideDomainType(hostFacts(caps('s390x', ['sie'], ['qemu', 'kvm'])), 'auto').type).toBe('kvm');
    expect(decideDomainType(hostFacts(caps('s390x', [], ['qemu', 'kvm'])), 'auto').type).toBe('qemu');
    expect(decideDomainType(hostFacts(caps('aarch64', [], ['qemu', 'kvm'])), 'auto').type).toBe('kvm');
  });

  it('an explicit type is taken when offered and refused when not', () => {
    expect(decideDomainType(hostFacts(caps('x86_64', [], ['qemu', 'kvm'])), 'kvm').type).toBe('kvm');
    expect(decideDomainType(hostFacts(caps('x86_64', ['vmx'], ['qemu', 'kvm'])), 'qemu').type).toBe('qemu');
    expect(() => decideDomainType(hostFacts(caps('x86_64', ['vmx'], ['qemu'])), 'kvm')).toThrow(/LIBVIRT_DOMAIN_TYPE=kvm, but libvirt offers no kvm/);
    expect(() => decideDomainType(hostFacts(caps('x86_64', [], [])), 'auto')).toThrow(HostCapabilityError);
  });

  it('the pod VM architecture is the host\'s; others are refused', () => {
    expect(hostFacts(caps('aarch64', [], ['qemu'])).arch).toBe('aarch64');
    expect(() => hostFacts(caps('ppc64le', [], ['qemu']))).toThrow(/ppc64le; pod VMs are supported on x86_64, s390x, aarch64/);
  });

  it('firmware images from domain capabilities', () => {
    expect(knownFirmware(`<domainCapabilities><os supported='yes'><loader supported='yes'><value>/a.fd</value><value>/b.fd</value><enum name='type'/></loader></os></domainCapabilities>`)).toEqual(['/a.fd', '/b.fd']);
    expect(knownFirmware('<domainCapabilities/>')).toEqual([]);
  });
});

describe('launch security', () => {
  const cfg = (disableCvm: boolean, launchSecurity: '' | 's390-pv' | 'sev-snp', firmware = '/fw.fd') => ({ disableCvm, launchSecurity, firmware });
  it('DISABLECVM=true (the default): none, and a launch security set beside it is a contradiction', () => {
    expect(resolveLaunchSecurity(cfg(true, ''), 'x86_64', 'kvm')).toBe('');
    expect(() => resolveLaunchSecurity(cfg(true, 'sev-snp'), 'x86_64', 'kvm')).toThrow(/contradicts DISABLECVM=true/);
  });
  it('DISABLECVM=false: s390-pv by default on s390x; x86_64 needs sev-snp with KVM and firmware', () => {
    expect(resolveLaunchSecurity(cfg(false, ''), 's390x', 'kvm')).toBe('s390-pv');
    expect(resolveLaunchSecurity(cfg(false, 'sev-snp'), 'x86_64', 'kvm')).toBe('sev-snp');
    for (const [c, arch, type, msg] of [
      [cfg(false, ''), 'x86_64', 'kvm', /set LIBVIRT_LAUNCH_SECURITY=sev-snp/],
      [cfg(false, 's390-pv'), 'x86_64', 'kvm', /needs an s390x host/],
      [cfg(false, 'sev-snp'), 's390x', 'kvm', /needs an x86_64 host/],
      [cfg(false, 'sev-snp'), 'x86_64', 'qemu', /needs KVM/],
      [cfg(false, 'sev-snp', ''), 'x86_64', 'kvm', /SEV-capable firmware/],
    ] as const) {
      let err: unknown;
      try {
        resolveLaunchSecurity(c, arch, type);
      } catch (e) {
        err = e;
      }
      expect(isProviderError(err, 'INVALID_CONFIG'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(msg);
    }
  });
});

describe('libvirt configuration', () => {
  it('has upstream\'s defaults (reference §4.5)', () => {
    const c = loadLibvirtConfig({ flags: {}, env: {} });
    expect(c).toMatchObject({
      uri: 'qemu+ssh://root@192.168.122.1/system?no_verify=1',
      poolName: 'default',
      networkName: 'default',
      volName: 'podvm-base.qcow2',
      launchSecurity: '',
      firmware: '/usr/share/OVMF/OVMF_CODE_4M.fd',
      cpu: 2,
      memory: 8192,
      cpuset: '',
      rootDiskSize: 10,
      dataDir: '/var/lib/libvirt/images',
      disableCvm: true,
      domainType: 'auto',
      ipSource: 'lease',
      ipTimeout: 60_000,
    });
    expect(libvirtOptions.uri.env).toEqual(['LIBVIRT_URI']);
    expect(libvirtOptions.disableCvm.env).toEqual(['DISABLECVM']);
  });

  it('flags win over the environment; values are parsed', () => {
    const c = loadLibvirtConfig({ flags: { 'pool-name': 'fast', cpu: '4' }, env: { LIBVIRT_POOL: 'slow', LIBVIRT_CPU: '1', LIBVIRT_STATIC_IP_RANGE: '10.252.0.0/24', LIBVIRT_IP_TIMEOUT: '90s', DISABLECVM: 'false' } });
    expect(c).toMatchObject({ poolName: 'fast', cpu: 4, staticIpRange: '10.252.0.0/24', ipTimeout: 90_000, disableCvm: false });
  });

  it('refuses bad values, naming each key', () => {
    const bad = {
      LIBVIRT_URI: 'qemu+tls://host/system',
      LIBVIRT_CPUSET: '0-3,x',
      LIBVIRT_STATIC_IP_RANGE: '10.252.0.1/24',
      LIBVIRT_LAUNCH_SECURITY: 'tdx',
      LIBVIRT_DOMAIN_TYPE: 'xen',
      LIBVIRT_IP_SOURCE: 'dhcp',
      LIBVIRT_KERNEL: 'vmlinuz',
      LIBVIRT_POOL: 'a pool',
      LIBVIRT_MEMORY: '12',
    };
    let message = '';
    try {
      loadLibvirtConfig({ flags: {}, env: bad });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    for (const key of Object.keys(bad)) expect(message, key).toContain(key);
    expect(message).toMatch(/TLS transport is not supported/);
    expect(message).toMatch(/host bits set; the range is 10\.252\.0\.0\/24/);
  });
});

describe('static addresses', () => {
  it('parses ranges and picks the lowest free host address, never the network, broadcast or reserved ones', () => {
    const r = parseCidr('10.252.0.0/29');
    expect(netmaskOf(r)).toBe('255.255.255.248');
    expect(contains(r, '10.252.0.7')).toBe(true);
    expect(contains(r, '10.252.0.8')).toBe(false);
    expect(pickAddress(r, new Set(), new Set(['10.252.0.1']))).toBe('10.252.0.2');
    expect(pickAddress(r, new Set(['10.252.0.2', '10.252.0.3']), new Set(['10.252.0.1']))).toBe('10.252.0.4');
    expect(pickAddress(r, new Set(['10.252.0.2', '10.252.0.3', '10.252.0.4', '10.252.0.5', '10.252.0.6']), new Set(['10.252.0.1']))).toBeUndefined();
    expect(intToIp(ipToInt('192.168.1.254'))).toBe('192.168.1.254');
    expect(() => parseCidr('10.0.0.0/31')).toThrow(/\/8 to \/30/);
    expect(() => parseCidr('300.0.0.0/24')).toThrow(/not an IPv4 address/);
  });

  it('allocations run one at a time, in order, and a failure does not stop the next', async () => {
    const s = new Serializer();
    const order: string[] = [];
    const slow = s.run(async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push('a');
    });
    const failing = s.run(async () => {
      order.push('b');
      throw new Error('b failed');
    });
    const fast = s.run(async () => {
      order.push('c');
      return 3;
    });
    await expect(failing).rejects.toThrow('b failed');
    expect(await fast).toBe(3);
    await slow;
    expect(order).toEqual(['a', 'b', 'c']);
  });
});

describe('instance metadata', () => {
  it('round-trips tags and the address, and ignores metadata of other namespaces', () => {
    const meta = metadataElement({ tags: { 'peerpod-cluster': 'c "1"', 'peerpod-node': 'n<1>' }, address: { ip: '10.0.0.2', prefix: 24 } });
    const domain = parseXml(serialize(el('domain', {}, el('metadata', {}, el('other:x', { 'xmlns:other': 'urn:other' }), meta))));
    expect(readMetadata(domain)).toEqual({ tags: { 'peerpod-cluster': 'c "1"', 'peerpod-node': 'n<1>' }, address: { ip: '10.0.0.2', prefix: 24 } });
    const foreign = parseXml(`<domain><metadata><caa:instance xmlns:caa="urn:someone-else"><caa:tag key="a" value="b"/></caa:instance></metadata></domain>`);
    expect(readMetadata(foreign)).toBeUndefined();
    expect(readMetadata(parseXml('<domain/>'))).toBeUndefined();
    // libvirt may give the element back under another prefix: the namespace decides.
    expect(readMetadata(parseXml(`<domain><metadata><p:instance xmlns:p="${METADATA_NS}"><p:tag key="k" value="v"/></p:instance></metadata></domain>`))).toEqual({ tags: { k: 'v' } });
  });
});
