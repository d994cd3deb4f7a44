/**
 * The daemon's Prometheus metrics (prom-client), on a registry of its own so that several daemons in
 * one process (tests) do not collide. Upstream exposes none; these answer "how long do pods wait
 * for VMs, what fails, and how much is leaking".
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProviderErrorCode } from '../providers/errors.js';
import type { MetricsSink, ProviderOperation, SandboxObserver } from '../shim/ports.js';

const SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];

export class DaemonMetrics implements MetricsSink {
  readonly registry = new Registry();
  readonly vmCreate: Histogram<'provider' | 'instance_type' | 'outcome'>;
  readonly startPhase: Histogram<'phase'>;
  readonly startFailures: Counter<'provider'>;
  readonly sandboxes: Gauge<'phase'>;
  readonly providerCalls: Counter<'provider' | 'operation' | 'code'>;
  readonly proxyReconnects: Counter;
  readonly reaped: Counter<'provider'>;

  constructor(
    readonly provider: string,
    options: { processMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    this.vmCreate = new Histogram({
      name: 'caa_vm_create_seconds',
      help: 'createInstance latency by provider, instance type and outcome (ok or the error kind)',
      labelNames: ['provider', 'instance_type', 'outcome'],
      buckets: SECONDS,
      registers,
    });
    this.startPhase = new Histogram({
      name: 'caa_startvm_phase_seconds',
      help: 'StartVM phase durations: create_instance, pod_network, agent_tunnel, total',
      labelNames: ['phase'],
      buckets: SECONDS,
      registers,
    });
    this.startFailures = new Counter({ name: 'caa_startvm_failures_total', help: 'StartVM calls that failed', labelNames: ['provider'], registers });
    const counts = (): Record<string, number> => this.countSandboxes();
    this.sandboxes = new Gauge({
      name: 'caa_sandboxes',
      help: 'sandboxes held by this daemon, by phase',
      labelNames: ['phase'],
      registers,
      // Read at scrape time, so the gauge cannot drift from the sandbox table.
      collect() {
        for (const [phase, n] of Object.entries(counts())) this.set({ phase }, n);
      },
    });
    this.providerCalls = new Counter({
      name: 'caa_provider_calls_total',
      help: 'provider (cloud API) operations by operation and outcome (ok or the error kind)',
      labelNames: ['provider', 'operation', 'code'],
      registers,
    });
    this.proxyReconnects = new Counter({ name: 'caa_proxy_reconnects_total', help: 'agent proxies that re-established a lost forwarder connection', registers });
    this.reaped = new Counter({ name: 'caa_reaped_instances_total', help: 'leaked instances deleted by the reaper', labelNames: ['provider'], registers });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'caa_' });
  }

  /** Counts one provider operation. */
  providerCall(operation: ProviderOperation, code: ProviderErrorCode | 'ok'): void {
    this.providerCalls.inc({ provider: this.provider, operation, code });
  }

  /** Counts one leaked instance the reaper deleted. */
  instanceReaped(): void {
    this.reaped.inc({ provider: this.provider });
  }

  /** The sandbox observer that feeds the histograms. */
  observer(): SandboxObserver {
    return {
      instanceCreated: (_s, instance, ms) => this.vmCreate.observe({ provider: this.provider, instance_type: instance.instanceType ?? '', outcome: 'ok' }, ms / 1000),
      instanceCreateFailed: (_s, code, _m, ms) => this.vmCreate.observe({ provider: this.provider, instance_type: '', outcome: code }, ms / 1000),
      startPhase: (_s, phase, ms) => this.startPhase.observe({ phase }, ms / 1000),
      startFailed: () => this.startFailures.inc({ provider: this.provider }),
    };
  }

  private countSandboxes: () => Record<string, number> = () => ({});

  /** Where the sandbox gauge reads its figures at scrape time. */
  trackSandboxes(count: () => Record<string, number>): void {
    this.countSandboxes = count;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
