/**
 * Pods scheduled together on the `local` provider: many StartVMs at once must each get an instance
 * of its own (its own address: two forwarders on one address fail EADDRINUSE, and the daemon would
 * dial another pod's forwarder), all succeed, and StopVM must leave nothing — no processes, folders,
 * namespaces or links. 30 here; `npm run bench -- local-starts` runs 100.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStartsLab } from '../helpers/local-starts.js';
import { netnsTestsUnavailable } from '../helpers/netns.js';
import { skipOrRequirePodNetwork } from '../helpers/pod-network.js';

const N = 30;
let lab: LocalStartsLab;
// As root each instance gets a network namespace and a veth (ip, nsenter); as another user, loopback addresses.
const unavailable = process.getuid?.() === 0 ? await netnsTestsUnavailable() : undefined;
skipOrRequirePodNetwork(unavailable, 'the concurrent local starts');

beforeAll(async () => {
  if (unavailable) return;
  // A range of its own: other e2e files (run in parallel) use 10.233, 10.235 and 10.236.
  lab = await LocalStartsLab.create({ n: N, cidrOctet: 234, startTimeoutMs: 120_000 });
}, 120_000);

afterAll(async () => {
  await lab?.close();
}, 120_000);

describe.skipIf(unavailable !== undefined)(`concurrent StartVMs on the local provider${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  it(`${N} at once all start, each on an address of its own, and StopVM leaves nothing`, { timeout: 300_000 }, async () => {
    await lab.startDaemon();
    const r = await lab.startAndStop();
    expect(r.failures).toEqual([]);
    expect(r.started).toBe(N);
    expect(r.instances).toBe(N);
    expect(r.distinctAddresses).toBe(N);
    await lab.stopDaemon();
    expect(await lab.leftovers()).toEqual({ processes: [], instanceFolders: [], podFolders: [], namespaces: [], links: [] });
    // As root the instances hang off a host bridge; the daemon removes it when it stops with no instance left.
    if (process.getuid?.() === 0) await expect(promisify(execFile)('ip', ['link', 'show', lab.bridge])).rejects.toThrow();
  });
});
