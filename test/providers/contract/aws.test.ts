/** The contract suite against the aws provider and the fake EC2 (EC2 Query protocol over HTTP). */
import { startAws } from '../../helpers/aws.js';
import { providerContract } from './provider-contract.js';

providerContract('aws', async () => {
  const aws = await startAws();
  const { fake } = aws;
  let random = 0x2545f491;
  // Our own seeded draw, so that the suite can count what it injected.
  const roll = (rate: number): boolean => {
    random = (random * 1103515245 + 12345) >>> 0;
    return random / 2 ** 32 < rate;
  };
  return {
    provider: aws.provider,
    clusterName: 'contract',
    nodeName: 'node-a',
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
