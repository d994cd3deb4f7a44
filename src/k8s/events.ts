/**
 * core/v1 Events about a pod's VM (created, deleted, failed), shown by `kubectl describe pod`. A repeat
 * of the same (pod, type, reason, message) within 10 minutes bumps `count` and `lastTimestamp` of the
 * earlier Event, as client-go's recorder does, instead of adding one more object to etcd.
 */
import { randomInt } from 'node:crypto';
import { PatchStrategy, type CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { kubeCall, kubeTime, withRetries } from './call.js';
import type { KubeApis, KubeCallTuning } from './clients.js';
import { asKubeError, isKubeError, type KubeError } from './errors.js';
import { ThrottledWarn } from './log-throttle.js';
import { MAX_NAME, namePrefix } from './names.js';

export const EVENT_SOURCE_COMPONENT = 'cloud-api-adaptor';
export const MAX_EVENT_MESSAGE = 1024;
/** Validation limits of `reason` and `reportingInstance`. */
const MAX_REASON = 128;
const MAX_REPORTING_INSTANCE = 128;
export const DEFAULT_AGGREGATE_WINDOW_MS = 10 * 60_000;

export interface PodRef {
  name: string;
  namespace: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface PodEventsOptions extends KubeCallTuning {
  nodeName: string;
  logger: Logger;
  /** Repeats within this long of the previous one are counted on it (default 10 minutes). */
  aggregateWindowMs?: number;
  /** How many distinct events are remembered for aggregation (default 1024, least recently used dropped). */
  cacheSize?: number;
  now?: () => Date;
}

interface Seen {
  /** The Event object counting this key, once one was created. */
  name?: string;
  count: number;
  last: number;
  /** Calls for one key run one after another, so a burst makes one Event and patches, not several Events. */
  chain: Promise<void>;
}

/** At most `max` characters (UTF-16 units), never ending in half of a surrogate pair. */
function cut(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max).replace(/[\uD800-\uDBFF]$/, '');
}

export class PodEvents {
  private readonly log: Logger;
  private readonly warnFailure: ThrottledWarn;
  private readonly seen = new Map<string, Seen>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly now: () => Date;

  constructor(
    private readonly apis: KubeApis,
    private readonly options: PodEventsOptions,
  ) {
    this.log = options.logger.child({ component: 'k8s/events' });
    this.now = options.now ?? (() => new Date());
    this.warnFailure = new ThrottledWarn(this.log, 60_000, () => this.now().getTime());
  }

  /** Posts (or counts) a Warning Event on the pod. Never rejects; failures are logged (at most one warning a minute). */
  warning(pod: PodRef, reason: string, message: string): Promise<void> {
    return this.record(pod, 'Warning', reason, message);
  }

  /** Posts (or counts) a Normal Event on the pod. Never rejects. */
  normal(pod: PodRef, reason: string, message: string): Promise<void> {
    return this.record(pod, 'Normal', reason, message);
  }

  /** Resolves once every Event call made so far has settled (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private record(pod: PodRef, type: EventType, reason: string, message: string): Promise<void> {
    const text = cut(message, MAX_EVENT_MESSAGE);
    const why = cut(reason, MAX_REASON);
    const key = JSON.stringify([pod.namespace, pod.name, pod.uid ?? '', type, why, text]);
    let seen = this.seen.get(key);
    if (seen) this.seen.delete(key); // re-inserted below: Map order is the LRU order
    else seen = { count: 0, last: 0, chain: Promise.resolve() };
    this.seen.set(key, seen);
    this.evict();
    const entry = seen;
    const p = entry.chain
      .then(() => this.send(entry, pod, type, why, text))
      .catch((err: unknown) => {
        const e = asKubeError(err, `event ${why} on pod ${pod.namespace}/${pod.name}`);
        this.warnFailure.warn({ code: e.code, status: e.status, pod: `${pod.namespace}/${pod.name}`, reason: why }, `could not record the Event: ${e.message}`);
      });
    entry.chain = p;
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private async send(entry: Seen, pod: PodRef, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.now();
    const window = this.options.aggregateWindowMs ?? DEFAULT_AGGREGATE_WINDOW_MS;
    if (entry.name !== undefined && now.getTime() - entry.last <= window) {
      const name = entry.name;
      try {
        await this.retrying(`patch event ${pod.namespace}/${name}`, () =>
          kubeCall(
            `patch event ${pod.namespace}/${name}`,
            undefined,
            (o) => this.apis.core.patchNamespacedEvent({ name, namespace: pod.namespace, body: { count: entry.count + 1, lastTimestamp: kubeTime(now) } }, o),
            { timeoutMs: this.options.callTimeoutMs, contentType: PatchStrategy.MergePatch },
          ),
        );
        entry.count++;
        entry.last = now.getTime();
        return;
      } catch (err) {
        // Events expire (the apiserver's --event-ttl, 1 h by default): start a new one.
        if (!isKubeError(err, 'NOT_FOUND')) throw err;
      }
    }
    let name = '';
    await this.retrying(
      `create event on pod ${pod.namespace}/${pod.name}`,
      () => {
        // A fresh name per attempt: a taken one (another daemon, same nanosecond) is ALREADY_EXISTS.
        const body = this.eventBody(pod, type, reason, message, now);
        name = body.metadata.name;
        return kubeCall(`create event on pod ${pod.namespace}/${pod.name}`, undefined, (o) => this.apis.core.createNamespacedEvent({ namespace: pod.namespace, body }, o), {
          timeoutMs: this.options.callTimeoutMs,
        });
      },
      (e) => e.code === 'ALREADY_EXISTS',
    );
    entry.name = name;
    entry.count = 1;
    entry.last = now.getTime();
  }

  private eventBody(pod: PodRef, type: EventType, reason: string, message: string, now: Date): CoreV1Event & { metadata: { name: string } } {
    // As client-go: `<object name>.<hex nanoseconds>`; the clock has milliseconds, so the nanoseconds
    // are random (names of two daemons, or two calls in one millisecond, stay apart).
    const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(randomInt(1_000_000));
    const suffix = nanos.toString(16);
    const node = this.options.nodeName;
    return {
      metadata: { name: `${namePrefix(pod.name, MAX_NAME - suffix.length - 1)}.${suffix}`, namespace: pod.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, ...(pod.uid ? { uid: pod.uid } : {}) },
      type,
      reason,
      message,
      source: { component: EVENT_SOURCE_COMPONENT, host: node },
      reportingComponent: EVENT_SOURCE_COMPONENT,
      reportingInstance: cut(node, MAX_REPORTING_INSTANCE),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
  }

  private retrying<T>(what: string, fn: () => Promise<T>, alsoRetry?: (e: KubeError) => boolean): Promise<T> {
    // Events are best effort: one retry, not the full schedule that PeerPod objects get.
    return withRetries(what, undefined, this.log, fn, { attempts: 2, ...this.options.retry, alsoRetry });
  }

  private evict(): void {
    const max = this.options.cacheSize ?? 1024;
    for (const key of this.seen.keys()) {
      if (this.seen.size <= max) break;
      this.seen.delete(key);
    }
  }
}
