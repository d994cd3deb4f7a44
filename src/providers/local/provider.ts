/**
 * Placeholder `local` provider, so the daemon runs with no cloud account: an "instance" is a record
 * in `<stateDir>/local/instances/<id>.json` and its IP is 127.0.0.1. No VM and no forwarder start,
 * so a real Kata shim cannot run containers through it yet — the agent-tunnel issue replaces this
 * with a forwarder process per instance.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ProviderError } from '../errors.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider, ProviderHost } from '../provider.js';
import { writeFileAtomic } from '../../util/atomic-file.js';

interface InstanceRecord {
  id: string;
  name: string;
  tags: Record<string, string>;
  createdAt: string;
}

export class LocalProvider implements Provider {
  readonly name = 'local';
  private readonly dir: string;
  private readonly log: Logger;

  constructor(host: ProviderHost) {
    this.dir = join(host.stateDir, 'local', 'instances');
    this.log = host.logger.child({ component: 'providers/local' });
  }

  private path(id: string): string {
    if (!/^local-[0-9a-f-]{36}$/.test(id)) throw new ProviderError('NOT_FOUND', `instance ${id} is not a local instance id`);
    return join(this.dir, `${id}.json`);
  }

  async createInstance(req: CreateInstanceRequest, signal: AbortSignal): Promise<Instance> {
    signal.throwIfAborted();
    await mkdir(this.dir, { recursive: true });
    const record: InstanceRecord = { id: `local-${randomUUID()}`, name: req.instanceName, tags: { ...req.tags }, createdAt: new Date().toISOString() };
    await writeFileAtomic(this.path(record.id), JSON.stringify(record));
    this.log.warn({ instanceId: record.id, sandbox: req.sandboxId }, 'local provider placeholder: recorded an instance; no VM was started');
    return { id: record.id, name: record.name, ips: ['127.0.0.1'], instanceType: 'local' };
  }

  async deleteInstance(instanceId: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await rm(this.path(instanceId), { force: true });
  }

  async listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    signal.throwIfAborted();
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: InstanceSummary[] = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      const r = JSON.parse(await readFile(join(this.dir, n), 'utf8')) as InstanceRecord;
      if (Object.entries(tags).every(([k, v]) => r.tags[k] === v)) out.push({ id: r.id, name: r.name, tags: r.tags });
    }
    return out;
  }

  async teardown(): Promise<void> {}
}
