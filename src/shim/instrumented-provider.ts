/**
 * A Provider that reports every operation's outcome (for the `caa_provider_calls_total` metric)
 * and otherwise passes everything through unchanged.
 */
import type { Logger } from 'pino';
import { asProviderError } from '../providers/errors.js';
import type { CreateInstanceRequest, Instance, InstanceSummary, Provider } from '../providers/provider.js';
import type { MetricsSink, ProviderOperation } from './ports.js';

export type OutcomeSink = MetricsSink['providerCall'];

export class InstrumentedProvider implements Provider {
  constructor(
    private readonly inner: Provider,
    private readonly sink: OutcomeSink,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  createInstance(request: CreateInstanceRequest, signal: AbortSignal): Promise<Instance> {
    return this.track('create', signal, () => this.inner.createInstance(request, signal));
  }

  deleteInstance(instanceId: string, signal: AbortSignal, logger?: Logger): Promise<void> {
    return this.track('delete', signal, () => this.inner.deleteInstance(instanceId, signal, logger));
  }

  listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]> {
    return this.track('list', signal, () => this.inner.listInstances(tags, signal));
  }

  teardown(): Promise<void> {
    return this.inner.teardown();
  }

  get watchForExit(): Provider['watchForExit'] {
    return this.inner.watchForExit?.bind(this.inner);
  }

  private async track<T>(operation: ProviderOperation, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
    try {
      const out = await call();
      this.sink(operation, 'ok');
      return out;
    } catch (err) {
      this.sink(operation, asProviderError(err, signal).code);
      throw err;
    }
  }
}
