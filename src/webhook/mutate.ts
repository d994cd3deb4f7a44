/**
 * The peer-pods mutation (reference §5.2), as a pure function from a Pod to a JSON Patch.
 *
 * A peer pod's containers do not run on the worker node but in a VM sized from the pod's resources, so
 * the webhook moves the sizing into Kata annotations and leaves the node one unit of the extended resource
 * the daemon advertises (`kata.peerpods.io/vm`), which caps the number of VMs per node.
 */
import { QuantityError, WebhookErrorCode } from './errors.js';
import { readContainers, readPodHeader, type PodContainer } from './pod.js';
import { ZERO, addQuantities, ceilInUnits, compareQuantities, isZero, parseQuantity, type Quantity } from './quantity.js';

export const ANNOTATION_VCPUS = 'io.katacontainers.config.hypervisor.default_vcpus';
export const ANNOTATION_MEMORY = 'io.katacontainers.config.hypervisor.default_memory';
export const ANNOTATION_GPUS = 'io.katacontainers.config.hypervisor.default_gpus';

export const RESOURCE_CPU = 'cpu';
export const RESOURCE_MEMORY = 'memory';
export const RESOURCE_GPU = 'nvidia.com/gpu';

export const DEFAULT_TARGET_RUNTIMECLASS = 'kata-remote';
export const DEFAULT_POD_VM_EXTENDED_RESOURCE = 'kata.peerpods.io/vm';

const MIB = 1n << 20n;

export interface MutateOptions {
  /** Only pods with this `spec.runtimeClassName` are changed (TARGET_RUNTIMECLASS). */
  targetRuntimeClass: string;
  /** The extended resource set to 1 on the first container (POD_VM_EXTENDED_RESOURCE). */
  podVmExtendedResource: string;
}

/** One RFC 6902 operation; the webhook only ever emits `add` (which replaces an existing member). */
export interface JsonPatchOperation {
  op: 'add';
  path: string;
  value: unknown;
}

export interface PodMutation {
  /** Operations that turn the pod into its peer-pod form; empty when there is nothing to change. */
  patch: JsonPatchOperation[];
  /** The sizing annotations computed from the resources (only those with a value > 0). */
  annotations: Record<string, string>;
  /** Why the pod was left alone, when it was (another RuntimeClass). */
  skipped?: string;
}

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

interface Totals {
  requests: Quantity;
  limits: Quantity;
}

function quantityOf(container: PodContainer, list: 'requests' | 'limits', resource: string): Quantity {
  const text = container[list][resource];
  if (text === undefined) return ZERO;
  let q: Quantity;
  try {
    q = parseQuantity(text);
  } catch (err) {
    const reason = err instanceof QuantityError ? err.message : String(err);
    throw new QuantityError(
      err instanceof QuantityError ? err.code : WebhookErrorCode.INVALID_QUANTITY,
      text,
      `${container.label}: resources.${list}.${resource} = ${JSON.stringify(text)} is invalid: ${reason}`,
    );
  }
  if (q.num < 0n) {
    throw new QuantityError(
      WebhookErrorCode.QUANTITY_OUT_OF_RANGE,
      text,
      `${container.label}: resources.${list}.${resource} = ${JSON.stringify(text)} is invalid: a resource amount cannot be negative`,
    );
  }
  return q;
}

function total(containers: readonly PodContainer[], resource: string): Totals {
  let requests = ZERO;
  let limits = ZERO;
  for (const c of containers) {
    requests = addQuantities(requests, quantityOf(c, 'requests', resource));
    limits = addQuantities(limits, quantityOf(c, 'limits', resource));
  }
  return { requests, limits };
}

/**
 * The amount a VM is sized from, as we read reference §5.2 ("the limit when request ≠ 0 and
 * limit ≥ request, else the request (if > 0)"), applied to the sums over all containers and init containers:
 * - the summed request is non-zero and the summed limit is at least as large → the limit
 *   (the pod may burst up to its limit, so the VM gets room for it);
 * - otherwise (a limit below the request — some containers set no limit — or no limit at all)
 *   → the request, when it is above zero;
 * - a zero request → nothing, even with a limit: the API server has already copied a lone limit into the
 *   request before admission, so a zero request means the pod asked for nothing (the VM keeps its default).
 */
export function sizingAmount(t: Totals): Quantity | undefined {
  if (!isZero(t.requests) && compareQuantities(t.limits, t.requests) >= 0) return t.limits;
  if (compareQuantities(t.requests, ZERO) > 0) return t.requests;
  return undefined;
}

/** The annotations for the summed resources of `containers` (CPU → vCPUs, memory → MiB, GPUs). */
export function sizingAnnotations(containers: readonly PodContainer[]): Record<string, string> {
  const out: Record<string, string> = {};
  const cpu = sizingAmount(total(containers, RESOURCE_CPU));
  if (cpu) out[ANNOTATION_VCPUS] = ceilInUnits(cpu).toString();
  const memory = sizingAmount(total(containers, RESOURCE_MEMORY));
  if (memory) out[ANNOTATION_MEMORY] = ceilInUnits(memory, MIB).toString();
  // Extended resources have request = limit (the API server enforces it); the request is the count.
  const gpus = total(containers, RESOURCE_GPU).requests;
  if (compareQuantities(gpus, ZERO) > 0) out[ANNOTATION_GPUS] = ceilInUnits(gpus).toString();
  return out;
}

/** Key order does not matter to the API server; compare the canonical forms. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Computes the peer-pod form of `pod` and the JSON Patch that gets there. Pure: the pod is not changed.
 *
 * - Acts only when `spec.runtimeClassName` is `options.targetRuntimeClass`; otherwise `skipped` says why
 *   and the patch is empty.
 * - Sets the sizing annotations (a value computed here replaces one the pod carried).
 * - Clears `resources` of every container and init container, then gives the first container
 *   `requests` and `limits` of `{<podVmExtendedResource>: "1"}`.
 * - Idempotent: a pod already in that form gives an empty patch, so reinvocation (`IfNeeded`) changes
 *   nothing and keeps the annotations of the first pass.
 *
 * Throws WebhookError `INVALID_POD` for an object that is not a pod, QuantityError (`INVALID_QUANTITY`,
 * `QUANTITY_OUT_OF_RANGE`) naming the container, the field and the value for a bad CPU, memory or GPU amount.
 */
export function mutatePod(pod: unknown, options: MutateOptions): PodMutation {
  const header = readPodHeader(pod);
  if (header.runtimeClassName !== options.targetRuntimeClass) {
    const actual = header.runtimeClassName === undefined ? 'not set' : JSON.stringify(header.runtimeClassName);
    return { patch: [], annotations: {}, skipped: `runtimeClassName is ${actual}, not ${JSON.stringify(options.targetRuntimeClass)}` };
  }
  const containers = readContainers(header.spec, 'containers');
  const initContainers = readContainers(header.spec, 'initContainers');
  const annotations = sizingAnnotations([...initContainers, ...containers]);

  const patch: JsonPatchOperation[] = [];
  if (Object.keys(annotations).length > 0) {
    if (!header.hasMetadata) {
      patch.push({ op: 'add', path: '/metadata', value: { annotations } });
    } else if (header.annotations === undefined) {
      patch.push({ op: 'add', path: '/metadata/annotations', value: annotations });
    } else {
      for (const [key, value] of Object.entries(annotations)) {
        if (header.annotations[key] !== value) patch.push({ op: 'add', path: `/metadata/annotations/${escapePointer(key)}`, value });
      }
    }
  }

  const vm = { [options.podVmExtendedResource]: '1' };
  const wanted = (c: PodContainer): Record<string, unknown> => (c === containers[0] ? { requests: vm, limits: vm } : {});
  for (const c of [...initContainers, ...containers]) {
    const desired = wanted(c);
    if (canonical(c.resources ?? {}) !== canonical(desired)) patch.push({ op: 'add', path: `${c.pointer}/resources`, value: desired });
  }
  return { patch, annotations };
}
