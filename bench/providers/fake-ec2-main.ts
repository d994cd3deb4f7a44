/**
 * The fake EC2 in its own process, so that the benchmark's CPU figures are the provider's alone.
 * Talks to the parent over the fork IPC channel: `stats`, `reset`, `close`.
 */
import { FakeEc2 } from '../../test/fakes/ec2/index.js';

const latencyMs = Number(process.argv[2] ?? 50);
const fake = await FakeEc2.start({ latencyMs, seed: 1 });

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') {
    process.send!({ type: 'stats', peakInFlight: fake.peakInFlight, runInstances: fake.callCount('RunInstances'), calls: fake.calls.length });
  } else if (msg.type === 'reset') {
    fake.resetStats();
    process.send!({ type: 'reset' });
  } else if (msg.type === 'close') {
    void fake.close().then(() => process.exit(0));
  }
});
process.send!({ type: 'ready', endpoint: fake.endpoint });
