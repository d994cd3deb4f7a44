/**
 * The sandbox state machine (docs/architecture.md "Sandbox lifecycle", docs/adr/0003): which phase
 * may follow which, and what a saved state file means. `SandboxManager.transition` is the one place
 * a phase changes; it checks every move against `SANDBOX_MOVES` first.
 */
import { ShimError } from './errors.js';
import type { SandboxIntent, SandboxPhase, SandboxState } from './sandbox-store.js';

/** A phase, or `removed`: the folder is gone and the manager forgets the sandbox. */
export type LifecycleStep = SandboxPhase | 'removed';

/**
 * from → the steps allowed next. Changes within a phase (a StopVM recorded mid-create, the pod
 * network up or down, a second StopVM) are not moves: `SandboxManager.record` saves them.
 */
export const SANDBOX_MOVES: Readonly<Record<SandboxPhase, readonly LifecycleStep[]>> = {
  // StartVM writes its intent before the cloud call; StopVM removes the folder.
  created: ['creating', 'removed'],
  // The instance is recorded; or the start failed (a StopVM, an error) or a restart found it mid-create: delete.
  creating: ['running', 'stopping'],
  // StopVM, or a start that fails after the instance exists: delete.
  running: ['stopping'],
  // The instances are gone: back to `created` (intent `run`) or removed (intent `remove`).
  stopping: ['created', 'removed'],
};

export function isAllowedMove(from: SandboxPhase, to: LifecycleStep): boolean {
  return SANDBOX_MOVES[from].includes(to);
}

/** A move the table does not allow: a bug in the manager, never a caller's mistake. The shim sees INTERNAL. */
export class IllegalTransitionError extends ShimError {
  /** Stable, for log queries and tests. */
  readonly reason = 'SANDBOX_ILLEGAL_TRANSITION';

  constructor(
    readonly sandboxId: string,
    readonly from: SandboxPhase,
    readonly to: LifecycleStep,
  ) {
    super('INTERNAL', `sandbox ${sandboxId}: the move ${from} → ${to} is not allowed (a bug in the sandbox manager)`);
  }
}

/** Throws IllegalTransitionError unless `from → to` is in the table. */
export function checkMove(sandboxId: string, from: SandboxPhase, to: LifecycleStep): void {
  if (!isAllowedMove(from, to)) throw new IllegalTransitionError(sandboxId, from, to);
}

/**
 * The intent a saved state records. Three kinds of file:
 * - written before `intent` existed: `removeAfterDelete` is all there is;
 * - written by this version: `save` writes the flag from `intent`, so the two agree;
 * - re-saved by a daemon rolled back to the previous version: it updates the flag and carries `intent`
 *   along untouched (a key it does not know), so where they disagree the flag is the newer word.
 * So while `save` writes the flag it decides every case; once a later version stops writing it (and
 * rolling back past this one is no longer supported), `intent` alone will.
 */
export function intentOf(state: Pick<SandboxState, 'intent' | 'removeAfterDelete'>): SandboxIntent {
  // Where `intent` is present and agrees, it says the same; where it disagrees, the flag is newer.
  return state.removeAfterDelete === true ? 'remove' : 'run';
}

/** A loaded state as the manager holds it: `intent` set, the previous version's flag dropped. */
export function adoptSavedState(state: SandboxState): SandboxState {
  const intent = intentOf(state);
  const { removeAfterDelete: _legacy, ...rest } = state;
  return { ...rest, intent };
}
