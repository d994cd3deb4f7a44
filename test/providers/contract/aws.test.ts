/** The contract suite against the aws provider and the fake EC2 (EC2 Query protocol over HTTP). */
import { startAws } from '../../helpers/aws.js';
import { CONTRACT_IDS, providerContract, seededDraw } from './provider-contract.js';

providerContract('aws', async () => {
  const aws = await startAws();
  const { fake } = aws;
  const roll = seededDraw();
  return {
    provider: aws.provider,
    ...CONTRACT_IDS,
    missingId: 'i-0123456789abcdef0',
    liveInstanceIds: async () => fake.liveInstances().filter((i) => i.state === 'pending' || i.state === 'running').map((i) => i.instanceId),
    stored: async (id) => {
      const i = fake.instance(id);
      return i && { tags: i.tags, userData: i.userData ?? '' };
    },
    // Every attempt the SDK makes (same ClientToken) takes effect and loses its reply.
    loseCreateReplies: () => fake.failAfterEffect({ action: 'RunInstances' }),
    injectFaults: (rate) => {
      let injected = 0;
      const count = (): boolean => (roll(rate / 2) ? (injected++, true) : false);
      const undo = [
        fake.inject({ code: 'RequestLimitExceeded', when: count }),
        // The cloud did it, the reply is lost: the case that leaks when a client is careless.
        fake.failAfterEffect({ action: ['RunInstances', 'TerminateInstances'], when: count }),
      ];
      return { undo: () => undo.forEach((u) => u()), injected: () => injected };
    },
    setCreateLatency: (ms) => (fake.latencyMs = { RunInstances: ms }),
    close: aws.close,
  };
});
