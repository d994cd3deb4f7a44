/**
 * The fake EC2 in its own process, so that the benchmark's CPU figures are the provider's alone.
 * Talks to the parent over the fork IPC channel: `stats`, `reset`, `close`.
 */
import { FakeEc2 } from '../../test/fakes/ec2/index.js';
import { serveFake } from './child.js';

const latencyMs = Number(process.argv[2] ?? 50);
const fake = await FakeEc2.start({ latencyMs, seed: 1 });

serveFake(fake, () => ({ peakInFlight: fake.peakInFlight, runInstances: fake.callCount('RunInstances'), calls: fake.calls.length }), { endpoint: fake.endpoint });
