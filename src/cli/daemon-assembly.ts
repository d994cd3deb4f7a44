/**
 * Builds the daemon as it runs in production: the Kubernetes integration when a cluster is
 * reachable (PeerPod objects, Pod events, pull secrets, the startup check), capacity advertising,
 * and the daemon with every hook connected. Objects only; the behaviour lives in the parts.
 */
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/daemon-config.js';
import { startCapacity } from '../k8s/capacity.js';
import { createKubeIntegration, loadKubeConfig, type KubeIntegration } from '../k8s/index.js';
import { KubeSandboxObserver } from '../k8s/sandbox-observer.js';
import type { Provider } from '../providers/provider.js';
import { Daemon } from '../shim/daemon.js';
import type { OwnerLock } from '../shim/owner-lock.js';
import type { SandboxObserver } from '../shim/sandbox-observer.js';

export const VM_RESOURCE = 'kata.peerpods.io/vm';

export interface Assembled {
  daemon: Daemon;
  kube: KubeIntegration | undefined;
  /**
   * Stops the daemon (VMs keep running), capacity advertising, and waits for pending cluster
   * bookkeeping (PeerPod creates and releases). Safe to call more than once.
   */
  stop(): Promise<void>;
}

export async function assembleDaemon(o: { config: DaemonConfig; provider: Provider; logger: Logger; env: NodeJS.ProcessEnv; ownerLock?: OwnerLock }): Promise<Assembled> {
  const { config, provider, logger } = o;
  let kube: KubeIntegration | undefined;
  try {
    const kubeConfig = loadKubeConfig(o.env, logger);
    if (kubeConfig) kube = createKubeIntegration({ kubeConfig, nodeName: config.nodeName, cloudProvider: provider.name, runtimeClass: config.runtimeClass, logger });
  } catch (err) {
    logger.child({ component: 'k8s' }).error({ err }, 'the Kubernetes configuration cannot be used; running without the Kubernetes API');
  }
  const capacity = await startCapacity({
    mode: config.capacityMode,
    limit: config.peerpodsLimitPerNode,
    pluginDir: config.devicePluginDir,
    logger,
    setNodeCapacity: kube ? (n) => kube.nodeCapacity.set(VM_RESOURCE, n) : undefined,
  });
  const observer = kube ? new KubeSandboxObserver({ peerPods: kube.peerPods, events: kube.events, logger }) : undefined;
  const observers: SandboxObserver[] = [capacity.observer, ...(observer ? [observer] : [])];
  const started = new Date();
  const pullLog = logger.child({ component: 'k8s/pull-secrets' });
  const daemon = await Daemon.create({
    config,
    provider,
    logger,
    ownerLock: o.ownerLock,
    observers,
    registryAuth: kube
      ? (pod) =>
          kube.pullSecrets.authJson(pod).catch((err: unknown) => {
            pullLog.warn({ pod: `${pod.namespace}/${pod.name}`, err }, 'image-pull secrets unreadable; the VM gets no registry credentials');
            return undefined;
          })
      : undefined,
    externalOwners: kube ? (signal) => kube.peerPods.ownedInstanceIds(signal) : undefined,
    podsReady: kube ? (signal) => kube.podsReady.check(started, signal).catch(() => false) : undefined,
  });
  return {
    daemon,
    kube,
    stop: async () => {
      await Promise.all([daemon.stop(), capacity.stop()]);
      await observer?.whenIdle();
    },
  };
}
