/**
 * A private libvirtd for tests (root only), started the way env-lab §2 found to work, but isolated
 * so that it never touches a libvirtd that already runs on the machine or the machine's network:
 *
 * - its own network namespace (`caa-lv-<pid>-<n>`): the bridge and the VMs' taps live there;
 * - its own mount namespace (`unshare --mount`): tmpfs over /run, /var/lib and /var/cache, our
 *   folders bound over /etc/libvirt and /var/log, so its state, pid files, domain and network
 *   definitions are its own; a copy of /etc/passwd and /etc/group with `libvirt-qemu` bound over
 *   the real ones (libvirt resolves that compiled-in user before it reads qemu.conf) instead of
 *   `useradd`;
 * - its own socket folder (`unix_sock_dir` in a libvirtd.conf given with `-f`) in a temp folder;
 * - qemu.conf: `user = "root"`, no cgroups, no per-VM mount namespace, `stdio_handler = "file"`
 *   (so no virtlogd is needed).
 *
 * A dir pool in the temp folder and a network with `forward mode='open'`, no DHCP and no DNS
 * (10.252.<n>.0/24) are defined. `stop()` destroys every domain, kills libvirtd and every process
 * left in the namespace (QEMU), deletes the namespace and the temp folder; it also runs when start
 * fails half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProviderError } from '../../src/providers/errors.js';
import type { LibvirtApi } from '../../src/providers/libvirt/client.js';
import { signalOf, wrapCalls } from '../../src/providers/libvirt/wrap-calls.js';
import { raceAbort } from '../../src/util/abort.js';
import { runCommand } from '../../src/util/run-command.js';
import { pidAlive } from './pids.js';
import { sleep } from './async.js';

export const LIBVIRT_REQUIRED = process.env.CAA_REQUIRE_LIBVIRT === '1';

export interface LibvirtLab {
  /** `qemu+unix:///system?socket=…` */
  uri: string;
  socketPath: string;
  dir: string;
  netns: string;
  poolName: string;
  poolDir: string;
  networkName: string;
  bridge: string;
  /** e.g. 10.252.3.0/24; the bridge has .1. */
  subnet: string;
  gateway: string;
  /** Serial console logs go here (the pool folder, so they are volumes deleted with the instance). */
  dataDir: string;
  /** virsh against this daemon (test set-up and inspection only). */
  virsh(args: string[], timeoutMs?: number): Promise<string>;
  /** Names of all domains (persistent or not). */
  domains(): Promise<string[]>;
  /** Files in the pool folder. */
  poolFiles(): Promise<string[]>;
  /** libvirtd's own log (for failure messages). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Why a private libvirtd cannot run here, or undefined when it can. */
export async function libvirtUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (starts libvirtd in its own network and mount namespaces)';
  for (const bin of ['/usr/sbin/libvirtd', '/usr/bin/virsh', '/usr/bin/qemu-system-x86_64', '/usr/bin/qemu-img', '/usr/bin/unshare']) {
    if (!existsSync(bin)) return `needs ${bin} (apt-get install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils util-linux)`;
  }
  try {
    await runCommand(['ip', '-V'], { timeoutMs: 5000 });
  } catch {
    return 'needs ip (iproute2)';
  }
  return undefined;
}

let counter = 0;

const START_SCRIPT = `set -e
T="$1"
mount -t tmpfs -o mode=755 caa-lv-run /run
mount -t tmpfs -o mode=755 caa-lv-lib /var/lib
mount -t tmpfs -o mode=755 caa-lv-cache /var/cache
mount --bind "$T/log" /var/log
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/lib/libvirt/dnsmasq /var/lib/libvirt/images /var/cache/libvirt /run/libvirt
mount --bind "$T/etc" /etc/libvirt
mount --bind "$T/passwd" /etc/passwd
mount --bind "$T/group" /etc/group
exec /usr/sbin/libvirtd -f "$T/etc/libvirtd.conf" -p "$T/libvirtd.pid"
`;

async function withLibvirtQemuUser(dir: string): Promise<void> {
  await copyFile('/etc/passwd', join(dir, 'passwd'));
  await copyFile('/etc/group', join(dir, 'group'));
  const passwd = await readFile('/etc/passwd', 'utf8');
  const group = await readFile('/etc/group', 'utf8');
  if (!/^libvirt-qemu:/m.test(passwd)) await appendFile(join(dir, 'passwd'), 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n');
  if (!/^libvirt-qemu:/m.test(group)) await appendFile(join(dir, 'group'), 'libvirt-qemu:x:64055:\n');
  if (!/^kvm:/m.test(group)) await appendFile(join(dir, 'group'), 'kvm:x:64056:\n');
}

/** Pids of the processes whose network namespace is `nsPath`. */
async function processesIn(nsPath: string): Promise<number[]> {
  let target: string;
  try {
    const s = await stat(nsPath);
    target = `net:[${s.ino}]`;
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if ((await readlink(`/proc/${entry}/ns/net`)) === target) pids.push(Number(entry));
    } catch {
      // gone, or a kernel thread
    }
  }
  return pids;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Removes what labs of test processes that died before their clean-up left: namespaces named
 * `caa-lv*-<pid>-<n>` of dead pids (with the QEMU and libvirtd processes in them) and their temp
 * folders (whose libvirtd is gone and that are older than ten minutes).
 */
export async function sweepStaleLabs(): Promise<void> {
  for (const ns of await readdir('/var/run/netns').catch(() => [] as string[])) {
    const m = /^caa-lv[a-z]*-(\d+)-\d+$/.exec(ns);
    if (!m || pidAlive(Number(m[1]))) continue;
    for (const pid of await processesIn(`/var/run/netns/${ns}`)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await runCommand(['ip', 'netns', 'del', ns], { timeoutMs: 10_000 }).catch(() => undefined);
  }
  for (const entry of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!entry.startsWith('caa-libvirt-')) continue;
    const dir = join(tmpdir(), entry);
    const pid = Number((await readFile(join(dir, 'libvirtd.pid'), 'utf8').catch(() => '')).trim());
    const age = Date.now() - (await stat(dir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if ((pid && pidAlive(pid)) || age < 600_000) continue;
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One lab at a time on the machine: the test files that boot VMs run in parallel workers, and QEMU
 * under TCG takes a whole core per VM — two labs at once starved each other's libvirtd into
 * timeouts on a 2-core machine. A lock folder with the holder's pid; a dead holder's lock is taken
 * over. Re-entrant within a process.
 */
const LAB_LOCK = join(tmpdir(), 'caa-libvirt-lab.lock');
let labLockHeld = 0;

async function acquireLabLock(timeoutMs = 900_000): Promise<() => Promise<void>> {
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    if (--labLockHeld === 0) await rm(LAB_LOCK, { recursive: true, force: true });
  };
  if (labLockHeld > 0) {
    labLockHeld++;
    return release;
  }
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(LAB_LOCK);
      await writeFile(join(LAB_LOCK, 'pid'), String(process.pid));
      labLockHeld = 1;
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(join(LAB_LOCK, 'pid'), 'utf8').catch(() => '')).trim());
    const age = Date.now() - (await stat(LAB_LOCK).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    // A dead holder, or one that died between mkdir and writing its pid.
    if ((pid && !pidAlive(pid)) || (!pid && age > 10_000)) {
      await rm(LAB_LOCK, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > until) throw new Error(`waited ${timeoutMs / 1000}s for the libvirt lab of process ${pid} to finish`);
    await sleep(200);
  }
}

export async function startLibvirtLab(options: { prefix?: string } = {}): Promise<LibvirtLab> {
  const releaseLock = await acquireLabLock();
  try {
    return await startLabLocked(options, releaseLock);
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

async function startLabLocked(options: { prefix?: string }, releaseLock: () => Promise<void>): Promise<LibvirtLab> {
  await sweepStaleLabs();
  const n = ++counter;
  const octet = 100 + ((process.pid * 7 + n * 13) % 150);
  const netns = `${options.prefix ?? 'caa-lv'}-${process.pid}-${n}`;
  const dir = await mkdtemp(join(tmpdir(), 'caa-libvirt-'));
  const sockDir = join(dir, 'sock');
  const poolDir = join(dir, 'pool');
  const subnet = `10.252.${octet}.0/24`;
  const gateway = `10.252.${octet}.1`;
  const bridge = `caalv${n}`;
  const uri = `qemu+unix:///system?socket=${join(sockDir, 'libvirt-sock')}`;
  let daemon: ChildProcess | undefined;
  let daemonOutput = '';
  let stopped = false;

  const virsh = (args: string[], timeoutMs = 30_000): Promise<string> => runCommand(['virsh', '-q', '-c', uri, ...args], { timeoutMs });

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const nsPath = `/var/run/netns/${netns}`;
    if (daemon && daemon.exitCode === null) {
      try {
        for (const name of (await virsh(['list', '--all', '--name'], 10_000)).split('\n').map((s) => s.trim()).filter(Boolean)) {
          await virsh(['destroy', name], 10_000).catch(() => undefined);
        }
      } catch {
        // the daemon may be dead already; the processes are killed below
      }
      daemon.kill('SIGTERM');
      await waitFor('libvirtd to exit', async () => daemon!.exitCode !== null || daemon!.signalCode !== null, 10_000).catch(() => daemon!.kill('SIGKILL'));
    }
    // QEMU processes outlive libvirtd; they are the ones left in our namespace.
    for (const pid of await processesIn(nsPath)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor('the namespace to empty', async () => (await processesIn(nsPath)).length === 0, 10_000).catch(() => undefined);
    await runCommand(['ip', 'netns', 'del', netns], { timeoutMs: 10_000 }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await releaseLock();
  };

  try {
    for (const d of ['etc', 'sock', 'log', 'pool']) await mkdir(join(dir, d), { recursive: true });
    await writeFile(
      join(dir, 'etc', 'libvirtd.conf'),
      [
        `unix_sock_dir = "${sockDir}"`,
        'unix_sock_rw_perms = "0700"',
        'auth_unix_rw = "none"',
        'auth_unix_ro = "none"',
        `log_outputs = "3:file:${join(dir, 'log', 'libvirtd.log')}"`,
        'max_client_requests = 20',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'etc', 'qemu.conf'),
      ['user = "root"', 'group = "root"', 'stdio_handler = "file"', 'security_driver = "none"', 'cgroup_controllers = [ ]', 'namespaces = [ ]', 'remember_owner = 0', ''].join('\n'),
    );
    await withLibvirtQemuUser(dir);
    await writeFile(join(dir, 'start.sh'), START_SCRIPT);
    await runCommand(['ip', 'netns', 'add', netns]);
    await runCommand(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);

    daemon = spawn('ip', ['netns', 'exec', netns, 'unshare', '--mount', '--propagation', 'private', 'sh', join(dir, 'start.sh'), dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout!.on('data', (d: Buffer) => (daemonOutput = (daemonOutput + d.toString()).slice(-4000)));
    daemon.stderr!.on('data', (d: Buffer) => (daemonOutput = (daemonOutput + d.toString()).slice(-4000)));
    await waitFor(
      'libvirtd to listen',
      async () => {
        if (daemon!.exitCode !== null) throw new Error(`libvirtd exited (${daemon!.exitCode}): ${daemonOutput}`);
        if (!existsSync(join(sockDir, 'libvirt-sock'))) return false;
        return virsh(['version'], 5_000).then(
          () => true,
          () => false,
        );
      },
      20_000,
    );

    const poolName = 'caa-pool';
    const networkName = 'caa-net';
    await writeFile(
      join(dir, 'net.xml'),
      `<network><name>${networkName}</name><forward mode='open'/><bridge name='${bridge}' stp='off'/><dns enable='no'/><ip address='${gateway}' netmask='255.255.255.0'/></network>`,
    );
    await virsh(['net-define', join(dir, 'net.xml')]);
    await virsh(['net-start', networkName]);
    await virsh(['pool-define-as', poolName, 'dir', '--target', poolDir]);
    await virsh(['pool-start', poolName]);

    return {
      uri,
      socketPath: join(sockDir, 'libvirt-sock'),
      dir,
      netns,
      poolName,
      poolDir,
      networkName,
      bridge,
      subnet,
      gateway,
      dataDir: poolDir,
      virsh,
      domains: async () => (await virsh(['list', '--all', '--name'])).split('\n').map((s) => s.trim()).filter(Boolean).sort(),
      poolFiles: async () => (await readdir(poolDir)).sort(),
      log: async () => readFile(join(dir, 'log', 'libvirtd.log'), 'utf8').catch(() => ''),
      stop,
    };
  } catch (err) {
    const log = await readFile(join(dir, 'log', 'libvirtd.log'), 'utf8').catch(() => '');
    await stop().catch(() => undefined);
    throw new Error(`starting a private libvirtd failed: ${(err as Error).message}\n${daemonOutput}\n${log.slice(-2000)}`, { cause: err });
  }
}

/** A base image for the pool: an empty qcow2 of `sizeMiB` (boots to "no bootable device", which is all the contract needs). */
export async function createBaseVolume(lab: LibvirtLab, name: string, sizeMiB = 64): Promise<void> {
  await lab.virsh(['vol-create-as', lab.poolName, name, `${sizeMiB}M`, '--format', 'qcow2']);
}

/** The provider's keys for a lab: static addresses from the lab's subnet, SeaBIOS, 64 MiB VMs. */
export function libvirtEnv(lab: LibvirtLab, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LIBVIRT_URI: lab.uri,
    LIBVIRT_POOL: lab.poolName,
    LIBVIRT_NET: lab.networkName,
    LIBVIRT_VOL_NAME: 'podvm-base.qcow2',
    LIBVIRT_EFI_FIRMWARE: '',
    LIBVIRT_CPU: '1',
    LIBVIRT_MEMORY: '64',
    LIBVIRT_ROOT_DISK_SIZE: '0',
    LIBVIRT_DATA_DIR: lab.dataDir,
    LIBVIRT_IP_SOURCE: 'static',
    LIBVIRT_STATIC_IP_RANGE: lab.subnet,
    ...extra,
  };
}

/** Calls that change the host: a lost reply means the change happened. */
const MUTATING = new Set(['defineDomain', 'startDomain', 'destroyDomain', 'undefineDomain', 'createVolume', 'deleteVolume', 'uploadVolume']);

export interface FaultPlan {
  /** Fail the call before it reaches libvirt. */
  failBefore?: (method: string) => boolean;
  /** Let a mutating call take effect, then fail as if its reply was lost. */
  loseReply?: (method: string) => boolean;
  /** Milliseconds the call takes before libvirt acts on it; the caller's signal still ends the wait (the call goes on). */
  latency?: (method: string) => number;
}

/** The API with faults injected per call, as the contract suite's fake clouds do. */
export function withFaults(inner: LibvirtApi, plan: FaultPlan): LibvirtApi {
  return wrapCalls(inner, async (method, args, call) => {
    const signal = signalOf(args);
    if (plan.failBefore?.(method)) throw new ProviderError('UNAVAILABLE', `injected fault before ${method}`);
    const delay = plan.latency?.(method) ?? 0;
    const run = async (): Promise<unknown> => {
      if (delay > 0) await sleep(delay);
      // A delayed call is the cloud's: it completes even if the caller gave up.
      const callArgs = delay > 0 ? args.map((a) => (a instanceof AbortSignal ? AbortSignal.timeout(30_000) : a)) : args;
      const result = await call(callArgs);
      if (MUTATING.has(method) && plan.loseReply?.(method)) throw new ProviderError('UNAVAILABLE', `injected: the reply of ${method} was lost`);
      return result;
    };
    if (delay === 0 || !signal) return run();
    return raceAbort(run(), signal, () => new ProviderError('CANCELLED', `cancelled while ${method} was in flight`));
  });
}
