/** Failures of reading a network namespace (pod or worker), each with a stable `code`. */
import { codedError } from '../../util/coded-error.js';

export const NetnsErrorCode = {
  /** The pod's netns path does not exist, is not a network namespace (a stale mount point?) or cannot be opened. */
  POD_NETNS_NOT_FOUND: 'POD_NETNS_NOT_FOUND',
  /**
   * The pod's netns path names the daemon's own network namespace (the host's on a worker node):
   * wiring it into a pod's VXLAN would hand the host's default-route interface to the pod.
   */
  POD_NETNS_IS_HOST: 'POD_NETNS_IS_HOST',
  /** The netns given for the host inspection is unusable (same reasons). */
  NETNS_NOT_FOUND: 'NETNS_NOT_FOUND',
  /** No IPv4 default route (0.0.0.0/0 in the main table) with a device: no primary interface. */
  NO_DEFAULT_ROUTE: 'NO_DEFAULT_ROUTE',
  /** The primary pod interface (or a configured host interface) is not in the namespace. */
  INTERFACE_NOT_FOUND: 'INTERFACE_NOT_FOUND',
  /** The primary pod interface has no IPv4 address. */
  NO_POD_IP: 'NO_POD_IP',
  /** The primary pod interface has more than one IPv4 address. */
  POD_IP_NOT_UNIQUE: 'POD_IP_NOT_UNIQUE',
  /** The host interface has no IPv4 address. */
  NO_HOST_IP: 'NO_HOST_IP',
  /** A tool printed something we cannot read (e.g. `ip -json` output that is not JSON). */
  UNEXPECTED_OUTPUT: 'UNEXPECTED_OUTPUT',
} as const;

export type NetnsErrorCode = (typeof NetnsErrorCode)[keyof typeof NetnsErrorCode];

export interface NetnsErrorDetails {
  /** The namespace path the failure is about; `undefined` = the daemon's own namespace. */
  netns?: string;
  /** The interface the failure is about. */
  interface?: string;
  cause?: unknown;
}

export class NetnsError extends codedError('NetnsError', NetnsErrorCode) {
  readonly netns: string | undefined;
  readonly interface: string | undefined;

  constructor(code: NetnsErrorCode, message: string, details: NetnsErrorDetails = {}) {
    super(code, message, details);
    this.netns = details.netns;
    this.interface = details.interface;
  }
}

export const isNetnsError = (err: unknown, code?: NetnsErrorCode): err is NetnsError => NetnsError.is(err, code);

/** How messages name a namespace: its path, or the current one. */
export function describeNetns(netns: string | undefined): string {
  return netns === undefined ? 'the current network namespace' : `network namespace ${netns}`;
}
