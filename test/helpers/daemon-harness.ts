/**
 * A real daemon on a temp folder with the in-memory cloud, reached over its real Unix socket.
 * `restart()` stops it and starts a fresh one on the same folders and the same cloud, as a
 * restarted DaemonSet pod would find them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadDaemonConfig, type DaemonConfig } from '../../src/config/daemon-config.js';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { PodVMInfo } from '../../src/proto/gen/podvminfo/podvminfo_pb.js';
import { daemonProbes } from '../../src/cli/compose-daemon.js';
import type { DaemonMetrics } from '../../src/observability/metrics.js';
import type { ProbeServer } from '../../src/observability/probe-server.js';
import type { AgentTunnel, PodNetwork } from '../../src/shim/ports.js';
import { Daemon, type DaemonDeps } from '../../src/shim/daemon.js';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { serviceClient } from '../../src/ttrpc/typed.js';
import { MemoryProvider } from '../fakes/memory-provider.js';
import { NoAgentTunnel } from './no-agent-tunnel.js';
import { sleep } from './async.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** Daemon parts a test may add: metrics, probes (with upstream's startup condition), observers, reaper owners. */
export type HarnessExtras = Partial<Pick<DaemonDeps, 'observers' | 'externalOwners'>> & {
  metrics?: DaemonMetrics;
  /** Serve probes (and metrics, when given) on PROBE_PORT, as the composition root does. */
  probes?: boolean;
  podsReady?: (signal: AbortSignal) => Promise<boolean>;
};

export class DaemonHarness {
  daemon!: Daemon;
  /** The daemon's probe server, with `extra.probes`. */
  probes: ProbeServer | undefined;
  readonly logs: LogLine[] = [];
  private readonly clients: TtrpcClient[] = [];

  private constructor(
    readonly dir: string,
    readonly provider: MemoryProvider,
    readonly config: DaemonConfig,
    private readonly tunnel: AgentTunnel | undefined,
    private readonly podNetwork: PodNetwork | undefined,
    private readonly extra: HarnessExtras,
  ) {}

  static async start(
    options: { provider?: MemoryProvider; tunnel?: AgentTunnel; podNetwork?: PodNetwork; env?: Record<string, string>; extra?: HarnessExtras } = {},
  ): Promise<DaemonHarness> {
    const dir = await mkdtemp(join(tmpdir(), 'caa-'));
    const config = loadDaemonConfig({
      flags: { socket: join(dir, 'hv.sock'), 'pods-dir': join(dir, 'pods'), 'state-dir': join(dir, 'state'), 'node-name': 'node-a', 'cluster-name': 'test' },
      env: options.env ?? {},
    });
    const h = new DaemonHarness(dir, options.provider ?? new MemoryProvider(), config, options.tunnel, options.podNetwork, options.extra ?? {});
    await h.boot();
    return h;
  }

  private logger(): Logger {
    return pino(
      { level: 'debug' },
      { write: (line: string) => void this.logs.push(JSON.parse(line) as LogLine) },
    );
  }

  private async boot(): Promise<void> {
    const { probes, podsReady, ...extra } = this.extra;
    const logger = this.logger();
    this.probes = probes ? daemonProbes(() => this.daemon, { podsReady, metrics: extra.metrics }, logger) : undefined;
    this.daemon = new Daemon({
      config: this.config,
      provider: this.provider,
      logger,
      tunnel: this.tunnel ?? new NoAgentTunnel((msg) => logger.warn({ component: 'tunnel' }, msg)),
      podNetwork: this.podNetwork,
      reclaimer: { backoff: { initialMs: 5, maxMs: 20 } },
      probes: this.probes,
      ...extra,
    });
    await this.daemon.start();
  }

  /** A new connection, as the Go shim opens one per call. */
  async connect(): Promise<TtrpcClient> {
    const c = await TtrpcClient.connectUnix(this.config.socket);
    this.clients.push(c);
    return c;
  }

  async hypervisor() {
    return serviceClient(await this.connect(), Hypervisor);
  }

  async podvminfo() {
    return serviceClient(await this.connect(), PodVMInfo);
  }

  async restart(): Promise<void> {
    await this.stopDaemon();
    await this.boot();
  }

  async stopDaemon(): Promise<void> {
    for (const c of this.clients.splice(0)) c.close();
    await this.daemon.stop();
  }

  /** Waits until background deletions are done. */
  settle(): Promise<void> {
    return this.daemon.manager.whenIdle();
  }

  /** Polls `predicate` every 10 ms for up to `ms`; throws if it never holds. */
  async waitFor(predicate: () => boolean, ms = 5000): Promise<void> {
    const until = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > until) throw new Error('condition not met in time');
      await sleep(10);
    }
  }

  logged(text: string): boolean {
    return this.logs.some((l) => l.msg.includes(text));
  }

  async close(): Promise<void> {
    await this.stopDaemon().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export const SANDBOX_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

/** The nine annotations the Go shim always sends (reference §2.3), some empty as in real life. */
export function shimAnnotations(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    'io.kubernetes.cri.sandbox-name': 'nginx',
    'io.kubernetes.cri.sandbox-namespace': 'default',
    'io.katacontainers.config.hypervisor.machine_type': '',
    'io.katacontainers.config.hypervisor.image': '',
    'io.katacontainers.config.hypervisor.default_vcpus': '0',
    'io.katacontainers.config.hypervisor.default_memory': '0',
    'io.katacontainers.config.hypervisor.cc_init_data': '',
    'io.katacontainers.config.hypervisor.default_gpus': '0',
    'io.katacontainers.config.hypervisor.default_gpu_model': '',
    ...overrides,
  };
}
