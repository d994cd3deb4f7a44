/** Probes and metrics of a real daemon (in-memory cloud), over HTTP on 127.0.0.1. */
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/observability/metrics.js';
import { ProviderError } from '../../src/providers/errors.js';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';

let h: DaemonHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const get = async (port: number, path: string): Promise<{ status: number; body: string }> => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
};

/** The value of one sample line, e.g. `caa_sandboxes{phase="running"}`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function start(extra: Parameters<typeof DaemonHarness.start>[0] = {}) {
  const metrics = new DaemonMetrics('memory', { processMetrics: false });
  h = await DaemonHarness.start({ ...extra, env: { PROBE_PORT: '0', ...extra.env }, extra: { metrics, probes: true, ...extra.extra } });
  return { h, metrics, port: h.probes!.port };
}

describe('probes', () => {
  it('/startup, /healthz and /readyz pass once the hypervisor socket accepts connections', async () => {
    const { port } = await start();
    expect(await get(port, '/startup')).toEqual({ status: 200, body: 'started\n' });
    expect((await get(port, '/healthz')).status).toBe(200);
    expect((await get(port, '/readyz')).status).toBe(200);
    expect((await get(port, '/nope')).status).toBe(404);
  });

  it('/startup waits for the kata-remote pods of the node to be Ready (with a Kubernetes API), then stays passed', async () => {
    let ready = false;
    const { port } = await start({ extra: { podsReady: async () => ready } });
    const before = await get(port, '/startup');
    expect(before.status).toBe(500);
    expect(before.body).toMatch(/not all Ready/);
    ready = true;
    expect((await get(port, '/startup')).status).toBe(200);
    ready = false;
    expect((await get(port, '/startup')).status).toBe(200);
  });

  it('/healthz fails when the hypervisor socket stops accepting (liveness restarts such a daemon)', async () => {
    const { h, port } = await start();
    await h.daemon.server.shutdown(0);
    const { rm } = await import('node:fs/promises');
    await rm(h.config.socket, { force: true });
    const r = await get(port, '/healthz');
    expect(r.status).toBe(500);
    expect(r.body).toMatch(/does not accept connections/);
  });

  it('/readyz turns 503 once shutdown begins', async () => {
    const { h, port } = await start();
    const stopping = h.daemon.stop();
    // Shutdown waits for calls in flight; readiness drops at its start.
    const r = await get(port, '/readyz').catch(() => ({ status: 503, body: 'closed' }));
    expect(r.status).toBe(503);
    await stopping;
  });

  it('a busy probe port is retried, not fatal', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, r));
    const busy = (blocker.address() as { port: number }).port;
    try {
      const metrics = new DaemonMetrics('memory', { processMetrics: false });
      h = await DaemonHarness.start({ env: { PROBE_PORT: String(busy) }, extra: { metrics, probes: true } });
      expect(h.logged(`probe port ${busy} is in use`)).toBe(true);
      expect(h.daemon.socketPath).toBeDefined();
    } finally {
      blocker.close();
    }
  });
});

describe('metrics', () => {
  it('counts sandboxes by phase, VM creates by outcome, StartVM phases and provider calls', async () => {
    const { h, port } = await start();
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 });
    let text = (await get(port, '/metrics')).body;
    expect(sample(text, 'caa_sandboxes{phase="running"}')).toBe(1);
    expect(sample(text, 'caa_vm_create_seconds_count{provider="memory",instance_type="memory.small",outcome="ok"}')).toBe(1);
    expect(sample(text, 'caa_startvm_phase_seconds_count{phase="total"}')).toBe(1);
    expect(sample(text, 'caa_provider_calls_total{provider="memory",operation="create",code="ok"}')).toBe(1);

    const other = 'f'.repeat(64);
    h.provider.fault = (op) => {
      if (op === 'create') throw new ProviderError('QUOTA', 'vCPU limit');
    };
    await hv.createVM({ id: other, annotations: shimAnnotations({ 'io.kubernetes.cri.sandbox-name': 'pod-b' }), networkNamespacePath: '' });
    await expect(hv.startVM({ id: other }, { timeoutMs: 10_000 })).rejects.toThrow(/QUOTA/);
    h.provider.fault = undefined;
    await hv.stopVM({ id: SANDBOX_ID });
    await h.settle();
    text = (await get(port, '/metrics')).body;
    expect(sample(text, 'caa_vm_create_seconds_count{provider="memory",instance_type="",outcome="QUOTA"}')).toBe(1);
    expect(sample(text, 'caa_provider_calls_total{provider="memory",operation="create",code="QUOTA"}')).toBe(1);
    expect(sample(text, 'caa_startvm_failures_total{provider="memory"}')).toBe(1);
    expect(sample(text, 'caa_provider_calls_total{provider="memory",operation="delete",code="ok"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'caa_sandboxes{phase="running"}')).toBe(0);
  });

  it('a leaked instance deleted by the reaper is counted', async () => {
    const { h, metrics, port } = await start({ env: { REAPER_GRACE: '0s', REAPER_PERIOD: '0s' } });
    const { request } = await import('../providers/contract/provider-contract.js');
    await h.provider.createInstance(request({ clusterName: 'test', nodeName: 'node-a' }), AbortSignal.timeout(5_000));
    const r = await h.daemon.reaper.runOnce(AbortSignal.timeout(5_000));
    expect(r.deleted).toHaveLength(1);
    expect(sample((await get(port, '/metrics')).body, 'caa_reaped_instances_total{provider="memory"}')).toBe(1);
    expect(metrics.provider).toBe('memory');
  });
});
