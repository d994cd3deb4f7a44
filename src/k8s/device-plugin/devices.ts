/**
 * The device list and the answers of the plugin's RPCs, as pure functions. A peer-pod "device" is one
 * slot for a pod VM on this node: it has no file, no topology, nothing to inject into a container.
 */
import { create } from '@bufbuild/protobuf';
import {
  AllocateResponseSchema,
  ContainerAllocateResponseSchema,
  ContainerPreferredAllocationResponseSchema,
  DeviceSchema,
  ListAndWatchResponseSchema,
  PreferredAllocationResponseSchema,
  type AllocateRequest,
  type AllocateResponse,
  type ListAndWatchResponse,
  type PreferredAllocationRequest,
  type PreferredAllocationResponse,
} from '../../proto/gen/deviceplugin/v1beta1/api_pb.js';
import { DevicePluginError } from './errors.js';

/** The API version sent in RegisterRequest. */
export const DEVICE_PLUGIN_API_VERSION = 'v1beta1';
export const HEALTHY = 'Healthy';
export const UNHEALTHY = 'Unhealthy';

export const DEFAULT_RESOURCE_NAME = 'kata.peerpods.io/vm';
export const DEFAULT_PLUGIN_DIR = '/var/lib/kubelet/device-plugins';
export const DEFAULT_SOCKET_NAME = 'peerpods-vm.sock';
/** The kubelet's registration socket, in the plugin directory. */
export const KUBELET_SOCKET_NAME = 'kubelet.sock';
/** The largest PEERPODS_LIMIT_PER_NODE the configuration accepts; the full list stays under 3 MB, below gRPC's 4 MiB message limit. */
export const MAX_DEVICE_COUNT = 100_000;

const DEVICE_ID_PREFIX = 'peerpod-vm-';

/** The stable ID of slot `i` (0-based): the same count always gives the same IDs, across restarts too. */
export function deviceId(i: number): string {
  return `${DEVICE_ID_PREFIX}${i}`;
}

export function deviceIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => deviceId(i));
}

/** Throws INVALID_CONFIG unless `count` is a whole number in [0, MAX_DEVICE_COUNT]. */
export function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_DEVICE_COUNT) {
    throw new DevicePluginError(
      'INVALID_CONFIG',
      `device count must be a whole number from 0 to ${MAX_DEVICE_COUNT} (PEERPODS_LIMIT_PER_NODE), got ${String(count)}`,
    );
  }
}

// <DNS subdomain>/<name>: what the kubelet accepts as an extended resource name (not kubernetes.io).
const RESOURCE_NAME = /^(?=.{1,253}\/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Throws INVALID_CONFIG unless `name` is a domain-prefixed extended resource name outside kubernetes.io. */
export function checkResourceName(name: string): void {
  const domain = name.split('/')[0] ?? '';
  if (!RESOURCE_NAME.test(name) || domain === 'kubernetes.io' || domain.endsWith('.kubernetes.io')) {
    throw new DevicePluginError('INVALID_CONFIG', `${JSON.stringify(name)} is not an extended resource name of the form <domain>/<name> (e.g. kata.peerpods.io/vm)`);
  }
}

/** The full device list, all with the same health. */
export function deviceList(count: number, healthy: boolean): ListAndWatchResponse {
  const health = healthy ? HEALTHY : UNHEALTHY;
  return create(ListAndWatchResponseSchema, {
    devices: deviceIds(count).map((ID) => create(DeviceSchema, { ID, health })),
  });
}

/** One empty ContainerAllocateResponse per container: a peer pod needs no device files, mounts or env. */
export function allocateResponse(request: AllocateRequest): AllocateResponse {
  return create(AllocateResponseSchema, {
    containerResponses: request.containerRequests.map(() => create(ContainerAllocateResponseSchema)),
  });
}

/**
 * Any slot is as good as another: the must-include IDs first, then the available ones in order, up
 * to `allocation_size` (never fewer than the must-include list, never an ID twice).
 */
export function preferredAllocation(request: PreferredAllocationRequest): PreferredAllocationResponse {
  return create(PreferredAllocationResponseSchema, {
    containerResponses: request.containerRequests.map((c) => {
      const chosen = [...new Set(c.mustIncludeDeviceIDs)];
      for (const id of c.availableDeviceIDs) {
        if (chosen.length >= c.allocationSize) break;
        if (!chosen.includes(id)) chosen.push(id);
      }
      return create(ContainerPreferredAllocationResponseSchema, { deviceIDs: chosen });
    }),
  });
}
