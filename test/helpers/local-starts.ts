/**
 * Many pods on the `local` provider at once, as the Kata shims of a busy node drive them: the daemon
 * (the CLI, compiled to plain JavaScript, in a child process) gets N CreateVM + StartVM at the same
 * time, then N StopVM; every trace is then looked for. Used by the end-to-end test (a few dozen) and
 * by `npm run bench -- local-starts` (a hundred, against the same N run one after the other).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { TtrpcClient, serviceClient } from '../../src/ttrpc/index.js';
import { messageOf } from '../../src/util/errors.js';
import { sleep } from './async.js';
import { ChildDaemon } from './child-daemon.js';
import { shimAnnotations, type DaemonHarness } from './daemon-harness.js';
import { forceCleanLocalInstances, localInstanceRecords, survivingNetwork, type LocalInstanceRecord } from './local-instances.js';
import { repoRoot, transpileClosure } from './transpile.js';

type HvClient = Awaited<ReturnType<DaemonHarness['hypervisor']>>;
const ENTRIES = ['src/cli/cloud-api-adaptor.ts', 'src/cli/agent-protocol-forwarder.ts'];

export interface LocalStartsOptions {
  /** Sandboxes per round, unless startAndStop is given another number. */
  n: number;
  /** LOCAL_NETNS_CIDR's second octet (A.B.0.0/16 with A = 10): a range of the caller's own. */
  cidrOctet: number;
  /** StartVM's deadline, as the shim's. */
  startTimeoutMs?: number;
}

export interface RoundResult {
  started: number;
  /** StartVM failures, by message. */
  failures: string[];
  /** Distinct addresses among the started instances' records. */
  distinctAddresses: number;
  instances: number;
  wallMs: number;
}

export interface Leftovers {
  processes: number[];
  instanceFolders: string[];
  podFolders: string[];
  namespaces: string[];
  links: string[];
}

/** A daemon on its own temp folder and address range; `close()` removes everything, also after a failure. */
export class LocalStartsLab {
  private daemon: ChildDaemon | undefined;
  private readonly seen = new Map<string, LocalInstanceRecord>();
  private round = 0;

  private constructor(
    readonly dir: string,
    private readonly cli: string,
    private readonly env: Record<string, string>,
    private readonly o: LocalStartsOptions,
  ) {}

  static async create(o: LocalStartsOptions): Promise<LocalStartsLab> {
    const dir = await mkdtemp(join(tmpdir(), 'caa-starts-'));
    const js = join(dir, 'js');
    await transpileClosure(ENTRIES.map((e) => join(repoRoot, e)), js);
    const env = {
      REMOTE_HYPERVISOR_ENDPOINT: join(dir, 'hv.sock'),
      PODS_DIR: join(dir, 'pods'),
      CAA_STATE_DIR: join(dir, 'state'),
      PROBE_PORT: '0',
      LOG_LEVEL: 'info',
      LOCAL_ADDRESS_PREFIX: `127.${o.cidrOctet}`,
      LOCAL_NETNS_CIDR: `10.${o.cidrOctet}.0.0/16`,
      FORWARDER_PORT: String(22000 + (process.pid % 20000)),
    };
    return new LocalStartsLab(dir, join(js, 'src/cli/cloud-api-adaptor.js'), env, o);
  }

  get bridge(): string {
    return `caabr${this.o.cidrOctet}`;
  }

  get stateDir(): string {
    return join(this.dir, 'state');
  }

  async startDaemon(): Promise<void> {
    this.daemon = new ChildDaemon(spawn(process.execPath, [this.cli, 'local'], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    await this.daemon.until('serving hypervisor.Hypervisor', 60_000);
  }

  async stopDaemon(): Promise<void> {
    if (!this.daemon) return;
    const d = this.daemon;
    this.daemon = undefined;
    d.child.kill('SIGTERM');
    await d.exited;
  }

  private async call<T>(fn: (hv: HvClient) => Promise<T>): Promise<T> {
    // A connection per call, as the Go shim dials per call.
    const c = await TtrpcClient.connectUnix(this.env.REMOTE_HYPERVISOR_ENDPOINT!);
    try {
      return await fn(serviceClient(c, Hypervisor));
    } finally {
      c.close();
    }
  }

  private ids(n: number): string[] {
    const r = this.round++;
    return Array.from({ length: n }, (_, i) => `${r.toString(16).padStart(4, '0')}${i.toString(16).padStart(60, '0')}`);
  }

  /**
   * One CreateVM + StartVM for each of `n` sandboxes (the lab's n unless given), all at once
   * (`sequential`: one after the other); then StopVM for all and wait until they are gone.
   */
  async startAndStop(sequential = false, n = this.o.n): Promise<RoundResult> {
    const ids = this.ids(n);
    const failures: string[] = [];
    const one = async (id: string, i: number): Promise<void> => {
      try {
        const annotations = shimAnnotations({ 'io.kubernetes.cri.sandbox-name': `pod-${i}` });
        await this.call((hv) => hv.createVM({ id, annotations, networkNamespacePath: '' }));
        await this.call((hv) => hv.startVM({ id }, { timeoutMs: this.o.startTimeoutMs ?? 120_000 }));
      } catch (err) {
        failures.push(messageOf(err));
      }
    };
    const t0 = performance.now();
    if (sequential) for (const [i, id] of ids.entries()) await one(id, i);
    else await Promise.all(ids.map(one));
    const wallMs = performance.now() - t0;
    const records = (await localInstanceRecords(this.stateDir)).filter((r) => r.ip !== '');
    for (const r of records) this.seen.set(r.id, r);
    const result: RoundResult = {
      started: ids.length - failures.length,
      failures,
      distinctAddresses: new Set(records.map((r) => r.ip)).size,
      instances: records.length,
      wallMs,
    };
    await Promise.all(ids.map((id) => this.call((hv) => hv.stopVM({ id }, { timeoutMs: 30_000 })).catch(() => undefined)));
    await this.untilGone();
    return result;
  }

  /**
   * One StartVM of a pod whose forwarder exits at once (its initdata policy cannot be read): how long
   * StartVM takes to fail, and its message. The sandbox is stopped and waited for afterwards.
   */
  async failingStart(): Promise<{ ms: number; message: string }> {
    const id = `${(this.round++).toString(16).padStart(4, '0')}${'f'.repeat(60)}`;
    const initdata = 'algorithm = "sha256"\nversion = "0.1.0"\n\n[data]\n"policy.rego" = \'\'\'\nthis is not a policy {{{\n\'\'\'\n';
    await this.call((hv) => hv.createVM({ id, annotations: shimAnnotations({ 'io.katacontainers.config.hypervisor.cc_init_data': initdata }), networkNamespacePath: '' }));
    const t0 = performance.now();
    const message = await this.call((hv) => hv.startVM({ id }, { timeoutMs: 300_000 })).then(() => '(StartVM succeeded)', messageOf);
    const ms = performance.now() - t0;
    await this.call((hv) => hv.stopVM({ id }, { timeoutMs: 30_000 })).catch(() => undefined);
    await this.untilGone();
    return { ms, message };
  }

  /** Waits (bounded) until no instance record and no pod folder is left. */
  private async untilGone(ms = 120_000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const left = (await readdir(join(this.stateDir, 'local/instances')).catch(() => [])).length + (await readdir(this.env.PODS_DIR!).catch(() => [])).length;
      if (left === 0) return;
      await sleep(200);
    }
  }

  /** Whatever of the rounds' instances and sandboxes still exists. */
  async leftovers(): Promise<Leftovers> {
    const marker = join(this.stateDir, 'local/instances');
    const processes: number[] = [];
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(marker)) processes.push(Number(name));
    }
    const { namespaces, links } = await survivingNetwork(this.seen.values());
    return {
      processes,
      instanceFolders: await readdir(marker).catch(() => []),
      podFolders: await readdir(this.env.PODS_DIR!).catch(() => []),
      namespaces,
      links,
    };
  }

  async close(): Promise<void> {
    if (this.daemon) this.daemon.child.kill('SIGKILL');
    this.daemon = undefined;
    await forceCleanLocalInstances(this.stateDir, this.bridge);
    await rm(this.dir, { recursive: true, force: true });
  }
}
