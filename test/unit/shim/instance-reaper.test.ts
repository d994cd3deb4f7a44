import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../../src/providers/errors.js';
import { instanceTags } from '../../../src/providers/naming.js';
import { InstanceReaper, type ReaperOwnership } from '../../../src/shim/instance-reaper.js';
import { MemoryProvider } from '../../fakes/memory-provider.js';
import { request } from '../../providers/contract/provider-contract.js';

const mine = { clusterName: 'c1', nodeName: 'node-a' };
const signal = (): AbortSignal => AbortSignal.timeout(10_000);

async function make(provider: MemoryProvider, who: { clusterName: string; nodeName: string }, sandboxId?: string) {
  const req = request(who);
  const tags = sandboxId ? instanceTags({ ...who, sandboxId, podNamespace: 'default', podName: req.podName }) : req.tags;
  return provider.createInstance({ ...req, ...(sandboxId ? { sandboxId } : {}), tags }, signal());
}

function setup(ownership: Partial<ReaperOwnership> = {}) {
  const provider = new MemoryProvider();
  let now = 1_000_000;
  const reaped: string[] = [];
  const reaper = new InstanceReaper({
    provider,
    ownership: { sandboxIds: () => new Set(), instanceIds: () => new Set(), ...ownership },
    ...mine,
    periodMs: 0,
    graceMs: 60_000,
    logger: pino({ level: 'silent' }),
    onReaped: (i) => reaped.push(i.id),
    now: () => now,
  });
  return { provider, reaper, reaped, advance: (ms: number) => (now += ms) };
}

describe('InstanceReaper', () => {
  it('deletes an orphan of this cluster and node only after the grace period', async () => {
    const { provider, reaper, reaped, advance } = setup();
    const leaked = await make(provider, mine);
    const first = await reaper.runOnce(signal());
    expect(first.waiting.map((i) => i.id)).toEqual([leaked.id]);
    expect(provider.instances.has(leaked.id)).toBe(true);
    advance(59_000);
    expect((await reaper.runOnce(signal())).deleted).toEqual([]);
    advance(1_000);
    const late = await reaper.runOnce(signal());
    expect(late.deleted.map((i) => i.id)).toEqual([leaked.id]);
    expect(provider.instances.has(leaked.id)).toBe(false);
    expect(reaped).toEqual([leaked.id]);
  });

  it('never touches instances of another cluster or another node', async () => {
    const { provider, reaper, advance } = setup();
    const otherCluster = await make(provider, { clusterName: 'c2', nodeName: 'node-a' });
    const otherNode = await make(provider, { clusterName: 'c1', nodeName: 'node-b' });
    await reaper.runOnce(signal());
    advance(3_600_000);
    const r = await reaper.runOnce(signal());
    expect(r.deleted).toEqual([]);
    expect(r.waiting).toEqual([]);
    expect([...provider.instances.keys()].sort()).toEqual([otherCluster.id, otherNode.id].sort());
  });

  it('leaves alone what a sandbox owns (by sandbox tag, even before its instance id is known) or a PeerPod claims', async () => {
    const owned = new Set<string>(['aaaaaaaa' + 'b'.repeat(56)]);
    const claimed = new Set<string>();
    const known = new Set<string>();
    const { provider, reaper, advance } = setup({ sandboxIds: () => owned, instanceIds: () => known, externalInstanceIds: async () => claimed });
    const midCreate = await make(provider, mine, [...owned][0]);
    const byId = await make(provider, mine);
    known.add(byId.id);
    const byPeerPod = await make(provider, mine);
    claimed.add(byPeerPod.id);
    await reaper.runOnce(signal());
    advance(3_600_000);
    const r = await reaper.runOnce(signal());
    expect(r.deleted).toEqual([]);
    expect(provider.instances.size).toBe(3);
    expect(midCreate.id).toBeTruthy();
  });

  it('an orphan adopted during its grace period starts a new grace period if orphaned again', async () => {
    const known = new Set<string>();
    const { provider, reaper, advance } = setup({ instanceIds: () => known });
    const inst = await make(provider, mine);
    await reaper.runOnce(signal());
    known.add(inst.id);
    advance(30_000);
    await reaper.runOnce(signal());
    known.delete(inst.id);
    advance(40_000);
    expect((await reaper.runOnce(signal())).deleted).toEqual([]);
    advance(60_000);
    expect((await reaper.runOnce(signal())).deleted.map((i) => i.id)).toEqual([inst.id]);
  });

  it('a failed delete is reported and retried on the next pass', async () => {
    const { provider, reaper, advance } = setup();
    const inst = await make(provider, mine);
    await reaper.runOnce(signal());
    advance(60_000);
    provider.fault = (op) => {
      if (op === 'delete') throw new ProviderError('UNAVAILABLE', 'cloud down');
    };
    const r = await reaper.runOnce(signal());
    expect(r.failed.map((f) => [f.instance.id, f.error])).toEqual([[inst.id, 'cloud down']]);
    provider.fault = undefined;
    expect((await reaper.runOnce(signal())).deleted.map((i) => i.id)).toEqual([inst.id]);
  });

  it('orphans() lists without deleting (what --reap-dry-run prints)', async () => {
    const { provider, reaper } = setup();
    const inst = await make(provider, mine);
    expect((await reaper.orphans(signal())).map((i) => i.id)).toEqual([inst.id]);
    expect(provider.instances.size).toBe(1);
  });

  it('runs on its own every period and stops cleanly', async () => {
    const provider = new MemoryProvider();
    const reaper = new InstanceReaper({
      provider,
      ownership: { sandboxIds: () => new Set(), instanceIds: () => new Set() },
      ...mine,
      periodMs: 20,
      graceMs: 0,
      logger: pino({ level: 'silent' }),
    });
    await make(provider, mine);
    reaper.start();
    const end = Date.now() + 5_000;
    while (provider.instances.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await reaper.stop();
    expect(provider.instances.size).toBe(0);
  });
});
