/**
 * Capacity as the scheduler sees it: the daemon's device plugin (fake kubelet) advertises
 * PEERPODS_LIMIT_PER_NODE devices and marks them Unhealthy while the cloud refuses on quota, until a
 * VM is created again or the retry window passes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startCapacity, type Capacity } from '../../src/k8s/capacity.js';
import { ProviderError } from '../../src/providers/errors.js';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { FakeKubelet } from '../fakes/kubelet/index.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(retryAfterMs = 60_000) {
  const dir = await mkdtemp(join(tmpdir(), 'cap-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const kubelet = await FakeKubelet.start(dir);
  cleanups.push(() => kubelet.close());
  const capacity: Capacity = await startCapacity({ mode: 'device-plugin', limit: 3, pluginDir: dir, logger: pino({ level: 'silent' }), retryAfterMs });
  cleanups.push(() => capacity.stop());
  const h = await DaemonHarness.start({ extra: { observers: [capacity.observer] } });
  cleanups.push(() => h.close());
  return { kubelet, h };
}

const allHealthy = (d: { health: string }[]) => d.length === 3 && d.every((x) => x.health === 'Healthy');
const allUnhealthy = (d: { health: string }[]) => d.length === 3 && d.every((x) => x.health === 'Unhealthy');

describe('capacity (device plugin)', () => {
  it('advertises PEERPODS_LIMIT_PER_NODE healthy devices; a quota failure makes them unhealthy; a created VM makes them healthy', async () => {
    const { kubelet, h } = await setup();
    const reg = await kubelet.waitForRegistration();
    expect(reg.resourceName).toBe('kata.peerpods.io/vm');
    await kubelet.waitForDevices(allHealthy);

    h.provider.fault = (op) => {
      if (op === 'create') throw new ProviderError('QUOTA', 'vCPU limit of 32 reached');
    };
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await expect(hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 })).rejects.toThrow(/QUOTA/);
    await kubelet.waitForDevices(allUnhealthy);

    h.provider.fault = undefined;
    await hv.stopVM({ id: SANDBOX_ID });
    await h.settle();
    const other = 'e'.repeat(64);
    await hv.createVM({ id: other, annotations: shimAnnotations({ 'io.kubernetes.cri.sandbox-name': 'pod-2' }), networkNamespacePath: '' });
    await hv.startVM({ id: other }, { timeoutMs: 10_000 });
    await kubelet.waitForDevices(allHealthy);
  });

  it('a capacity error (no capacity for a type) does not take the node out; the retry window brings a quota outage back', async () => {
    const { kubelet, h } = await setup(300);
    await kubelet.waitForDevices(allHealthy);
    const hv = await h.hypervisor();
    h.provider.fault = (op) => {
      if (op === 'create') throw new ProviderError('CAPACITY', 'InsufficientInstanceCapacity');
    };
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await expect(hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 })).rejects.toThrow(/CAPACITY/);
    expect(allHealthy(kubelet.devices() ?? [])).toBe(true);
    h.provider.fault = (op) => {
      if (op === 'create') throw new ProviderError('UNAUTHORIZED', 'AuthFailure');
    };
    await hv.stopVM({ id: SANDBOX_ID });
    await h.settle();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await expect(hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 })).rejects.toThrow(/UNAUTHENTICATED|UNAUTHORIZED/);
    await kubelet.waitForDevices(allUnhealthy);
    await kubelet.waitForDevices(allHealthy, 5_000);
  });
});
