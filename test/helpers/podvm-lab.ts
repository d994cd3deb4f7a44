/**
 * A worker node with real pod VMs, for the libvirt end-to-end test and `bench/libvirt-startup`:
 * a private libvirtd in its own network namespace (startLibvirtLab), the local pod VM image
 * (podvm/, built or taken from its cache) as the pool's base volume, and the daemon, with the
 * libvirt provider, started as a child *inside that namespace* — where the VMs' bridge is, as on a
 * worker whose libvirt network is reachable. The namespace's default route points at the bridge, so
 * the daemon's worker-side pod network finds its underlay (the bridge address is the worker IP the
 * VMs' VXLAN answers to).
 *
 *   const pl = await startPodvmLab();
 *   const d = pl.startDaemon();
 *   await d.until('serving hypervisor.Hypervisor');
 *   …
 *   await pl.stop(); // daemons, VMs, libvirtd, namespace, temp folder
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPodvmImage, podvmBuildUnavailable, type PodvmImage } from '../../podvm/build.js';
import { runCommand } from '../../src/util/run-command.js';
import { ChildDaemon } from './child-daemon.js';
import { createBaseVolume, libvirtEnv, libvirtUnavailable, startLibvirtLab, type LibvirtLab } from './libvirt.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'src/cli/cloud-api-adaptor.ts');

/** A volume in the lab's pool that is not a pod VM image (an empty qcow2): the VM powers off in stage 1. */
export const BROKEN_IMAGE = 'podvm-broken.qcow2';

export async function podvmLabUnavailable(): Promise<string | undefined> {
  return (await libvirtUnavailable()) ?? (await podvmBuildUnavailable());
}

export interface PodvmLab {
  lab: LibvirtLab;
  image: PodvmImage;
  dir: string;
  /** The daemon's environment (the hypervisor socket is `env.REMOTE_HYPERVISOR_ENDPOINT`). */
  env: Record<string, string>;
  startDaemon(extra?: Record<string, string>, args?: string[]): ChildDaemon;
  /** The serial console of a pod VM (in the pool folder). */
  consoleLog(instanceName: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startPodvmLab(options: { prefix?: string; memoryMiB?: number; log?: (line: string) => void } = {}): Promise<PodvmLab> {
  const image = await buildPodvmImage({ log: options.log });
  const dir = await mkdtemp(join(tmpdir(), 'caa-podvm-lab-'));
  const daemons: ChildDaemon[] = [];
  let lab: LibvirtLab | undefined;
  const stop = async (): Promise<void> => {
    for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    await Promise.all(daemons.map((d) => d.exited));
    await lab?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    lab = await startLibvirtLab({ prefix: options.prefix ?? 'caa-lvpod' });
    await copyFile(image.rootDisk, join(lab.poolDir, 'podvm-base.qcow2'));
    await lab.virsh(['pool-refresh', lab.poolName]);
    await createBaseVolume(lab, BROKEN_IMAGE);
    await runCommand(['ip', '-n', lab.netns, 'route', 'add', 'default', 'dev', lab.bridge]);
    const env: Record<string, string> = {
      ...libvirtEnv(lab, {
        LIBVIRT_KERNEL: image.kernel,
        LIBVIRT_INITRD: image.initrd,
        LIBVIRT_CMDLINE: image.cmdline,
        LIBVIRT_MEMORY: String(options.memoryMiB ?? 384),
        LIBVIRT_DOMAIN_TYPE: 'qemu',
      }),
      REMOTE_HYPERVISOR_ENDPOINT: join(dir, 'hv.sock'),
      PODS_DIR: join(dir, 'pods'),
      CAA_STATE_DIR: join(dir, 'state'),
      PROXY_TIMEOUT: '180s',
      PROBE_PORT: '0',
    };
    const theLab = lab;
    return {
      lab,
      image,
      dir,
      env,
      startDaemon(extra = {}, args = []) {
        const child = spawn('ip', ['netns', 'exec', theLab.netns, process.execPath, '--import', 'tsx', CLI, 'libvirt', ...args], {
          env: { ...process.env, ...env, ...extra },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const d = new ChildDaemon(child);
        daemons.push(d);
        return d;
      },
      consoleLog: (name) => readFile(join(theLab.poolDir, `${name}-console.log`), 'utf8').catch(() => ''),
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
