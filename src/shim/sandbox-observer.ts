/**
 * What happens to sandboxes, for whoever wants to know (metrics, PeerPod objects, Pod events). The
 * manager calls these synchronously and ignores what they do; an observer that needs I/O starts it
 * itself and handles its own failures — an observer can never fail or slow down a pod.
 */
import type { ProviderErrorCode } from '../providers/errors.js';
import type { Instance } from '../providers/provider.js';

export interface ObservedSandbox {
  sandboxId: string;
  podName: string;
  podNamespace: string;
  instanceName: string;
}

export type StartPhase = 'create_instance' | 'pod_network' | 'agent_tunnel' | 'total';

export interface SandboxObserver {
  /** createInstance returned. */
  instanceCreated?(s: ObservedSandbox, instance: Instance, durationMs: number): void;
  /** createInstance failed with this kind of error. */
  instanceCreateFailed?(s: ObservedSandbox, code: ProviderErrorCode, message: string, durationMs: number): void;
  /** One StartVM phase finished. */
  startPhase?(s: ObservedSandbox, phase: StartPhase, durationMs: number): void;
  /** StartVM failed: what the shim (and so the pod) is told. */
  startFailed?(s: ObservedSandbox, message: string): void;
  /** Every instance of the sandbox is gone (after StopVM, a failed start, or recovery). */
  instancesDeleted?(s: ObservedSandbox, instanceId: string | undefined): void;
}

/** Fans out to several observers; one that throws is reported and skipped. */
export function combineObservers(observers: readonly SandboxObserver[], onError: (err: unknown) => void): Required<SandboxObserver> {
  const call =
    <K extends keyof SandboxObserver>(key: K) =>
    (...args: Parameters<NonNullable<SandboxObserver[K]>>): void => {
      for (const o of observers) {
        try {
          (o[key] as ((...a: unknown[]) => void) | undefined)?.(...args);
        } catch (err) {
          onError(err);
        }
      }
    };
  return {
    instanceCreated: call('instanceCreated'),
    instanceCreateFailed: call('instanceCreateFailed'),
    startPhase: call('startPhase'),
    startFailed: call('startFailed'),
    instancesDeleted: call('instancesDeleted'),
  };
}
