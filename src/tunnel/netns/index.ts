export { NetnsError, NetnsErrorCode, isNetnsError, describeNetns, type NetnsErrorDetails } from './errors.js';
export { inNetns, ip, ipJson, iptables, netnsExists, netnsProblem, tc, type NetToolOptions } from './exec.js';
export { isOwnNetns } from '../../util/netns-identity.js';
export {
  inspectHost,
  inspectPodNetns,
  pickPrimaryRoute,
  refuseOwnNetns,
  podNetworkConfig,
  type HostNetInfo,
  type InspectHostOptions,
  type InspectOptions,
  type PodNetnsInfo,
  type PodNetworkConfigInput,
} from './inspect.js';
