/** The contract suite against the azure provider and the fake ARM (HTTPS, long-running operations). */
import { startAzure } from '../../helpers/azure.js';
import { DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID } from '../../fakes/arm/index.js';
import { providerContract } from './provider-contract.js';

providerContract('azure', async () => {
  const azure = await startAzure();
  const { fake } = azure;
  // Our own seeded draws, so that the suite can count what it injected; one stream per kind of
  // fault, so that throttling draws do not decide which PUTs and DELETEs lose their reply.
  const stream = (seed: number) => {
    let random = seed;
    return (rate: number): boolean => {
      random = (random * 1103515245 + 12345) >>> 0;
      return random / 2 ** 32 < rate;
    };
  };
  return {
    provider: azure.provider,
    clusterName: 'contract',
    nodeName: 'node-a',
    missingId: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/${DEFAULT_RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachines/podvm-never-existed-0000`,
    liveInstanceIds: async () => fake.liveVms().map((vm) => vm.id),
    stored: async (id) => {
      const vm = fake.vm(id);
      return vm && { tags: vm.tags, userData: vm.userData };
    },
    // Every attempt the SDK makes (the same PUT of the same VM) takes effect and loses its reply.
    loseCreateReplies: () => fake.failAfterEffect({ operation: 'virtualMachines.createOrUpdate' }),
    injectFaults: (rate) => {
      let injected = 0;
      const [throttle, lose] = [stream(0x2545f491), stream(0x9e3779b9)];
      const count = (roll: (rate: number) => boolean) => (): boolean => (roll(rate / 2) ? (injected++, true) : false);
      const undo = [
        // Throttling on any request, long-running-operation polls included; ARM says when to come back.
        fake.inject({ code: 'TooManyRequests', retryAfterSeconds: 0, when: count(throttle) }),
        // The cloud did it, the reply is lost: the case that leaks when a client is careless.
        fake.failAfterEffect({ operation: ['virtualMachines.createOrUpdate', 'virtualMachines.delete'], when: count(lose) }),
      ];
      return { undo: () => undo.forEach((u) => u()), injected: () => injected };
    },
    setCreateLatency: (ms) => (fake.createDurationMs = ms),
    close: azure.close,
  };
});
