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
import { ProviderError } from '../errors.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider, ProviderHost } from '../provider.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { LocalConfig } from './config.js';
import { nodeCommand, spawnDetached, stopProcess } from './processes.js';
import { createNetns, deleteNetns, inNetns, netnsAddresses, netnsNames, type InstanceNetwork, type NetworkMode } from './network.js';

interface InstanceRecord {
  id: string;
  name: string;
  ip: string;
  /** netns mode: the namespace and the host end of the veth. */
  netns?: string;
  hostIf?: string;
  tags: Record<string, string>;
  pids: number[];
  createdAt: string;
}

const FORWARDER_ENTRY = new URL(`../../cli/agent-protocol-forwarder${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
/** Short ids keep the agent socket path under the 107-byte limit of Unix socket paths. */
const ID = /^local-[0-9a-f]{16}$/;

export class LocalProvider implements Provider {
  readonly name = 'local';
  private readonly dir: string;
  private readonly log: Logger;
  /** Addresses handed out and not yet recorded on disk (two creates racing). */
  private readonly reserved = new Set<string>();
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
    await mkdir(cidata, { recursive: true, mode: 0o700 });
    await mkdir(root, { recursive: true });
    await writeFile(join(cidata, 'user-data'), req.userData, { mode: 0o600 });
    await writeFile(join(cidata, 'meta-data'), `instance-id: ${id}\nlocal-hostname: ${req.instanceName}\n`);

    const slot = await this.allocateAddress();
    const record: InstanceRecord = { id, name: req.instanceName, ip: slot.ip, tags: { ...req.tags }, pids: [], createdAt: new Date().toISOString() };
    if (this.mode === 'netns') {
      const names = netnsNames(id);
      record.netns = names.netns;
      record.hostIf = names.hostIf;
    }
    try {
      // Recorded before anything is made, so that list and delete find a half-made instance.
      await this.save(record);
    } finally {
      this.reserved.delete(slot.ip);
    }
    try {
      let net: InstanceNetwork = { ip: slot.ip };
      if (this.mode === 'netns') net = await createNetns(id, { host: slot.hostIp!, instance: slot.ip }, signal);
      if (this.config.agentCommand) {
        const argv = this.config.agentCommand.split(/\s+/).filter(Boolean).map((a) => a.replaceAll('{socket}', agentSocket));
        record.pids.push(spawnDetached(argv, join(dir, 'agent.log')));
      }
      record.pids.push(
        spawnDetached(
          [
            ...inNetns(net),
            ...nodeCommand(FORWARDER_ENTRY),
            '--provision-from', cidata,
            '--root', root,
            '--listen', `${net.ip}:${this.host.forwarderPort}`,
            '--kata-agent-socket', agentSocket,
          ],
          join(dir, 'forwarder.log'),
        ),
      );
      await this.save(record);
    } catch (err) {
      throw new ProviderError('INTERNAL', `starting local instance ${id}: ${(err as Error).message}`, { partialInstanceId: id, cause: err });
    }
    const ip = record.ip;
    this.log.info({ instanceId: id, ip, pids: record.pids, sandbox: req.sandboxId }, `started local instance ${id} on ${ip}`);
    return { id, name: req.instanceName, ips: [ip], instanceType: 'local' };
  }

  async deleteInstance(instanceId: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const dir = this.instanceDir(instanceId);
    const record = await this.read(instanceId);
    if (record) {
      await Promise.all(record.pids.map((pid) => stopProcess(pid, dir)));
      await deleteNetns({ ip: record.ip, netns: record.netns, hostIf: record.hostIf });
    }
    await rm(dir, { recursive: true, force: true });
    if (record) this.log.info({ instanceId }, `deleted local instance ${instanceId}`);
  }

  async listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    signal.throwIfAborted();
    const out: InstanceSummary[] = [];
    for (const r of await this.readAll()) {
      if (Object.entries(tags).every(([k, v]) => r.tags[k] === v)) out.push({ id: r.id, name: r.name, tags: r.tags });
    }
    return out;
  }

  async teardown(): Promise<void> {}

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
    const records: InstanceRecord[] = [];
    for (const n of names.filter((x) => ID.test(x))) {
      const r = await this.read(n).catch(() => undefined);
      if (r) records.push(r);
    }
    return records;
  }

  /**
   * The lowest free slot: loopback mode 127.N.x.y (from .0.2 up); netns mode the instance end of a
   * /30 in LOCAL_NETNS_CIDR. Skips addresses of recorded instances and of creates in flight.
   */
  private async allocateAddress(): Promise<{ ip: string; hostIp?: string }> {
    const used = new Set([...(await this.readAll()).map((r) => r.ip), ...this.reserved]);
    for (let i = this.mode === 'netns' ? 0 : 2; i < 16_383; i++) {
      let slot: { ip: string; hostIp?: string };
      if (this.mode === 'netns') {
        const a = netnsAddresses(this.config.netnsCidr, i);
        slot = { ip: a.instance, hostIp: a.host };
      } else {
        if ((i & 0xff) === 0 || (i & 0xff) === 255) continue;
        slot = { ip: `${this.config.addressPrefix}.${i >> 8}.${i & 0xff}` };
      }
      if (used.has(slot.ip)) continue;
      this.reserved.add(slot.ip);
      return slot;
    }
    throw new ProviderError('QUOTA', 'no free address left for local instances');
  }
}
