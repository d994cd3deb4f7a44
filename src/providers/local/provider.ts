/**
 * The `local` provider: no cloud, no VM. An instance is a forwarder process (the program that runs
 * inside a real pod VM) on its own loopback address 127.N.x.y, provisioned from a cidata folder
 * holding its user-data, exactly as a libvirt VM reads its NoCloud disk. With LOCAL_AGENT_COMMAND
 * a Kata agent (or a stand-in) is started beside it. The daemon's default, and the backbone of the
 * end-to-end tests. It offers no isolation and no TEE: for development only.
 *
 * State: `<stateDir>/local/instances/<id>/` — record.json, cidata/user-data, root/ (the "VM's"
 * file system), agent.sock, logs. Processes are detached, so they outlive a daemon restart like VMs do.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { afterCreated } from '../create-checks.js';
import { ProviderError } from '../errors.js';
import { raceAbort } from '../../util/abort.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider, ProviderHost } from '../provider.js';
import { requestLog } from '../request-log.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { Serializer } from '../../util/serializer.js';
import type { LocalConfig } from './config.js';
import { describeExit, findByMarker, lastLogLine, nodeCommand, processGone, spawnDetached, stopProcess, type ProcessExit } from './processes.js';
import { createNetns, deleteBridge, deleteNetns, ensureBridge, inNetns, netnsAddress, netnsNames, type InstanceNetwork, type NetworkMode } from './network.js';

interface InstanceRecord {
  id: string;
  name: string;
  ip: string;
  /** netns mode: the namespace, the host end of the veth, the pod namespace the forwarder makes. */
  netns?: string;
  hostIf?: string;
  podNetns?: string;
  tags: Record<string, string>;
  pids: number[];
  createdAt: string;
}

const FORWARDER_ENTRY = new URL(`../../cli/agent-protocol-forwarder${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
/** How often watchForExit looks at a forwarder it did not start (one of a previous daemon). */
const EXIT_POLL_MS = 250;
/** Short ids keep the agent socket path under the 107-byte limit of Unix socket paths. */
const ID = /^local-[0-9a-f]{16}$/;

export class LocalProvider implements Provider {
  readonly name = 'local';
  private readonly dir: string;
  private readonly log: Logger;
  /**
   * One address allocation at a time in this process, held until the new instance's record is on
   * disk: the records are the only ledger of taken addresses (so it survives a restart), and a
   * create that picked an address before another's record appeared would take the same one.
   */
  private readonly allocation = new Serializer();
  /**
   * The forwarders this provider object started, by instance id: how each one ends (for watchForExit).
   * An entry lives until deleteInstance removes it.
   */
  private readonly forwarderExits = new Map<string, Promise<ProcessExit>>();
  readonly mode: NetworkMode;

  constructor(
    private readonly host: ProviderHost,
    private readonly config: LocalConfig,
  ) {
    this.dir = join(host.stateDir, 'local', 'instances');
    this.log = host.logger.child({ component: 'providers/local' });
    this.mode = config.network === 'auto' ? (process.getuid?.() === 0 ? 'netns' : 'loopback') : config.network;
    this.log.info({ mode: this.mode }, `local instances use ${this.mode === 'netns' ? 'a network namespace and veth each' : 'loopback addresses'}`);
  }

  private instanceDir(id: string): string {
    if (!ID.test(id)) throw new ProviderError('NOT_FOUND', `instance ${id} is not a local instance id`);
    return join(this.dir, id);
  }

  async createInstance(req: CreateInstanceRequest, signal: AbortSignal): Promise<Instance> {
    signal.throwIfAborted();
    const id = `local-${randomBytes(8).toString('hex')}`;
    const dir = this.instanceDir(id);
    const root = join(dir, 'root');
    const cidata = join(dir, 'cidata');
    const agentSocket = join(dir, 'agent.sock');
    const names = netnsNames(id);
    const record = await this.allocation.run(async () => {
      signal.throwIfAborted();
      const ip = await this.freeAddress();
      const r: InstanceRecord = { id, name: req.instanceName, ip, tags: { ...req.tags }, pids: [], createdAt: new Date().toISOString() };
      if (this.mode === 'netns') {
        r.netns = names.netns;
        r.hostIf = names.hostIf;
        r.podNetns = names.podNetns;
      }
      // Recorded before anything is made, so that list and delete find a half-made instance. A
      // folder without a record therefore holds nothing running (`init` sweeps such folders).
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await this.save(r);
      return r;
    });
    await mkdir(cidata, { recursive: true, mode: 0o700 });
    await mkdir(root, { recursive: true });
    await writeFile(join(cidata, 'user-data'), req.userData, { mode: 0o600 });
    await writeFile(join(cidata, 'meta-data'), `instance-id: ${id}\nlocal-hostname: ${req.instanceName}\n`);

    await afterCreated({ id, what: `starting local instance ${id}`, signal, code: 'INTERNAL' }, async () => {
      let net: InstanceNetwork = { ip: record.ip };
      if (this.mode === 'netns') net = await createNetns(id, this.config.netnsCidr, record.ip, signal);
      if (this.config.agentCommand) {
        const argv = this.config.agentCommand.split(/\s+/).filter(Boolean).map((a) => a.replaceAll('{socket}', agentSocket));
        record.pids.push(spawnDetached(argv, join(dir, 'agent.log')).pid);
      }
      const forwarder = spawnDetached(
          [
            ...inNetns(net),
            ...nodeCommand(FORWARDER_ENTRY),
            '--provision-from', cidata,
            '--root', root,
            '--listen', `${net.ip}:${this.host.forwarderPort}`,
            '--kata-agent-socket', agentSocket,
            // A pod namespace per instance: several "VMs" share this machine's /run/netns.
            '--pod-namespace', `/run/netns/${names.podNetns}`,
          ],
          join(dir, 'forwarder.log'),
      );
      record.pids.push(forwarder.pid);
      this.forwarderExits.set(id, forwarder.exited);
      await this.save(record);
    });
    const ip = record.ip;
    requestLog(this.log, req.logger, { sandbox: req.sandboxId }).info({ instanceId: id, ip, pids: record.pids }, `started local instance ${id} on ${ip}`);
    return { id, name: req.instanceName, ips: [ip], instanceType: 'local' };
  }

  async deleteInstance(instanceId: string, signal: AbortSignal, logger?: Logger): Promise<void> {
    signal.throwIfAborted();
    const dir = this.instanceDir(instanceId);
    const record = await this.read(instanceId);
    if (record) {
      // Recorded pids, and any process of this instance started just before a crash kept its pid
      // from being recorded (each has the instance folder on its command line).
      const pids = new Set([...record.pids, ...(await findByMarker(dir))]);
      await Promise.all([...pids].map((pid) => stopProcess(pid, dir)));
      await deleteNetns({ ip: record.ip, netns: record.netns, hostIf: record.hostIf, podNetns: record.podNetns });
    }
    await rm(dir, { recursive: true, force: true });
    this.forwarderExits.delete(instanceId);
    if (record) requestLog(this.log, logger).info({ instanceId }, `deleted local instance ${instanceId}`);
  }

  async listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    signal.throwIfAborted();
    const out: InstanceSummary[] = [];
    for (const r of await this.readAll()) {
      if (Object.entries(tags).every(([k, v]) => r.tags[k] === v)) out.push({ id: r.id, name: r.name, tags: r.tags });
    }
    return out;
  }

  /**
   * Resolves once the instance's forwarder process has ended — the "VM" has stopped — with how it
   * ended and its last log line (an unreadable policy, a bad apf.json: the forwarder says why and
   * exits at once), so StartVM fails with that reason instead of waiting out PROXY_TIMEOUT.
   * A forwarder this provider object started is awaited through its exit event; one a previous
   * daemon started is polled by pid (its status is then unknown). May be called any number of times,
   * also at once, for one instance; never rejects; resolves undefined once `signal` aborts. Nothing
   * to release but the caller's signal.
   */
  async watchForExit(instance: Instance, signal: AbortSignal): Promise<string | undefined> {
    try {
      const dir = this.instanceDir(instance.id);
      const known = this.forwarderExits.get(instance.id);
      let how: string;
      if (known) {
        how = describeExit(await raceAbort(known, signal));
      } else {
        // Started by a previous daemon: no exit status to wait on, only the pid to look at.
        const pid = (await this.read(instance.id))?.pids.at(-1);
        if (pid === undefined) return signal.aborted ? undefined : `local instance ${instance.id} has no record`;
        await processGone(pid, dir, EXIT_POLL_MS, signal);
        how = 'an unknown status';
      }
      if (signal.aborted) return undefined;
      const log = join(dir, 'forwarder.log');
      const last = await lastLogLine(log);
      return `its forwarder process ended with ${how}; ${last ? `its last line: ${last}` : 'it wrote nothing'} (log ${log})`;
    } catch {
      // Aborted (the watch ended) or an id that is not ours: nothing to report.
      return undefined;
    }
  }

  /** netns mode: the bridge exists before the first CreateVM inspects it as the worker's underlay. */
  async init(): Promise<void> {
    if (this.mode === 'netns') await ensureBridge(this.config.netnsCidr);
    await this.sweepUnrecorded();
  }

  /** Folders of creates interrupted before their record was written: nothing of them runs. */
  private async sweepUnrecorded(): Promise<void> {
    for (const n of (await readdir(this.dir).catch(() => [] as string[])).filter((x) => ID.test(x))) {
      if ((await this.read(n).catch(() => undefined)) === undefined) {
        await rm(this.instanceDir(n), { recursive: true, force: true });
        this.log.warn({ instanceId: n }, `removed the folder of local instance ${n}, whose create was interrupted before it started anything`);
      }
    }
  }

  /** Removes the bridge when no instance is left (instances outlive the daemon, and so does their bridge). */
  async teardown(): Promise<void> {
    if (this.mode === 'netns' && (await this.readAll()).length === 0) await deleteBridge(this.config.netnsCidr);
  }

  private async save(record: InstanceRecord): Promise<void> {
    await writeFileAtomic(join(this.instanceDir(record.id), 'record.json'), JSON.stringify(record, null, 2));
  }

  private async read(id: string): Promise<InstanceRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.instanceDir(id), 'record.json'), 'utf8')) as InstanceRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async readAll(): Promise<InstanceRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const records = await Promise.all(names.filter((x) => ID.test(x)).map((n) => this.read(n).catch(() => undefined)));
    return records.filter((r): r is InstanceRecord => r !== undefined);
  }

  /**
   * The lowest free slot: loopback mode 127.N.x.y (from .0.2 up); netns mode an address of
   * LOCAL_NETNS_CIDR. Skips the addresses of recorded instances; the caller holds `allocation`.
   */
  private async freeAddress(): Promise<string> {
    const used = new Set((await this.readAll()).map((r) => r.ip));
    for (let i = 0; i < 65_000; i++) {
      let ip: string;
      if (this.mode === 'netns') {
        ip = netnsAddress(this.config.netnsCidr, i);
      } else {
        const n = i + 2;
        if ((n & 0xff) === 0 || (n & 0xff) === 255) continue;
        ip = `${this.config.addressPrefix}.${n >> 8}.${n & 0xff}`;
      }
      if (!used.has(ip)) return ip;
    }
    throw new ProviderError('QUOTA', 'no free address left for local instances');
  }
}
