/**
 * The fake VPC (with IAM and Global Tagging) in its own process, so that the benchmark's CPU figures are
 * the provider's alone. Talks to the parent over the fork IPC channel: `stats`, `reset`, `close`.
 */
import { FakeVpc } from '../../test/fakes/vpc/index.js';
import { serveFake } from './child.js';

const latencyMs = Number(process.argv[2] ?? 50);
const fake = await FakeVpc.start({ latencyMs, seed: 1 });

serveFake(
  fake,
  () => ({ peakInFlight: fake.peakInFlight, createInstance: fake.callCount('create_instance'), calls: fake.calls.length }),
  { endpoint: fake.endpoint, vpcEndpoint: fake.vpcEndpoint, iamEndpoint: fake.iamEndpoint },
);
