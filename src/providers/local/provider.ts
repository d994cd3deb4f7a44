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

interface InstanceRecord {
  id: string;
  name: string;
  ip: string;
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

  constructor(
    private readonly host: ProviderHost,
    private readonly config: LocalConfig,
  ) {
    this.dir = join(host.stateDir, 'local', 'instances');
    this.log = host.logger.child({ component: 'providers/local' });
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

    const ip = await this.allocateAddress();
    const record: InstanceRecord = { id, name: req.instanceName, ip, tags: { ...req.tags }, pids: [], createdAt: new Date().toISOString() };
    try {
      // Recorded before anything starts, so that list and delete find a half-made instance.
      await this.save(record);
    } finally {
      this.reserved.delete(ip);
    }
    try {
      if (this.config.agentCommand) {
        const argv = this.config.agentCommand.split(/\s+/).filter(Boolean).map((a) => a.replaceAll('{socket}', agentSocket));
        record.pids.push(spawnDetached(argv, join(dir, 'agent.log')));
      }
      record.pids.push(
        spawnDetached(
          [
            ...nodeCommand(FORWARDER_ENTRY),
            '--provision-from', cidata,
            '--root', root,
            '--listen', `${ip}:${this.host.forwarderPort}`,
            '--kata-agent-socket', agentSocket,
          ],
          join(dir, 'forwarder.log'),
        ),
      );
      await this.save(record);
    } catch (err) {
      throw new ProviderError('INTERNAL', `starting local instance ${id}: ${(err as Error).message}`, { partialInstanceId: id, cause: err });
    }
    this.log.info({ instanceId: id, ip, pids: record.pids, sandbox: req.sandboxId }, `started local instance ${id} on ${ip}`);
    return { id, name: req.instanceName, ips: [ip], instanceType: 'local' };
  }

  async deleteInstance(instanceId: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const dir = this.instanceDir(instanceId);
    const record = await this.read(instanceId);
    if (record) await Promise.all(record.pids.map((pid) => stopProcess(pid, dir)));
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

  /** The lowest free 127.N.x.y (x.y from 0.2 up), skipping addresses of recorded instances. */
  private async allocateAddress(): Promise<string> {
    const used = new Set([...(await this.readAll()).map((r) => r.ip), ...this.reserved]);
    for (let i = 2; i < 65_534; i++) {
      const ip = `${this.config.addressPrefix}.${i >> 8}.${i & 0xff}`;
      if ((i & 0xff) === 0 || (i & 0xff) === 255 || used.has(ip)) continue;
      this.reserved.add(ip);
      return ip;
    }
    throw new ProviderError('QUOTA', `no free address left in ${this.config.addressPrefix}.0.0/16`);
  }
}
