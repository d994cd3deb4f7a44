/**
 * The local pod VM image build (podvm/): two builds from the same inputs are byte-identical, the
 * result is cached by its inputs, and the image holds what the VM needs (checked in the files
 * themselves, not the manifest's word for it). Booting it is the libvirt end-to-end test's job.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { WANTED_MODULES, buildPodvmImage, podvmBuildUnavailable } from '../../podvm/build.js';
import { runCommand } from '../../src/util/run-command.js';
import { LIBVIRT_REQUIRED } from '../helpers/libvirt.js';

const unavailable = await podvmBuildUnavailable();
if (unavailable) console.warn(`[podvm] ${LIBVIRT_REQUIRED ? 'FAILING' : 'skipping'} the image build tests: ${unavailable}`);
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe.skipIf(unavailable !== undefined && !LIBVIRT_REQUIRED)('the local pod VM image', () => {
  it('builds reproducibly, reuses its cache, and holds the kernel modules, Node, the tools and the bundles', { timeout: 600_000 }, async () => {
    if (unavailable) throw new Error(`CAA_REQUIRE_LIBVIRT=1 but: ${unavailable}`);
    const a = await mkdtemp(join(tmpdir(), 'caa-podvm-a-'));
    const b = await mkdtemp(join(tmpdir(), 'caa-podvm-b-'));
    dirs.push(a, b);
    const first = await buildPodvmImage({ outDir: join(a, 'out') });
    const second = await buildPodvmImage({ outDir: join(b, 'out') });
    expect(first.cached).toBe(false);
    expect(second.manifest.files).toEqual(first.manifest.files);
    for (const f of ['vmlinuz', 'initrd.img', 'podvm-base.qcow2']) {
      // Buffer.equals: a deep toEqual over 100 MB takes minutes.
      expect((await readFile(join(b, 'out', f))).equals(await readFile(join(a, 'out', f))), f).toBe(true);
    }
    const again = await buildPodvmImage({ outDir: join(a, 'out') });
    expect(again.cached).toBe(true);

    // The initramfs: busybox, stage 1, and every wanted module listed after its dependencies.
    const cpio = gunzipSync(await readFile(first.initrd)).toString('latin1');
    expect(cpio).toContain('bin/busybox');
    expect(cpio).toContain('switch_root /newroot /sbin/podvm-init');
    const order = /etc\/modules\0+([A-Za-z0-9_\n]+)\n/.exec(cpio)?.[1]?.split('\n') ?? [];
    for (const m of WANTED_MODULES) expect(order).toContain(m);
    expect(order.indexOf('virtio_ring')).toBeLessThan(order.indexOf('virtio_net'));
    expect(order.indexOf('jbd2')).toBeLessThan(order.indexOf('ext4'));
    expect(order.indexOf('udp_tunnel')).toBeLessThan(order.indexOf('vxlan'));

    // The root disk, read with debugfs: Node and its loader, the tools, the bundles, stage 2.
    const raw = join(a, 'root.raw');
    await runCommand(['qemu-img', 'convert', '-O', 'raw', first.rootDisk, raw], { timeoutMs: 120_000 });
    const ls = async (dir: string): Promise<string> => runCommand(['debugfs', '-R', `ls -p ${dir}`, raw], { timeoutMs: 30_000 });
    expect(await ls('/usr/bin')).toMatch(/\/node\//);
    expect(await ls('/usr/sbin')).toMatch(/\/ip\/[\s\S]*\/iptables\/|\/iptables\/[\s\S]*\/ip\//);
    expect(await ls('/opt/caa')).toMatch(/agent-protocol-forwarder\.mjs[\s\S]*kata-agent\.mjs/);
    expect(await ls('/lib64')).toMatch(/ld-linux-x86-64\.so\.2/);
    expect(await ls('/sbin')).toMatch(/podvm-init/);
  });
});
