/**
 * How long the agent policy parser takes on a large policy (20 000 lines of `policy_data`, with braces
 * and hashes inside strings), against a baseline in the same run: JSON.parse of the same data as JSON.
 * The ratio stays flat as long as the parser is linear; a backtracking regex or a quadratic scan would
 * show here, not as a timed assertion in the suite (test/unit/tunnel/policy/parse.test.ts checks that the
 * same policy parses correctly).
 */
import { parsePolicy } from '../../src/tunnel/policy/parse.js';
import { percentile, sortedCopy } from '../stats.js';

const LINES = 20_000;
const ROUNDS = 15;

function largePolicy(lines: number): { rego: string; json: string } {
  const entries = Array.from({ length: lines }, (_, i) => [`k${i}`, `value ${i} with { braces } and # hashes`] as const);
  const data = entries.map(([k, v]) => `  "${k}": "${v}",`).join('\n');
  const rego = `package agent_policy\ndefault CreateContainerRequest := false\npolicy_data := {\n${data}\n}\nCreateContainerRequest if { input.x == policy_data.k1 }\n`;
  return { rego, json: JSON.stringify(Object.fromEntries(entries)) };
}

function timeMs(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

export async function policyBench(): Promise<void> {
  const { rego, json } = largePolicy(LINES);
  // Warm-up: both code paths compiled before the timed rounds.
  for (let i = 0; i < 3; i++) {
    parsePolicy(rego);
    JSON.parse(json);
  }
  const parse: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    parse.push(timeMs(() => parsePolicy(rego)));
    baseline.push(timeMs(() => JSON.parse(json)));
  }
  const p = percentile(sortedCopy(parse), 0.5);
  const b = percentile(sortedCopy(baseline), 0.5);
  console.log(`policy of ${LINES} data lines (${(rego.length / 1024).toFixed(0)} KiB), median of ${ROUNDS} rounds`);
  console.log(`| parsePolicy | JSON.parse of the same data (baseline) | ratio |`);
  console.log(`|---|---|---|`);
  console.log(`| ${p.toFixed(1)} ms | ${b.toFixed(1)} ms | ${(p / b).toFixed(1)}× |`);
  console.log('');
}
