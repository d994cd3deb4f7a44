/**
 * Deletes a sandbox's instances in the background, retrying with backoff, detached from whichever
 * call asked for it (the Rust shim gives StopVM one second; a cloud delete takes longer).
 */
import type { Logger } from 'pino';
import { isProviderError } from '../providers/errors.js';
import type { Provider } from '../providers/provider.js';
import type { BackoffOptions } from '../util/backoff.js';
import { retry } from '../util/retry.js';
import { timeoutSignal } from '../util/timers.js';
import { abortMessage } from '../util/abort.js';

export interface ReclaimRequest {
  sandboxId: string;
  /** The instance known to belong to the sandbox, if any. */
  instanceId?: string;
  /**
   * Also delete whatever carries these tags: after an interrupted create the cloud may hold an
   * instance whose id we never learned.
   */
  searchTags?: Readonly<Record<string, string>>;
  /** Give up after this long (the state stays `stopping`; the next start-up tries again). */
  timeoutMs?: number;
  logger: Logger;
}

export interface ReclaimerOptions {
  backoff?: BackoffOptions;
  /** Bound on one provider call, so a hung request cannot stall the retries. */
  attemptTimeoutMs?: number;
}

export class InstanceReclaimer {
  private readonly running = new Map<string, Promise<boolean>>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly provider: Provider,
    private readonly options: ReclaimerOptions = {},
  ) {}

  /**
   * Starts (or joins) the deletion for a sandbox. Resolves true once every instance is gone, false
   * if it gave up (timeout or daemon shutdown). Never rejects. One deletion per sandbox at a time.
   */
  reclaim(req: ReclaimRequest): Promise<boolean> {
    const existing = this.running.get(req.sandboxId);
    if (existing) return existing;
    const p = this.run(req).finally(() => this.running.delete(req.sandboxId));
    this.running.set(req.sandboxId, p);
    return p;
  }

  isReclaiming(sandboxId: string): boolean {
    return this.running.has(sandboxId);
  }

  /** Resolves when no deletion is running (tests, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  /** Abandons running deletions (daemon shutdown): their sandboxes stay `stopping` on disk. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('daemon shutting down'));
    await this.whenIdle();
  }

  private async run(req: ReclaimRequest): Promise<boolean> {
    const signals = [this.stopping.signal];
    if (req.timeoutMs !== undefined) signals.push(timeoutSignal(req.timeoutMs));
    const signal = AbortSignal.any(signals);
    const log = req.logger;
    let tried = 0;
    try {
      await retry(
        async (attempt) => {
          tried = attempt;
          const ids = await this.instanceIds(req, signal);
          for (const id of ids) {
            await this.provider.deleteInstance(id, this.attemptSignal(signal), log).catch((err: unknown) => {
              if (!isProviderError(err, 'NOT_FOUND')) throw err;
            });
            log.info({ instanceId: id, attempt }, `deleted instance ${id}`);
          }
          if (ids.length === 0) log.info({ attempt }, 'no instance to delete');
        },
        {
          backoff: { initialMs: 500, maxMs: 30_000, ...this.options.backoff },
          signal,
          onRetry: (err, attempt, delay) =>
            log.warn({ err, code: (err as { code?: string }).code, attempt, retryInMs: Math.round(delay) }, 'instance deletion failed, retrying'),
          // Unlimited attempts: only the signal (shutdown, the request's timeout) ends the loop.
          giveUp: (err, attempt) =>
            log.error({ err, attempt, instanceId: req.instanceId }, `gave up deleting the instances of sandbox ${req.sandboxId} for now: ${abortMessage(signal)}; the next start-up retries`),
          cancelled: () => log.error({ attempt: tried }, `gave up deleting the instances of sandbox ${req.sandboxId} for now; the next start-up retries`),
        },
      );
      return true;
    } catch {
      return false; // logged by giveUp / cancelled
    }
  }

  private async instanceIds(req: ReclaimRequest, signal: AbortSignal): Promise<string[]> {
    const ids = new Set<string>();
    if (req.instanceId) ids.add(req.instanceId);
    if (req.searchTags) {
      for (const i of await this.provider.listInstances(req.searchTags, this.attemptSignal(signal))) ids.add(i.id);
    }
    return [...ids];
  }

  private attemptSignal(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, timeoutSignal(this.options.attemptTimeoutMs ?? 120_000)]);
  }
}
