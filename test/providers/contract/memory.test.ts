/** The contract suite against the in-memory provider the daemon tests use, so that fake honours it too. */
import { ProviderError } from '../../../src/providers/errors.js';
import { MemoryProvider } from '../../fakes/memory-provider.js';
import { providerContract } from './provider-contract.js';

providerContract('memory', async () => {
  const provider = new MemoryProvider();
  let injected = 0;
  return {
    provider,
    clusterName: 'contract',
    nodeName: 'node-a',
    missingId: 'i-never',
    liveInstanceIds: async () => [...provider.instances.keys()],
    stored: async (id) => {
      const i = provider.instances.get(id);
      return i && { tags: i.tags, userData: i.userData };
    },
    loseCreateReplies: () => {
      provider.failAfterCreate = new ProviderError('UNAVAILABLE', 'reply lost');
      return () => (provider.failAfterCreate = undefined);
    },
    injectFaults: (rate) => {
      provider.fault = () => {
        if (Math.random() < rate) {
          injected++;
          throw new ProviderError('UNAVAILABLE', 'injected fault');
        }
      };
      return { undo: () => (provider.fault = undefined), injected: () => injected };
    },
    setCreateLatency: (ms) => (provider.latency.create = ms),
    close: async () => provider.teardown(),
  };
});
