/** The contract suite against the ibmcloud provider and the fake VPC (VPC JSON, IAM, Global Tagging over HTTP). */
import { startIbmCloud } from '../../helpers/ibmcloud.js';
import { tagRecord } from '../../../src/providers/ibmcloud/tags.js';
import { CONTRACT_IDS, providerContract, seededDraw } from './provider-contract.js';

providerContract('ibmcloud', async () => {
  const ibm = await startIbmCloud();
  const { fake } = ibm;
  const roll = seededDraw();
  return {
    provider: ibm.provider,
    ...CONTRACT_IDS,
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
