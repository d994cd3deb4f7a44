/** Seedable randomness, so that rate-based faults and generated ids repeat from run to run. */

// mulberry32, shared with the benchmarks (their seeded delays).
export { seededRandom as mulberry32 } from '../../../bench/stats.js';

export function randomHex(random: () => number, length: number): string {
  let out = '';
  while (out.length < length) out += Math.floor(random() * 16).toString(16);
  return out;
}
