/**
 * The hypervisor socket against clients that misbehave: ids of any size, calls that wait forever,
 * clients that go away. Nothing may grow without bound — not the log, not the calls held.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TtrpcError } from '../../src/ttrpc/codes.js';
import { PodVMInfo } from '../../src/proto/gen/podvminfo/podvminfo_pb.js';
import { serviceClient } from '../../src/ttrpc/typed.js';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';

let h: DaemonHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const HUGE = 'x'.repeat(1 << 20);

async function failure(p: Promise<unknown>): Promise<TtrpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TtrpcError);
  return err as TtrpcError;
}

/** The longest log line written so far, as JSON. */
const longestLine = (harness: DaemonHarness): number => Math.max(0, ...harness.logs.map((l) => JSON.stringify(l).length));

describe('ids and names of any size', () => {
  it('StopVM, StartVM and CreateVM with a 1 MiB id: INVALID_ARGUMENT naming a cut id, and no long log line', async () => {
    h = await DaemonHarness.start();
    const hv = await h.hypervisor();
    for (const call of [
      () => hv.stopVM({ id: HUGE }),
      () => hv.startVM({ id: HUGE }),
      () => hv.createVM({ id: HUGE, annotations: shimAnnotations(), networkNamespacePath: '' }),
    ]) {
      const err = await failure(call());
      expect(err.code).toBe(3);
      expect(err.message).toContain(`"${'x'.repeat(64)}"… (1048576 characters)`);
      expect(err.message.length).toBeLessThan(300);
    }
    expect(longestLine(h)).toBeLessThan(2048);
    // The daemon goes on serving.
    await hv.stopVM({ id: SANDBOX_ID });
  });

  it('refuses ids outside [A-Za-z0-9_-]{1,128} on StopVM and StartVM as CreateVM does', async () => {
    h = await DaemonHarness.start();
    const hv = await h.hypervisor();
    for (const id of ['', '../etc', 'a'.repeat(129), 'bad id', 'é']) {
      expect((await failure(hv.stopVM({ id }))).code).toBe(3);
      expect((await failure(hv.startVM({ id }))).code).toBe(3);
    }
  });

  it('GetInfo with a 1 MiB pod name or namespace: INVALID_ARGUMENT, short message', async () => {
    h = await DaemonHarness.start();
    const info = await h.podvminfo();
    for (const req of [
      { PodName: HUGE, PodNamespace: 'default' },
      { PodName: 'nginx', PodNamespace: HUGE },
      { PodName: HUGE, PodNamespace: 'default', Wait: true },
    ]) {
      const err = await failure(info.getInfo(req));
      expect(err.code).toBe(3);
      expect(err.message.length).toBeLessThan(300);
    }
    expect(h.daemon.manager.getInfoWaiting).toBe(0);
    expect(longestLine(h)).toBeLessThan(2048);
  });
});

describe('waiting GetInfo calls', () => {
  it('are held at most MAX_CALLS_PER_CONNECTION per connection; the others wait unread and are answered when the VM comes', async () => {
    // The smallest cap the option accepts (64), and more calls than that.
    h = await DaemonHarness.start({ env: { MAX_CALLS_PER_CONNECTION: '64' } });
    const client = await h.connect();
    const info = serviceClient(client, PodVMInfo);
    const waits = Array.from({ length: 200 }, () => info.getInfo({ PodName: 'nginx', PodNamespace: 'default', Wait: true }));

    await h.waitFor(() => h!.daemon.manager.getInfoWaiting === 64 && h!.daemon.server.pausedConnections === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.daemon.manager.getInfoWaiting).toBe(64);

    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 });
    const answers = await Promise.all(waits);
    const vmid = answers[0]!.VMID;
    expect(vmid).not.toBe('');
    expect(answers.every((a) => a.VMID === vmid)).toBe(true);
    expect(h.daemon.manager.getInfoWaiting).toBe(0);
  });

  it('are released when the client goes away while at its cap', async () => {
    h = await DaemonHarness.start({ env: { MAX_CALLS_PER_CONNECTION: '64' } });
    const client = await h.connect();
    const info = serviceClient(client, PodVMInfo);
    const waits = Array.from({ length: 100 }, () => info.getInfo({ PodName: 'nginx', PodNamespace: 'default', Wait: true }).catch(() => undefined));
    await h.waitFor(() => h!.daemon.manager.getInfoWaiting === 64 && h!.daemon.server.pausedConnections === 1);
    client.close();
    await Promise.all(waits);
    await h.waitFor(() => h!.daemon.manager.getInfoWaiting === 0 && h!.daemon.server.callsInFlight === 0);
  });

  it('are released when the client goes away', async () => {
    h = await DaemonHarness.start();
    const client = await h.connect();
    const info = serviceClient(client, PodVMInfo);
    const waits = Array.from({ length: 20 }, () => info.getInfo({ PodName: 'nginx', PodNamespace: 'default', Wait: true }).catch(() => undefined));
    await h.waitFor(() => h!.daemon.manager.getInfoWaiting === 20);
    client.close();
    await Promise.all(waits);
    await h.waitFor(() => h!.daemon.manager.getInfoWaiting === 0 && h!.daemon.server.callsInFlight === 0);
  });
});
