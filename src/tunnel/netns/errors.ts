/** Failures of reading a network namespace (pod or worker), each with a stable `code`. */
import { codedError } from '../../util/coded-error.js';

export interface NetnsErrorDetails {
  /** The namespace path the failure is about; `undefined` = the daemon's own namespace. */
  netns?: string;
  /** The interface the failure is about. */
  interface?: string;
  cause?: unknown;
}

/**
 * Codes:
 * - `POD_NETNS_NOT_FOUND`: the pod's netns path does not exist, is not a network namespace (a stale mount point?)
 *   or cannot be opened.
 * - `POD_NETNS_IS_HOST`: the pod's netns path names the daemon's own network namespace (the host's on a worker
 *   node): wiring it into a pod's VXLAN would hand the host's default-route interface to the pod.
 * - `NETNS_NOT_FOUND`: the netns given for the host inspection is unusable (same reasons).
 * - `NO_DEFAULT_ROUTE`: no IPv4 default route (0.0.0.0/0 in the main table) with a device: no primary interface.
 * - `INTERFACE_NOT_FOUND`: the primary pod interface (or a configured host interface) is not in the namespace.
 * - `NO_POD_IP`: the primary pod interface has no IPv4 address.
 * - `POD_IP_NOT_UNIQUE`: the primary pod interface has more than one IPv4 address.
 * - `NO_HOST_IP`: the host interface has no IPv4 address.
 * - `UNEXPECTED_OUTPUT`: a tool printed something we cannot read (e.g. `ip -json` output that is not JSON).
 */
export class NetnsError extends codedError('NetnsError', ['POD_NETNS_NOT_FOUND', 'POD_NETNS_IS_HOST', 'NETNS_NOT_FOUND', 'NO_DEFAULT_ROUTE', 'INTERFACE_NOT_FOUND', 'NO_POD_IP', 'POD_IP_NOT_UNIQUE', 'NO_HOST_IP', 'UNEXPECTED_OUTPUT']) {
  readonly netns: string | undefined;
  readonly interface: string | undefined;

  constructor(code: NetnsErrorCode, message: string, details: NetnsErrorDetails = {}) {
    super(code, message, details);
    this.netns = details.netns;
    this.interface = details.interface;
  }
}

export const NetnsErrorCode = NetnsError.Code;
export type NetnsErrorCode = NetnsError['code'];

export const isNetnsError = (err: unknown, code?: NetnsErrorCode): err is NetnsError => NetnsError.is(err, code);

/** How messages name a namespace: its path, or the current one. */
export function describeNetns(netns: string | undefined): string {
  return netns === undefined ? 'the current network namespace' : `network namespace ${netns}`;
}
