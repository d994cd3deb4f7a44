/**
 * What the aws provider asks EC2 for, and how it reacts to what EC2 answers — against the fake EC2
 * over the real SDK. The provider-neutral contract lives in test/providers/contract.
 */
import { AllocateAddressCommand, AssociateAddressCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { awsPlugin } from '../../src/providers/aws/index.js';
import { ProviderError, isProviderError } from '../../src/providers/errors.js';
import { TagKey } from '../../src/providers/naming.js';
import { awsEnv, captureLogger, startAws, type AwsUnderTest } from '../helpers/aws.js';
import { DEFAULT_ACCESS_KEY, FakeEc2, FakeImds } from '../fakes/ec2/index.js';
import { request } from '../providers/contract/provider-contract.js';

const ids = { clusterName: 'c1', nodeName: 'node-a' };
const signal = (): AbortSignal => AbortSignal.timeout(30_000);
const host = () => ({ ...captureLogger(), stateDir: '/nonexistent', ...ids, forwarderPort: 15150 });

let aws: AwsUnderTest | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await aws?.close();
  aws = undefined;
  for (const c of closers.splice(0)) await c();
});

async function startError(env: Record<string, string>, fakeOptions = {}): Promise<ProviderError> {
  const fake = await FakeEc2.start(fakeOptions);
  closers.push(() => fake.close());
  return awsPlugin.create(host(), { flags: {}, env: awsEnv(fake, env) }).then(
    () => expect.unreachable('start-up should have failed'),
    (e: unknown) => e as ProviderError,
  );
}

describe('aws provider: RunInstances', () => {
  it('launches a tagged SEV-SNP instance with IMDSv2 only, the root volume size, subnet, groups and key', async () => {
    aws = await startAws({ env: { TAGS: 'team=peerpods,cost-center=42' } });
    const req = request(ids);
    const inst = await aws.provider.createInstance(req, signal());
    const stored = aws.fake.instance(inst.id)!;
    expect(inst).toMatchObject({ name: req.instanceName, instanceType: 'm6a.large' });
    expect(inst.ips).toEqual([stored.networkInterfaces[0]!.privateIpAddress]);
    expect(inst.ips[0]).toMatch(/^10\.96\./);
    expect(stored.cpuOptions.amdSevSnp).toBe('enabled');
    expect(stored.metadataOptions).toMatchObject({ httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 });
    expect(stored.blockDeviceMappings[0]).toMatchObject({ deviceName: '/dev/xvda', volumeSizeGiB: 30, deleteOnTermination: true });
    expect(stored).toMatchObject({ keyName: 'caa-key', subnetId: 'subnet-0fake000000000001', securityGroupIds: ['sg-0fake000000000001'] });
    const expectedTags = { Name: req.instanceName, team: 'peerpods', 'cost-center': '42', ...req.tags };
    expect(stored.tags).toEqual(expectedTags);
    // Set at creation on what the instance brings along too, so a sweep by tags finds them.
    const volume = aws.fake.volumes().find((v) => v.attachment?.instanceId === inst.id)!;
    expect(volume.tags).toEqual(expectedTags);
    expect(stored.networkInterfaces[0]!.tags).toEqual(expectedTags);
  });

  it('TAGS cannot overwrite the tags the daemon finds its instances by', async () => {
    aws = await startAws({ env: { TAGS: `${TagKey.CLUSTER}=someone-else` } });
    const req = request(ids);
    const inst = await aws.provider.createInstance(req, signal());
    expect(aws.fake.instance(inst.id)!.tags[TagKey.CLUSTER]).toBe('c1');
  });

  it('DISABLECVM=true launches without SEV-SNP, and then a type without SNP is accepted', async () => {
    aws = await startAws({ env: { DISABLECVM: 'true', PODVM_INSTANCE_TYPE: 't3.small', PODVM_INSTANCE_TYPES: '' } });
    const inst = await aws.provider.createInstance(request(ids), signal());
    expect(aws.fake.instance(inst.id)!.cpuOptions.amdSevSnp).toBeUndefined();
    expect(inst.instanceType).toBe('t3.small');
  });

  it('refuses user-data over 16384 bytes before calling EC2, with both sizes in the message', async () => {
    aws = await startAws();
    const err = await aws.provider.createInstance(request(ids, { userData: 'x'.repeat(16_385) }), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/16385 bytes.*at most 16384/);
    expect(aws.fake.callCount('RunInstances')).toBe(0);
  });

  it('the image annotation overrides the AMI; an unknown one is an INVALID_REQUEST naming it', async () => {
    aws = await startAws();
    const req = request(ids);
    const inst = await aws.provider.createInstance({ ...req, spec: { ...req.spec, image: 'ami-0fake0000000000002' } }, signal());
    expect(aws.fake.instance(inst.id)!.imageId).toBe('ami-0fake0000000000002');
    const bad = request(ids);
    const err = await aws.provider.createInstance({ ...bad, spec: { ...bad.spec, image: 'ami-0000000000000dead' } }, signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toContain('ami-0000000000000dead');
    expect(aws.fake.liveInstances()).toHaveLength(1);
  });

  it('selects the type from the pod size within the allowed list', async () => {
    aws = await startAws();
    const req = request(ids);
    const inst = await aws.provider.createInstance({ ...req, spec: { ...req.spec, vcpus: 4, memoryMiB: 12_000 } }, signal());
    expect(inst.instanceType).toBe('m6a.xlarge');
    const outside = request(ids);
    const err = await aws.provider.createInstance({ ...outside, spec: { ...outside.spec, instanceType: 't3.small' } }, signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/t3\.small is not part of supported instance types/);
  });

  it('waits for the private IP when RunInstances does not carry one', async () => {
    aws = await startAws({ fake: { omitPrivateIpInRunResponse: true } });
    const inst = await aws.provider.createInstance(request(ids), signal());
    expect(inst.ips[0]).toMatch(/^10\.96\./);
    expect(aws.fake.callCount('DescribeInstances')).toBeGreaterThan(0);
  });

  it('USE_PUBLIC_IP: the interface asks for a public IP, and the agent is reached on it once running', async () => {
    aws = await startAws({ env: { USE_PUBLIC_IP: 'true' }, fake: { bootDelayMs: 300 } });
    const inst = await aws.provider.createInstance(request(ids), signal());
    const stored = aws.fake.instance(inst.id)!;
    expect(stored.networkInterfaces[0]!.associatePublicIpAddress).toBe(true);
    expect(inst.ips[0]).toMatch(/^203\.0\.113\./);
    expect(inst.ips[1]).toMatch(/^10\.96\./);
    expect(stored.state).toBe('running');
  });

  it('launch-template mode sends only the template, user-data and tags', async () => {
    aws = await startAws({ env: { USE_PODVM_LAUNCHTEMPLATE: 'true', PODVM_AMI_ID: '' } });
    const inst = await aws.provider.createInstance(request(ids), signal());
    const call = aws.fake.calls.find((c) => c.action === 'RunInstances')!;
    expect(call.params.get('LaunchTemplate.LaunchTemplateName')).toBe('kata');
    expect(call.params.get('ImageId')).toBeNull();
    expect(call.params.get('InstanceType')).toBeNull();
    expect(aws.fake.instance(inst.id)!.launchTemplateName).toBe('kata');
  });
});

describe('aws provider: faults', () => {
  it('no capacity for the selected type → the next allowed type that fits, said in the log', async () => {
    aws = await startAws({ env: { AWS_MAX_ATTEMPTS: '1' } });
    aws.fake.inject({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', when: (p) => p.get('InstanceType') === 'm6a.large' });
    const inst = await aws.provider.createInstance(request(ids), signal());
    expect(inst.instanceType).toBe('r6a.large'); // c6a.large is smaller than the default: never a downgrade
    expect(aws.logs.some((l) => l.msg === 'no capacity for m6a.large; trying r6a.large')).toBe(true);
    expect(aws.fake.liveInstances()).toHaveLength(1);
  });

  it('no capacity anywhere → CAPACITY naming what was tried, and nothing created', async () => {
    aws = await startAws({ env: { AWS_MAX_ATTEMPTS: '1' } });
    aws.fake.inject({ action: 'RunInstances', code: 'InsufficientInstanceCapacity' });
    const err = await aws.provider.createInstance(request(ids), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'CAPACITY')).toBe(true);
    expect((err as Error).message).toMatch(/^InsufficientInstanceCapacity for m6a\.large in us-east-1; tried r6a\.large, m6a\.xlarge/);
    expect(aws.fake.liveInstances()).toHaveLength(0);
  });

  it('a vCPU quota is QUOTA, not retried over other types', async () => {
    aws = await startAws({ env: { AWS_MAX_ATTEMPTS: '1' } });
    aws.fake.inject({ action: 'RunInstances', code: 'VcpuLimitExceeded', message: 'You have requested more vCPU capacity than your current vCPU limit of 32 allows' });
    const err = await aws.provider.createInstance(request(ids), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'QUOTA')).toBe(true);
    expect((err as Error).message).toMatch(/VcpuLimitExceeded: You have requested more vCPU/);
    expect(aws.fake.callCount('RunInstances')).toBe(1);
  });

  it('throttling is retried by the SDK and the create succeeds', async () => {
    aws = await startAws({ env: { AWS_MAX_ATTEMPTS: '4' } });
    aws.fake.inject({ action: 'RunInstances', code: 'RequestLimitExceeded', times: 2 });
    const inst = await aws.provider.createInstance(request(ids), signal());
    expect(aws.fake.instance(inst.id)?.state).not.toBe('terminated');
    expect(aws.fake.callCount('RunInstances')).toBe(3);
  });

  it('a lost RunInstances reply is retried with the same token: one instance, not two', async () => {
    aws = await startAws({ env: { AWS_MAX_ATTEMPTS: '3' } });
    aws.fake.failAfterEffect({ action: 'RunInstances', times: 1 });
    const inst = await aws.provider.createInstance(request(ids), signal());
    expect(aws.fake.liveInstances().map((i) => i.instanceId)).toEqual([inst.id]);
  });

  it('never more EC2 calls in flight than AWS_API_MAX_IN_FLIGHT', async () => {
    aws = await startAws({ env: { AWS_API_MAX_IN_FLIGHT: '4' } });
    aws.fake.latencyMs = 20;
    aws.fake.resetStats();
    await Promise.all(Array.from({ length: 24 }, () => aws!.provider.createInstance(request(ids), signal())));
    expect(aws.fake.peakInFlight).toBeLessThanOrEqual(4);
    expect(aws.fake.peakInFlight).toBeGreaterThan(1);
  });
});

describe('aws provider: the sandbox\'s logger', () => {
  it('create, capacity fallback and delete lines carry the keys bound on the sandbox\'s child logger, under the provider\'s component', async () => {
    aws = await startAws({ env: { AWS_MAX_ATTEMPTS: '1' } });
    aws.fake.inject({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', when: (p) => p.get('InstanceType') === 'm6a.large' });
    const req = request(ids);
    // As the shim's sandbox manager makes it: its own component plus the sandbox's keys.
    const sandboxLog = aws.logger.child({ component: 'sandbox', sandbox: req.sandboxId, pod: req.podName, namespace: req.podNamespace });
    const inst = await aws.provider.createInstance({ ...req, logger: sandboxLog }, signal());
    await aws.provider.deleteInstance(inst.id, signal(), sandboxLog);
    const bound = { component: 'aws', sandbox: req.sandboxId, pod: req.podName, namespace: req.podNamespace };
    for (const msg of ['no capacity for m6a.large; trying r6a.large', `created instance ${inst.id} (r6a.large) for ${req.instanceName}`, `terminating instance ${inst.id}`]) {
      expect(aws.logs.find((l) => l.msg === msg), msg).toMatchObject(bound);
    }
  });

  it('without one, the create line still names the sandbox', async () => {
    aws = await startAws();
    const req = request(ids);
    const inst = await aws.provider.createInstance(req, signal());
    const line = aws.logs.find((l) => l.msg.startsWith(`created instance ${inst.id}`));
    expect(line).toMatchObject({ component: 'aws', sandbox: req.sandboxId });
    expect(line).not.toHaveProperty('pod');
  });
});

describe('aws provider: delete and list', () => {
  it('releases the instance\'s elastic IPs, then terminates it', async () => {
    aws = await startAws();
    const inst = await aws.provider.createInstance(request(ids), signal());
    const ec2 = new EC2Client({ region: 'us-east-1', endpoint: aws.fake.endpoint, credentials: { accessKeyId: DEFAULT_ACCESS_KEY, secretAccessKey: 'x' } });
    await aws.provider.listInstances({}, signal()); // lets the fake move the instance to running
    const { AllocationId } = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    await ec2.send(new AssociateAddressCommand({ AllocationId, InstanceId: inst.id }));
    ec2.destroy();
    await aws.provider.deleteInstance(inst.id, signal());
    expect(aws.fake.addresses()).toEqual([]);
    expect(aws.fake.instance(inst.id)!.state).toBe('terminated');
  });

  it('refuses a malformed or empty id without calling EC2 (a silent success would leak the VM)', async () => {
    aws = await startAws();
    const before = aws.fake.calls.length;
    for (const bad of ['', 'podvm-x', 'i-xyz', 'vol-0123456789abcdef0']) {
      const err = await aws.provider.deleteInstance(bad, signal()).catch((e: unknown) => e);
      expect(isProviderError(err, 'INVALID_REQUEST'), bad).toBe(true);
    }
    expect(aws.fake.calls.length).toBe(before);
  });

  it('list leaves out terminated instances', async () => {
    aws = await startAws();
    const a = await aws.provider.createInstance(request(ids), signal());
    const b = await aws.provider.createInstance(request(ids), signal());
    await aws.provider.deleteInstance(a.id, signal());
    const listed = await aws.provider.listInstances({ [TagKey.CLUSTER]: 'c1' }, signal());
    expect(listed.map((i) => i.id)).toEqual([b.id]);
    expect(listed[0]!.name).toMatch(/^podvm-contract-pod-/);
  });
});

describe('aws provider: start-up', () => {
  it('a confidential configuration with a type that cannot run SEV-SNP names the type', async () => {
    const err = await startError({ PODVM_INSTANCE_TYPES: 'm6a.large,t3.small,g5.xlarge' });
    expect(isProviderError(err, 'INVALID_CONFIG')).toBe(true);
    expect(err.message).toMatch(/t3\.small, g5\.xlarge cannot run AMD SEV-SNP/);
  });

  it('an instance type the region does not offer, a missing or unknown AMI: INVALID_CONFIG naming the key', async () => {
    expect((await startError({ PODVM_INSTANCE_TYPES: 'm6a.large,m6a.huge' })).message).toMatch(/PODVM_INSTANCE_TYPES/);
    expect((await startError({ PODVM_AMI_ID: '' })).message).toMatch(/PODVM_AMI_ID is required/);
    const unknown = await startError({ PODVM_AMI_ID: 'ami-0000000000000dead' });
    expect(unknown.code).toBe('INVALID_CONFIG');
    expect(unknown.message).toMatch(/PODVM_AMI_ID ami-0000000000000dead/);
  });

  it('refused credentials are UNAUTHORIZED', async () => {
    const err = await startError({ AWS_ACCESS_KEY_ID: 'AKIDSOMEONEELSE' });
    expect(isProviderError(err, 'UNAUTHORIZED')).toBe(true);
  });

  it('the root volume is raised to the AMI\'s own size', async () => {
    aws = await startAws({ env: { PODVM_AMI_ID: 'ami-0fake0000000000002', ROOT_VOLUME_SIZE: '10' } });
    expect(aws.provider.settings.rootVolumeSize).toBe(20);
  });

  it('a malformed TAGS is a configuration error naming the key', async () => {
    const fake = await FakeEc2.start();
    closers.push(() => fake.close());
    await expect(awsPlugin.create(host(), { flags: {}, env: awsEnv(fake, { TAGS: 'a=b,oops' }) })).rejects.toThrow(/TAGS .*expected key=value/);
  });

  it('fills region, subnet, security groups and key pair from IMDSv2 when left empty', async () => {
    const imds = await FakeImds.start({ region: 'us-east-1', subnetId: 'subnet-0fake000000000001', securityGroupIds: ['sg-0fake000000000001'], keyName: 'caa-key' });
    closers.push(() => imds.close());
    const fake = await FakeEc2.start();
    closers.push(() => fake.close());
    const env = awsEnv(fake, { AWS_REGION: '', AWS_SUBNET_ID: '', AWS_SG_IDS: '', SSH_KP_NAME: '', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint });
    const provider = (await awsPlugin.create(host(), { flags: {}, env })).provider as import('../../src/providers/aws/provider.js').AwsProvider;
    closers.push(() => provider.teardown());
    expect(provider.settings).toMatchObject({ region: 'us-east-1', subnetId: 'subnet-0fake000000000001', securityGroupIds: ['sg-0fake000000000001'], keyName: 'caa-key' });
    expect(imds.calls.some((c) => c.method === 'PUT' && c.path === '/latest/api/token')).toBe(true);
  });

  it('no subnet configured and no metadata service: INVALID_CONFIG naming AWS_SUBNET_ID', async () => {
    const err = await startError({ AWS_SUBNET_ID: '' });
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toMatch(/AWS_SUBNET_ID is empty/);
  });
});

describe('aws provider: verify', () => {
  it('one line per check, all passing on a good configuration', async () => {
    const fake = await FakeEc2.start();
    closers.push(() => fake.close());
    const checks = await awsPlugin.verify!(host(), { flags: {}, env: awsEnv(fake) }, signal());
    expect(checks.map((c) => c.name)).toEqual(['region', 'credentials', 'network keys', 'image', 'subnet', 'security groups', 'key pair', 'instance types', 'permission to create']);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.at(-1)!.detail).toBe('RunInstances (dry run) would succeed');
    expect(fake.liveInstances()).toHaveLength(0);
  });

  it('reports each broken key on its own line and goes on with the others', async () => {
    const fake = await FakeEc2.start();
    closers.push(() => fake.close());
    const checks = await awsPlugin.verify!(host(), { flags: {}, env: awsEnv(fake, { AWS_SG_IDS: 'sg-0fake000000000001,sg-0000000000000dead', PODVM_INSTANCE_TYPES: 'm6a.large,t3.small' }) }, signal());
    const failed = Object.fromEntries(checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
    expect(Object.keys(failed).sort()).toEqual(['instance types', 'permission to create', 'security groups']);
    expect(failed['security groups']).toMatch(/sg-0000000000000dead/);
    expect(failed['instance types']).toMatch(/t3\.small/);
    expect(checks.find((c) => c.name === 'image')!.ok).toBe(true);
  });

  it('stops after the credentials check when the credentials are refused', async () => {
    const fake = await FakeEc2.start();
    closers.push(() => fake.close());
    const checks = await awsPlugin.verify!(host(), { flags: {}, env: awsEnv(fake, { AWS_ACCESS_KEY_ID: 'AKIDWRONG' }) }, signal());
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['region', true],
      ['credentials', false],
    ]);
  });
});
