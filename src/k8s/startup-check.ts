/**
 * The Kubernetes half of upstream's startup probe (reference §6 (b)): during a rolling update the new
 * daemon counts as started only once every peer pod on this node is Ready again *after* it started, i.e.
 * their shims reconnected to it. The other half (the hypervisor socket accepts) belongs to the daemon.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { kubeCall } from './call.js';
import type { KubeApis, KubeCallTuning } from './clients.js';
import { asKubeError } from './errors.js';
import { ThrottledWarn } from './log-throttle.js';

export const DEFAULT_RUNTIME_CLASS = 'kata-remote';

export interface PodsReadyCheckOptions extends Omit<KubeCallTuning, 'retry'> {
  nodeName: string;
  /** Pods of this RuntimeClass are peer pods (default `kata-remote`, upstream's `RUNTIMECLASS_NAME`). */
  runtimeClass?: string;
  logger: Logger;
}

/**
 * Pods that will never be Ready again: finished (a Job's pod) or being deleted. Waiting for them would
 * hold the probe until the kubelet gives up on the daemon, on every start.
 */
function finished(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' || pod.metadata?.deletionTimestamp !== undefined;
}

/** Ready=True with a lastTransitionTime at or after `sinceSecond` (both at second precision). */
function readySince(pod: V1Pod, sinceSecond: number): boolean {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True' || !ready.lastTransitionTime) return false;
  return new Date(ready.lastTransitionTime).getTime() >= sinceSecond;
}

export class PodsReadyCheck {
  private readonly log: Logger;
  private readonly warnFailure: ThrottledWarn;
  private passed = false;

  constructor(
    private readonly apis: KubeApis,
    private readonly options: PodsReadyCheckOptions,
  ) {
    this.log = options.logger.child({ component: 'k8s/startup' });
    this.warnFailure = new ThrottledWarn(this.log);
  }

  get runtimeClass(): string {
    return this.options.runtimeClass ?? DEFAULT_RUNTIME_CLASS;
  }

  /**
   * True when every pod on this node (`spec.nodeName`) whose `runtimeClassName` is the peer-pod class
   * has condition Ready=True that changed at or after `since` (none at all is true). Pods that finished
   * (phase Succeeded/Failed) or are being deleted do not count: they will not be Ready again. Once true it stays
   * true without asking the API again, as upstream. Kubernetes keeps lastTransitionTime at second
   * precision, so `since` is compared at the second too. An API failure is false (not started yet),
   * logged at most once a minute; rejects only with KubeError CANCELLED when `signal` aborts.
   */
  async check(since: Date, signal?: AbortSignal): Promise<boolean> {
    if (this.passed) return true;
    const node = this.options.nodeName;
    let pods: V1Pod[];
    try {
      const list = await kubeCall(`list pods on node ${node}`, signal, (o) => this.apis.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` }, o), {
        timeoutMs: this.options.callTimeoutMs,
      });
      pods = list.items;
    } catch (err) {
      const e = asKubeError(err, `list pods on node ${node}`, signal);
      if (e.code === 'CANCELLED') throw e;
      this.warnFailure.warn({ code: e.code, status: e.status }, `startup check: ${e.message}`);
      return false;
    }
    const sinceSecond = Math.floor(since.getTime() / 1000) * 1000;
    const peerPods = pods.filter((p) => p.spec?.runtimeClassName === this.runtimeClass && !finished(p));
    const waiting = peerPods.filter((p) => !readySince(p, sinceSecond)).map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
    if (waiting.length > 0) {
      this.log.debug({ waiting: waiting.slice(0, 20), total: peerPods.length }, `startup check: ${waiting.length} of ${peerPods.length} peer pod(s) not Ready since the start`);
      return false;
    }
    this.passed = true;
    this.log.info({ peerPods: peerPods.length }, `startup check passed: ${peerPods.length} peer pod(s) on node ${node} Ready since the start`);
    return true;
  }
}
