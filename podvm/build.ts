/**
 * Builds the pod VM image for local use (libvirt, x86_64) from Debian packages:
 *
 * - `vmlinuz`: the kernel of Debian's `linux-image-amd64` (downloaded with `apt-get download`,
 *   unpacked with `dpkg-deb -x`; never installed);
 * - `initrd.img`: static busybox (busybox-static), the kernel modules the VM needs in load order,
 *   and stage 1 (`podvm/initramfs/init`), which mounts the root disk;
 * - `podvm-base.qcow2`: the root disk (ext4): busybox, Node (the `nodejs` package this machine
 *   runs), iproute2's `ip`, util-linux's `nsenter`, legacy iptables with its extensions and their
 *   shared libraries, the bundled agent-protocol-forwarder (which is also the user-data reader)
 *   and the kata-agent stand-in, and stage 2 (`podvm/rootfs/sbin/podvm-init`).
 *
 * The build is cached: every input (the kernel package, the binaries, the bundles, the scripts)
 * goes into one digest, and an output folder whose manifest has that digest is reused. It is
 * reproducible: fixed timestamps (SOURCE_DATE_EPOCH), sorted archives, a fixed file system UUID
 * and hash seed, gzip without a name or time.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { runCommand } from '../src/util/run-command.js';
import { bundleEsm } from './bundle.js';
import { indexModules, loadOrder } from './kernel-modules.js';

export const PODVM_DIR = new URL('.', import.meta.url).pathname;
const PROJECT = join(PODVM_DIR, '..');

export class PodvmBuildError extends Error {
  readonly code = 'PODVM_BUILD';
}

/** Modules stage 1 loads (their dependencies are added): disks, the NIC, the seed's file system, the VXLAN and the NOTRACK rules. */
export const WANTED_MODULES = [
  'virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_rng', 'crc32c_generic', 'ext4', 'isofs',
  'vxlan', 'ip_tables', 'iptable_raw', 'xt_comment', 'xt_tcpudp', 'xt_CT',
] as const;

/** Binaries copied from this machine's Debian packages into the root disk, with the shared libraries they load. */
const BINARIES: { from: string[]; to: string }[] = [
  // Debian's nodejs package; else the Node running the build (same major version, as the bundles target).
  { from: ['/usr/bin/node', process.execPath], to: '/usr/bin/node' },
  { from: ['/usr/bin/ip', '/sbin/ip', '/bin/ip'], to: '/usr/sbin/ip' },
  { from: ['/usr/bin/nsenter'], to: '/usr/bin/nsenter' },
  { from: ['/usr/sbin/xtables-legacy-multi'], to: '/usr/sbin/xtables-legacy-multi' },
];
const IPTABLES_NAMES = ['iptables', 'iptables-save', 'iptables-restore'];
const XTABLES_DIR = '/usr/lib/x86_64-linux-gnu/xtables';
const BUSYBOX = '/bin/busybox';
/** 2024-01-01T00:00:00Z unless SOURCE_DATE_EPOCH says otherwise. */
const EPOCH = Number(process.env.SOURCE_DATE_EPOCH ?? 1_704_067_200);
const FS_UUID = '6d1b5c1e-8c6a-4f5e-9a53-7d9e0c0ffee1';

export interface PodvmImage {
  dir: string;
  kernel: string;
  initrd: string;
  rootDisk: string;
  /** The kernel command line the image expects (the provider appends `ip=` for static addresses). */
  cmdline: string;
  manifest: PodvmManifest;
}

export interface PodvmManifest {
  inputDigest: string;
  kernelPackage: string;
  kernelRelease: string;
  nodeVersion: string;
  modules: string[];
  files: Record<'vmlinuz' | 'initrd.img' | 'podvm-base.qcow2', { bytes: number; sha256: string }>;
  rootFsBytes: number;
}

export interface BuildOptions {
  outDir?: string;
  cacheDir?: string;
  /** A kernel .deb to use instead of downloading the current linux-image-amd64 dependency. */
  kernelDeb?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export const DEFAULT_OUT = join(PODVM_DIR, 'out');
export const DEFAULT_CACHE = join(PODVM_DIR, '.cache');
export const PODVM_CMDLINE = 'console=ttyS0 panic=-1 quiet';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const fileSha = async (p: string): Promise<string> => sha256(await readFile(p));

function imageOf(dir: string, manifest: PodvmManifest): PodvmImage {
  return { dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), rootDisk: join(dir, 'podvm-base.qcow2'), cmdline: PODVM_CMDLINE, manifest };
}

/** What is missing on this machine to build the image, or undefined. */
export async function podvmBuildUnavailable(): Promise<string | undefined> {
  if (process.arch !== 'x64') return `the local pod VM image is x86_64 only (this is ${process.arch})`;
  for (const tool of ['apt-get', 'dpkg-deb', 'mke2fs', 'debugfs', 'qemu-img', 'cpio']) {
    try {
      await runCommand(['sh', '-c', `command -v ${tool}`], { timeoutMs: 5000 });
    } catch {
      return `needs ${tool} (apt-get install e2fsprogs qemu-utils cpio)`;
    }
  }
  if (!existsSync(BUSYBOX)) return `needs ${BUSYBOX} (apt-get install busybox-static)`;
  for (const b of BINARIES) if (!b.from.some((p) => existsSync(p))) return `needs ${b.from[0]} (apt-get install iproute2 util-linux iptables)`;
  return undefined;
}

async function kernelDeb(cacheDir: string, o: BuildOptions): Promise<string> {
  if (o.kernelDeb) return o.kernelDeb;
  const cached = (await readdir(cacheDir).catch(() => [] as string[])).filter((f) => /^linux-image-.*\.deb$/.test(f)).sort();
  // The package the meta-package points at today (linux-image-6.1.0-NN-amd64).
  let pkg: string | undefined;
  try {
    const deps = await runCommand(['apt-cache', 'depends', 'linux-image-amd64'], { timeoutMs: 30_000, signal: o.signal });
    pkg = /Depends: (linux-image-\S+)/.exec(deps)?.[1];
  } catch {
    // no apt lists: a cached package will do
  }
  const hit = pkg ? cached.find((f) => f.startsWith(`${pkg}_`)) : cached.at(-1);
  if (hit) return join(cacheDir, hit);
  if (!pkg) throw new PodvmBuildError('cannot tell which kernel package to use: `apt-cache depends linux-image-amd64` found none (run apt-get update, or set PODVM_KERNEL_DEB)');
  o.log?.(`downloading ${pkg}`);
  // Into a folder of our own, then renamed into the cache: two builds at once never read a half-written package.
  const tmp = await mkdtemp(join(cacheDir, 'download-'));
  try {
    await runCommand(['apt-get', 'download', '-q', pkg], { cwd: tmp, timeoutMs: 600_000, signal: o.signal }).catch((err: unknown) => {
      throw new PodvmBuildError(`apt-get download ${pkg} failed: ${(err as Error).message}`, { cause: err });
    });
    const got = (await readdir(tmp)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!got) throw new PodvmBuildError(`apt-get download ${pkg} left no .deb`);
    await rename(join(tmp, got), join(cacheDir, got));
    return join(cacheDir, got);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The forwarder and the agent stand-in as single ES modules, so the VM needs no node_modules. */
async function bundles(): Promise<Record<string, string>> {
  return {
    'agent-protocol-forwarder.mjs': await bundleEsm(join(PROJECT, 'src/cli/agent-protocol-forwarder.ts')),
    'kata-agent.mjs': await bundleEsm(join(PROJECT, 'test/fakes/kata-agent-main.ts')),
  };
}

/** The shared libraries `binary` loads, as absolute paths (ldd's view). */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await runCommand(['ldd', binary], { timeoutMs: 30_000 });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

async function copyWithLibraries(from: string, to: string, root: string, libs: Set<string>): Promise<void> {
  await mkdir(dirname(join(root, to)), { recursive: true });
  await copyFile(from, join(root, to));
  for (const lib of await sharedLibraries(from)) libs.add(lib);
}

/** Sets every entry's times to EPOCH (after the tree is complete), for reproducible archives and file systems. */
async function pinTimes(dir: string): Promise<void> {
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      if (!entry.isSymbolicLink()) await utimes(p, EPOCH, EPOCH);
    }
  };
  await walk(dir);
  await utimes(dir, EPOCH, EPOCH);
}

async function sortedEntries(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, entry.name);
      out.push(`./${relative(dir, p)}`);
      if (entry.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

async function initramfs(work: string, kernelRoot: string, release: string, log: (l: string) => void): Promise<{ file: string; modules: string[] }> {
  const dir = join(work, 'initramfs');
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'lib/modules'), { recursive: true });
  await mkdir(join(dir, 'etc'), { recursive: true });
  await copyFile(BUSYBOX, join(dir, 'bin/busybox'));
  await copyFile(join(PODVM_DIR, 'initramfs/init'), join(dir, 'init'));
  await chmod(join(dir, 'init'), 0o755);
  const order = await loadOrder(WANTED_MODULES, await indexModules(join(kernelRoot, 'lib/modules', release)));
  for (const m of order) await copyFile(m.path, join(dir, 'lib/modules', `${m.name}.ko`));
  await writeFile(join(dir, 'etc/modules'), order.map((m) => m.name).join('\n') + '\n');
  log(`initramfs: busybox and ${order.length} modules`);
  await pinTimes(dir);
  const list = (await sortedEntries(dir)).join('\n') + '\n';
  const cpioFile = join(work, 'initrd.cpio');
  await runCommand(['sh', '-c', `cd "$1" && cpio --quiet -o -H newc --reproducible -R 0:0 > "$2"`, 'sh', dir, cpioFile], { input: list, timeoutMs: 120_000 });
  const file = join(work, 'initrd.img');
  await writeFile(file, gzipSync(await readFile(cpioFile), { level: 6 }));
  return { file, modules: order.map((m) => m.name) };
}

async function rootDisk(work: string, bundled: Record<string, string>, log: (l: string) => void): Promise<{ file: string; bytes: number }> {
  const root = join(work, 'rootfs');
  await cp(join(PODVM_DIR, 'rootfs'), root, { recursive: true });
  for (const d of ['bin', 'dev', 'proc', 'sys', 'run', 'tmp', 'media/cidata', 'opt/caa', 'etc', 'root', 'var/tmp']) await mkdir(join(root, d), { recursive: true });
  await copyFile(BUSYBOX, join(root, 'bin/busybox'));
  await symlink('busybox', join(root, 'bin/sh'));
  // iproute2 and the forwarder name network namespaces under /var/run/netns.
  await mkdir(join(root, 'var'), { recursive: true });
  await symlink('../run', join(root, 'var/run'));
  const libs = new Set<string>();
  for (const b of BINARIES) {
    const from = b.from.find((p) => existsSync(p))!;
    await copyWithLibraries(from, b.to, root, libs);
  }
  for (const name of IPTABLES_NAMES) await symlink('xtables-legacy-multi', join(root, 'usr/sbin', name));
  if (existsSync(XTABLES_DIR)) {
    await mkdir(join(root, XTABLES_DIR), { recursive: true });
    for (const f of await readdir(XTABLES_DIR)) {
      if (!f.endsWith('.so')) continue;
      const src = join(XTABLES_DIR, f);
      const link = await readlink(src).catch(() => undefined);
      if (link) await symlink(link, join(root, XTABLES_DIR, f));
      else await copyWithLibraries(src, join(XTABLES_DIR, f), root, libs);
    }
  }
  // Libraries keep the path the dynamic linker looks them up at (ldd resolved the symlinks' names).
  for (const lib of [...libs].sort()) {
    await mkdir(dirname(join(root, lib)), { recursive: true });
    await copyFile(lib, join(root, lib));
  }
  await symlink('usr/lib', join(root, 'lib')).catch(() => undefined);
  for (const [name, text] of Object.entries(bundled)) await writeFile(join(root, 'opt/caa', name), text);
  await writeFile(join(root, 'etc/protocols'), 'ip\t0\tIP\nicmp\t1\tICMP\ntcp\t6\tTCP\nudp\t17\tUDP\n');
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
  await writeFile(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n');
  await pinTimes(root);

  const bytes = await dirBytes(root);
  // Room for the overlay's writes (logs, provisioned files) on top of the content.
  const sizeMiB = Math.ceil((bytes * 1.15) / 2 ** 20) + 48;
  const raw = join(work, 'root.img');
  await runCommand(
    ['mke2fs', '-q', '-F', '-t', 'ext4', '-O', '^has_journal', '-L', 'podvm-root', '-U', FS_UUID, '-E', `root_owner=0:0,hash_seed=${FS_UUID}`, '-d', root, raw, `${sizeMiB}M`],
    { timeoutMs: 300_000, env: { ...process.env, E2FSPROGS_FAKE_TIME: String(EPOCH) } },
  );
  await pinInodeTimes(raw, root);
  const file = join(work, 'podvm-base.qcow2');
  await runCommand(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, file], { timeoutMs: 300_000 });
  log(`root disk: ${(bytes / 2 ** 20).toFixed(1)} MiB of files in a ${sizeMiB} MiB ext4`);
  return { file, bytes };
}

/**
 * mke2fs 1.47.0 copies each file's ctime and atime (which no one can set) into the inode; debugfs
 * sets all four times of every inode to EPOCH so that the same tree gives the same image.
 */
async function pinInodeTimes(image: string, tree: string): Promise<void> {
  const paths = ['/', '/lost+found', ...(await sortedEntries(tree)).map((p) => p.slice(1))];
  const script = paths.flatMap((p) => ['atime', 'ctime', 'mtime', 'crtime'].map((f) => `set_inode_field "${p}" ${f} @${EPOCH}`)).join('\n') + '\n';
  const file = `${image}.debugfs`;
  await writeFile(file, script);
  await runCommand(['debugfs', '-w', '-f', file, image], { timeoutMs: 300_000, env: { ...process.env, E2FSPROGS_FAKE_TIME: String(EPOCH) } });
}

async function readManifest(dir: string): Promise<PodvmManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as PodvmManifest;
    for (const f of ['vmlinuz', 'initrd.img', 'podvm-base.qcow2']) if (!existsSync(join(dir, f))) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

/**
 * Builds the image into `outDir`, or returns the one there when its inputs are unchanged. Builds
 * into different `outDir`s may run at once and share `cacheDir` (the kernel download is renamed into
 * it whole); two at once into the same `outDir` are not supported (the last rename fails).
 */
export async function buildPodvmImage(o: BuildOptions = {}): Promise<PodvmImage & { cached: boolean }> {
  const log = o.log ?? (() => undefined);
  const outDir = o.outDir ?? DEFAULT_OUT;
  const cacheDir = o.cacheDir ?? DEFAULT_CACHE;
  const missing = await podvmBuildUnavailable();
  if (missing) throw new PodvmBuildError(`cannot build the pod VM image here: ${missing}`);
  await mkdir(cacheDir, { recursive: true });

  const deb = await kernelDeb(cacheDir, o);
  const bundled = await bundles();
  const digest = createHash('sha256');
  digest.update(`deb:${await fileSha(deb)}\n`);
  for (const b of [BUSYBOX, ...BINARIES.map((x) => x.from.find((p) => existsSync(p))!)]) digest.update(`${b}:${await fileSha(b)}\n`);
  for (const [name, text] of Object.entries(bundled)) digest.update(`${name}:${sha256(text)}\n`);
  for (const f of ['initramfs/init', 'rootfs/sbin/podvm-init', 'rootfs/etc/udhcpc.script', 'build.ts', 'kernel-modules.ts']) digest.update(`${f}:${await fileSha(join(PODVM_DIR, f))}\n`);
  digest.update(`epoch:${EPOCH} modules:${WANTED_MODULES.join(',')}\n`);
  const inputDigest = digest.digest('hex');

  const existing = await readManifest(outDir);
  if (existing?.inputDigest === inputDigest) return { ...imageOf(outDir, existing), cached: true };

  const work = `${outDir}.work-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const kernelRoot = join(work, 'kernel');
    log(`unpacking ${basename(deb)}`);
    await runCommand(['dpkg-deb', '-x', deb, kernelRoot], { timeoutMs: 300_000, signal: o.signal });
    const release = (await readdir(join(kernelRoot, 'lib/modules')))[0];
    if (!release) throw new PodvmBuildError(`${basename(deb)} has no lib/modules/<release>`);
    await copyFile(join(kernelRoot, 'boot', `vmlinuz-${release}`), join(work, 'vmlinuz'));
    const ramfs = await initramfs(work, kernelRoot, release, log);
    const disk = await rootDisk(work, bundled, log);
    const files = {} as PodvmManifest['files'];
    for (const name of ['vmlinuz', 'initrd.img', 'podvm-base.qcow2'] as const) {
      const p = join(work, name);
      files[name] = { bytes: (await stat(p)).size, sha256: await fileSha(p) };
    }
    const manifest: PodvmManifest = {
      inputDigest,
      kernelPackage: basename(deb).replace(/_.*$/, ''),
      kernelRelease: release,
      nodeVersion: (await runCommand([BINARIES[0]!.from.find((p) => existsSync(p))!, '--version'], { timeoutMs: 10_000 })).trim(),
      modules: ramfs.modules,
      files,
      rootFsBytes: disk.bytes,
    };
    // Replace the output in one step: a build that stops half-way never leaves a mixed image.
    const stage = `${outDir}.new-${process.pid}`;
    await rm(stage, { recursive: true, force: true });
    await mkdir(stage, { recursive: true });
    for (const name of ['vmlinuz', 'initrd.img', 'podvm-base.qcow2']) await rename(join(work, name), join(stage, name));
    await writeFile(join(stage, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    await rm(outDir, { recursive: true, force: true });
    await rename(stage, outDir);
    return { ...imageOf(outDir, manifest), cached: false };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export function describeImage(image: PodvmImage): string {
  const f = image.manifest.files;
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  return [
    `pod VM image in ${image.dir} (${image.manifest.kernelPackage}, Node ${image.manifest.nodeVersion}, ${image.manifest.modules.length} kernel modules)`,
    `  vmlinuz           ${mib(f.vmlinuz.bytes)}  sha256 ${f.vmlinuz.sha256.slice(0, 16)}…`,
    `  initrd.img        ${mib(f['initrd.img'].bytes)}  sha256 ${f['initrd.img'].sha256.slice(0, 16)}…`,
    `  podvm-base.qcow2  ${mib(f['podvm-base.qcow2'].bytes)}  sha256 ${f['podvm-base.qcow2'].sha256.slice(0, 16)}…  (${mib(image.manifest.rootFsBytes)} of files)`,
    `  kernel command line: ${image.cmdline}`,
  ].join('\n');
}
