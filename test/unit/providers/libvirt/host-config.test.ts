import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config/errors.js';
import { isProviderError } from '../../../../src/providers/errors.js';
import { libvirtOptions, loadLibvirtConfig } from '../../../../src/providers/libvirt/config.js';
import { ProviderError } from '../../../../src/providers/errors.js';
import { versionString, type LibvirtApi } from '../../../../src/providers/libvirt/client.js';
import { HostCapabilityError, decideDomainType, hostFacts, knownFirmware, launchSecurityTypes } from '../../../../src/providers/libvirt/host.js';
import { METADATA_NS, metadataElement, readMetadata } from '../../../../src/providers/libvirt/metadata.js';
import { resolveHost, resolveLaunchSecurity, resolveSettings } from '../../../../src/providers/libvirt/setup.js';
import { contains, intToIp, ipToInt, netmaskOf, parseCidr, pickAddress } from '../../../../src/providers/libvirt/static-ip.js';
import { Serializer } from '../../../../src/util/serializer.js';
import { el, parseXml, serialize } from '../../../../src/lib/xml.js';

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

/** Domain capabilities as libvirt >= 10.5.0 formats them, with the launch security types given. */
const domcaps = (sectypes: string[] | 'unsupported'): string => `<domainCapabilities>
  <path>/usr/bin/qemu-system-x86_64</path><domain>kvm</domain><arch>x86_64</arch>
  <features>
    <sev supported='yes'><cbitpos>51</cbitpos><reducedPhysBits>1</reducedPhysBits><maxGuests>0</maxGuests></sev>
    ${
      sectypes === 'unsupported'
        ? "<launchSecurity supported='no'/>"
        : `<launchSecurity supported='yes'><enum name='sectype'>${sectypes.map((t) => `<value>${t}</value>`).join('')}</enum></launchSecurity>`
    }
  </features>
</domainCapabilities>`;

/** A LibvirtApi with only what start-up asks before the pool, recording the calls. */
function fakeApi(o: { libVersion?: number | Error; sectypes?: string[] | 'unsupported' } = {}): { api: LibvirtApi; calls: string[] } {
  const calls: string[] = [];
  const api = {
    description: 'qemu+ssh://snp-host/system',
    capabilities: async () => {
      calls.push('capabilities');
      return caps('x86_64', ['svm'], ['qemu', 'kvm']);
    },
    libVersion: async () => {
      calls.push('libVersion');
      if (o.libVersion instanceof Error) throw o.libVersion;
      return o.libVersion ?? 10_005_000;
    },
    domainCapabilities: async (arch: string, virtType: string) => {
      calls.push(`domainCapabilities ${arch} ${virtType}`);
      return domcaps(o.sectypes ?? ['sev', 'sev-snp']);
    },
    close: async () => undefined,
  } as unknown as LibvirtApi;
  return { api, calls };
}

const snpConfig = (env: Record<string, string> = {}) =>
  loadLibvirtConfig({ flags: {}, env: { DISABLECVM: 'false', LIBVIRT_LAUNCH_SECURITY: 'sev-snp', LIBVIRT_EFI_FIRMWARE: '/usr/share/OVMF/OVMF.amdsev.fd', ...env } });

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe('SEV-SNP start-up gate (libvirt >= 10.5.0)', () => {
  it('libvirt versions as virConnectGetLibVersion counts them', () => {
    expect(versionString(10_005_000)).toBe('10.5.0');
    expect(versionString(9_000_000)).toBe('9.0.0');
    expect(versionString(10_004_001)).toBe('10.4.1');
  });

  it('launch security types from domain capabilities', () => {
    expect(launchSecurityTypes(domcaps(['sev', 'sev-snp']))).toEqual(['sev', 'sev-snp']);
    expect(launchSecurityTypes(domcaps('unsupported'))).toEqual([]);
    // libvirt before 10.5.0 has no <launchSecurity> in its domain capabilities.
    expect(launchSecurityTypes('<domainCapabilities><features><sev supported="yes"/></features></domainCapabilities>')).toEqual([]);
  });

  it('libvirt 10.5.0 or newer offering sev-snp: accepted; the library version and the kvm x86_64 domain capabilities are asked once', async () => {
    for (const libVersion of [10_005_000, 10_010_000, 11_002_000]) {
      const { api, calls } = fakeApi({ libVersion });
      expect(await resolveHost(api, snpConfig(), AbortSignal.timeout(5_000))).toMatchObject({ arch: 'x86_64', domainType: 'kvm', launchSecurity: 'sev-snp' });
      expect(calls).toEqual(['capabilities', 'libVersion', 'domainCapabilities x86_64 kvm']);
    }
  });

  it('older libvirt is refused with INVALID_CONFIG naming the version found and 10.5.0', async () => {
    for (const [libVersion, found] of [
      [10_004_000, '10.4.0'],
      [9_000_000, '9.0.0'],
      [8_000_000, '8.0.0'],
    ] as const) {
      const { api, calls } = fakeApi({ libVersion });
      const err = await failure(resolveHost(api, snpConfig(), AbortSignal.timeout(5_000)));
      expect(err.code).toBe('INVALID_CONFIG');
      expect(err.message).toContain('LIBVIRT_LAUNCH_SECURITY=sev-snp needs libvirt 10.5.0 or newer');
      expect(err.message).toContain(`qemu+ssh://snp-host/system runs libvirt ${found}`);
      expect(calls).not.toContain('domainCapabilities x86_64 kvm');
    }
  });

  it('the start-up (resolveSettings) stops at the gate, before any pool or network is looked at', async () => {
    const { api, calls } = fakeApi({ libVersion: 10_000_000 });
    const err = await failure(resolveSettings(api, snpConfig(), AbortSignal.timeout(5_000)));
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toMatch(/needs libvirt 10\.5\.0 or newer .* runs libvirt 10\.0\.0$/);
    expect(calls).toEqual(['capabilities', 'libVersion']);
  });

  it('a new enough libvirt whose host does not offer sev-snp is refused, saying what it does offer', async () => {
    const onlySev = await failure(resolveHost(fakeApi({ sectypes: ['sev'] }).api, snpConfig(), AbortSignal.timeout(5_000)));
    expect(onlySev.code).toBe('INVALID_CONFIG');
    expect(onlySev.message).toMatch(/^LIBVIRT_LAUNCH_SECURITY=sev-snp: libvirt 10\.5\.0 on qemu\+ssh:\/\/snp-host\/system does not offer SEV-SNP for kvm guests on x86_64 \(its domain capabilities list only sev\)/);
    const none = await failure(resolveHost(fakeApi({ sectypes: 'unsupported' }).api, snpConfig(), AbortSignal.timeout(5_000)));
    expect(none.message).toContain('list no launch security');
  });

  it('a broken connection while asking stays UNAVAILABLE (retried, not a configuration error)', async () => {
    const err = await failure(resolveHost(fakeApi({ libVersion: new ProviderError('UNAVAILABLE', 'connection reset') }).api, snpConfig(), AbortSignal.timeout(5_000)));
    expect(err.code).toBe('UNAVAILABLE');
  });

  it('without sev-snp nothing is asked: ordinary VMs and the configuration checks that come first', async () => {
    const plain = fakeApi({ libVersion: 9_000_000 });
    expect((await resolveHost(plain.api, loadLibvirtConfig({ flags: {}, env: {} }), AbortSignal.timeout(5_000))).launchSecurity).toBe('');
    expect(plain.calls).toEqual(['capabilities']);
    const noFirmware = fakeApi({ libVersion: 9_000_000 });
    const err = await failure(resolveHost(noFirmware.api, snpConfig({ LIBVIRT_EFI_FIRMWARE: '' }), AbortSignal.timeout(5_000)));
    expect(err.message).toMatch(/SEV-capable firmware/);
    expect(noFirmware.calls).toEqual(['capabilities']);
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
