/** The rate-limiter settings every provider's benchmark is measured under, and its results table head. */
import type { ApiLimits as Limits } from '../../test/helpers/api-limits.js';

/** Every provider's benchmark: this many concurrent creates, against a fake with this latency per request. */
export const CREATES = 200;
export const LATENCY_MS = 50;

/** What each fake reports of a run: the most requests it had in flight at once, and how many it answered. */
export interface FakeRunStats {
  peakInFlight: number;
  calls: number;
}

export interface LimitCase extends Limits {
  label: string;
}

const labelled = (name: string, l: Limits): LimitCase => ({ label: `${name} (${l.rate}/s, burst ${l.burst}, ${l.maxInFlight} in flight)`, ...l });

/** Bound by the rate, bound by the in-flight slots, and the provider's own defaults. */
export function limitCases(defaults: Limits): LimitCase[] {
  return [labelled('rate-bound', { rate: 100, burst: 20, maxInFlight: 16 }), labelled('slot-bound', { rate: 1000, burst: 1000, maxInFlight: 8 }), labelled('defaults', defaults)];
}

/** Prints a markdown table's header row and separator. */
export function printTableHead(columns: string[]): void {
  console.log(`| ${columns.join(' | ')} |`);
  console.log(`|${'---|'.repeat(columns.length)}`);
}
