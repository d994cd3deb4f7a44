/**
 * What the cloud fakes (arm, ec2, vpc) share beyond the HTTP server (http-fake-server.ts) and the
 * fault rules (fault-rules.ts): the options every fake takes, seeded resource tables, and reading a
 * resource table once the model's lifecycle is brought up to date.
 */
import type { LatencySetting } from './http-fake-server.js';

/** Options common to every cloud fake. */
export interface CloudFakeOptions {
  latencyMs?: LatencySetting;
  /** Seed of the random source behind rate-based faults (and generated ids where the fake makes them); default 1. */
  seed?: number;
  /** Clock (ms) of the resource lifecycle; default `Date.now`. */
  now?: () => number;
}

/** A table of seeded resources by `key`, each cloned so that a test changing the state never alters the shared default seeds. */
export function seededTable<T, K>(items: readonly T[], key: (t: T) => K): Map<K, T> {
  return new Map(items.map((t) => [key(t), structuredClone(t)]));
}

/** Every resource of `table`, after `model` has moved every lifecycle up to now. */
export function currentRows<T>(model: { tick(): void }, table: ReadonlyMap<unknown, T>): T[] {
  model.tick();
  return [...table.values()];
}
