/**
 * Failures of setting up or tearing down the VXLAN pod tunnel, each with a stable `code` and the
 * `step` that failed, so callers (the shim at StartVM, the forwarder at boot) decide without
 * parsing messages.
 */

import { codedError } from '../../util/coded-error.js';

/**
 * Codes:
 * - `INVALID_ARGUMENT`: an argument is malformed (VNI out of range, not an IPv4 address, bad interface name, …).
 * - `DEVICE_EXISTS`: a device name this call needs is taken (the tunnel device, its temporary name, the pod
 *   interface in podns).
 * - `VNI_IN_USE`: the kernel refused the VXLAN device: another one with this VNI and port exists in the underlay
 *   namespace.
 * - `NOT_FOUND`: a namespace, interface or underlay the set-up needs is missing.
 * - `VXLAN_SETUP_FAILED`: any other failure of a set-up step (what this call had done is undone).
 * - `VXLAN_TEARDOWN_FAILED`: a tear-down step failed for another reason than "already gone" (the other steps still
 *   ran).
 * - `CANCELLED`: the caller's signal aborted the set-up (what it had done is undone).
 */
export class VxlanError extends codedError('VxlanError', ['INVALID_ARGUMENT', 'DEVICE_EXISTS', 'VNI_IN_USE', 'NOT_FOUND', 'VXLAN_SETUP_FAILED', 'VXLAN_TEARDOWN_FAILED', 'CANCELLED']) {
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

export const VxlanErrorCode = VxlanError.Code;
export type VxlanErrorCode = VxlanError['code'];

export const isVxlanError = (err: unknown, code?: VxlanErrorCode): err is VxlanError => VxlanError.is(err, code);
