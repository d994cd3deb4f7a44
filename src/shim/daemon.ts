/**
 * Assembles the daemon: provider, sandbox store, recovery, and the ttrpc server on the hypervisor
 * socket. `stop()` is the graceful SIGTERM path: stop accepting, let calls in flight finish
 * (bounded), leave every VM running — pods outlive a daemon restart.
 */
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/daemon-config.js';
import type { Provider } from '../providers/provider.js';
import { TtrpcServer } from '../ttrpc/server.js';
import { listenUnix, type UnixListener } from '../ttrpc/unix-socket.js';
import { NoAgentTunnel, type AgentTunnel } from './agent-tunnel.js';
import { registerHypervisorServices } from './hypervisor-handlers.js';
import { InstanceReclaimer, type ReclaimerOptions } from './instance-reclaimer.js';
import { SandboxManager } from './sandbox-manager.js';
import { SandboxStore, type SandboxState } from './sandbox-store.js';
import { UserDataComposer, type UserDataComposerOptions } from './user-data-composer.js';
import type { PodNetwork } from './pod-network.js';
import { validateGlobalInitdata } from '../podvm/initdata.js';
import { ProxyAgentTunnel } from '../tunnel/proxy-tunnel.js';
import { VxlanPodNetwork } from '../tunnel/pod-network.js';
import { TlsMaterial, clientOptions, parseTlsProfile } from '../tunnel/tls/index.js';
import { DaemonMetrics } from '../observability/metrics.js';
import { ProbeServer, type ProbeChecks } from '../observability/probe-server.js';
import { InstanceReaper, type ReaperOwnership } from './instance-reaper.js';
import { InstrumentedProvider } from './instrumented-provider.js';
import type { SandboxObserver } from './sandbox-observer.js';
import { OwnerLock, type OwnershipEnd } from './owner-lock.js';

/** The hypervisor socket runs at most this many connections' worth of calls at once (4 × 1024 by default). */
const HYPERVISOR_CONNECTIONS_AT_CAP = 4;

export interface DaemonDeps {
  config: DaemonConfig;
  provider: Provider;
  /** The root logger (no `component`): each part adds its own. */
  logger: Logger;
  /** Default: NoAgentTunnel (tests of the shim alone); `Daemon.create` wires the real one. */
  tunnel?: AgentTunnel;
  /** Default: user-data without TLS material (tests of the shim alone). */
  userData?: (state: SandboxState) => Promise<string>;
  /** Default: no pod network (apf.json `pod-network: null`). */
  podNetwork?: PodNetwork;
  reclaimer?: ReclaimerOptions;
  /** Metrics of this daemon (`Daemon.create` makes them); undefined = none. */
  metrics?: DaemonMetrics;
  /** Further sandbox observers (PeerPod objects, Pod events). */
  observers?: readonly SandboxObserver[];
  /** Instance ids owned outside the daemon (PeerPod objects), for the reaper. */
  externalOwners?: ReaperOwnership['externalInstanceIds'];
  /** Upstream's startup condition (b), with a Kubernetes API. */
  podsReady?: ProbeChecks['podsReady'];
  /** Serve probes and metrics on PROBE_PORT (`Daemon.create` turns it on). */
  probes?: boolean;
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
  readonly probes: ProbeServer | undefined;
  readonly metrics: DaemonMetrics | undefined;
  private readonly provider: Provider;
  private readonly tunnel: AgentTunnel;
  private listener: UnixListener | undefined;
  private ownerLock: OwnerLock | undefined;
  /** Aborts a start that is still waiting for PODS_DIR when `stop()` is called. */
  private readonly starting = new AbortController();
  /** Set by the first `stop()`; also what `/readyz` reads. */
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
    this.metrics = metrics;
    const provider = metrics ? new InstrumentedProvider(deps.provider, (op, code) => metrics.providerCall(op, code)) : deps.provider;
    this.provider = provider;
    this.reclaimer = new InstanceReclaimer(provider, deps.reclaimer);
    const tunnel = deps.tunnel ?? new NoAgentTunnel((msg) => logger.warn({ component: 'tunnel' }, msg));
    this.tunnel = tunnel;
    const plainUserData = new UserDataComposer({ material: undefined, profile: parseTlsProfile(), globalInitdata: '', scratchSpace: false });
    this.manager = new SandboxManager({
      store: new SandboxStore(config.podsDir),
      provider,
      tunnel,
      reclaimer: this.reclaimer,
      logger,
      buildUserData: deps.userData ?? ((s) => plainUserData.compose(s)),
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
      onReaped: () => metrics?.reaped.inc({ provider: provider.name }),
    });
    this.probes = deps.probes
      ? new ProbeServer(
          {
            socketPath: () => this.listener?.path,
            serving: () => this.stopped === undefined,
            podsReady: deps.podsReady,
            metrics: metrics ? () => metrics.text() : undefined,
          },
          logger.child({ component: 'probe' }),
        )
      : undefined;
  }

  /**
   * The daemon as it runs in production: TLS material (persisted automatic mode, manual files, or
   * none with --disable-tls), INITDATA checked, and the agent proxy as the tunnel.
   */
  static async create(
    deps: Omit<DaemonDeps, 'tunnel' | 'userData' | 'podNetwork'> & { registryAuth?: UserDataComposerOptions['registryAuth'] },
  ): Promise<Daemon> {
    const { config, logger } = deps;
    const tlsLog = logger.child({ component: 'tunnel/tls' });
    validateGlobalInitdata(config.initdata);
    const profile = parseTlsProfile({ minVersion: config.tlsMinVersion, cipherSuites: config.tlsCipherSuites });
    let material: TlsMaterial | undefined;
    if (config.disableTls) {
      logger.child({ component: 'daemon' }).warn('TLS to the forwarders is DISABLED (--disable-tls): agent traffic crosses the network in clear text; for tests only');
    } else {
      material = await TlsMaterial.fromConfig(
        { stateDir: config.stateDir, caCertFile: config.caCertFile, certFile: config.certFile, certKey: config.certKey },
        tlsLog,
      );
      tlsLog.info({ mode: material.mode, caFingerprint: material.caFingerprint }, `TLS material ready (${material.mode} mode)`);
    }
    const composer = new UserDataComposer({
      material,
      profile,
      globalInitdata: config.initdata,
      scratchSpace: config.enableScratchSpace,
      registryAuth: deps.registryAuth,
    });
    const metrics = deps.metrics ?? new DaemonMetrics(deps.provider.name);
    const tunnel = new ProxyAgentTunnel({
      onReconnect: () => metrics.proxyReconnects.inc(),
      forwarderPort: config.forwarderPort,
      proxyTimeoutMs: config.proxyTimeoutMs,
      maxCallsPerConnection: config.maxCallsPerConnection,
      tlsFor: (instanceName) => clientOptions(material, profile, { instanceName, skipVerify: config.tlsSkipVerify }),
      logger,
    });
    const podNetwork = new VxlanPodNetwork({
      hostInterface: config.hostInterface, // the CLI fills it with the provider's underlay when HOST_INTERFACE is empty
      vxlanPort: config.vxlanPort,
      externalNetViaPodVm: config.externalNetworkViaPodvm,
      podSubnetCidrs: config.podSubnetCidrs,
      logger: logger.child({ component: 'podnetwork' }),
    });
    return new Daemon({ probes: true, ...deps, metrics, tunnel, podNetwork, userData: (s) => composer.compose(s) });
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
    await this.probes?.listen(config.probePort);
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
      await this.probes?.close();
      log.info('stopped');
    })();
    return this.stopped;
  }
}
