/** A provider built for a benchmark run, warmed up and ready for the timed batch of creates. */
import { pino } from 'pino';
import type { ProviderPlugin } from '../../src/providers/registry.js';
import { request } from '../../test/providers/contract/provider-contract.js';
import { sleep } from '../../test/helpers/async.js';

export const ids = { clusterName: 'bench', nodeName: 'node-a' };

export interface WarmProvider {
  /** `creates` concurrent createInstance calls. */
  work(): Promise<unknown>;
  teardown(): Promise<void>;
}

/**
 * Builds the provider through its plugin, makes 10 creates (module code paths, keep-alive sockets,
 * tokens), then waits a second so that the limiter's bucket is full again for the timed batch.
 */
export async function warmProvider(plugin: ProviderPlugin, env: Record<string, string>, o: { creates: number; warmTimeoutMs: number; timeoutMs: number }): Promise<WarmProvider> {
  const { provider } = await plugin.create({ logger: pino({ level: 'warn' }), stateDir: '/nonexistent', ...ids, forwarderPort: 15150 }, { flags: {}, env });
  try {
    await Promise.all(Array.from({ length: 10 }, () => provider.createInstance(request(ids), AbortSignal.timeout(o.warmTimeoutMs))));
    await sleep(1_000); // let the bucket refill
  } catch (err) {
    await provider.teardown();
    throw err;
  }
  return {
    work: () => Promise.all(Array.from({ length: o.creates }, () => provider.createInstance(request(ids), AbortSignal.timeout(o.timeoutMs)))),
    teardown: () => provider.teardown(),
  };
}
