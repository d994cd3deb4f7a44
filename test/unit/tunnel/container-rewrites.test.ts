import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { afterAll, describe, expect, it } from 'vitest';
import { CreateContainerRequestSchema, CreateSandboxRequestSchema } from '../../../src/proto/gen/agent/agent_pb.js';
import { MountSchema, SpecSchema } from '../../../src/proto/gen/agent/oci_pb.js';
import {
  CDI_ANNOTATION,
  CLOUD_VOLUMES_ANNOTATION,
  GPU_ANNOTATION,
  PEERPOD_VOLUMES_ANNOTATION,
  rewriteCreateContainerInVm,
  rewriteCreateContainerOnWorker,
  rewriteCreateSandboxInVm,
} from '../../../src/tunnel/container-rewrites.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const csi = (pod: string, vol: string) => `/var/lib/kubelet/pods/${pod}/volumes/kubernetes.io~csi/${vol}/mount`;

describe('CreateContainer on the worker', () => {
  it('lists CSI direct volumes and describes the cloud disks behind them; GPU pods get the CDI annotation', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'caa-dv-'));
    dirs.push(dir);
    const a = csi('uid1', 'pvc-a');
    const b = csi('uid1', 'pvc-b');
    const entry = async (path: string, info: object) => {
      const d = join(dir, Buffer.from(path).toString('base64url'));
      await mkdir(d, { recursive: true });
      await writeFile(join(d, 'mountInfo.json'), JSON.stringify(info));
    };
    await entry(a, { device: '/dev/sdb', fstype: 'xfs', metadata: { 'cloud-volume-path': 'vol-0abc', 'encrypt-type': 'LUKS', 'kbs-key-id': 'default/key/1' } });
    await entry(b, { device: '/dev/sdc', metadata: {} });
    const spec = create(SpecSchema, {
      Annotations: { [GPU_ANNOTATION]: '2' },
      Mounts: [a, '/etc/hosts', b].map((source) => create(MountSchema, { source, destination: '/data' })),
    });
    const req = toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { containerId: 'c', OCI: spec }));
    const lines: string[] = [];
    const out = fromBinary(CreateContainerRequestSchema, rewriteCreateContainerOnWorker(req, { directVolumesDir: dir, onStorage: (l) => lines.push(l) }));
    const ann = out.OCI!.Annotations;
    expect(ann[CDI_ANNOTATION]).toBe('nvidia.com/gpu=all');
    expect(ann[PEERPOD_VOLUMES_ANNOTATION]).toBe(`${a},${b}`);
    const sorted = [Buffer.from(a).toString('base64url'), Buffer.from(b).toString('base64url')].sort();
    expect(JSON.parse(ann[CLOUD_VOLUMES_ANNOTATION]!)).toEqual({
      'vol-0': { mount_point: a, fs_type: 'xfs', lun: sorted.indexOf(Buffer.from(a).toString('base64url')), disk_id: 'vol-0abc', encrypt_type: 'LUKS', key_id: 'default/key/1' },
      'vol-1': { mount_point: b, fs_type: 'ext4', lun: sorted.indexOf(Buffer.from(b).toString('base64url')), disk_id: '/dev/sdc' },
    });
  });

  it('leaves a pod without GPUs or volumes alone, and keeps fields outside the schema', () => {
    const req = Buffer.concat([toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { containerId: 'c' })), Buffer.from('4801', 'hex')]);
    const out = rewriteCreateContainerOnWorker(req, { directVolumesDir: '/nonexistent' });
    const decoded = fromBinary(CreateContainerRequestSchema, out);
    expect(decoded.OCI?.Annotations ?? {}).toEqual({});
    expect(Buffer.from(out).toString('hex')).toContain('4801');
  });
});

describe('in the VM', () => {
  it('CreateContainer joins the pod network namespace, replacing a network namespace it had', () => {
    const req = toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, {
      containerId: 'c',
      OCI: create(SpecSchema, { Linux: { Namespaces: [{ Type: 'network', Path: '/proc/1/ns/net' }, { Type: 'pid', Path: '' }] } }),
    }));
    const out = fromBinary(CreateContainerRequestSchema, rewriteCreateContainerInVm(req, '/run/netns/podns'));
    expect(out.OCI!.Linux!.Namespaces.map((n) => [n.Type, n.Path])).toEqual([['network', '/run/netns/podns'], ['pid', '']]);
  });
  it('CreateSandbox loses dns and nothing else', () => {
    const req = toBinary(CreateSandboxRequestSchema, create(CreateSandboxRequestSchema, { hostname: 'h', dns: ['nameserver 1.1.1.1'], sandboxId: 's' }));
    const out = fromBinary(CreateSandboxRequestSchema, rewriteCreateSandboxInVm(req));
    expect(out).toMatchObject({ hostname: 'h', dns: [], sandboxId: 's' });
    const none = toBinary(CreateSandboxRequestSchema, create(CreateSandboxRequestSchema, { hostname: 'h' }));
    expect(rewriteCreateSandboxInVm(none)).toBe(none);
  });
});
