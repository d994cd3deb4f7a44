/**
 * What the provider needs to know about instance profiles and images, and the rules that pair them
 * (reference §4.4): a profile takes the first configured image of its vCPU architecture; an s390x
 * Secure Execution profile (`bz2e-*`, `cz2e-*`, `mz2e-*`, …) takes a Secure Execution ("Hyper
 * Protect") image and an ordinary profile never does; with confidential VMs on, an amd64 profile must
 * offer Intel TDX with secure boot.
 */
import type { InstanceTypeInfo } from '../instance-type.js';
import type { InstanceProfile, ProfileValue, VpcImage } from './vpc-types.js';

export interface ProfileInfo extends InstanceTypeInfo {
  /** `amd64` or `s390x`. */
  architecture: string;
  /** An s390x Secure Execution profile. */
  secureExecution: boolean;
  /** Offers `confidential_compute_mode: tdx`. */
  tdx: boolean;
  /** Whether the profile takes `confidential_compute_mode` / `enable_secure_boot` at all. */
  hasComputeModes: boolean;
  secureBootModes: boolean[];
}

export interface ImageInfo {
  id: string;
  name: string;
  architecture: string;
  /** Encrypted for IBM Secure Execution (a Hyper Protect image). */
  secureExecution: boolean;
  os: string;
}

const SE_PROFILE = /^[a-z]z\d+e-/;

function values<T>(v: ProfileValue<T> | undefined): T[] {
  if (!v) return [];
  if (v.values) return v.values;
  return [v.value ?? v.default].filter((x): x is T => x !== undefined);
}

function fixed(v: ProfileValue<number> | undefined): number {
  return v?.value ?? v?.default ?? values(v)[0] ?? 0;
}

export function profileInfo(p: InstanceProfile): ProfileInfo {
  const architecture = values(p.vcpu_architecture)[0] ?? 'amd64';
  return {
    name: p.name,
    vcpus: fixed(p.vcpu_count),
    memoryMiB: fixed(p.memory) * 1024,
    gpus: fixed(p.gpu_count),
    architecture,
    secureExecution: architecture === 's390x' && SE_PROFILE.test(p.name),
    tdx: values(p.confidential_compute_modes).includes('tdx'),
    hasComputeModes: p.confidential_compute_modes !== undefined,
    secureBootModes: values(p.secure_boot_modes),
  };
}

export function imageInfo(i: VpcImage): ImageInfo {
  const os = i.operating_system;
  return {
    id: i.id,
    name: i.name,
    architecture: os?.architecture ?? 'amd64',
    secureExecution: /hyper-protect/i.test(os?.name ?? '') || /hyper protect/i.test(os?.family ?? ''),
    os: os?.name ?? '',
  };
}

/** Images in these states cannot boot an instance. */
export function unusableImage(i: VpcImage): string | undefined {
  return ['available', 'deprecated'].includes(i.status) ? undefined : `status ${i.status}`;
}

/** Why `image` cannot boot `profile`, or undefined when it can. */
export function pairingProblem(profile: ProfileInfo, image: ImageInfo): string | undefined {
  if (image.architecture !== profile.architecture) {
    return `image ${image.id} (${image.name}) is ${image.architecture}, profile ${profile.name} is ${profile.architecture}`;
  }
  if (profile.secureExecution && !image.secureExecution) {
    return `profile ${profile.name} is a Secure Execution profile and needs a Secure Execution (Hyper Protect) image; ${image.id} (${image.name}) is not one`;
  }
  if (!profile.secureExecution && image.secureExecution) {
    return `image ${image.id} (${image.name}) is a Secure Execution image and boots only on Secure Execution profiles (bz2e-*, cz2e-*, mz2e-*), not ${profile.name}`;
  }
  return undefined;
}

/** The first configured image that boots `profile`. */
export function imageFor(profile: ProfileInfo, images: readonly ImageInfo[]): ImageInfo | undefined {
  return images.find((i) => pairingProblem(profile, i) === undefined);
}

/** One line per allowed profile that no configured image can boot. */
export function pairingProblems(profiles: readonly ProfileInfo[], images: readonly ImageInfo[]): string[] {
  return profiles
    .filter((p) => !imageFor(p, images))
    .map((p) => {
      const kind = p.secureExecution ? `a Secure Execution ${p.architecture}` : `an ${p.architecture}${p.architecture === 's390x' ? ' non-Secure-Execution' : ''}`;
      return `profile ${p.name} needs ${kind} image and IBMCLOUD_PODVM_IMAGE_ID has none (${images.map((i) => `${i.id}: ${i.architecture}${i.secureExecution ? ', Secure Execution' : ''}`).join('; ') || 'no usable image'})`;
    });
}

/** Whether the profile gives a confidential VM: Intel TDX with secure boot, or s390x Secure Execution. */
export function confidentialCapable(p: ProfileInfo): boolean {
  return p.secureExecution || (p.tdx && p.secureBootModes.includes(true));
}

/** `confidential_compute_mode` and `enable_secure_boot` for a create on this profile. */
export function computeModes(p: ProfileInfo, disableCvm: boolean): { confidential_compute_mode?: 'tdx' | 'disabled'; enable_secure_boot?: boolean } {
  if (p.secureExecution) return {};
  if (!disableCvm) return { confidential_compute_mode: 'tdx', enable_secure_boot: true };
  return {
    ...(p.hasComputeModes ? { confidential_compute_mode: 'disabled' as const } : {}),
    ...(p.secureBootModes.includes(false) ? { enable_secure_boot: false } : {}),
  };
}
