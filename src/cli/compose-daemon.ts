/**
 * The composition root (docs/adr/0001-composition-root.md): the one place that builds every real part
 * of the daemon and plugs it into the shim's ports (src/shim/ports.ts) — INITDATA checked, TLS material
 * and the user-data composer, the agent proxy, the VXLAN pod network, metrics and probes, the
 * Kubernetes integration when a cluster is reachable (PeerPod objects, Pod events, pull secrets, the
 * startup check), capacity advertising — then `new Daemon({...})`. Objects only; the behaviour lives in
 * the parts.
 */
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/daemon-config.js';
import { startCapacity } from '../k8s/capacity.js';
import { createKubeIntegration, loadKubeConfig, type KubeIntegration } from '../k8s/index.js';
import { KubeSandboxObserver } from '../k8s/sandbox-observer.js';
import { DaemonMetrics } from '../observability/metrics.js';
import { ProbeServer, type ProbeChecks } from '../observability/probe-server.js';
import { validateGlobalInitdata } from '../podvm/initdata.js';
import type { Provider } from '../providers/provider.js';
import { tunnelInterface } from '../providers/registry.js';
import { Daemon } from '../shim/daemon.js';
import type { OwnerLock } from '../shim/owner-lock.js';
import type { CertIssuer } from '../shim/ports.js';
import { UserDataComposer } from '../shim/user-data-composer.js';
import { VxlanPodNetwork } from '../tunnel/pod-network.js';
import { ProxyAgentTunnel } from '../tunnel/proxy-tunnel.js';
import { TlsMaterial, apfTlsFields, clientOptions, parseTlsProfile, type TlsProfile } from '../tunnel/tls/index.js';

export const VM_RESOURCE = 'kata.peerpods.io/vm';

export interface ComposeDaemonInput {
  config: DaemonConfig;
  provider: Provider;
  logger: Logger;
  /** Where KUBECONFIG / the in-cluster service account are looked up. */
  env: NodeJS.ProcessEnv;
  /** The PODS_DIR lock the CLI took before it created the provider. */
  ownerLock?: OwnerLock;
  /**
   * The worker's interface towards the VMs when the provider's start-up knows it (local: its bridge);
   * HOST_INTERFACE wins over it, and without either the pod network uses the default route's device.
   */
  underlayInterface?: string;
}

export interface ComposedDaemon {
  daemon: Daemon;
  kube: KubeIntegration | undefined;
  metrics: DaemonMetrics;
  probes: ProbeServer;
  /**
   * Stops the daemon (VMs keep running), capacity advertising, and waits for pending cluster
   * bookkeeping (PeerPod creates and releases). Safe to call more than once.
   */
  stop(): Promise<void>;
}

export async function composeDaemon(o: ComposeDaemonInput): Promise<ComposedDaemon> {
  const { config, provider, logger } = o;
  // Upstream's startup condition: the node's kata-remote pods Ready since this moment.
  const started = new Date();
  validateGlobalInitdata(config.initdata);
  const { material, profile } = await loadTls(config, logger);
  const kube = kubeIntegration(o);
  const capacity = await startCapacity({
    mode: config.capacityMode,
    limit: config.peerpodsLimitPerNode,
    pluginDir: config.devicePluginDir,
    logger,
    setNodeCapacity: kube ? (n) => kube.nodeCapacity.set(VM_RESOURCE, n) : undefined,
  });
  const kubeObserver = kube ? new KubeSandboxObserver({ peerPods: kube.peerPods, events: kube.events, logger }) : undefined;
  const pullLog = logger.child({ component: 'k8s/pull-secrets' });
  const certs: CertIssuer = { apfTlsFields: (instanceName) => apfTlsFields(material, profile, instanceName) };
  const userData = new UserDataComposer({
    certs,
    globalInitdata: config.initdata,
    scratchSpace: config.enableScratchSpace,
    registryAuth: kube
      ? (pod, signal) =>
          kube.pullSecrets.authJson(pod, signal).catch((err: unknown) => {
            pullLog.warn({ pod: `${pod.namespace}/${pod.name}`, err }, 'image-pull secrets unreadable; the VM gets no registry credentials');
            return undefined;
          })
      : undefined,
  });
  const metrics = new DaemonMetrics(provider.name);
  const tunnel = new ProxyAgentTunnel({
    onReconnect: () => metrics.proxyReconnects.inc(),
    forwarderPort: config.forwarderPort,
    proxyTimeoutMs: config.proxyTimeoutMs,
    maxCallsPerConnection: config.maxCallsPerConnection,
    tlsFor: (instanceName) => clientOptions(material, profile, { instanceName, skipVerify: config.tlsSkipVerify }),
    logger,
  });
  const podNetwork = new VxlanPodNetwork({
    hostInterface: tunnelInterface(config.hostInterface, o),
    vxlanPort: config.vxlanPort,
    externalNetViaPodVm: config.externalNetworkViaPodvm,
    podSubnetCidrs: config.podSubnetCidrs,
    logger: logger.child({ component: 'podnetwork' }),
  });
  const podsReady = kube ? (signal: AbortSignal) => kube.podsReady.check(started, signal).catch(() => false) : undefined;
  const built: { daemon?: Daemon } = {};
  const probes = daemonProbes(() => built.daemon, { podsReady, metrics }, logger);
  const daemon = new Daemon({
    config,
    provider,
    logger,
    ownerLock: o.ownerLock,
    tunnel,
    podNetwork,
    userData: (s, signal) => userData.compose(s, signal),
    metrics,
    observers: [capacity.observer, ...(kubeObserver ? [kubeObserver] : [])],
    externalOwners: kube ? (signal) => kube.peerPods.ownedInstanceIds(signal) : undefined,
    probes,
  });
  built.daemon = daemon;
  return {
    daemon,
    kube,
    metrics,
    probes,
    stop: async () => {
      await Promise.all([daemon.stop(), capacity.stop()]);
      await kubeObserver?.whenIdle();
    },
  };
}

/**
 * The probe endpoints of a daemon built after them (the daemon takes them as a port and opens them
 * first in `start()`): `daemon` is read at request time. Also used by tests that build a Daemon alone.
 */
export function daemonProbes(
  daemon: () => Pick<Daemon, 'socketPath' | 'serving'> | undefined,
  o: { podsReady?: ProbeChecks['podsReady']; metrics?: Pick<DaemonMetrics, 'text'> },
  logger: Logger,
): ProbeServer {
  const metrics = o.metrics;
  return new ProbeServer(
    {
      socketPath: () => daemon()?.socketPath,
      serving: () => daemon()?.serving ?? false,
      podsReady: o.podsReady,
      metrics: metrics ? () => metrics.text() : undefined,
    },
    logger.child({ component: 'probe' }),
  );
}

/** TLS material for the agent proxy and the VMs: persisted automatic mode, manual files, or none with --disable-tls. */
async function loadTls(config: DaemonConfig, logger: Logger): Promise<{ material: TlsMaterial | undefined; profile: TlsProfile }> {
  const profile = parseTlsProfile({ minVersion: config.tlsMinVersion, cipherSuites: config.tlsCipherSuites });
  if (config.disableTls) {
    logger.child({ component: 'daemon' }).warn('TLS to the forwarders is DISABLED (--disable-tls): agent traffic crosses the network in clear text; for tests only');
    return { material: undefined, profile };
  }
  const tlsLog = logger.child({ component: 'tunnel/tls' });
  const material = await TlsMaterial.fromConfig({ stateDir: config.stateDir, caCertFile: config.caCertFile, certFile: config.certFile, certKey: config.certKey }, tlsLog);
  tlsLog.info({ mode: material.mode, caFingerprint: material.caFingerprint }, `TLS material ready (${material.mode} mode)`);
  return { material, profile };
}

/** The Kubernetes integration, or undefined when no cluster is configured or its configuration is unusable. */
function kubeIntegration(o: ComposeDaemonInput): KubeIntegration | undefined {
  const { config, logger } = o;
  try {
    const kubeConfig = loadKubeConfig(o.env, logger);
    return kubeConfig ? createKubeIntegration({ kubeConfig, nodeName: config.nodeName, cloudProvider: o.provider.name, runtimeClass: config.runtimeClass, logger }) : undefined;
  } catch (err) {
    logger.child({ component: 'k8s' }).error({ err }, 'the Kubernetes configuration cannot be used; running without the Kubernetes API');
    return undefined;
  }
}
