/**
 * Errors of the kubelet device plugin, each with a stable `code`, so the daemon decides (refuse to
 * start, keep retrying, fall back to patching node status) without reading messages.
 */
import { codedError } from '../../util/coded-error.js';

export const DevicePluginErrorCode = {
  /** An option the plugin cannot work with: a count that is not a whole number in range, a resource
   *  name that is not an extended resource name, a socket path over the Unix limit, … */
  INVALID_CONFIG: 'INVALID_CONFIG',
  /** Our socket could not be bound: the directory is not writable, the path is taken by a file that
   *  is not a socket, … */
  LISTEN_FAILED: 'LISTEN_FAILED',
  /** kubelet.sock is absent or nobody accepts on it (the kubelet is not running or restarting). */
  KUBELET_UNAVAILABLE: 'KUBELET_UNAVAILABLE',
  /** The kubelet accepted the connection but did not answer Register in time. */
  REGISTER_TIMEOUT: 'REGISTER_TIMEOUT',
  /** The kubelet answered Register with an error (unsupported version, invalid resource name, …). */
  REGISTRATION_REJECTED: 'REGISTRATION_REJECTED',
  /** start() on a plugin that is running or was stopped (a plugin is started once). */
  INVALID_STATE: 'INVALID_STATE',
  /** The plugin was stopped while the caller waited (e.g. in whenRegistered). */
  STOPPED: 'STOPPED',
} as const;

export type DevicePluginErrorCode = (typeof DevicePluginErrorCode)[keyof typeof DevicePluginErrorCode];

export class DevicePluginError extends codedError('DevicePluginError', DevicePluginErrorCode) {}

export const isDevicePluginError = (err: unknown, code?: DevicePluginErrorCode): err is DevicePluginError => DevicePluginError.is(err, code);
