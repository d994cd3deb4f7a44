/**
 * The per-sandbox path from the shim's agent socket to the forwarder in the VM. The shim service
 * only needs to open it once the instance exists and to close it on StopVM; the agent-tunnel issue
 * implements it (agent proxy over mTLS).
 */
import type { Instance } from '../providers/provider.js';

export interface AgentTunnelTarget {
  sandboxId: string;
  /** Where the shim will dial: `PODS_DIR/<id>/agent.ttrpc`. */
  socketPath: string;
  instance: Instance;
  instanceName: string;
}

export interface AgentTunnel {
  /**
   * Serves `socketPath` and connects to the forwarder at `instance.ips[0]`; resolves once the
   * forwarder answered. Rejects when `signal` aborts (the caller's deadline) or the tunnel gives up.
   */
  open(target: AgentTunnelTarget, signal: AbortSignal): Promise<void>;
  /** Closes the socket and the upstream connection. Idempotent; never throws. */
  close(sandboxId: string): Promise<void>;
  /** Closes every tunnel (daemon shutdown); VMs and forwarders keep running. */
  closeAll?(): Promise<void>;
}

/**
 * Until the agent tunnel exists: says so in the log and opens nothing. StartVM then succeeds once the
 * instance exists, but nothing serves the agent socket, so a real shim cannot run containers yet.
 */
export class NoAgentTunnel implements AgentTunnel {
  constructor(private readonly warn: (msg: string) => void) {}

  async open(target: AgentTunnelTarget): Promise<void> {
    this.warn(`agent tunnel not implemented yet: ${target.socketPath} is not served for sandbox ${target.sandboxId}`);
  }

  async close(): Promise<void> {}
}
