/**
 * PeerPod objects (reference §5.1): one per VM, in the pod's namespace, owned by the pod and held by a
 * finalizer, so that a VM whose pod is gone can still be found (peerpod-ctrl deletes it) and a VM that
 * the daemon deleted stops being tracked once its pod is gone (we drop the finalizer, GC does the rest).
 */
import { PatchStrategy, type ConfigurationOptions } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { kubeCall, withRetries, type RetryOptions } from './call.js';
import type { KubeApis, KubeCallTuning } from './clients.js';
import { isKubeError } from './errors.js';
import { MAX_NAME, labelValue, namePrefix, randomSuffix } from './names.js';

export const PEERPOD_GROUP = 'confidentialcontainers.org';
export const PEERPOD_VERSION = 'v1alpha1';
export const PEERPOD_PLURAL = 'peerpods';
export const PEERPOD_KIND = 'PeerPod';
export const PEERPOD_FINALIZER = 'peer.pod/finalizer';
/** Label: the node whose daemon created the VM (cut to a label value). */
export const NODE_LABEL = 'peerpods.confidentialcontainers.org/node';
/** Label: the first 63 characters of the sandbox id (Kata ids are 64 hex characters). */
export const SANDBOX_LABEL = 'peerpods.confidentialcontainers.org/sandbox';
/** Annotations with the values the labels had to cut, compared after a label-selected list. */
export const NODE_ANNOTATION = 'peerpods.confidentialcontainers.org/node-name';
export const SANDBOX_ANNOTATION = 'peerpods.confidentialcontainers.org/sandbox-id';
export const INSTANCE_NAME_ANNOTATION = 'peerpods.confidentialcontainers.org/instance-name';

const NAME_INFIX = '-resource-';
const SUFFIX_LENGTH = 5;

export interface PeerPodObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
    deletionTimestamp?: string;
  };
  spec: { cloudProvider: string; instanceID: string };
  status?: { cleand?: boolean };
}

export interface PeerPodCreateRequest {
  podName: string;
  podNamespace: string;
  sandboxId: string;
  instanceId: string;
  /** The cloud's name for the instance, kept as an annotation for people reading the object. */
  instanceName?: string;
  /** The pod's uid when known (CRI-O sandbox names carry it): a pod of that name with another uid counts as absent. */
  podUid?: string;
}

export interface PeerPodReleaseRequest {
  podNamespace: string;
  sandboxId: string;
  /** Only the PeerPods of this instance; all of the sandbox's when left out. */
  instanceId?: string;
}

export interface PeerPodRef {
  name: string;
  namespace: string;
  uid: string | undefined;
}

export interface PeerPodRegistryOptions extends KubeCallTuning {
  nodeName: string;
  /** `spec.cloudProvider` (the daemon's `CLOUD_PROVIDER`). */
  cloudProvider: string;
  logger: Logger;
}

/** `<pod>-resource-<5 random [a-z0-9]>`, the pod name cut so the whole is a valid object name. */
export function peerPodName(podName: string, suffix = randomSuffix(SUFFIX_LENGTH)): string {
  return `${namePrefix(podName, MAX_NAME - NAME_INFIX.length - suffix.length)}${NAME_INFIX}${suffix}`;
}

/**
 * Creates and releases this node's PeerPod objects. All methods may be called concurrently; `create`
 * and `release` retry conflicts, throttling and 5xx with backoff, and reject only with `KubeError`.
 */
export class PeerPodRegistry {
  private readonly log: Logger;
  private readonly retry: RetryOptions;

  constructor(
    private readonly apis: KubeApis,
    private readonly options: PeerPodRegistryOptions,
  ) {
    this.log = options.logger.child({ component: 'k8s/peerpods' });
    this.retry = options.retry ?? {};
  }

  /**
   * Records the VM `instanceId` of a sandbox as a PeerPod owned by its pod. Resolves undefined when the
   * pod does not exist (nothing would own the object; logged, not an error). After a failed attempt
   * whose outcome is unknown (5xx, timeout) it first looks for the object that attempt may have made,
   * so a retry does not leave two. Rejects with KubeError (FORBIDDEN, INVALID, CANCELLED, or the last
   * retryable one).
   */
  async create(req: PeerPodCreateRequest, signal?: AbortSignal): Promise<PeerPodRef | undefined> {
    const log = this.log.child({ sandbox: req.sandboxId, pod: `${req.podNamespace}/${req.podName}` });
    const what = `get pod ${req.podNamespace}/${req.podName}`;
    let podUid: string | undefined;
    try {
      const pod = await withRetries(what, signal, log, () => this.call(what, signal, (o) => this.apis.core.readNamespacedPod({ name: req.podName, namespace: req.podNamespace }, o)), this.retry);
      podUid = pod.metadata?.uid;
    } catch (err) {
      if (!isKubeError(err, 'NOT_FOUND')) throw err;
    }
    if (podUid && req.podUid && podUid !== req.podUid) {
      log.info({ instanceId: req.instanceId, podUid, expectedUid: req.podUid }, `pod ${req.podNamespace}/${req.podName} is another pod of the same name: no PeerPod object for instance ${req.instanceId}`);
      return undefined;
    }
    if (!podUid) {
      log.info({ instanceId: req.instanceId }, `pod ${req.podNamespace}/${req.podName} not found: no PeerPod object for instance ${req.instanceId}`);
      return undefined;
    }
    const createWhat = `create PeerPod for pod ${req.podNamespace}/${req.podName}`;
    const created = await withRetries(
      createWhat,
      signal,
      log,
      async (attempt) => {
        if (attempt > 1) {
          const existing = (await this.listSandbox(req.podNamespace, req.sandboxId, signal)).find((p) => p.spec?.instanceID === req.instanceId && !p.metadata.deletionTimestamp);
          if (existing) return existing;
        }
        const body = this.peerPodBody(req, podUid);
        return (await this.call(`${createWhat} (${body.metadata.name})`, signal, (o) =>
          this.apis.custom.createNamespacedCustomObject({ group: PEERPOD_GROUP, version: PEERPOD_VERSION, namespace: req.podNamespace, plural: PEERPOD_PLURAL, body }, o),
        )) as PeerPodObject;
      },
      // A name taken by another object: the next attempt draws a new suffix.
      { ...this.retry, alsoRetry: (e) => e.code === 'ALREADY_EXISTS' },
    );
    const ref = { name: created.metadata.name, namespace: created.metadata.namespace ?? req.podNamespace, uid: created.metadata.uid };
    log.info({ peerPod: ref.name, instanceId: req.instanceId }, `PeerPod ${ref.namespace}/${ref.name} records instance ${req.instanceId}`);
    return ref;
  }

  /**
   * Drops our finalizer from the sandbox's PeerPod(s) once its VM is deleted, so that GC removes them
   * when the pod is gone. Idempotent: an object already gone, or without the finalizer, is success.
   * Resolves with the number of objects it changed.
   */
  async release(req: PeerPodReleaseRequest, signal?: AbortSignal): Promise<number> {
    const log = this.log.child({ sandbox: req.sandboxId });
    const what = `release PeerPods of sandbox ${req.sandboxId} in ${req.podNamespace}`;
    // Counted across attempts: a retry re-lists and no longer sees what an earlier attempt released.
    const changed = new Set<string>();
    await withRetries(
      what,
      signal,
      log,
      async () => {
        const objects = (await this.listSandbox(req.podNamespace, req.sandboxId, signal)).filter((p) => req.instanceId === undefined || p.spec?.instanceID === req.instanceId);
        for (const p of objects) if (await this.dropFinalizer(p, signal)) changed.add(p.metadata.name);
      },
      // 422: the `test` op failed, the finalizer list changed under us; list again.
      { ...this.retry, alsoRetry: (e) => e.code === 'INVALID' && e.status === 422 },
    );
    const released = changed.size;
    if (released > 0) log.info({ instanceId: req.instanceId, released }, `released ${released} PeerPod object(s) of sandbox ${req.sandboxId}`);
    else log.debug({ instanceId: req.instanceId }, `no PeerPod object to release for sandbox ${req.sandboxId}`);
    return released;
  }

  /**
   * The `spec.instanceID` of every PeerPod this node created (any namespace, including those being
   * deleted): instances a leak reaper must leave alone. Rejects with KubeError when the list cannot be
   * had — a reaper must then skip its round, never assume the set is empty.
   */
  async ownedInstanceIds(signal?: AbortSignal): Promise<Set<string>> {
    const node = this.options.nodeName;
    const selector = `${NODE_LABEL}=${labelValue(node)}`;
    const ids = new Set<string>();
    let cont: string | undefined;
    do {
      const what = `list PeerPods of node ${node}`;
      const page = (await withRetries(what, signal, this.log, () =>
        this.call(what, signal, (o) =>
          this.apis.custom.listCustomObjectForAllNamespaces(
            { group: PEERPOD_GROUP, version: PEERPOD_VERSION, plural: PEERPOD_PLURAL, labelSelector: selector, limit: 500, _continue: cont },
            o,
          ),
        ),
      this.retry)) as { items?: PeerPodObject[]; metadata?: { continue?: string } };
      for (const p of page.items ?? []) {
        // The label holds at most 63 characters of the node name; the annotation holds all of it.
        const full = p.metadata.annotations?.[NODE_ANNOTATION];
        if (full !== undefined && full !== node) continue;
        if (p.spec?.instanceID) ids.add(p.spec.instanceID);
      }
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return ids;
  }

  private peerPodBody(req: PeerPodCreateRequest, podUid: string): PeerPodObject {
    const annotations: Record<string, string> = { [NODE_ANNOTATION]: this.options.nodeName, [SANDBOX_ANNOTATION]: req.sandboxId };
    if (req.instanceName) annotations[INSTANCE_NAME_ANNOTATION] = req.instanceName;
    return {
      apiVersion: `${PEERPOD_GROUP}/${PEERPOD_VERSION}`,
      kind: PEERPOD_KIND,
      metadata: {
        name: peerPodName(req.podName),
        namespace: req.podNamespace,
        labels: { [NODE_LABEL]: labelValue(this.options.nodeName), [SANDBOX_LABEL]: labelValue(req.sandboxId) },
        annotations,
        finalizers: [PEERPOD_FINALIZER],
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: req.podName, uid: podUid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { cloudProvider: this.options.cloudProvider, instanceID: req.instanceId },
    };
  }

  /** The sandbox's PeerPods in `namespace` (label-selected, then matched on the full id when annotated). */
  private async listSandbox(namespace: string, sandboxId: string, signal?: AbortSignal): Promise<PeerPodObject[]> {
    const list = (await this.call(`list PeerPods of sandbox ${sandboxId}`, signal, (o) =>
      this.apis.custom.listNamespacedCustomObject(
        { group: PEERPOD_GROUP, version: PEERPOD_VERSION, namespace, plural: PEERPOD_PLURAL, labelSelector: `${SANDBOX_LABEL}=${labelValue(sandboxId)}` },
        o,
      ),
    )) as { items?: PeerPodObject[] };
    return (list.items ?? []).filter((p) => {
      const full = p.metadata.annotations?.[SANDBOX_ANNOTATION];
      return full === undefined || full === sandboxId;
    });
  }

  /** JSON-patches our finalizer away; true when it did. The `test` op guards the index against a concurrent change. */
  private async dropFinalizer(p: PeerPodObject, signal?: AbortSignal): Promise<boolean> {
    const index = (p.metadata.finalizers ?? []).indexOf(PEERPOD_FINALIZER);
    if (index < 0) return false;
    const path = `/metadata/finalizers/${index}`;
    const what = `remove finalizer of PeerPod ${p.metadata.namespace}/${p.metadata.name}`;
    try {
      await this.call(
        what,
        signal,
        (o) =>
          this.apis.custom.patchNamespacedCustomObject(
            {
              group: PEERPOD_GROUP,
              version: PEERPOD_VERSION,
              namespace: p.metadata.namespace,
              plural: PEERPOD_PLURAL,
              name: p.metadata.name,
              body: [
                { op: 'test', path, value: PEERPOD_FINALIZER },
                { op: 'remove', path },
              ],
            },
            o,
          ),
        PatchStrategy.JsonPatch,
      );
      return true;
    } catch (err) {
      if (isKubeError(err, 'NOT_FOUND')) return false;
      throw err;
    }
  }

  private call<T>(what: string, signal: AbortSignal | undefined, fn: (options: ConfigurationOptions) => Promise<T>, contentType?: PatchStrategy): Promise<T> {
    return kubeCall(what, signal, fn, { timeoutMs: this.options.callTimeoutMs, contentType });
  }
}
