/**
 * A provider built through its plugin (as the daemon builds it) against a fake cloud that is already
 * listening, with a capturing logger; `close()` tears down the provider, then the fake.
 */
import type { Logger } from 'pino';
import type { Provider } from '../../src/providers/provider.js';
import type { ProviderPlugin } from '../../src/providers/registry.js';
import { captureLogger, type LogLine } from './capture-logger.js';

export interface ProviderUnderTest<F, P> {
  fake: F;
  provider: P;
  env: Record<string, string>;
  logs: LogLine[];
  logger: Logger;
  close(): Promise<void>;
}

/** `env` builds the provider's keys from the fake; the fake is closed again if the plugin throws. */
export async function startProviderUnderTest<F extends { close(): Promise<void> }, P extends Provider>(
  fake: F,
  plugin: ProviderPlugin,
  env: (fake: F) => Record<string, string>,
): Promise<ProviderUnderTest<F, P>> {
  try {
    const keys = env(fake);
    const { logger, logs } = captureLogger();
    const { provider } = (await plugin.create(
      { logger, stateDir: '/nonexistent', clusterName: 'contract', nodeName: 'node-a', forwarderPort: 15150 },
      { flags: {}, env: keys },
    )) as { provider: P };
    return {
      fake,
      provider,
      env: keys,
      logs,
      logger,
      close: async () => {
        await provider.teardown();
        await fake.close();
      },
    };
  } catch (err) {
    await fake.close();
    throw err;
  }
}
