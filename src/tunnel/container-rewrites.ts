/**
 * The request rewrites of the tunnel (reference §3.6 worker side, §3.13 VM side), as pure functions
 * on encoded payloads: decode with the partial agent schema, change, re-encode. Fields the schema
 * does not name are kept as unknown fields and written back unchanged.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema, CreateSandboxRequestSchema, type CreateContainerRequest } from '../proto/gen/agent/agent_pb.js';
import { LinuxNamespaceSchema, LinuxSchema, SpecSchema } from '../proto/gen/agent/oci_pb.js';

export const GPU_ANNOTATION = 'io.katacontainers.config.hypervisor.default_gpus';
export const CDI_ANNOTATION = 'cdi.k8s.io/peer-pods';
export const CDI_ALL_GPUS = 'nvidia.com/gpu=all';
export const PEERPOD_VOLUMES_ANNOTATION = 'io.confidentialcontainers.org.peerpodvolumes.target_path';
export const CLOUD_VOLUMES_ANNOTATION = 'io.confidentialcontainers.org.cloud_volumes';
export const DIRECT_VOLUMES_DIR = '/run/kata-containers/shared/direct-volumes';
export const POD_NETNS_PATH = '/run/netns/podns';

export interface WorkerRewriteOptions {
  /** Where kubelet's CSI direct-volume entries live (tests point elsewhere). */
  directVolumesDir?: string;
  /** Told about each storage, for the log lines upstream's e2e suites grep. */
  onStorage?(line: string): void;
}

/** A CSI mount target that has a direct-volume entry: `<dir>/<base64url(path)>/mountInfo.json`. */
function isDirectVolume(source: string, dir: string): boolean {
  if (!source.includes('/volumes/kubernetes.io~csi/')) return false;
  return existsSync(join(dir, Buffer.from(source).toString('base64url'), 'mountInfo.json'));
}

/** Kata's direct-volume `mountInfo.json` (the fields used here). */
interface MountInfo {
  device?: string;
  fstype?: string;
  metadata?: Record<string, string>;
}

export interface CloudVolume {
  mount_point: string;
  fs_type: string;
  lun: number;
  disk_id: string;
  encrypt_type?: string;
  key_id?: string;
}

/**
 * The cloud volumes among the container's mounts (reference §3.6), keyed `vol-<i>`: direct-volume
 * entries with a cloud disk (`metadata.cloud-volume-path`, else `device`); LUN = the entry's index in
 * the sorted direct-volumes folder, as upstream counts it. Unreadable entries are skipped.
 */
export function cloudVolumes(mountSources: readonly string[], dir: string): Record<string, CloudVolume> {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return {};
  }
  const out: Record<string, CloudVolume> = {};
  let i = 0;
  for (const source of mountSources) {
    const key = Buffer.from(source).toString('base64url');
    const lun = entries.indexOf(key);
    if (lun < 0 || !source.includes('/volumes/kubernetes.io~csi/')) continue;
    let info: MountInfo;
    try {
      info = JSON.parse(readFileSync(join(dir, key, 'mountInfo.json'), 'utf8')) as MountInfo;
    } catch {
      continue;
    }
    const diskId = info.metadata?.['cloud-volume-path'] || info.device || '';
    if (!diskId) continue;
    const v: CloudVolume = { mount_point: source, fs_type: info.fstype || 'ext4', lun, disk_id: diskId };
    if (info.metadata?.['encrypt-type']) v.encrypt_type = info.metadata['encrypt-type'];
    if (info.metadata?.['kbs-key-id']) v.key_id = info.metadata['kbs-key-id'];
    out[`vol-${i++}`] = v;
  }
  return out;
}

/**
 * Worker side: GPU pods get the CDI annotation; mounts of CSI direct volumes are listed in the
 * peer-pod volumes annotation for the forwarder to wait on, and those backed by a cloud disk in the
 * cloud-volumes annotation (which disk, LUN, file system, encryption) for the VM to mount.
 */
export function rewriteCreateContainerOnWorker(payload: Uint8Array, o: WorkerRewriteOptions = {}): Uint8Array {
  const req = fromBinary(CreateContainerRequestSchema, payload);
  const spec = (req.OCI ??= create(SpecSchema));
  const annotations = spec.Annotations;
  const gpus = annotations[GPU_ANNOTATION];
  if (gpus !== undefined && gpus !== '' && gpus !== '0') annotations[CDI_ANNOTATION] = CDI_ALL_GPUS;

  const dir = o.directVolumesDir ?? DIRECT_VOLUMES_DIR;
  const targets = spec.Mounts.filter((m) => isDirectVolume(m.source, dir)).map((m) => m.source);
  if (targets.length > 0) {
    const existing = annotations[PEERPOD_VOLUMES_ANNOTATION];
    annotations[PEERPOD_VOLUMES_ANNOTATION] = [...(existing ? existing.split(',') : []), ...targets].join(',');
    const volumes = cloudVolumes(targets, dir);
    if (Object.keys(volumes).length > 0) annotations[CLOUD_VOLUMES_ANNOTATION] = JSON.stringify(volumes);
  }
  for (const s of req.storages) {
    o.onStorage?.(`mount_point:${s.mountPoint} source:${s.source} fstype:${s.fstype} driver:${s.driver}`);
  }
  return toBinary(CreateContainerRequestSchema, req);
}

/** VM side: the container joins the pod network namespace the forwarder built. */
export function rewriteCreateContainerInVm(payload: Uint8Array, netnsPath = POD_NETNS_PATH): Uint8Array {
  const req = fromBinary(CreateContainerRequestSchema, payload);
  const spec = (req.OCI ??= create(SpecSchema));
  const linux = (spec.Linux ??= create(LinuxSchema));
  const network = linux.Namespaces.find((n) => n.Type === 'network');
  if (network) network.Path = netnsPath;
  else linux.Namespaces.push(create(LinuxNamespaceSchema, { Type: 'network', Path: netnsPath }));
  return toBinary(CreateContainerRequestSchema, req);
}

/** VM side: drop `dns` so the agent leaves the VM's /etc/resolv.conf alone (upstream issue #98). */
export function rewriteCreateSandboxInVm(payload: Uint8Array): Uint8Array {
  const req = fromBinary(CreateSandboxRequestSchema, payload);
  if (req.dns.length === 0) return payload;
  req.dns = [];
  return toBinary(CreateSandboxRequestSchema, req);
}

export type { CreateContainerRequest };
