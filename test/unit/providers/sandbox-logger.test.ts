/**
 * The shim hands the provider its sandbox's child logger: on the create request and on the delete
 * that removes the sandbox's instance, with the sandbox's keys bound (the provider then logs with them,
 * request-log.ts; test/integration/aws-provider.test.ts checks a real provider's lines).
 */
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../../helpers/daemon-harness.js';
import { MemoryProvider } from '../../fakes/memory-provider.js';

/** Records the logger each delete was handed. */
class DeleteLoggers extends MemoryProvider {
  readonly deleteLoggers: (Logger | undefined)[] = [];

  override async deleteInstance(instanceId: string, signal: AbortSignal, logger?: Logger): Promise<void> {
    this.deleteLoggers.push(logger);
    return super.deleteInstance(instanceId, signal);
  }
}

let h: DaemonHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('the sandbox logger handed to the provider', () => {
  it('comes with createInstance and deleteInstance, carrying the sandbox, pod and namespace', async () => {
    const provider = new DeleteLoggers();
    h = await DaemonHarness.start({ provider });
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 });
    const keys = { sandbox: SANDBOX_ID, pod: 'nginx', namespace: 'default' };
    expect([...provider.instances.values()][0]!.request.logger?.bindings()).toMatchObject(keys);
    await hv.stopVM({ id: SANDBOX_ID });
    await h.settle();
    expect(provider.instances.size).toBe(0);
    expect(provider.deleteLoggers).toHaveLength(1);
    expect(provider.deleteLoggers[0]?.bindings()).toMatchObject(keys);
  });
});
