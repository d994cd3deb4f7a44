/**
 * What the shim service needs from pod networking (reference §3.7): a plan at CreateVM, the
 * worker side of the tunnel at StartVM, its removal at StopVM. `src/tunnel/pod-network.ts`
 * implements it with netns inspection and a VXLAN per pod.
 */
import type { PodNetworkConfig } from '../podvm/apf-config.js';

export interface PodNetwork {
  /**
   * CreateVM: inspects the pod's network namespace and the worker's underlay, and returns the
   * `pod-network` the VM receives in apf.json. Throws a typed error naming the problem.
   */
  prepare(netnsPath: string, vni: number, index: number, signal: AbortSignal): Promise<PodNetworkConfig>;
  /** StartVM: the worker side of the tunnel to the VM at `vmIp`. Undoes itself on failure. */
  connect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string, signal: AbortSignal): Promise<void>;
  /**
   * StopVM / cleanup: idempotent; also when the pod namespace is already gone. Never throws for "already
   * gone". `signal`: the caller's bound (the daemon's stop, a timeout).
   */
  disconnect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string, signal: AbortSignal): Promise<void>;
}
