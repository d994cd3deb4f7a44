/**
 * The pod network of a peer pod (reference §3.7), worker side: CreateVM inspects the pod's network
 * namespace and the worker's underlay; StartVM bridges the pod's eth0 to a VXLAN towards the VM;
 * StopVM removes it. The VM side (`setupVmPodNetwork`) runs in the forwarder.
 */
import type { Logger } from 'pino';
import type { PodNetworkConfig } from '../podvm/apf-config.js';
import type { PodNetwork } from '../shim/ports.js';
import { inspectHost, inspectPodNetns, podNetworkConfig, refuseOwnNetns } from './netns/index.js';
import { setupWorkerTunnel, teardownWorkerTunnel } from './vxlan/index.js';

export interface VxlanPodNetworkOptions {
  /** HOST_INTERFACE, or the provider's underlay; '' = the device of the default route. */
  hostInterface: string;
  vxlanPort: number;
  externalNetViaPodVm: boolean;
  podSubnetCidrs: readonly string[];
  logger: Logger;
}

export class VxlanPodNetwork implements PodNetwork {
  constructor(private readonly o: VxlanPodNetworkOptions) {}

  async prepare(netnsPath: string, vni: number, index: number, signal: AbortSignal): Promise<PodNetworkConfig> {
    const pod = await inspectPodNetns(netnsPath, { signal });
    const host = await inspectHost({ hostInterface: this.o.hostInterface || undefined, signal });
    const cfg = podNetworkConfig({
      pod,
      host,
      vni,
      port: this.o.vxlanPort,
      index,
      externalNetViaPodVm: this.o.externalNetViaPodVm,
      podSubnetCidrs: [...this.o.podSubnetCidrs],
    });
    this.o.logger.info({ netns: netnsPath, podIp: cfg.podip, interface: cfg.interface, workerNodeIp: cfg['worker-node-ip'], vni, mtu: cfg.mtu }, `pod network of ${netnsPath} inspected`);
    return cfg;
  }

  async connect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string, signal: AbortSignal): Promise<void> {
    // Also here: a state saved by a version that did not check at CreateVM must not wire the host.
    await refuseOwnNetns(netnsPath);
    await setupWorkerTunnel({ podNetns: netnsPath, podInterface: cfg.interface, vmIp, vni: cfg['vxlan-id'] ?? 0, port: cfg['vxlan-port'], signal });
    this.o.logger.info({ netns: netnsPath, vni: cfg['vxlan-id'], vmIp }, `VXLAN ${cfg['vxlan-id']} from ${netnsPath} to ${vmIp} up`);
  }

  async disconnect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string, signal: AbortSignal): Promise<void> {
    await teardownWorkerTunnel({ podNetns: netnsPath, podInterface: cfg.interface, vmIp, vni: cfg['vxlan-id'] ?? 0, port: cfg['vxlan-port'], signal });
  }
}
