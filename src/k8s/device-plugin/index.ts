/** The kubelet device plugin that advertises peer-pod capacity (docs/capacity.md). */
export { PeerPodDevicePlugin, type PeerPodDevicePluginOptions, type DevicePluginStatus } from './plugin.js';
export { DevicePluginError, DevicePluginErrorCode, isDevicePluginError } from './errors.js';
export {
  DEFAULT_PLUGIN_DIR,
  DEFAULT_RESOURCE_NAME,
  DEFAULT_SOCKET_NAME,
  DEVICE_PLUGIN_API_VERSION,
  HEALTHY,
  KUBELET_SOCKET_NAME,
  MAX_DEVICE_COUNT,
  UNHEALTHY,
  deviceId,
} from './devices.js';
