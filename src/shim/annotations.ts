/**
 * What CreateVM learns from the shim's annotations (reference §2.3 table, §3.3 steps 1–2).
 */
import type { InstanceSpec } from '../providers/provider.js';
import { ShimError } from './errors.js';

export const Annotation = {
  SANDBOX_NAME: 'io.kubernetes.cri.sandbox-name',
  SANDBOX_NAMESPACE: 'io.kubernetes.cri.sandbox-namespace',
  MACHINE_TYPE: 'io.katacontainers.config.hypervisor.machine_type',
  IMAGE: 'io.katacontainers.config.hypervisor.image',
  DEFAULT_VCPUS: 'io.katacontainers.config.hypervisor.default_vcpus',
  DEFAULT_MEMORY: 'io.katacontainers.config.hypervisor.default_memory',
  DEFAULT_GPUS: 'io.katacontainers.config.hypervisor.default_gpus',
  DEFAULT_GPU_MODEL: 'io.katacontainers.config.hypervisor.default_gpu_model',
  CC_INIT_DATA: 'io.katacontainers.config.hypervisor.cc_init_data',
} as const;

/** Sandbox ids become folder names: nothing that could climb out of PODS_DIR. */
const SANDBOX_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** CRI-O names sandboxes `k8s_<pod>_<namespace>_<uid>_<attempt>`. */
const CRIO_SANDBOX_NAME = /^k8s_([^_]+)_([^_]+)_([^_]+)_(\d+)$/;
/** Kubernetes object names (DNS-1123 subdomain, ≤ 253) — anything else did not come from a kubelet. */
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** Upper bounds that no cloud offers more than; beyond them the value is a mistake, not a request. */
const LIMITS = { vcpus: 4096, memoryMiB: 64 * 1024 * 1024, gpus: 64 };

/** Characters of a refused value that an error message quotes. */
const SHOWN_CHARS = 64;

/** A value for an error message: JSON-quoted, cut to 64 characters with its full length said. */
function shownValue(value: string): string {
  if (value.length <= SHOWN_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, SHOWN_CHARS))}… (${value.length} characters)`;
}

/**
 * Every method that takes a sandbox id checks it first, before it is logged or used: a client can
 * send anything (a 1 MiB id would otherwise land whole in every log line that names the sandbox).
 */
export function validateSandboxId(id: string): void {
  if (!SANDBOX_ID.test(id)) {
    throw new ShimError(
      'INVALID_ARGUMENT',
      id === '' ? 'sandbox id is empty' : `sandbox id ${shownValue(id)} is not 1–128 characters of [A-Za-z0-9_-]`,
    );
  }
}

/**
 * The pod of a PodVMInfo/GetInfo call: what CreateVM accepts (a Kubernetes name and namespace), as
 * nothing else can ever match a sandbox.
 */
export function validatePodRef(podName: string, podNamespace: string): void {
  if (!K8S_NAME.test(podName)) throw new ShimError('INVALID_ARGUMENT', `pod name ${shownValue(podName)} is not a Kubernetes name`);
  if (!K8S_NAME.test(podNamespace) || podNamespace.length > 63) {
    throw new ShimError('INVALID_ARGUMENT', `pod namespace ${shownValue(podNamespace)} is not a Kubernetes namespace`);
  }
}

export interface PodIdentity {
  podName: string;
  podNamespace: string;
}

export function podIdentity(annotations: Readonly<Record<string, string>>): PodIdentity {
  let podName = annotations[Annotation.SANDBOX_NAME] ?? '';
  let podNamespace = annotations[Annotation.SANDBOX_NAMESPACE] ?? '';
  const crio = CRIO_SANDBOX_NAME.exec(podName);
  if (crio) {
    podName = crio[1]!;
    if (!podNamespace) podNamespace = crio[2]!;
  }
  if (!podName) throw new ShimError('INVALID_ARGUMENT', `pod name ${Annotation.SANDBOX_NAME} is missing in annotations`);
  if (!podNamespace) {
    throw new ShimError('INVALID_ARGUMENT', `pod namespace ${Annotation.SANDBOX_NAMESPACE} is missing in annotations`);
  }
  validatePodRef(podName, podNamespace);
  return { podName, podNamespace };
}

function count(annotations: Readonly<Record<string, string>>, key: string, max: number): number {
  const raw = (annotations[key] ?? '').trim();
  if (raw === '') return 0;
  if (!/^\d+$/.test(raw) || Number(raw) > max) {
    // Upstream reads such values as 0 and goes on; a pod that asked for something we cannot parse
    // should hear why, not silently get the default size.
    throw new ShimError('INVALID_ARGUMENT', `annotation ${key}=${JSON.stringify(raw.slice(0, 100))} is not an integer from 0 to ${max}`);
  }
  return Number(raw);
}

function text(annotations: Readonly<Record<string, string>>, key: string, pattern: RegExp, what: string): string {
  const raw = (annotations[key] ?? '').trim();
  if (raw !== '' && !pattern.test(raw)) {
    throw new ShimError('INVALID_ARGUMENT', `annotation ${key}=${JSON.stringify(raw.slice(0, 100))} is not ${what}`);
  }
  return raw;
}

/** The instance the pod asks for. Throws INVALID_ARGUMENT naming the annotation at fault. */
export function instanceSpec(annotations: Readonly<Record<string, string>>, multiNic: boolean): InstanceSpec {
  return {
    instanceType: text(annotations, Annotation.MACHINE_TYPE, /^[A-Za-z0-9._:-]{1,128}$/, 'an instance type name'),
    image: text(annotations, Annotation.IMAGE, /^[\x21-\x7e]{1,1024}$/, 'an image name or id'),
    vcpus: count(annotations, Annotation.DEFAULT_VCPUS, LIMITS.vcpus),
    memoryMiB: count(annotations, Annotation.DEFAULT_MEMORY, LIMITS.memoryMiB),
    gpus: count(annotations, Annotation.DEFAULT_GPUS, LIMITS.gpus),
    gpuModel: text(annotations, Annotation.DEFAULT_GPU_MODEL, /^[\x20-\x7e]{1,256}$/, 'a GPU model name'),
    multiNic,
  };
}

/** The pod's initdata as the shim decoded it (raw TOML), or '' when none. */
export function podInitdata(annotations: Readonly<Record<string, string>>): string {
  return annotations[Annotation.CC_INIT_DATA] ?? '';
}
