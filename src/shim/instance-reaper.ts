/**
 * The leak reaper: periodically lists the provider's instances that carry this cluster's and this
 * node's tags, and deletes those that nothing owns once they have been orphans for a grace period.
 * Owned means: a sandbox of this daemon (any phase, by the instance's sandbox tag or its id), or a
 * PeerPod object naming the instance. Instances of another cluster or node are never listed, so
 * never touched. The grace period covers the window in which a create has made an instance that no
 * sandbox records yet; a restarted daemon starts every grace period afresh.
 */
import { messageOf } from '../util/errors.js';
import type { Logger } from 'pino';
import { TagKey } from '../providers/naming.js';
import type { InstanceSummary, Provider } from '../providers/provider.js';
import { sleep } from '../util/backoff.js';
import { timeoutSignal } from '../util/timers.js';

export interface ReaperOwnership {
  /** Sandbox ids the daemon holds, whatever their phase. */
  sandboxIds(): Set<string>;
  /** Instance ids the daemon's sandboxes record. */
  instanceIds(): Set<string>;
  /** Instance ids claimed elsewhere (PeerPod objects); undefined = no such source. */
  externalInstanceIds?(signal: AbortSignal): Promise<Set<string>>;
}

export interface ReaperOptions {
  provider: Provider;
  ownership: ReaperOwnership;
  clusterName: string;
  nodeName: string;
  /** Time between passes; 0 = the reaper does not run on its own. */
  periodMs: number;
  /** How long an instance must stay an orphan before it is deleted. */
  graceMs: number;
  logger: Logger;
  /** Called once per deleted instance (metrics). */
  onReaped?(instance: InstanceSummary): void;
  now?: () => number;
}

export interface ReapResult {
  /** Orphans deleted in this pass. */
  deleted: InstanceSummary[];
  /** Orphans still inside their grace period. */
  waiting: InstanceSummary[];
  /** Orphans whose delete failed (retried next pass). */
  failed: { instance: InstanceSummary; error: string }[];
}

export class InstanceReaper {
  /** Instance id → when it was first seen without an owner. */
  private readonly firstSeen = new Map<string, number>();
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly o: ReaperOptions) {
    this.log = o.logger.child({ component: 'reaper' });
    this.now = o.now ?? Date.now;
  }

  /** Instances carrying our cluster and node tags that nothing owns (no grace, no deletion). */
  async orphans(signal: AbortSignal): Promise<InstanceSummary[]> {
    const listed = await this.o.provider.listInstances({ [TagKey.CLUSTER]: this.o.clusterName, [TagKey.NODE]: this.o.nodeName }, signal);
    const sandboxes = this.o.ownership.sandboxIds();
    const instances = this.o.ownership.instanceIds();
    const external = (await this.o.ownership.externalInstanceIds?.(signal)) ?? new Set<string>();
    return listed.filter((i) => !instances.has(i.id) && !external.has(i.id) && !sandboxes.has(i.tags[TagKey.SANDBOX] ?? ''));
  }

  /** One pass: note new orphans, delete those past their grace period. */
  async runOnce(signal: AbortSignal): Promise<ReapResult> {
    const orphans = await this.orphans(signal);
    const now = this.now();
    const current = new Set(orphans.map((o) => o.id));
    // Adopted or gone since the last pass: forget them.
    for (const id of this.firstSeen.keys()) if (!current.has(id)) this.firstSeen.delete(id);
    const result: ReapResult = { deleted: [], waiting: [], failed: [] };
    for (const orphan of orphans) {
      const seen = this.firstSeen.get(orphan.id);
      if (seen === undefined) {
        this.firstSeen.set(orphan.id, now);
        this.log.warn({ instanceId: orphan.id, name: orphan.name, sandbox: orphan.tags[TagKey.SANDBOX] }, `instance ${orphan.id} (${orphan.name}) has no owner; deleting it after ${Math.round(this.o.graceMs / 1000)}s unless claimed`);
      }
      if (now - (seen ?? now) < this.o.graceMs) {
        result.waiting.push(orphan);
        continue;
      }
      try {
        await this.o.provider.deleteInstance(orphan.id, signal);
        this.firstSeen.delete(orphan.id);
        result.deleted.push(orphan);
        this.o.onReaped?.(orphan);
        this.log.warn({ instanceId: orphan.id, name: orphan.name, sandbox: orphan.tags[TagKey.SANDBOX] }, `reaped leaked instance ${orphan.id} (${orphan.name})`);
      } catch (err) {
        result.failed.push({ instance: orphan, error: messageOf(err) });
        this.log.error({ instanceId: orphan.id, err }, `deleting leaked instance ${orphan.id} failed; retrying next pass`);
      }
    }
    return result;
  }

  /**
   * Runs a pass every `periodMs` until `stop()`; a failing pass is logged and the loop goes on. A
   * second `start()` does nothing; `stop()` waits for a pass in progress and may be called twice.
   */
  start(): void {
    if (this.o.periodMs <= 0 || this.loop) return;
    const signal = this.stopping.signal;
    this.loop = (async () => {
      while (!signal.aborted) {
        try {
          await sleep(this.o.periodMs, signal);
        } catch {
          return;
        }
        try {
          await this.runOnce(AbortSignal.any([signal, timeoutSignal(Math.max(60_000, this.o.periodMs))]));
        } catch (err) {
          if (!signal.aborted) this.log.error({ err }, 'reaper pass failed');
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }
}
