/**
 * A pod network that records what the shim asked of it, with injectable failures. The real one
 * (netns inspection + VXLAN) has its own tests as root.
 */
import type { PodNetworkConfig } from '../../src/podvm/apf-config.js';
import type { PodNetwork } from '../../src/shim/ports.js';

export class FakePodNetwork implements PodNetwork {
  readonly connected = new Map<string, { vni: number; vmIp: string }>();
  readonly events: string[] = [];
  failPrepare: Error | undefined;
  failConnect: Error | undefined;

  async prepare(netnsPath: string, vni: number, index: number): Promise<PodNetworkConfig> {
    this.events.push(`prepare ${netnsPath} ${vni}`);
    if (this.failPrepare) throw this.failPrepare;
    return {
      podip: '10.244.1.21/24',
      'pod-hw-addr': '0a:58:0a:f4:01:15',
      interface: 'eth0',
      'worker-node-ip': '10.224.0.5/16',
      'tunnel-type': 'vxlan',
      routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1', dev: 'eth0' }],
      neighbors: null,
      mtu: 1450,
      index,
      'vxlan-port': 4789,
      'vxlan-id': vni,
      dedicated: false,
      'external-net-via-pod-vm': false,
    };
  }

  async connect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string): Promise<void> {
    this.events.push(`connect ${netnsPath} ${cfg['vxlan-id']} ${vmIp}`);
    if (this.failConnect) throw this.failConnect;
    this.connected.set(netnsPath, { vni: cfg['vxlan-id'] ?? 0, vmIp });
  }

  async disconnect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string): Promise<void> {
    this.events.push(`disconnect ${netnsPath} ${cfg['vxlan-id']} ${vmIp}`);
    this.connected.delete(netnsPath);
  }
}
