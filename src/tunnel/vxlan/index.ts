/** The VXLAN pod tunnel: worker side (StartVM/StopVM) and pod VM side (forwarder at boot). */
export { VxlanError, VxlanErrorCode, isVxlanError } from './errors.js';
export { OUTPUT_CHAIN, PREROUTING_CHAIN, notrackRules, type NotrackRule } from './iptables.js';
export {
  DEFAULT_POD_INTERFACE,
  DEFAULT_TUNNEL_INTERFACE,
  DEFAULT_VXLAN_PORT,
  setupWorkerTunnel,
  teardownWorkerTunnel,
  temporaryDeviceName,
  type WorkerTeardownOptions,
  type WorkerTeardownResult,
  type WorkerTunnel,
  type WorkerTunnelOptions,
} from './worker.js';
export {
  DEFAULT_MTU_CEILING,
  DEFAULT_POD_NETNS_NAME,
  DEFAULT_VM_VXLAN_INTERFACE,
  NETNS_RUN_DIR,
  VXLAN_OVERHEAD,
  setupVmPodNetwork,
  teardownVmPodNetwork,
  vmMtu,
  type VmPodNetwork,
  type VmPodNetworkOptions,
  type VmTeardownOptions,
  type VmTeardownResult,
} from './vm.js';
