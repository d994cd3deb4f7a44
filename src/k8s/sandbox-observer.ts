/**
 * What the cluster learns about each sandbox: a PeerPod object per instance (created after the
 * instance, released after its deletion — reference §5.1) and Events on the Pod an operator must
 * see. Calls for one sandbox run in order (a fast StopVM must not release before the create has
 * landed); calls for different sandboxes run in parallel. Failures are logged, never thrown: the
 * cluster's bookkeeping can never fail a pod.
 */
import type { Logger } from 'pino';
import type { ObservedSandbox, SandboxObserver } from '../shim/ports.js';
import type { PodEvents } from './events.js';
import type { PeerPodRegistry } from './peerpods.js';

export interface KubeObserverOptions {
  peerPods: PeerPodRegistry;
  events: PodEvents;
  logger: Logger;
}

export class KubeSandboxObserver implements SandboxObserver {
  private readonly chains = new Map<string, Promise<void>>();
  /** Sandboxes whose create failure was already reported (no second Event for the same start). */
  private readonly createFailed = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly o: KubeObserverOptions) {
    this.log = o.logger.child({ component: 'k8s/observer' });
  }

  instanceCreated(s: ObservedSandbox, instance: { id: string; instanceType?: string }, durationMs: number): void {
    this.createFailed.delete(s.sandboxId);
    this.enqueue(s, 'PeerPod create', () =>
      this.o.peerPods.create({ podName: s.podName, podNamespace: s.podNamespace, sandboxId: s.sandboxId, instanceId: instance.id, instanceName: s.instanceName }).then(() => undefined),
    );
    void this.o.events.normal(pod(s), 'PeerPodVMCreated', `created ${instance.id}${instance.instanceType ? ` (${instance.instanceType})` : ''} in ${(durationMs / 1000).toFixed(1)}s`);
  }

  instanceCreateFailed(s: ObservedSandbox, code: string, message: string): void {
    this.createFailed.add(s.sandboxId);
    void this.o.events.warning(pod(s), 'PeerPodVMCreateFailed', `${code}: ${message}`);
  }

  startFailed(s: ObservedSandbox, message: string): void {
    if (this.createFailed.delete(s.sandboxId)) return;
    void this.o.events.warning(pod(s), 'PeerPodStartFailed', message);
  }

  instancesDeleted(s: ObservedSandbox, instanceId: string | undefined): void {
    this.enqueue(s, 'PeerPod release', () => this.o.peerPods.release({ podNamespace: s.podNamespace, sandboxId: s.sandboxId, instanceId }).then(() => undefined));
  }

  /** Resolves when every queued call has finished (tests, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }

  private enqueue(s: ObservedSandbox, what: string, call: () => Promise<void>): void {
    const previous = this.chains.get(s.sandboxId) ?? Promise.resolve();
    const next = previous
      .then(call)
      .catch((err: unknown) => this.log.warn({ sandbox: s.sandboxId, pod: `${s.podNamespace}/${s.podName}`, err }, `${what} failed`))
      .finally(() => {
        if (this.chains.get(s.sandboxId) === next) this.chains.delete(s.sandboxId);
      });
    this.chains.set(s.sandboxId, next);
  }
}

const pod = (s: ObservedSandbox) => ({ name: s.podName, namespace: s.podNamespace });
