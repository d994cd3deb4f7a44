/**
 * The daemon: provider, sandbox store, recovery, and the ttrpc server on the hypervisor socket, with
 * every outside part (agent tunnel, pod network, user-data, metrics, probes, observers) handed in as a
 * port (src/shim/ports.ts) by the composition root (src/cli/compose-daemon.ts). `stop()` is the graceful
 * SIGTERM path: stop accepting, let calls in flight finish (bounded), leave every VM running — pods
 * outlive a daemon restart.
 */
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/daemon-config.js';
import type { Provider } from '../providers/provider.js';
import { TtrpcServer } from '../ttrpc/server.js';
import { listenUnix, type UnixListener } from '../ttrpc/unix-socket.js';
import { registerHypervisorServices } from './hypervisor-handlers.js';
import { InstanceReclaimer, type ReclaimerOptions } from './instance-reclaimer.js';
import { SandboxManager } from './sandbox-manager.js';
import { SandboxStore } from './sandbox-store.js';
import { UserDataComposer } from './user-data-composer.js';
import { InstanceReaper, type ReaperOwnership } from './instance-reaper.js';
import { InstrumentedProvider } from './instrumented-provider.js';
import type { AgentTunnel, MetricsSink, PodNetwork, ProbeEndpoint, SandboxObserver, UserDataBuilder } from './ports.js';
import { OwnerLock, type OwnershipEnd } from './owner-lock.js';

/** The hypervisor socket runs at most this many connections' worth of calls at once (4 × 1024 by default). */
const HYPERVISOR_CONNECTIONS_AT_CAP = 4;

export interface DaemonDeps {
  config: DaemonConfig;
  provider: Provider;
  /** The root logger (no `component`): each part adds its own. */
  logger: Logger;
  /** The agent tunnel: the agent proxy in production, a stand-in in tests of the shim alone. */
  tunnel: AgentTunnel;
  /** Default: user-data without TLS material (tests of the shim alone). */
  userData?: UserDataBuilder;
  /** Default: no pod network (apf.json `pod-network: null`). */
  podNetwork?: PodNetwork;
  reclaimer?: ReclaimerOptions;
  /** Where the daemon reports provider calls, reaped instances, sandbox counts; undefined = none. */
  metrics?: MetricsSink;
  /** Further sandbox observers (PeerPod objects, Pod events, capacity). */
  observers?: readonly SandboxObserver[];
  /** Instance ids owned outside the daemon (PeerPod objects), for the reaper. */
  externalOwners?: ReaperOwnership['externalInstanceIds'];
  /** Probes and metrics on PROBE_PORT, opened first by `start()` and closed last by `stop()`; undefined = none. */
  probes?: ProbeEndpoint;
  /**
   * The PODS_DIR lock, when the caller took it already (the CLI does, before the provider and capacity
   * advertising start); else `start()` takes it. Either way `stop()` releases it.
   */
  ownerLock?: OwnerLock;
}

export class Daemon {
  readonly manager: SandboxManager;
  readonly reclaimer: InstanceReclaimer;
  readonly server: TtrpcServer;
  readonly reaper: InstanceReaper;
  private readonly provider: Provider;
  private readonly tunnel: AgentTunnel;
  private listener: UnixListener | undefined;
  private ownerLock: OwnerLock | undefined;
  /** Aborts a start that is still waiting for PODS_DIR when `stop()` is called. */
  private readonly starting = new AbortController();
  /** Set by the first `stop()` (`serving` reads it). */
  private stopped: Promise<void> | undefined;
  /**
   * Resolves, once this daemon has stopped, when it stopped because it no longer owns PODS_DIR: a
   * successor asked for it (rolling update: `successor`) or another daemon took the lock (`lost`).
   */
  readonly ownershipEnded: Promise<OwnershipEnd>;
  private resolveOwnershipEnded!: (end: OwnershipEnd) => void;

  constructor(private readonly deps: DaemonDeps) {
    this.ownershipEnded = new Promise((resolve) => (this.resolveOwnershipEnded = resolve));
    const { config, logger, metrics } = deps;
    const provider = metrics ? new InstrumentedProvider(deps.provider, (op, code) => metrics.providerCall(op, code)) : deps.provider;
    this.provider = provider;
    this.reclaimer = new InstanceReclaimer(provider, deps.reclaimer);
    this.tunnel = deps.tunnel;
    const plainUserData = new UserDataComposer({ globalInitdata: '', scratchSpace: false });
    this.manager = new SandboxManager({
      store: new SandboxStore(config.podsDir),
      provider,
      tunnel: deps.tunnel,
      reclaimer: this.reclaimer,
      logger,
      buildUserData: deps.userData ?? ((s, signal) => plainUserData.compose(s, signal)),
      clusterName: config.clusterName,
      nodeName: config.nodeName,
      externalNetworkViaPodvm: config.externalNetworkViaPodvm,
      startFailureCleanupTimeoutMs: config.startFailureCleanupTimeoutMs,
      tunnelReopenTimeoutMs: config.proxyTimeoutMs,
      podNetwork: deps.podNetwork,
      vxlanMinId: config.vxlanMinId,
      observers: [...(metrics ? [metrics.observer()] : []), ...(deps.observers ?? [])],
    });
    metrics?.trackSandboxes(() => this.manager.countByPhase());
    this.server = new TtrpcServer({
      logger: logger.child({ component: 'ttrpc' }),
      maxCallsPerConnection: config.maxCallsPerConnection,
      // The Go shim dials once per call: a client with many connections is bounded here (docs/operations.md).
      maxCallsInFlight: HYPERVISOR_CONNECTIONS_AT_CAP * config.maxCallsPerConnection,
    });
    registerHypervisorServices(this.server, this.manager);
    this.reaper = new InstanceReaper({
      provider,
      ownership: { sandboxIds: () => this.manager.sandboxIds(), instanceIds: () => this.manager.instanceIds(), externalInstanceIds: deps.externalOwners },
      clusterName: config.clusterName,
      nodeName: config.nodeName,
      periodMs: config.reaperPeriodMs,
      graceMs: config.reaperGraceMs,
      logger,
      onReaped: () => metrics?.instanceReaped(),
    });
  }

  /** True from construction until `stop()` begins (what `/readyz` reads). */
  get serving(): boolean {
    return this.stopped === undefined;
  }

  /**
   * Takes ownership of PODS_DIR (waiting up to OWNER_WAIT for a predecessor to hand it over),
   * recovers saved sandboxes, then listens. Resolves once the socket accepts connections; rejects
   * with OwnerLockError when PODS_DIR stays owned by another daemon.
   */
  async start(): Promise<void> {
    const { config, logger } = this.deps;
    const log = logger.child({ component: 'daemon' });
    // Probes first: the startup probe answers "not yet" while we wait and recover.
    await this.deps.probes?.listen(config.probePort);
    this.ownerLock =
      this.deps.ownerLock ??
      (await OwnerLock.acquire({
        dir: config.podsDir,
        waitMs: config.ownerWaitMs,
        logger: logger.child({ component: 'owner-lock' }),
        signal: this.starting.signal,
      }));
    if (this.stopped) {
      // stop() came while we waited: it found no lock to release.
      await this.ownerLock.release();
      throw new Error('the daemon was stopped while starting');
    }
    try {
      const r = await this.manager.recover();
      log.info(r, `recovered ${r.adopted} sandbox(es); ${r.reclaiming} deletion(s) resumed`);
      this.listener = await listenUnix(config.socket);
    } catch (err) {
      await this.ownerLock.release();
      throw err;
    }
    this.server.serve(this.listener.server);
    log.info({ socket: this.listener.path }, `serving hypervisor.Hypervisor and podvminfo.PodVMInfo on ${this.listener.path}`);
    this.reaper.start();
    void this.ownerLock.ended.then(async (end) => {
      if (end.reason === 'successor') log.info(`${end.detail}: handing PODS_DIR over (draining as on SIGTERM)`);
      else log.error(`this daemon no longer owns PODS_DIR (${end.detail}): stopping`);
      await this.stop().catch(() => undefined);
      this.resolveOwnershipEnded(end);
    });
  }

  get socketPath(): string | undefined {
    return this.listener?.path;
  }

  /** Graceful stop. Safe to call more than once; later calls wait for the first. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const log = this.deps.logger.child({ component: 'daemon' });
      log.info({ graceMs: this.deps.config.shutdownGraceMs }, 'shutting down: no new calls; VMs are left running');
      this.starting.abort(new Error('the daemon is stopping'));
      await this.reaper.stop();
      this.manager.stop();
      await this.server.shutdown(this.deps.config.shutdownGraceMs);
      await this.tunnel.closeAll?.();
      await this.listener?.close();
      await this.reclaimer.stop();
      // StartVMs cut off at the end of the grace unwind here (state saves, clean-up scheduled): all before the lock goes.
      await this.manager.whenSettled();
      await this.provider.teardown();
      // Last: until here this daemon may still write PODS_DIR.
      await (this.ownerLock ?? this.deps.ownerLock)?.release();
      await this.deps.probes?.close();
      log.info('stopped');
    })();
    return this.stopped;
  }
}
