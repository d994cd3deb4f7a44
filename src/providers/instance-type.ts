/**
 * Instance-type selection shared by the clouds (reference §4.1 `SelectInstanceTypeToUse`).
 */
import { ProviderError } from './errors.js';
import type { InstanceSpec } from './provider.js';

export interface InstanceTypeInfo {
  name: string;
  vcpus: number;
  memoryMiB: number;
  gpus: number;
}

/** Ascending by (GPUs, memory, vCPUs), the order selection walks. Returns a new array. */
export function sortInstanceTypes(list: readonly InstanceTypeInfo[]): InstanceTypeInfo[] {
  return [...list].sort((a, b) => a.gpus - b.gpus || a.memoryMiB - b.memoryMiB || a.vcpus - b.vcpus);
}

export interface SelectionInput {
  spec: Pick<InstanceSpec, 'instanceType' | 'vcpus' | 'memoryMiB' | 'gpus'>;
  /** Built at start-up from the allowed types (or only the default), sorted by `sortInstanceTypes`. */
  specList: readonly InstanceTypeInfo[];
  defaultType: string;
  /** The configured allow-list; empty = only the default is accepted. */
  allowed: readonly string[];
}

/**
 * 1. an explicit `machine_type` wins; 2. GPUs asked → smallest type with enough GPUs, vCPUs and
 * memory; 3. vCPUs *and* memory asked → first non-GPU type with enough of both; 4. the default.
 * The result must be the default or in the allow-list.
 */
export function selectInstanceType(input: SelectionInput): string {
  const { spec, specList, defaultType, allowed } = input;
  let chosen = '';
  if (spec.instanceType) {
    chosen = spec.instanceType;
  } else if (spec.gpus > 0) {
    chosen =
      specList.find((t) => t.gpus >= spec.gpus && t.vcpus >= spec.vcpus && t.memoryMiB >= spec.memoryMiB)?.name ?? '';
  } else if (spec.vcpus !== 0 && spec.memoryMiB !== 0) {
    chosen = specList.find((t) => t.gpus === 0 && t.memoryMiB >= spec.memoryMiB && t.vcpus >= spec.vcpus)?.name ?? '';
  }
  if (!chosen) chosen = defaultType;

  const ok = allowed.length === 0 ? chosen === defaultType : allowed.includes(chosen);
  if (!ok) {
    const list = allowed.length === 0 ? [defaultType] : allowed;
    throw new ProviderError(
      'INVALID_REQUEST',
      `requested instance type ${chosen} is not part of supported instance types list [${list.join(', ')}]`,
    );
  }
  return chosen;
}

/**
 * The types to try, in order, when the cloud has no capacity for the selected one: the selected
 * type first, then the other allowed types that still fit what the pod asked for, smallest first.
 * An explicit `machine_type` annotation gets no fallback (the pod asked for exactly that type), and
 * a pod that asked for no GPU never falls back onto a GPU type. When the pod asked for nothing, the
 * selected type's own size is the floor, so a fallback never shrinks the VM.
 */
export function fallbackCandidates(input: SelectionInput & { selected: string }): string[] {
  const { spec, specList, selected, allowed } = input;
  if (spec.instanceType || allowed.length === 0) return [selected];
  const chosen = specList.find((t) => t.name === selected);
  const askedSize = spec.vcpus !== 0 && spec.memoryMiB !== 0;
  const floor = {
    vcpus: askedSize ? spec.vcpus : (chosen?.vcpus ?? 0),
    memoryMiB: askedSize ? spec.memoryMiB : (chosen?.memoryMiB ?? 0),
    gpus: spec.gpus,
  };
  const rest = specList.filter(
    (t) =>
      t.name !== selected &&
      allowed.includes(t.name) &&
      t.vcpus >= floor.vcpus &&
      t.memoryMiB >= floor.memoryMiB &&
      (floor.gpus > 0 ? t.gpus >= floor.gpus : t.gpus === 0),
  );
  return [selected, ...rest.map((t) => t.name)];
}

/** The types a create tries, in order: the selected one, then its capacity fallbacks. */
export function candidateTypes(input: SelectionInput): string[] {
  return fallbackCandidates({ ...input, selected: selectInstanceType(input) });
}
