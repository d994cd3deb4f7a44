/**
 * The node's extended-resource capacity (`kata.peerpods.io/vm` = PEERPODS_LIMIT_PER_NODE), written
 * straight into the Node status: the fallback when the kubelet device plugin is off. The scheduler
 * then places at most that many peer pods (whose first container asks for one) on this node.
 */
import { PatchStrategy } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { kubeCall, withRetries } from './call.js';
import type { KubeApis, KubeCallTuning } from './clients.js';

export interface NodeCapacityOptions extends KubeCallTuning {
  nodeName: string;
  logger: Logger;
}

/** A JSON-pointer reference token: `~` → `~0`, `/` → `~1` (RFC 6901). */
export function jsonPointerToken(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

export class NodeCapacity {
  private readonly log: Logger;

  constructor(
    private readonly apis: KubeApis,
    private readonly options: NodeCapacityOptions,
  ) {
    this.log = options.logger.child({ component: 'k8s/node-capacity' });
  }

  /**
   * Sets `status.capacity[resource]` and `status.allocatable[resource]` to `count` (a JSON patch of
   * `nodes/<node>/status`; `add` replaces an existing value). Idempotent. The kubelet keeps extended
   * resources it does not manage, but may zero them when the node re-registers: call this at every
   * daemon start. Rejects with KubeError
   * (NOT_FOUND when the node does not exist, FORBIDDEN without the `nodes/status` rule).
   */
  async set(resource: string, count: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`capacity of ${resource} must be a whole number ≥ 0, not ${count}`);
    const node = this.options.nodeName;
    const token = jsonPointerToken(resource);
    const body = [
      { op: 'add', path: `/status/capacity/${token}`, value: String(count) },
      { op: 'add', path: `/status/allocatable/${token}`, value: String(count) },
    ];
    const what = `patch node ${node} status (${resource}=${count})`;
    await withRetries(
      what,
      signal,
      this.log,
      () => kubeCall(what, signal, (o) => this.apis.core.patchNodeStatus({ name: node, body }, o), { timeoutMs: this.options.callTimeoutMs, contentType: PatchStrategy.JsonPatch }),
      this.options.retry,
    );
    this.log.info({ node, resource, count }, `node ${node} advertises ${resource}: ${count}`);
  }

  /** The node's current `status.capacity[resource]` as a number, undefined when not advertised. */
  async get(resource: string, signal?: AbortSignal): Promise<number | undefined> {
    const node = this.options.nodeName;
    const what = `get node ${node}`;
    const v1Node = await withRetries(what, signal, this.log, () => kubeCall(what, signal, (o) => this.apis.core.readNode({ name: node }, o), { timeoutMs: this.options.callTimeoutMs }), this.options.retry);
    const value = v1Node.status?.capacity?.[resource];
    return value === undefined ? undefined : Number(value);
  }
}
