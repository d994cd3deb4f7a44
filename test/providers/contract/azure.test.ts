/** The contract suite against the azure provider and the fake ARM (HTTPS, long-running operations). */
import { startAzure } from '../../helpers/azure.js';
import { DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID } from '../../fakes/arm/index.js';
import { CONTRACT_IDS, providerContract, seededDraw } from './provider-contract.js';

providerContract('azure', async () => {
  const azure = await startAzure();
  const { fake } = azure;
  return {
    provider: azure.provider,
    ...CONTRACT_IDS,
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
      // One stream per kind of fault, so that throttling draws do not decide which PUTs and DELETEs lose their reply.
      const [throttle, lose] = [seededDraw(0x2545f491), seededDraw(0x9e3779b9)];
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
