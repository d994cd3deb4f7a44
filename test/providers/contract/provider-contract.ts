/**
 * The provider contract (DESIGN.md "Provider"), as one provider-neutral suite. Each provider runs it
 * against its fake cloud through a `ContractSubject`, which also gives the suite the cloud's own view
 * (what exists, what it stored), so "nothing leaked" is checked against the cloud, not the provider.
 */
import { afterEach, beforeEach, describe, expect, it as vitestIt } from 'vitest';
import { ProviderError, isProviderError } from '../../../src/providers/errors.js';
import { instanceName, instanceTags, sandboxTags, TagKey } from '../../../src/providers/naming.js';
import type { CreateInstanceRequest, Provider } from '../../../src/providers/provider.js';

export interface ContractSubject {
  provider: Provider;
  clusterName: string;
  nodeName: string;
  /** Ids of the instances that exist in the cloud and are not on their way out. */
  liveInstanceIds(): Promise<string[]>;
  /** What the cloud stored for an instance, or undefined if it does not exist. */
  stored(id: string): Promise<{ tags: Record<string, string>; userData: string } | undefined>;
  /** From now on, creates take effect in the cloud but the caller never hears back. Returns an undo. */
  loseCreateReplies(): () => void;
  /** Every cloud operation fails at this rate with a retryable error. */
  injectFaults(rate: number): { undo(): void; injected(): number };
  /** Every create takes this long in the cloud (so that it can be cancelled). */
  setCreateLatency(ms: number): void;
  /** An id of the provider's format that no instance has. */
  missingId: string;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** For "50 concurrent creates"; a provider whose instances are processes may ask for fewer. */
  concurrency?: number;
  /** Sandboxes created under 20 % faults. */
  faultSandboxes?: number;
  /**
   * Cases that cannot hold for this provider, by their exact title, each with the reason (shown in
   * the skipped case's title). Only for what the provider cannot have (no cloud calls to fail).
   */
  skip?: Readonly<Record<string, string>>;
}

/** The cluster and node every subject tags its instances with. */
export const CONTRACT_IDS = { clusterName: 'contract', nodeName: 'node-a' } as const;

/**
 * A seeded draw (does this call fault, at `rate`?), so that a subject can count what it injected and
 * a failing run repeats. Subjects with several kinds of fault use one stream per kind.
 */
export function seededDraw(seed = 0x2545f491): (rate: number) => boolean {
  let random = seed;
  return (rate) => {
    random = (random * 1103515245 + 12345) >>> 0;
    return random / 2 ** 32 < rate;
  };
}

let seq = 0;

export function request(s: Pick<ContractSubject, 'clusterName' | 'nodeName'>, extra: Partial<CreateInstanceRequest> = {}): CreateInstanceRequest {
  const sandboxId = `${(++seq).toString(16).padStart(8, '0')}${'c'.repeat(56)}`;
  const podName = `contract-pod-${seq}`;
  return {
    sandboxId,
    podName,
    podNamespace: 'default',
    instanceName: instanceName(podName, sandboxId),
    userData: `#cloud-config\nwrite_files:\n- path: /run/peerpod/apf.json\n  content: '{"pod":"${podName}"}'\n`,
    spec: { instanceType: '', vcpus: 0, memoryMiB: 0, gpus: 0, gpuModel: '', image: '', multiNic: false },
    tags: instanceTags({ clusterName: s.clusterName, nodeName: s.nodeName, sandboxId, podNamespace: 'default', podName }),
    ...extra,
  };
}

const signal = (): AbortSignal => AbortSignal.timeout(60_000);

/**
 * Deletes whatever belongs to a sandbox, as the daemon's reclaimer does after a failed create: the
 * partial instance if the error named one, and whatever carries the sandbox's tags. Retries under
 * faults.
 */
async function reclaim(s: ContractSubject, req: CreateInstanceRequest, partialId?: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const ids = new Set<string>(partialId ? [partialId] : []);
      for (const i of await s.provider.listInstances(sandboxTags({ clusterName: s.clusterName, nodeName: s.nodeName, sandboxId: req.sandboxId }), signal())) ids.add(i.id);
      for (const id of ids) await s.provider.deleteInstance(id, signal());
      return;
    } catch (err) {
      if (!isProviderError(err) || !err.retryable) throw err;
    }
  }
  throw new Error(`could not reclaim sandbox ${req.sandboxId}`);
}

/** The titles a provider may skip (ContractOptions.skip). */
export const CASES = new Set([
  'a create whose reply is lost leaves one instance, which the sandbox tags find and delete removes',
  'an aborted create rejects with CANCELLED promptly, and whatever it left is found by tags',
  'with 20 % of cloud calls failing, retries and clean-ups leave no instance behind',
]);

export function providerContract(name: string, setup: () => Promise<ContractSubject>, options: ContractOptions = {}): void {
  const concurrency = options.concurrency ?? 50;
  const faultSandboxes = options.faultSandboxes ?? 30;
  const unknown = Object.keys(options.skip ?? {}).filter((t) => !CASES.has(t));
  if (unknown.length) throw new Error(`provider contract ${name}: no case titled ${unknown.join(', ')}`);
  const it = (title: string, fn: () => Promise<void>, timeout?: number): void => {
    const why = options.skip?.[title];
    if (why === undefined) vitestIt(title, fn, timeout);
    else vitestIt.skip(`${title} (not for ${name}: ${why})`, fn);
  };

  describe(`provider contract: ${name}`, () => {
    let s: ContractSubject;
    beforeEach(async () => {
      s = await setup();
    });
    afterEach(async () => {
      await s?.close();
    });

    it('creates an instance that list finds by its tags, and delete removes it', async () => {
      const req = request(s);
      const inst = await s.provider.createInstance(req, signal());
      expect(inst.id).not.toBe('');
      expect(inst.name).toBe(req.instanceName);
      expect(inst.ips.length).toBeGreaterThan(0);
      const listed = await s.provider.listInstances(sandboxTags({ clusterName: s.clusterName, nodeName: s.nodeName, sandboxId: req.sandboxId }), signal());
      expect(listed.map((i) => i.id)).toEqual([inst.id]);
      expect(listed[0]!.tags[TagKey.SANDBOX]).toBe(req.sandboxId);
      expect(await s.liveInstanceIds()).toEqual([inst.id]);
      await s.provider.deleteInstance(inst.id, signal());
      expect(await s.liveInstanceIds()).toEqual([]);
      expect(await s.provider.listInstances({ [TagKey.SANDBOX]: req.sandboxId }, signal())).toEqual([]);
    });

    it('sets every tag at creation and hands the VM its user-data unchanged', async () => {
      const req = request(s, { userData: `#cloud-config\n# ${'x'.repeat(3000)}\n# üñí©ødé\n` });
      const inst = await s.provider.createInstance(req, signal());
      const stored = await s.stored(inst.id);
      expect(stored?.userData).toBe(req.userData);
      for (const [k, v] of Object.entries(req.tags)) expect(stored?.tags[k], k).toBe(v);
      await s.provider.deleteInstance(inst.id, signal());
    });

    it('lists only the instances whose tags all match', async () => {
      const a = await s.provider.createInstance(request(s), signal());
      const b = await s.provider.createInstance(request(s), signal());
      const mine = await s.provider.listInstances({ [TagKey.CLUSTER]: s.clusterName, [TagKey.NODE]: s.nodeName }, signal());
      expect(mine.map((i) => i.id).sort()).toEqual([a.id, b.id].sort());
      expect(await s.provider.listInstances({ [TagKey.CLUSTER]: s.clusterName, [TagKey.NODE]: 'another-node' }, signal())).toEqual([]);
      await Promise.all([a.id, b.id].map((id) => s.provider.deleteInstance(id, signal())));
    });

    it('delete is idempotent: twice in a row, twice at once, and for an instance that never existed', async () => {
      const inst = await s.provider.createInstance(request(s), signal());
      await Promise.all([s.provider.deleteInstance(inst.id, signal()), s.provider.deleteInstance(inst.id, signal())]);
      await s.provider.deleteInstance(inst.id, signal());
      await s.provider.deleteInstance(s.missingId, signal());
      expect(await s.liveInstanceIds()).toEqual([]);
    });

    it('a create whose reply is lost leaves one instance, which the sandbox tags find and delete removes', async () => {
      const req = request(s);
      const undo = s.loseCreateReplies();
      let partial: string | undefined;
      try {
        await s.provider.createInstance(req, signal());
        expect.unreachable('the create should have failed');
      } catch (err) {
        expect(err).toBeInstanceOf(ProviderError);
        partial = (err as ProviderError).partialInstanceId;
      } finally {
        undo();
      }
      const live = await s.liveInstanceIds();
      expect(live).toHaveLength(1); // exactly one: retries must not have made a second
      const found = await s.provider.listInstances(sandboxTags({ clusterName: s.clusterName, nodeName: s.nodeName, sandboxId: req.sandboxId }), signal());
      expect(found.map((i) => i.id)).toEqual(live);
      if (partial) expect(partial).toBe(live[0]);
      await reclaim(s, req, partial);
      expect(await s.liveInstanceIds()).toEqual([]);
    });

    it('an aborted create rejects with CANCELLED promptly, and whatever it left is found by tags', async () => {
      s.setCreateLatency(1_500);
      const req = request(s);
      const ac = new AbortController();
      const started = performance.now();
      setTimeout(() => ac.abort(new Error('test abort')), 100);
      const err = await s.provider.createInstance(req, ac.signal).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isProviderError(err, 'CANCELLED'), String(err)).toBe(true);
      expect(performance.now() - started).toBeLessThan(1_400);
      s.setCreateLatency(0);
      // The cloud may still finish what it accepted; wait for that, then clean up by tags.
      await new Promise((r) => setTimeout(r, 1_600));
      await reclaim(s, req, (err as ProviderError).partialInstanceId);
      expect(await s.liveInstanceIds()).toEqual([]);
    });

    it(`${concurrency} concurrent creates give ${concurrency} distinct instances, all found and all deleted`, async () => {
      const reqs = Array.from({ length: concurrency }, () => request(s));
      const made = await Promise.all(reqs.map((r) => s.provider.createInstance(r, signal())));
      expect(new Set(made.map((m) => m.id)).size).toBe(concurrency);
      const listed = await s.provider.listInstances({ [TagKey.CLUSTER]: s.clusterName }, signal());
      expect(listed.map((i) => i.id).sort()).toEqual(made.map((m) => m.id).sort());
      await Promise.all(made.map((m) => s.provider.deleteInstance(m.id, signal())));
      expect(await s.liveInstanceIds()).toEqual([]);
    }, 120_000);

    it('with 20 % of cloud calls failing, retries and clean-ups leave no instance behind', async () => {
      const faults = s.injectFaults(0.2);
      const kept: string[] = [];
      try {
        await Promise.all(
          Array.from({ length: faultSandboxes }, async () => {
            const req = request(s);
            for (let attempt = 0; attempt < 20; attempt++) {
              try {
                kept.push((await s.provider.createInstance(req, signal())).id);
                return;
              } catch (err) {
                expect(err).toBeInstanceOf(ProviderError);
                await reclaim(s, req, (err as ProviderError).partialInstanceId);
              }
            }
          }),
        );
      } finally {
        faults.undo();
      }
      expect(faults.injected()).toBeGreaterThan(0);
      expect(kept.length).toBe(faultSandboxes);
      expect((await s.liveInstanceIds()).sort()).toEqual([...kept].sort());
      await Promise.all(kept.map((id) => s.provider.deleteInstance(id, signal())));
      expect(await s.liveInstanceIds()).toEqual([]);
    }, 120_000);
  });
}
