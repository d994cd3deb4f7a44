/**
 * The AgentTunnel the shim service uses: one AgentProxy per sandbox.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { AgentTunnel, AgentTunnelTarget } from '../shim/ports.js';
import { AgentProxy } from './agent-proxy.js';
import { TunnelError } from './errors.js';

export interface ProxyTunnelOptions {
  forwarderPort: number;
  proxyTimeoutMs: number;
  /** TLS client options for a VM, by instance name; undefined = plain TCP (--disable-tls). */
  tlsFor(instanceName: string): ConnectionOptions | undefined;
  logger: Logger;
  directVolumesDir?: string;
  /** A sandbox's proxy re-established its lost forwarder connection. */
  onReconnect?(sandboxId: string): void;
  /** MAX_CALLS_PER_CONNECTION for every agent socket. */
  maxCallsPerConnection?: number;
}

export class ProxyAgentTunnel implements AgentTunnel {
  private readonly proxies = new Map<string, AgentProxy>();

  constructor(private readonly o: ProxyTunnelOptions) {}

  async open(target: AgentTunnelTarget, signal: AbortSignal): Promise<void> {
    await this.close(target.sandboxId);
    const host = target.instance.ips[0];
    if (!host) throw new TunnelError('NO_ADDRESS', `instance ${target.instance.id} has no IP address`);
    const proxy = new AgentProxy({
      sandboxId: target.sandboxId,
      socketPath: target.socketPath,
      host,
      port: this.o.forwarderPort,
      tls: this.o.tlsFor(target.instanceName),
      proxyTimeoutMs: this.o.proxyTimeoutMs,
      logger: this.o.logger.child({ component: 'tunnel/proxy', sandbox: target.sandboxId }),
      directVolumesDir: this.o.directVolumesDir,
      onReconnect: () => this.o.onReconnect?.(target.sandboxId),
      maxCallsPerConnection: this.o.maxCallsPerConnection,
    });
    this.proxies.set(target.sandboxId, proxy);
    try {
      await proxy.start(signal);
    } catch (err) {
      if (this.proxies.get(target.sandboxId) === proxy) this.proxies.delete(target.sandboxId);
      await proxy.close();
      throw err;
    }
  }

  async close(sandboxId: string): Promise<void> {
    const proxy = this.proxies.get(sandboxId);
    if (!proxy) return;
    this.proxies.delete(sandboxId);
    await proxy.close().catch(() => undefined);
  }

  /** Closes every proxy (daemon shutdown). The VMs and forwarders keep running. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.proxies.keys()].map((id) => this.close(id)));
  }

  get size(): number {
    return this.proxies.size;
  }
}
