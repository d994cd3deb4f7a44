/**
 * Errors of the kubelet device plugin, each with a stable `code`, so the daemon decides (refuse to
 * start, keep retrying, fall back to patching node status) without reading messages.
 */
import { codedError } from '../../util/coded-error.js';

/**
 * Codes:
 * - `INVALID_CONFIG`: an option the plugin cannot work with: a count that is not a whole number in range, a
 *   resource name that is not an extended resource name, a socket path over the Unix limit, …
 * - `LISTEN_FAILED`: our socket could not be bound: the directory is not writable, the path is taken by a file
 *   that is not a socket, …
 * - `KUBELET_UNAVAILABLE`: kubelet.sock is absent or nobody accepts on it (the kubelet is not running or
 *   restarting).
 * - `REGISTER_TIMEOUT`: the kubelet accepted the connection but did not answer Register in time.
 * - `REGISTRATION_REJECTED`: the kubelet answered Register with an error (unsupported version, invalid resource
 *   name, …).
 * - `INVALID_STATE`: start() on a plugin that is running or was stopped (a plugin is started once).
 * - `STOPPED`: the plugin was stopped while the caller waited (e.g. in whenRegistered).
 */
export class DevicePluginError extends codedError('DevicePluginError', ['INVALID_CONFIG', 'LISTEN_FAILED', 'KUBELET_UNAVAILABLE', 'REGISTER_TIMEOUT', 'REGISTRATION_REJECTED', 'INVALID_STATE', 'STOPPED']) {}

export const DevicePluginErrorCode = DevicePluginError.Code;
export type DevicePluginErrorCode = DevicePluginError['code'];

export const isDevicePluginError = (err: unknown, code?: DevicePluginErrorCode): err is DevicePluginError => DevicePluginError.is(err, code);
