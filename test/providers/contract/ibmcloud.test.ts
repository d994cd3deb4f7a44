/** The contract suite against the ibmcloud provider and the fake VPC (VPC JSON, IAM, Global Tagging over HTTP). */
import { startIbmCloud } from '../../helpers/ibmcloud.js';
import { tagRecord } from '../../../src/providers/ibmcloud/tags.js';
import { providerContract } from './provider-contract.js';

providerContract('ibmcloud', async () => {
  const ibm = await startIbmCloud();
  const { fake } = ibm;
  let random = 0x2545f491;
  // Our own seeded draw, so that the suite can count what it injected.
  const roll = (rate: number): boolean => {
    random = (random * 1103515245 + 12345) >>> 0;
    return random / 2 ** 32 < rate;
  };
  return {
    provider: ibm.provider,
    clusterName: 'contract',
    nodeName: 'node-a',
    missingId: '0717_00000000-0000-4000-8000-000000000000',
    liveInstanceIds: async () => fake.liveInstances().map((i) => i.id),
    stored: async (id) => {
      const i = fake.instance(id);
      return i && { tags: tagRecord(fake.tagsOf(i.crn)), userData: i.userData ?? '' };
    },
    // Every POST /instances takes effect (or is refused for the taken name) and its reply is lost.
    loseCreateReplies: () => fake.failAfterEffect({ operation: 'create_instance' }),
    injectFaults: (rate) => {
      let injected = 0;
      const count = (): boolean => (roll(rate / 2) ? (injected++, true) : false);
      const undo = [
        fake.inject({ operation: ['create_instance', 'get_instance', 'list_instances', 'delete_instance', 'attach_tag', 'list_tags'], code: 'rate_limit_exceeded', retryAfterSeconds: 0, when: count }),
        // The cloud did it, the reply is lost: the case that leaks when a client is careless.
        fake.failAfterEffect({ operation: ['create_instance', 'delete_instance', 'attach_tag'], when: count }),
      ];
      return { undo: () => undo.forEach((u) => u()), injected: () => injected };
    },
    setCreateLatency: (ms) => (fake.latencyMs = { create_instance: ms }),
    close: ibm.close,
  };
});
