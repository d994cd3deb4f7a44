/**
 * The daemon's use of the Kubernetes API (docs/kubernetes.md): PeerPod objects, Events, image-pull
 * secrets, the node's VM capacity and the startup check. Every call stays inside the ClusterRole in
 * deploy/base/rbac.yaml. Without a cluster (`loadKubeConfig` returns undefined) none of this exists and
 * the daemon runs without it.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { makeKubeApis, type KubeCallTuning } from './clients.js';
import { PodEvents } from './events.js';
import { NodeCapacity } from './node-capacity.js';
import { PeerPodRegistry } from './peerpods.js';
import { PullSecretReader } from './pull-secrets.js';
import { PodsReadyCheck } from './startup-check.js';

export { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_RETRY, type RetryOptions } from './call.js';
export { makeKubeApis, type KubeApis, type KubeCallTuning } from './clients.js';
export { KubeError, KubeErrorCode, isKubeError } from './errors.js';
export { DEFAULT_AGGREGATE_WINDOW_MS, EVENT_SOURCE_COMPONENT, MAX_EVENT_MESSAGE, PodEvents, type EventType, type PodEventsOptions, type PodRef } from './events.js';
export { SERVICE_ACCOUNT_DIR, loadKubeConfig, type KubeEnv, type LoadKubeConfigOptions } from './kube-config.js';
export { NodeCapacity, jsonPointerToken, type NodeCapacityOptions } from './node-capacity.js';
export {
  INSTANCE_NAME_ANNOTATION,
  NODE_ANNOTATION,
  NODE_LABEL,
  PEERPOD_FINALIZER,
  PEERPOD_GROUP,
  PEERPOD_KIND,
  PEERPOD_PLURAL,
  PEERPOD_VERSION,
  PeerPodRegistry,
  SANDBOX_ANNOTATION,
  SANDBOX_LABEL,
  peerPodName,
  type PeerPodCreateRequest,
  type PeerPodObject,
  type PeerPodRef,
  type PeerPodRegistryOptions,
  type PeerPodReleaseRequest,
} from './peerpods.js';
export { PullSecretReader, type PullSecretReaderOptions } from './pull-secrets.js';
export { DEFAULT_RUNTIME_CLASS, PodsReadyCheck, type PodsReadyCheckOptions } from './startup-check.js';

export interface KubeIntegrationOptions extends KubeCallTuning {
  kubeConfig: KubeConfig;
  /** This worker (`NODE_NAME`): labels PeerPods, the events' source host, the node to patch and to list pods of. */
  nodeName: string;
  /** `CLOUD_PROVIDER`, written to each PeerPod's `spec.cloudProvider` (peerpod-ctrl picks the provider by it). */
  cloudProvider: string;
  /** `RUNTIMECLASS_NAME` of peer pods (default `kata-remote`). */
  runtimeClass?: string;
  /** The root logger; each part adds its own `component` (`k8s/peerpods`, `k8s/events`, …). */
  logger: Logger;
}

export interface KubeIntegration {
  peerPods: PeerPodRegistry;
  events: PodEvents;
  pullSecrets: PullSecretReader;
  nodeCapacity: NodeCapacity;
  podsReady: PodsReadyCheck;
}

/** Builds every part over one set of API clients. Makes no API call. */
export function createKubeIntegration(options: KubeIntegrationOptions): KubeIntegration {
  const { kubeConfig, nodeName, cloudProvider, runtimeClass, logger, callTimeoutMs, retry } = options;
  const apis = makeKubeApis(kubeConfig);
  const tuning = { callTimeoutMs, retry };
  return {
    peerPods: new PeerPodRegistry(apis, { ...tuning, nodeName, cloudProvider, logger }),
    events: new PodEvents(apis, { ...tuning, nodeName, logger }),
    pullSecrets: new PullSecretReader(apis, { ...tuning, logger }),
    nodeCapacity: new NodeCapacity(apis, { ...tuning, nodeName, logger }),
    podsReady: new PodsReadyCheck(apis, { callTimeoutMs, nodeName, runtimeClass, logger }),
  };
}
