/**
 * Deadlines as the Go Kata shim sends them. Go's ttrpc client writes `timeout_nano` as the time left
 * until its context's deadline at the moment it writes the request (time.Until(deadline)), so a
 * 300 s context arrives as e.g. 299999986254 ns: fractional milliseconds, never a round number.
 * Tests that exercise the agent path use these instead of round `timeoutMs` values.
 */
import type { CallOptions } from '../../src/ttrpc/client.js';

/** The Go shim's usual agent-call budget. */
export const GO_SHIM_TIMEOUT_MS = 300_000;

/** A context deadline: `options()` gives what is left of it now, to the nanosecond. */
export class GoDeadline {
  private readonly due: bigint;

  constructor(ms = GO_SHIM_TIMEOUT_MS) {
    this.due = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  }

  /** Milliseconds left, with the nanoseconds Go would send (never a whole number of ms). */
  remainingMs(): number {
    let ns = this.due - process.hrtime.bigint();
    if (ns % 1_000_000n === 0n) ns -= 1n; // whole ms happen once in a million; Go would not round either
    return Number(ns) / 1e6;
  }

  /** CallOptions for one call made now. */
  options(extra: Omit<CallOptions, 'timeoutMs'> = {}): CallOptions {
    return { ...extra, timeoutMs: this.remainingMs() };
  }
}

/** CallOptions with a fresh Go-shaped deadline of `ms` (default 300 s), as the shim sends each agent call. */
export function goShimDeadline(ms = GO_SHIM_TIMEOUT_MS, extra: Omit<CallOptions, 'timeoutMs'> = {}): CallOptions {
  return new GoDeadline(ms).options(extra);
}
