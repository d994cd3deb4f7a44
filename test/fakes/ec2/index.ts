/**
 * Fake EC2 for tests and benchmarks.
 *
 *   const fake = await FakeEc2.start();
 *   const ec2 = new EC2Client({ region: 'us-east-1', endpoint: fake.endpoint,
 *     credentials: { accessKeyId: 'AKIDFAKEEC2', secretAccessKey: 'x' }, maxAttempts: 1 });
 *   …
 *   await fake.close();
 *
 * Behaviour worth knowing (all as in EC2 unless marked "fake"):
 * - RunInstances launches exactly one instance (fake: MinCount and MaxCount must be 1). UserData is
 *   taken as base64, as the SDK sends whatever string it is given: encode it yourself.
 * - SubnetId / SecurityGroupId.N cannot be combined with NetworkInterface.N; to get a public IP put
 *   the subnet and groups inside NetworkInterface.1 (with DeviceIndex 0). With no subnet at all the
 *   launch goes to a `defaultForAz` subnet, else fails with VPCIdNotSpecified (none is seeded).
 *   With no security group the instance has none (fake: EC2 would use the VPC's default group).
 * - ClientToken makes RunInstances idempotent; the SDK sends one and reuses it across its own
 *   retries, so a retried launch after a lost reply returns the instance that was created.
 * - Instances are `pending` in the RunInstances reply, `running` after `state.bootDelayMs`; the
 *   public IP appears once running. Terminated instances stay listed as `terminated`.
 * - DescribeInstances refuses MaxResults together with InstanceId.N; MaxResults is 5..1000.
 * - Error codes reach SDK callers as `err.name` (e.g. `InvalidInstanceID.NotFound`).
 */
export { FakeEc2, type CallRecord } from './fake-ec2.js';
export { FakeImds, type FakeImdsOptions } from './imds.js';
export type { FakeEc2Options, LatencySetting } from './state.js';
export type { AfterEffectRule, FaultRule } from './faults.js';
export type * from './resources.js';
export { STATE_CODES } from './resources.js';
export * from './seeds.js';
export { USER_DATA_LIMIT } from './actions/launch-plan.js';
