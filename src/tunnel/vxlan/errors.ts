/**
 * Failures of setting up or tearing down the VXLAN pod tunnel, each with a stable `code` and the
 * `step` that failed, so callers (the shim at StartVM, the forwarder at boot) decide without
 * parsing messages.
 */

import { codedError } from '../../util/coded-error.js';

export const VxlanErrorCode = {
  /** An argument is malformed (VNI out of range, not an IPv4 address, bad interface name, …). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** A device name this call needs is taken (the tunnel device, its temporary name, the pod interface in podns). */
  DEVICE_EXISTS: 'DEVICE_EXISTS',
  /** The kernel refused the VXLAN device: another one with this VNI and port exists in the underlay namespace. */
  VNI_IN_USE: 'VNI_IN_USE',
  /** A namespace, interface or underlay the set-up needs is missing. */
  NOT_FOUND: 'NOT_FOUND',
  /** Any other failure of a set-up step (what this call had done is undone). */
  VXLAN_SETUP_FAILED: 'VXLAN_SETUP_FAILED',
  /** A tear-down step failed for another reason than "already gone" (the other steps still ran). */
  VXLAN_TEARDOWN_FAILED: 'VXLAN_TEARDOWN_FAILED',
  /** The caller's signal aborted the set-up (what it had done is undone). */
  CANCELLED: 'CANCELLED',
} as const;

export type VxlanErrorCode = (typeof VxlanErrorCode)[keyof typeof VxlanErrorCode];

export class VxlanError extends codedError('VxlanError', VxlanErrorCode) {
  /** Failures met while undoing a failed set-up, or of further tear-down steps. */
  readonly otherErrors: readonly unknown[];

  constructor(
    code: VxlanErrorCode,
    /** The step that failed, e.g. `create-device`, `tc-redirect-pod`, `iptables`. */
    readonly step: string,
    message: string,
    options: {
      cause?: unknown;
      /** Failures met while undoing a failed set-up, or of further tear-down steps. */
      otherErrors?: readonly unknown[];
    } = {},
  ) {
    super(code, message, options);
    this.otherErrors = options.otherErrors ?? [];
  }
}

export const isVxlanError = (err: unknown, code?: VxlanErrorCode): err is VxlanError => VxlanError.is(err, code);
