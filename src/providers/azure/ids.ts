/**
 * Azure Resource Manager ids, parsed here and nowhere else. An instance id is the full ARM id of the
 * VM; an empty or malformed one is refused, never taken for "nothing to delete" (upstream #1847: a
 * delete that parsed an empty VM name "succeeded" and leaked 350 VMs).
 */
import { ProviderError } from '../errors.js';

/** Azure VM names: 1–64 letters, digits, `-`, `_`, `.`; not ending in `.` or `-`. */
const VM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]$|^[A-Za-z0-9_]$/;
const SEGMENT = '([^/]+)';

const VM_ID = new RegExp(`^/subscriptions/${SEGMENT}/resourceGroups/${SEGMENT}/providers/Microsoft\\.Compute/virtualMachines/${SEGMENT}$`, 'i');
const SUBNET_ID = new RegExp(`^/subscriptions/${SEGMENT}/resourceGroups/${SEGMENT}/providers/Microsoft\\.Network/virtualNetworks/${SEGMENT}/subnets/${SEGMENT}$`, 'i');
const RESOURCE_ID = new RegExp(`^/subscriptions/${SEGMENT}/resourceGroups/${SEGMENT}/providers/${SEGMENT}/${SEGMENT}/${SEGMENT}$`, 'i');
const MANAGED_IMAGE = new RegExp(`^/subscriptions/${SEGMENT}/resourceGroups/${SEGMENT}/providers/Microsoft\\.Compute/images/${SEGMENT}$`, 'i');
const GALLERY_IMAGE = new RegExp(
  `^/subscriptions/${SEGMENT}/resourceGroups/${SEGMENT}/providers/Microsoft\\.Compute/galleries/${SEGMENT}/images/${SEGMENT}(?:/versions/${SEGMENT})?$`,
  'i',
);
const COMMUNITY_IMAGE = new RegExp(`^/CommunityGalleries/${SEGMENT}/Images/${SEGMENT}(?:/Versions/${SEGMENT})?$`, 'i');

export interface VmRef {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

export function vmId(ref: VmRef): string {
  return `/subscriptions/${ref.subscriptionId}/resourceGroups/${ref.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${ref.name}`;
}

/** The parts of a VM's ARM id; INVALID_REQUEST for anything else, the empty string included. */
export function parseVmId(id: string): VmRef {
  const m = VM_ID.exec(id.trim());
  if (!m || !VM_NAME.test(m[3]!)) {
    throw new ProviderError(
      'INVALID_REQUEST',
      `"${id}" is not the ARM id of a virtual machine (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<name>)`,
    );
  }
  return { subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[3]! };
}

export function isValidVmName(name: string): boolean {
  return VM_NAME.test(name);
}

export interface SubnetRef {
  subscriptionId: string;
  resourceGroup: string;
  virtualNetwork: string;
  subnet: string;
}

export function parseSubnetId(id: string): SubnetRef | undefined {
  const m = SUBNET_ID.exec(id.trim());
  return m ? { subscriptionId: m[1]!, resourceGroup: m[2]!, virtualNetwork: m[3]!, subnet: m[4]! } : undefined;
}

/** Any `/subscriptions/…/resourceGroups/…/providers/<namespace>/<type>/<name>` id. */
export interface ResourceRef {
  subscriptionId: string;
  resourceGroup: string;
  namespace: string;
  type: string;
  name: string;
}

export function parseResourceId(id: string): ResourceRef | undefined {
  const m = RESOURCE_ID.exec(id.trim());
  return m ? { subscriptionId: m[1]!, resourceGroup: m[2]!, namespace: m[3]!, type: m[4]!, name: m[5]! } : undefined;
}

/** A network security group id, or undefined. */
export function parseNsgId(id: string): ResourceRef | undefined {
  const r = parseResourceId(id);
  return r && r.namespace.toLowerCase() === 'microsoft.network' && r.type.toLowerCase() === 'networksecuritygroups' ? r : undefined;
}

/** The three kinds of image a pod VM can boot from (reference §4.3). */
export type ImageRef =
  | { kind: 'managed'; id: string; subscriptionId: string; resourceGroup: string; name: string }
  | { kind: 'gallery'; id: string; subscriptionId: string; resourceGroup: string; gallery: string; image: string; version?: string }
  | { kind: 'community'; id: string; publicGalleryName: string; image: string; version?: string };

export function parseImageId(id: string): ImageRef | undefined {
  const s = id.trim();
  let m = COMMUNITY_IMAGE.exec(s);
  if (m) return { kind: 'community', id: s, publicGalleryName: m[1]!, image: m[2]!, ...(m[3] ? { version: m[3] } : {}) };
  m = GALLERY_IMAGE.exec(s);
  if (m) return { kind: 'gallery', id: s, subscriptionId: m[1]!, resourceGroup: m[2]!, gallery: m[3]!, image: m[4]!, ...(m[5] ? { version: m[5] } : {}) };
  m = MANAGED_IMAGE.exec(s);
  if (m) return { kind: 'managed', id: s, subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[3]! };
  return undefined;
}

export const IMAGE_ID_FORMS =
  '/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/images/<name>, …/galleries/<gallery>/images/<image>[/versions/<version>], or /CommunityGalleries/<gallery>/Images/<image>[/Versions/<version>]';

/** The resource group and name of a resource id (NIC, public IP), or undefined. */
export function groupAndName(id: string): { resourceGroup: string; name: string } | undefined {
  const r = parseResourceId(id);
  return r && { resourceGroup: r.resourceGroup, name: r.name };
}
