/**
 * PodVMInfo/GetInfo calls with `Wait` (reference §3.12): each waits for the instance id of a pod's VM
 * until StartVM records one (`notify`) or the call's signal aborts.
 */

export interface PodRef {
  podName: string;
  podNamespace: string;
}

interface Waiter extends PodRef {
  resolve(instanceId: string): void;
}

export class PodVmWaiters {
  private readonly waiters = new Set<Waiter>();

  /** Calls waiting now. */
  get size(): number {
    return this.waiters.size;
  }

  /** Resolves with the id `notify` gives for this pod; rejects with the signal's reason when it aborts. */
  async wait(pod: PodRef, signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    return new Promise<string>((resolve, reject) => {
      const waiter: Waiter = {
        podName: pod.podName,
        podNamespace: pod.podNamespace,
        resolve: (instanceId) => {
          signal.removeEventListener('abort', onAbort);
          resolve(instanceId);
        },
      };
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(signal.reason);
      };
      this.waiters.add(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wakes every call waiting for this pod with `instanceId`. */
  notify(pod: PodRef, instanceId: string): void {
    for (const w of this.waiters) {
      if (w.podName === pod.podName && w.podNamespace === pod.podNamespace) {
        this.waiters.delete(w);
        w.resolve(instanceId);
      }
    }
  }
}
