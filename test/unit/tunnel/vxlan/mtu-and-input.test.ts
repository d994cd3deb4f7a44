/** The pure parts of the VXLAN tunnel: the VM MTU rule, rule specs and argument checks (no root needed). */
import { describe, expect, it } from 'vitest';
import type { PodNetworkConfig } from '../../../../src/podvm/apf-config.js';
import { splitRuleLine } from '../../../../src/tunnel/vxlan/iptables.js';
import {
  DEFAULT_MTU_CEILING,
  notrackRules,
  setupVmPodNetwork,
  setupWorkerTunnel,
  teardownWorkerTunnel,
  temporaryDeviceName,
  vmMtu,
  VxlanError,
} from '../../../../src/tunnel/vxlan/index.js';

describe('vmMtu', () => {
  it('is min(pod MTU, underlay MTU − 50, ceiling)', () => {
    expect(vmMtu(1500, 1500)).toBe(1450);
    expect(vmMtu(8950, 9000)).toBe(8950);
    expect(vmMtu(1400, 1500)).toBe(1400);
    expect(vmMtu(9000, 9000)).toBe(8950);
    expect(vmMtu(8950, 9000, 4000)).toBe(4000);
    expect(vmMtu(65000, 65535)).toBe(DEFAULT_MTU_CEILING);
  });
  it('ignores a pod MTU of 0 (not recorded) and refuses nonsense', () => {
    expect(vmMtu(0, 1500)).toBe(1450);
    expect(() => vmMtu(-1, 1500)).toThrow(RangeError);
    expect(() => vmMtu(1500, 1500.5)).toThrow(RangeError);
  });
});

describe('NOTRACK rules', () => {
  it('match the reference spec, both directions', () => {
    expect(notrackRules('10.0.0.5', 4789, 555001)).toEqual([
      {
        base: 'OUTPUT',
        chain: 'peerpod-OUTPUT',
        spec: ['-m', 'comment', '--comment', 'peerpod [vni:555001]', '-d', '10.0.0.5', '-p', 'udp', '-m', 'udp', '--dport', '4789', '-j', 'NOTRACK'],
      },
      {
        base: 'PREROUTING',
        chain: 'peerpod-PREROUTING',
        spec: ['-m', 'comment', '--comment', 'peerpod [vni:555001]', '-s', '10.0.0.5', '-p', 'udp', '-m', 'udp', '--dport', '4789', '-j', 'NOTRACK'],
      },
    ]);
  });
  it('reads `iptables -S` lines back into arguments', () => {
    expect(splitRuleLine('-A peerpod-OUTPUT -d 10.0.0.5/32 -p udp -m comment --comment "peerpod [vni:7]" -m udp --dport 4789 -j NOTRACK')).toEqual([
      '-A',
      'peerpod-OUTPUT',
      '-d',
      '10.0.0.5/32',
      '-p',
      'udp',
      '-m',
      'comment',
      '--comment',
      'peerpod [vni:7]',
      '-m',
      'udp',
      '--dport',
      '4789',
      '-j',
      'NOTRACK',
    ]);
  });
  it('temporary device names fit IFNAMSIZ for every VNI', () => {
    expect(temporaryDeviceName(0xffffff)).toBe('ppvx16777215');
    expect(temporaryDeviceName(0xffffff).length).toBeLessThanOrEqual(15);
  });
});

describe('argument checks (before any command runs)', () => {
  const base = { podNetns: '/var/run/netns/none', vmIp: '10.250.1.2', vni: 555001 };
  const cases: [string, Parameters<typeof setupWorkerTunnel>[0], RegExp][] = [
    ['VNI too large', { ...base, vni: 1 << 24 }, /VNI 16777216/],
    ['VNI not an integer', { ...base, vni: 1.5 }, /VNI 1.5/],
    ['port 0', { ...base, port: 0 }, /port 0/],
    ['VM IP not IPv4', { ...base, vmIp: 'fd00::1' }, /VM IP "fd00::1"/],
    ['VM IP with a prefix', { ...base, vmIp: '10.250.1.2/24' }, /VM IP/],
    ['interface name too long', { ...base, tunnelInterface: 'a-very-long-name0' }, /tunnel interface/],
    ['interface name with a slash', { ...base, podInterface: 'eth/0' }, /pod interface/],
    ['tunnel = pod interface', { ...base, tunnelInterface: 'eth0' }, /cannot be the pod interface/],
    ['empty pod netns', { ...base, podNetns: '' }, /empty/],
  ];
  for (const [name, opts, message] of cases) {
    it(`worker: ${name}`, async () => {
      const err = await setupWorkerTunnel(opts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VxlanError);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', step: 'validate' });
      expect((err as Error).message).toMatch(message);
    });
  }
  it('teardown validates too', async () => {
    await expect(teardownWorkerTunnel({ podNetns: '/x', vni: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  const cfg: PodNetworkConfig = {
    podip: '10.244.0.5/24',
    'pod-hw-addr': '0a:58:0a:f4:00:05',
    interface: 'eth0',
    'worker-node-ip': '10.250.1.1/24',
    'tunnel-type': 'vxlan',
    routes: [],
    neighbors: null,
    mtu: 1500,
    index: 0,
    'vxlan-port': 4789,
    'vxlan-id': 555001,
    dedicated: false,
    'external-net-via-pod-vm': false,
  };
  const vmCases: [string, Partial<PodNetworkConfig>, object, RegExp][] = [
    ['pod IP without prefix', { podip: '10.244.0.5' }, {}, /podip/],
    ['IPv6 pod IP', { podip: 'fd00::5/64' }, {}, /podip/],
    ['bad worker IP', { 'worker-node-ip': 'worker' }, {}, /worker-node-ip/],
    ['other tunnel type', { 'tunnel-type': 'geneve' }, {}, /tunnel-type "geneve"/],
    ['bad netns name', {}, { podNetnsName: '../etc' }, /pod namespace name/],
    ['ceiling below 68', {}, { mtuCeiling: 60 }, /MTU ceiling 60/],
  ];
  for (const [name, patch, opts, message] of vmCases) {
    it(`VM: ${name}`, async () => {
      const err = await setupVmPodNetwork({ ...cfg, ...patch }, opts).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect((err as Error).message).toMatch(message);
    });
  }
});
