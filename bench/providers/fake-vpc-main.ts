/**
 * The fake VPC (with IAM and Global Tagging) in its own process, so that the benchmark's CPU figures are
 * the provider's alone. Talks to the parent over the fork IPC channel: `stats`, `reset`, `close`.
 */
import { FakeVpc } from '../../test/fakes/vpc/index.js';

const latencyMs = Number(process.argv[2] ?? 50);
const fake = await FakeVpc.start({ latencyMs, seed: 1 });

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') {
    process.send!({ type: 'stats', peakInFlight: fake.peakInFlight, createInstance: fake.callCount('create_instance'), calls: fake.calls.length });
  } else if (msg.type === 'reset') {
    fake.resetStats();
    process.send!({ type: 'reset' });
  } else if (msg.type === 'close') {
    void fake.close().then(() => process.exit(0));
  }
});
process.send!({ type: 'ready', endpoint: fake.endpoint, vpcEndpoint: fake.vpcEndpoint, iamEndpoint: fake.iamEndpoint });
