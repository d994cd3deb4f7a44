/**
 * An AgentTunnel that opens nothing and says so in the log: for tests and benchmarks of the shim alone
 * (the in-memory cloud has no forwarder to reach). StartVM then succeeds once the instance exists, but
 * nothing serves the agent socket.
 */
import type { AgentTunnel, AgentTunnelTarget } from '../../src/shim/ports.js';

export class NoAgentTunnel implements AgentTunnel {
  constructor(private readonly warn: (msg: string) => void) {}

  async open(target: AgentTunnelTarget): Promise<void> {
    this.warn(`agent tunnel not implemented yet: ${target.socketPath} is not served for sandbox ${target.sandboxId}`);
  }

  async close(): Promise<void> {}
}
