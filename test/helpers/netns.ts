/**
 * Named network namespaces and veth pairs for tests that need real networking (root only).
 *
 * Every namespace is named `<prefix>-<pid>-<n>-<name>`, so parallel test processes never collide,
 * and veth ends are created directly inside their namespaces (`ip link add … netns …`), so nothing
 * ever appears in the machine's own namespace. `cleanup()` kills the processes started with
 * `spawn()` and deletes the namespaces, which destroys every link in them. `create()` also removes
 * namespaces left behind by test processes that died before their cleanup ran.
 *
 *   const net = await TestNet.create('caa-ns', ['pod', 'peer']);
 *   await net.veth('pod', 'eth0', 'peer', 'veth0');
 *   await net.addr('pod', 'eth0', '10.244.1.21/24');
 *   await net.route('pod', 'default', 'via', '10.244.1.1');
 *   …
 *   await net.cleanup(); // in afterEach/afterAll
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { runCommand } from '../../src/util/run-command.js';
import { POD_NETWORK_TOOLS, installHint, missingTools } from '../../scripts/host-tools.js';
import { pidAlive } from './pids.js';

export const NETNS_DIR = '/var/run/netns';

/** Why root-only network tests cannot run here, or `undefined` when they can. */
export async function netnsTestsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (creates network namespaces)';
  const missing = await missingTools(POD_NETWORK_TOOLS.filter((t) => t.tool === 'ip' || t.tool === 'nsenter'));
  return missing.length > 0 ? installHint(missing) : undefined;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface VethOptions {
  /** MAC address of the `a` end. */
  aMac?: string;
  /** MAC address of the `b` end. */
  bMac?: string;
  /** MTU of both ends. */
  mtu?: number;
  /** Bring both ends up (default true). */
  up?: boolean;
}

export class TestNet {
  private static counter = 0;
  private readonly names = new Map<string, string>();
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly prefix: string,
    /** `<pid>-<n>`: unique per TestNet in this machine. */
    readonly id: string,
  ) {}

  /** A new set of namespaces; `namespaces` are created right away (see `addNs`). */
  static async create(prefix: string, namespaces: readonly string[] = []): Promise<TestNet> {
    if (!/^[a-z][a-z0-9-]{0,19}$/.test(prefix)) throw new Error(`bad TestNet prefix ${JSON.stringify(prefix)}`);
    await TestNet.sweepStale(prefix);
    const net = new TestNet(prefix, `${process.pid}-${++TestNet.counter}`);
    try {
      for (const name of namespaces) await net.addNs(name);
    } catch (err) {
      await net.cleanup().catch(() => undefined);
      throw err;
    }
    return net;
  }

  /** Deletes `<prefix>-<pid>-…` namespaces whose test process no longer runs. */
  static async sweepStale(prefix: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(NETNS_DIR);
    } catch {
      return [];
    }
    const re = new RegExp(`^${escapeRe(prefix)}-(\\d+)-\\d+-`);
    const removed: string[] = [];
    for (const name of entries) {
      const pid = re.exec(name)?.[1];
      if (pid === undefined || pidAlive(Number(pid))) continue;
      try {
        await runCommand(['ip', 'netns', 'delete', name]);
        removed.push(name);
      } catch {
        // someone else removed it meanwhile
      }
    }
    return removed;
  }

  /** The full (machine-wide) name of namespace `name`. */
  nsName(name: string): string {
    const full = this.names.get(name);
    if (full === undefined) throw new Error(`TestNet ${this.prefix}-${this.id}: no namespace ${JSON.stringify(name)}`);
    return full;
  }

  /** The path of namespace `name`, e.g. for `inspectPodNetns` or `nsenter --net=`. */
  ns(name: string): string {
    return `${NETNS_DIR}/${this.nsName(name)}`;
  }

  /** Creates namespace `name` (loopback up) and returns its path. */
  async addNs(name: string): Promise<string> {
    if (!/^[a-z0-9-]{1,32}$/.test(name)) throw new Error(`bad namespace name ${JSON.stringify(name)}`);
    if (this.names.has(name)) throw new Error(`namespace ${name} exists already`);
    const full = `${this.prefix}-${this.id}-${name}`;
    this.names.set(name, full); // before creating: cleanup() then removes a half-made one too
    await runCommand(['ip', 'netns', 'add', full]);
    await this.ip(name, 'link', 'set', 'lo', 'up');
    return this.ns(name);
  }

  /** `ip -n <ns> <args>`; resolves with stdout. */
  ip(ns: string, ...args: string[]): Promise<string> {
    return runCommand(['ip', '-n', this.nsName(ns), ...args]);
  }

  /** Runs `argv` inside namespace `ns` (`ip netns exec`); resolves with stdout. */
  run(ns: string, argv: readonly string[], timeoutMs?: number): Promise<string> {
    return runCommand(['ip', 'netns', 'exec', this.nsName(ns), ...argv], timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** Starts a long-running `argv` inside `ns`; `cleanup()` kills it. Its pid's `/proc/<pid>/ns/net` is `ns`. */
  spawn(ns: string, argv: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.nsName(ns), ...argv], { stdio: 'ignore' });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** A veth pair: `aIf` in namespace `aNs`, `bIf` in `bNs` (both up unless `up: false`). */
  async veth(aNs: string, aIf: string, bNs: string, bIf: string, opts: VethOptions = {}): Promise<void> {
    const a = this.nsName(aNs);
    const b = this.nsName(bNs);
    await runCommand(['ip', 'link', 'add', aIf, 'netns', a, 'type', 'veth', 'peer', 'name', bIf, 'netns', b]);
    for (const [ns, ifname, mac] of [
      [aNs, aIf, opts.aMac],
      [bNs, bIf, opts.bMac],
    ] as const) {
      if (mac) await this.ip(ns, 'link', 'set', ifname, 'address', mac);
      if (opts.mtu) await this.ip(ns, 'link', 'set', ifname, 'mtu', String(opts.mtu));
      if (opts.up !== false) await this.ip(ns, 'link', 'set', ifname, 'up');
    }
  }

  /** `ip -n <ns> address add <cidr> dev <ifname>`. */
  async addr(ns: string, ifname: string, cidr: string): Promise<void> {
    await this.ip(ns, 'address', 'add', cidr, 'dev', ifname);
  }

  /** `ip -n <ns> route add <spec…>`, e.g. `route('pod', 'default', 'via', '10.244.1.1', 'dev', 'eth0')`. */
  async route(ns: string, ...spec: string[]): Promise<void> {
    await this.ip(ns, 'route', 'add', ...spec);
  }

  /** `ip -n <ns> neighbour add <ip> lladdr <mac> dev <ifname> nud <state>`. */
  async neigh(ns: string, ip: string, mac: string, ifname: string, state = 'permanent'): Promise<void> {
    await this.ip(ns, 'neighbour', 'add', ip, 'lladdr', mac, 'dev', ifname, 'nud', state);
  }

  /** Names of the namespaces of this TestNet that still exist. */
  async remaining(): Promise<string[]> {
    const entries = await readdir(NETNS_DIR).catch(() => [] as string[]);
    const mine = new Set(this.names.values());
    return entries.filter((e) => mine.has(e));
  }

  /**
   * Kills spawned processes, deletes every namespace (and with them their links). Tries all of
   * them and then throws if anything is left. Safe to call twice.
   */
  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
            child.once('exit', () => resolve());
            try {
              process.kill(child.pid, 'SIGKILL');
            } catch {
              resolve();
            }
          }),
      ),
    );
    this.children.clear();
    for (const full of this.names.values()) {
      try {
        await runCommand(['ip', 'netns', 'delete', full]);
      } catch (err) {
        if (!/No such file|not exist/i.test((err as Error).message)) errors.push(err);
      }
    }
    const left = await this.remaining();
    for (const [name, full] of [...this.names]) if (!left.includes(full)) this.names.delete(name);
    if (left.length > 0 || errors.length > 0) {
      throw new AggregateError(errors, `TestNet cleanup left namespaces: ${left.join(', ') || 'none'}`);
    }
  }
}
