/**
 * An in-memory cloud for tests: instances live in a Map that survives a "daemon restart" as long as
 * the test keeps the object. Faults can be injected per operation.
 */
import { ProviderError } from '../../src/providers/errors.js';
import { sleep } from '../../src/util/backoff.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider } from '../../src/providers/provider.js';

export interface StoredInstance {
  id: string;
  name: string;
  tags: Record<string, string>;
  userData: string;
  request: CreateInstanceRequest;
}

type Fault = (op: 'create' | 'delete' | 'list', arg: string) => Promise<void> | void;

export class MemoryProvider implements Provider {
  readonly name = 'memory';
  readonly instances = new Map<string, StoredInstance>();
  readonly calls: { op: string; arg: string }[] = [];
  private seq = 0;
  /** Milliseconds each operation takes (honouring the signal). */
  latency = { create: 0, delete: 0, list: 0 };
  /** Throw from here to fail an operation; runs before the operation takes effect. */
  fault: Fault | undefined;
  /** Create the instance, then fail with it as the partial instance. */
  failAfterCreate: ProviderError | undefined;
  /** When set, a new instance "powers off" this many ms after its create, and watchForExit reports `exitReason`. */
  exitAfterMs: number | undefined;
  exitReason = 'the VM powered off';
  /** IPs handed to new instances. */
  ips = ['10.99.0.10'];
  tornDown = false;

  private async wait(ms: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (ms <= 0) return;
    // Cancelled as a provider call is: a ProviderError, whatever the signal's reason.
    await sleep(ms, signal).catch(() => {
      throw new ProviderError('CANCELLED', 'aborted');
    });
  }

  async createInstance(req: CreateInstanceRequest, signal: AbortSignal): Promise<Instance> {
    this.calls.push({ op: 'create', arg: req.sandboxId });
    await this.fault?.('create', req.sandboxId);
    const id = `i-${++this.seq}`;
    // Like a real cloud: the instance exists as soon as the request is accepted, even if we are then aborted.
    this.instances.set(id, { id, name: req.instanceName, tags: { ...req.tags }, userData: req.userData, request: req });
    if (this.failAfterCreate) throw new ProviderError(this.failAfterCreate.code, this.failAfterCreate.message, { partialInstanceId: id });
    await this.wait(this.latency.create, signal);
    return { id, name: req.instanceName, ips: [...this.ips], instanceType: req.spec.instanceType || 'memory.small' };
  }

  async deleteInstance(instanceId: string, signal: AbortSignal): Promise<void> {
    this.calls.push({ op: 'delete', arg: instanceId });
    await this.fault?.('delete', instanceId);
    await this.wait(this.latency.delete, signal);
    this.instances.delete(instanceId);
  }

  async listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    this.calls.push({ op: 'list', arg: JSON.stringify(tags) });
    await this.fault?.('list', '');
    await this.wait(this.latency.list, signal);
    return [...this.instances.values()]
      .filter((i) => Object.entries(tags).every(([k, v]) => i.tags[k] === v))
      .map((i) => ({ id: i.id, name: i.name, tags: i.tags }));
  }

  async watchForExit(instance: Instance, signal: AbortSignal): Promise<string | undefined> {
    this.calls.push({ op: 'watch', arg: instance.id });
    if (this.exitAfterMs === undefined) {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return undefined;
    }
    await this.wait(this.exitAfterMs, signal).catch(() => undefined);
    return signal.aborted ? undefined : `${instance.name}: ${this.exitReason}`;
  }

  async teardown(): Promise<void> {
    this.tornDown = true;
  }
}
