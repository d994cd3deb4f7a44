/** Fans out sandbox events (the SandboxObserver port, src/shim/ports.ts) to every observer the daemon has. */
import type { SandboxObserver } from './ports.js';

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
