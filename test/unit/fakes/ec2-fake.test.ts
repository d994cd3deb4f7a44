/**
 * The fake EC2 endpoint, driven through the real `@aws-sdk/client-ec2`: every reply must be one the
 * SDK parses, and every state change must be visible both through the API and the accessors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  DescribeAddressesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeKeyPairsCommand,
  DescribeRegionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DisassociateAddressCommand,
  EC2Client,
  EC2ServiceException,
  ReleaseAddressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import {
  DEFAULT_IMAGE_ID,
  DEFAULT_KEY_NAME,
  DEFAULT_SECURITY_GROUP_ID,
  DEFAULT_SUBNET_ID,
  DEFAULT_SUBNETS,
  FakeEc2,
  FakeImds,
  type FakeEc2Options,
} from '../../fakes/ec2/index.js';
import { rejectionOf } from '../../helpers/async.js';

const fakes: { close(): Promise<void> }[] = [];
const clients: EC2Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function startFake(options?: FakeEc2Options): Promise<FakeEc2> {
  const fake = await FakeEc2.start(options);
  fakes.push(fake);
  return fake;
}

function clientFor(fake: FakeEc2, opts: { accessKeyId?: string; maxAttempts?: number } = {}): EC2Client {
  const c = new EC2Client({
    region: 'us-east-1',
    endpoint: fake.endpoint,
    credentials: { accessKeyId: opts.accessKeyId ?? 'AKIDFAKEEC2', secretAccessKey: 'x' },
    maxAttempts: opts.maxAttempts ?? 1,
  });
  clients.push(c);
  return c;
}

async function setup(options?: FakeEc2Options): Promise<{ fake: FakeEc2; ec2: EC2Client }> {
  const fake = await startFake(options);
  return { fake, ec2: clientFor(fake) };
}

function launchInput(overrides: Partial<RunInstancesCommandInput> = {}): RunInstancesCommandInput {
  return {
    MinCount: 1,
    MaxCount: 1,
    ImageId: DEFAULT_IMAGE_ID,
    InstanceType: 'm6a.large',
    SubnetId: DEFAULT_SUBNET_ID,
    SecurityGroupIds: [DEFAULT_SECURITY_GROUP_ID],
    ...overrides,
  };
}

function podTags(pod: string) {
  return [{ ResourceType: 'instance' as const, Tags: [{ Key: 'pod', Value: pod }] }];
}

async function launch(ec2: EC2Client, overrides: Partial<RunInstancesCommandInput> = {}): Promise<Instance> {
  const out = await ec2.send(new RunInstancesCommand(launchInput(overrides)));
  const inst = out.Instances?.[0];
  if (!inst?.InstanceId) throw new Error('RunInstances returned no instance');
  return inst;
}

async function describeOne(ec2: EC2Client, id: string): Promise<Instance> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const inst = out.Reservations?.[0]?.Instances?.[0];
  if (!inst) throw new Error(`no instance ${id} in DescribeInstances`);
  return inst;
}

/** The EC2 error an SDK call failed with: code (as `name`), message and HTTP status. */
async function ec2Error(p: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined; fault: string }> {
  const err = await rejectionOf(p);
  if (!(err instanceof EC2ServiceException)) throw err;
  return { name: err.name, message: err.message, status: err.$metadata.httpStatusCode, fault: err.$fault };
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('FakeEc2 RunInstances', () => {
  it('creates a pending instance with its volume and interface, tagged per resource type, user data decoded', async () => {
    const { fake, ec2 } = await setup();
    const userData = '#cloud-config\nwrite_files: []\n';
    const inst = await launch(ec2, {
      UserData: b64(userData),
      KeyName: DEFAULT_KEY_NAME,
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'podvm-a' }, { Key: 'pod', Value: 'a' }] },
        { ResourceType: 'volume', Tags: [{ Key: 'disk-of', Value: 'podvm-a' }] },
        { ResourceType: 'network-interface', Tags: [{ Key: 'nic-of', Value: 'podvm-a' }] },
      ],
      CpuOptions: { AmdSevSnp: 'enabled' },
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 20 } }],
    });

    expect(inst.InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(inst.State).toEqual({ Code: 0, Name: 'pending' });
    expect(inst.InstanceType).toBe('m6a.large');
    expect(inst.ImageId).toBe(DEFAULT_IMAGE_ID);
    expect(inst.PrivateIpAddress).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(inst.NetworkInterfaces?.[0]?.PrivateIpAddress).toBe(inst.PrivateIpAddress);
    expect(inst.NetworkInterfaces?.[0]?.Attachment?.DeviceIndex).toBe(0);
    expect(inst.Placement?.AvailabilityZone).toBe('us-east-1a');
    expect(inst.LaunchTime).toBeInstanceOf(Date);
    expect(inst.CpuOptions?.AmdSevSnp).toBe('enabled');
    expect(inst.MetadataOptions?.HttpTokens).toBe('required');
    expect(inst.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'Name', Value: 'podvm-a' },
        { Key: 'pod', Value: 'a' },
      ]),
    );
    expect(inst.PublicIpAddress).toBeUndefined();

    const stored = fake.instance(inst.InstanceId!);
    expect(stored?.userData).toBe(userData);
    expect(stored?.tags).toEqual({ Name: 'podvm-a', pod: 'a' });
    expect(stored?.keyName).toBe(DEFAULT_KEY_NAME);
    expect(stored?.cpuOptions.amdSevSnp).toBe('enabled');
    expect(stored?.metadataOptions).toMatchObject({ httpTokens: 'required', httpEndpoint: 'enabled' });
    expect(stored?.blockDeviceMappings).toEqual([expect.objectContaining({ deviceName: '/dev/xvda', volumeSizeGiB: 20, deleteOnTermination: true })]);
    expect(fake.volumes()).toEqual([expect.objectContaining({ sizeGiB: 20, tags: { 'disk-of': 'podvm-a' }, state: 'in-use' })]);
    expect(fake.networkInterfaces()).toEqual([expect.objectContaining({ privateIpAddress: inst.PrivateIpAddress, tags: { 'nic-of': 'podvm-a' } })]);
    expect(fake.calls.map((c) => [c.action, c.region])).toEqual([['RunInstances', 'us-east-1']]);
    expect(fake.calls[0]?.params.get('TagSpecification.2.ResourceType')).toBe('volume');
  });

  it('is running from the next describe on, with a public IP when asked for one on the interface', async () => {
    const { ec2 } = await setup();
    const inst = await launch(ec2, {
      SubnetId: undefined,
      SecurityGroupIds: undefined,
      NetworkInterfaces: [{ DeviceIndex: 0, AssociatePublicIpAddress: true, SubnetId: DEFAULT_SUBNET_ID, Groups: [DEFAULT_SECURITY_GROUP_ID], DeleteOnTermination: true }],
    });
    expect(inst.PublicIpAddress).toBeUndefined();

    const running = await describeOne(ec2, inst.InstanceId!);
    expect(running.State).toEqual({ Code: 16, Name: 'running' });
    expect(running.PublicIpAddress).toMatch(/^203\.0\.113\.\d+$/);
    expect(running.NetworkInterfaces?.[0]?.Association?.PublicIp).toBe(running.PublicIpAddress);
    expect(running.PublicDnsName).toContain('203-0-113-');
    expect(running.SecurityGroups).toEqual([{ GroupId: DEFAULT_SECURITY_GROUP_ID, GroupName: 'caa-peer-pods' }]);
  });

  it('stays pending for bootDelayMs on the injected clock', async () => {
    let now = 1_700_000_000_000;
    const { fake, ec2 } = await setup({ bootDelayMs: 30_000, now: () => now });
    const inst = await launch(ec2);
    expect((await describeOne(ec2, inst.InstanceId!)).State?.Name).toBe('pending');
    now += 29_999;
    expect(fake.instance(inst.InstanceId!)?.state).toBe('pending');
    now += 1;
    expect((await describeOne(ec2, inst.InstanceId!)).State?.Name).toBe('running');
  });

  it('hands out distinct private IPs from the subnet', async () => {
    const { ec2 } = await setup();
    const ips = await Promise.all(Array.from({ length: 20 }, async () => (await launch(ec2)).PrivateIpAddress));
    expect(new Set(ips).size).toBe(20);
    for (const ip of ips) expect(ip).toMatch(/^10\.96\.\d+\.\d+$/);
  });

  it('refuses SEV-SNP on an instance type without it, and creates nothing', async () => {
    const { fake, ec2 } = await setup();
    const err = await ec2Error(ec2.send(new RunInstancesCommand(launchInput({ InstanceType: 't3.small', CpuOptions: { AmdSevSnp: 'enabled' } }))));
    expect(err).toMatchObject({ name: 'InvalidParameterCombination', status: 400 });
    expect(err.message).toContain('t3.small');
    expect(fake.liveInstances()).toEqual([]);
    expect(fake.volumes()).toEqual([]);
    expect(fake.networkInterfaces()).toEqual([]);
    // The same request on a SEV-SNP type goes through.
    await launch(ec2, { InstanceType: 'c6a.large', CpuOptions: { AmdSevSnp: 'enabled' } });
    expect(fake.liveInstances()).toHaveLength(1);
  });

  const invalidLaunches: [string, Partial<RunInstancesCommandInput>, string, string][] = [
    ['no image', { ImageId: undefined }, 'MissingParameter', 'ImageId'],
    ['an unknown image', { ImageId: 'ami-0000000000000dead' }, 'InvalidAMIID.NotFound', 'ami-0000000000000dead'],
    ['a malformed image id', { ImageId: 'fedora' }, 'InvalidAMIID.Malformed', 'fedora'],
    ['an unknown instance type', { InstanceType: 'm9z.huge' as never }, 'InvalidParameterValue', 'm9z.huge'],
    ['an unknown subnet', { SubnetId: 'subnet-0000000000000dead' }, 'InvalidSubnetID.NotFound', 'subnet-0000000000000dead'],
    ['no subnet in an account without a default VPC', { SubnetId: undefined }, 'VPCIdNotSpecified', 'default VPC'],
    ['an unknown security group', { SecurityGroupIds: ['sg-0000000000000dead'] }, 'InvalidGroup.NotFound', 'sg-0000000000000dead'],
    ['an unknown key pair', { KeyName: 'nobody' }, 'InvalidKeyPair.NotFound', 'nobody'],
    ['user data over 16384 bytes decoded', { UserData: b64('x'.repeat(16385)) }, 'InvalidParameterValue', 'User data is limited to 16384 bytes'],
    ['user data that is not base64', { UserData: 'not base64!' }, 'InvalidParameterValue', 'BASE64'],
    ['a root volume smaller than the snapshot', { BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 4 } }] }, 'InvalidBlockDeviceMapping', '8GB'],
    ['an unknown launch template', { LaunchTemplate: { LaunchTemplateName: 'nope' } }, 'InvalidLaunchTemplateName.NotFoundException', 'nope'],
    ['MaxCount 2', { MaxCount: 2 }, 'InvalidParameterValue', 'MaxCount'],
    ['an instance-level subnet with network interfaces', { NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: DEFAULT_SUBNET_ID }] }, 'InvalidParameterCombination', 'subnet'],
    ['a network interface without a device index', { SubnetId: undefined, SecurityGroupIds: undefined, NetworkInterfaces: [{ SubnetId: DEFAULT_SUBNET_ID }] }, 'MissingParameter', 'NetworkInterface.1.DeviceIndex'],
    ['a reserved tag key', { TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'aws:x', Value: 'y' }] }] }, 'InvalidParameterValue', 'aws:'],
  ];

  it.each(invalidLaunches)('refuses %s', async (_what, overrides, code, inMessage) => {
    const { fake, ec2 } = await setup();
    const err = await ec2Error(ec2.send(new RunInstancesCommand(launchInput(overrides))));
    expect(err.name).toBe(code);
    expect(err.status).toBe(400);
    expect(err.message).toContain(inMessage);
    expect(fake.state.instances.size).toBe(0);
  });

  it('accepts user data of exactly 16384 decoded bytes', async () => {
    const { fake, ec2 } = await setup();
    const inst = await launch(ec2, { UserData: b64('y'.repeat(16384)) });
    expect(fake.instance(inst.InstanceId!)?.userData).toHaveLength(16384);
  });

  it('launches into the default-VPC subnet when no subnet is given', async () => {
    const { fake, ec2 } = await setup({ subnets: [...DEFAULT_SUBNETS, { subnetId: 'subnet-0default00000000001', vpcId: 'vpc-0fake000000000001', cidrBlock: '172.31.0.0/20', availabilityZone: 'us-east-1b', defaultForAz: true }] });
    const inst = await launch(ec2, { SubnetId: undefined });
    expect(inst.PrivateIpAddress).toMatch(/^172\.31\./);
    expect(fake.instance(inst.InstanceId!)?.availabilityZone).toBe('us-east-1b');
  });

  it('launches from the seeded launch template alone', async () => {
    const { fake, ec2 } = await setup();
    const out = await ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateName: 'kata' } }));
    const id = out.Instances?.[0]?.InstanceId ?? '';
    expect(fake.instance(id)).toMatchObject({ launchTemplateName: 'kata', imageId: DEFAULT_IMAGE_ID, instanceType: 'm6a.large', subnetId: DEFAULT_SUBNET_ID });
  });

  it('answers DryRun with DryRunOperation (412) after validating, and launches nothing', async () => {
    const { fake, ec2 } = await setup();
    const dry = await ec2Error(ec2.send(new RunInstancesCommand(launchInput({ DryRun: true }))));
    expect(dry).toMatchObject({ name: 'DryRunOperation', status: 412, message: 'Request would have succeeded, but DryRun flag is set.' });
    const invalid = await ec2Error(ec2.send(new RunInstancesCommand(launchInput({ DryRun: true, ImageId: 'ami-0000000000000dead' }))));
    expect(invalid.name).toBe('InvalidAMIID.NotFound');
    expect(fake.state.instances.size).toBe(0);
  });

  it('can leave the private IP out of the RunInstances reply (omitPrivateIpInRunResponse)', async () => {
    const { ec2 } = await setup({ omitPrivateIpInRunResponse: true });
    const inst = await launch(ec2);
    expect(inst.PrivateIpAddress).toBeUndefined();
    expect(inst.NetworkInterfaces?.[0]?.PrivateIpAddress).toBeUndefined();
    expect((await describeOne(ec2, inst.InstanceId!)).PrivateIpAddress).toMatch(/^10\.96\./);
  });

  it('round-trips tag values that need XML escaping', async () => {
    const { ec2 } = await setup();
    const awkward = `<a href="x">&amp; 'q'</a> \r\n ünï`;
    const inst = await launch(ec2, { TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'k&<>', Value: awkward }] }] });
    expect(inst.Tags).toEqual([{ Key: 'k&<>', Value: awkward }]);
  });
});

describe('FakeEc2 DescribeInstances and TerminateInstances', () => {
  it('filters by tag and pages with MaxResults/NextToken in a stable order', async () => {
    const { ec2 } = await setup();
    const ours: string[] = [];
    for (let i = 0; i < 12; i++) ours.push((await launch(ec2, { TagSpecifications: podTags('a') })).InstanceId!);
    for (let i = 0; i < 3; i++) await launch(ec2, { TagSpecifications: podTags('b') });

    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:pod', Values: ['a'] }], MaxResults: 5, NextToken: token }));
      pages.push((out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId!));
      token = out.NextToken;
    } while (token);
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    expect(pages.flat()).toEqual(ours);

    const both = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:pod', Values: ['a', 'b'] }, { Name: 'instance-state-name', Values: ['running'] }] }));
    expect(both.Reservations).toHaveLength(15);
    const wildcard = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: ['po?'] }] }));
    expect(wildcard.Reservations).toHaveLength(15);
  });

  it('refuses MaxResults out of range, with instance ids, and unknown filters', async () => {
    const { ec2 } = await setup();
    const inst = await launch(ec2);
    expect((await ec2Error(ec2.send(new DescribeInstancesCommand({ MaxResults: 4 })))).name).toBe('InvalidParameterValue');
    expect((await ec2Error(ec2.send(new DescribeInstancesCommand({ MaxResults: 5, InstanceIds: [inst.InstanceId!] })))).name).toBe('InvalidParameterCombination');
    const badFilter = await ec2Error(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] })));
    expect(badFilter).toMatchObject({ name: 'InvalidParameterValue', message: "The filter 'colour' is invalid" });
  });

  it('terminates: the instance shows terminated, its volume and interface are gone, terminating again succeeds', async () => {
    const { fake, ec2 } = await setup();
    const inst = await launch(ec2, { TagSpecifications: podTags('t') });
    const id = inst.InstanceId!;
    await describeOne(ec2, id); // running

    const out = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(out.TerminatingInstances).toEqual([{ InstanceId: id, PreviousState: { Code: 16, Name: 'running' }, CurrentState: { Code: 48, Name: 'terminated' } }]);
    const after = await describeOne(ec2, id);
    expect(after.State).toEqual({ Code: 48, Name: 'terminated' });
    expect(after.PrivateIpAddress).toBeUndefined();
    expect(after.Tags).toEqual([{ Key: 'pod', Value: 't' }]);
    expect(fake.volumes()).toEqual([]);
    expect(fake.networkInterfaces()).toEqual([]);
    expect(fake.liveInstances()).toEqual([]);

    const again = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(again.TerminatingInstances?.[0]?.PreviousState?.Name).toBe('terminated');

    expect(fake.purgeTerminated()).toBe(1);
    expect((await ec2Error(ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })))).name).toBe('InvalidInstanceID.NotFound');
  });

  it('passes through shutting-down for terminateDelayMs, and forgets terminated instances after terminatedVisibleMs', async () => {
    let now = 1_700_000_000_000;
    const { fake, ec2 } = await setup({ terminateDelayMs: 5_000, terminatedVisibleMs: 60_000, now: () => now });
    const id = (await launch(ec2)).InstanceId!;
    const out = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(out.TerminatingInstances?.[0]?.CurrentState).toEqual({ Code: 32, Name: 'shutting-down' });
    expect((await describeOne(ec2, id)).State?.Name).toBe('shutting-down');
    expect(fake.volumes()).toHaveLength(1);
    now += 5_000;
    expect((await describeOne(ec2, id)).State?.Name).toBe('terminated');
    expect(fake.volumes()).toEqual([]);
    now += 59_999;
    expect((await describeOne(ec2, id)).State?.Name).toBe('terminated');
    now += 1;
    expect((await ec2Error(ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })))).name).toBe('InvalidInstanceID.NotFound');
  });

  it('names unknown ids and refuses malformed ones, like EC2', async () => {
    const { ec2 } = await setup();
    const known = (await launch(ec2)).InstanceId!;
    const missing = await ec2Error(ec2.send(new DescribeInstancesCommand({ InstanceIds: [known, 'i-0123456789abcdef0'] })));
    expect(missing).toMatchObject({ name: 'InvalidInstanceID.NotFound', status: 400, message: "The instance ID 'i-0123456789abcdef0' does not exist" });
    expect((await ec2Error(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['bogus'] })))).name).toBe('InvalidInstanceID.Malformed');
    expect((await ec2Error(ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })))).name).toBe('InvalidInstanceID.NotFound');
    expect((await ec2Error(ec2.send(new DescribeImagesCommand({ ImageIds: ['ami-0123456789abcdef0'] })))).name).toBe('InvalidAMIID.NotFound');
    expect((await ec2Error(ec2.send(new DescribeImagesCommand({ ImageIds: ['ubuntu'] })))).name).toBe('InvalidAMIID.Malformed');
    expect((await ec2Error(ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['m9z.huge' as never] })))).name).toBe('InvalidInstanceType');
    expect((await ec2Error(ec2.send(new DescribeSubnetsCommand({ SubnetIds: ['subnet-0123456789abcdef0'] })))).name).toBe('InvalidSubnetID.NotFound');
    expect((await ec2Error(ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-0123456789abcdef0'] })))).name).toBe('InvalidGroup.NotFound');
    expect((await ec2Error(ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['nobody'] })))).name).toBe('InvalidKeyPair.NotFound');
  });
});

describe('FakeEc2 authentication, faults and statistics', () => {
  it('refuses an unknown access key with 401 AuthFailure, recording the call', async () => {
    const fake = await startFake();
    const stranger = clientFor(fake, { accessKeyId: 'AKIDSTRANGER' });
    const err = await ec2Error(stranger.send(new RunInstancesCommand(launchInput())));
    expect(err).toMatchObject({ name: 'AuthFailure', status: 401 });
    expect(fake.state.instances.size).toBe(0);
    expect(fake.callCount('RunInstances')).toBe(1);
    fake.state.accessKeys.push('AKIDSTRANGER');
    await expect(stranger.send(new DescribeRegionsCommand({}))).resolves.toMatchObject({ Regions: [{ RegionName: 'us-east-1' }] });
  });

  it('answers an unknown action with InvalidAction in the EC2 error envelope', async () => {
    const fake = await startFake();
    const res = await fetch(fake.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIDFAKEEC2/20260101/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=00',
      },
      body: 'Action=RebootTheWorld&Version=2016-11-15',
    });
    expect(res.status).toBe(400);
    const xml = await res.text();
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\s*<Response><Errors><Error><Code>InvalidAction<\/Code><Message>[^<]+<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/);
    expect(fake.calls[0]).toMatchObject({ action: 'RebootTheWorld', region: 'eu-west-1' });
  });

  it('injects InsufficientInstanceCapacity once, only for the matching request, before it takes effect', async () => {
    const { fake, ec2 } = await setup();
    const remove = fake.inject({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', times: 1, when: (p) => p.get('InstanceType') === 'm6a.large' });
    await launch(ec2, { InstanceType: 'c6a.large' });
    const err = await ec2Error(ec2.send(new RunInstancesCommand(launchInput())));
    expect(err).toMatchObject({ name: 'InsufficientInstanceCapacity', status: 500, fault: 'server' });
    expect(fake.liveInstances().map((i) => i.instanceType)).toEqual(['c6a.large']);
    await launch(ec2);
    expect(fake.liveInstances()).toHaveLength(2);
    remove();
  });

  it('makes rate-based faults reproducible with a seed', async () => {
    async function pattern(seed: number): Promise<string> {
      const { fake, ec2 } = await setup({ seed });
      fake.inject({ action: 'DescribeRegions', code: 'RequestLimitExceeded', rate: 0.5 });
      let out = '';
      for (let i = 0; i < 24; i++) {
        out += await ec2.send(new DescribeRegionsCommand({})).then(
          () => '.',
          (e: unknown) => (e instanceof EC2ServiceException && e.name === 'RequestLimitExceeded' && e.$metadata.httpStatusCode === 503 ? 'x' : '?'),
        );
      }
      return out;
    }
    const first = await pattern(42);
    expect(first).toMatch(/^[.x]+$/);
    expect(first).toContain('x');
    expect(first).toContain('.');
    expect(await pattern(42)).toBe(first);
    expect(await pattern(7)).not.toBe(first);
  });

  it('counts concurrent requests under injected latency (peakInFlight), then resets', async () => {
    const { fake, ec2 } = await setup({ latencyMs: { DescribeRegions: 150 } });
    await Promise.all(Array.from({ length: 8 }, () => ec2.send(new DescribeRegionsCommand({}))));
    expect(fake.peakInFlight).toBe(8);
    expect(fake.inFlight).toBe(0);
    expect(fake.callCount('DescribeRegions')).toBe(8);
    fake.resetStats();
    expect(fake.peakInFlight).toBe(0);
    expect(fake.callCount()).toBe(0);
  });

  it('failAfterEffect: the instance exists though the caller got a 500, and tags find it', async () => {
    const { fake, ec2 } = await setup();
    fake.failAfterEffect({ action: 'RunInstances', times: 1 });
    const err = await ec2Error(ec2.send(new RunInstancesCommand(launchInput({ TagSpecifications: podTags('lost') }))));
    expect(err).toMatchObject({ name: 'InternalError', status: 500 });
    const found = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:pod', Values: ['lost'] }] }));
    expect(found.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(fake.liveInstances()[0]?.instanceId);
  });

  it('honours the ClientToken: an SDK retry after a lost reply gets the instance already created', async () => {
    const fake = await startFake();
    const retrying = clientFor(fake, { maxAttempts: 2 });
    fake.failAfterEffect({ action: 'RunInstances', times: 1 });
    const inst = await launch(retrying);
    expect(fake.callCount('RunInstances')).toBe(2);
    expect(fake.liveInstances().map((i) => i.instanceId)).toEqual([inst.InstanceId]);
  });
});

describe('FakeEc2 addresses', () => {
  it('allocates, associates, describes, disassociates and releases an Elastic IP', async () => {
    const { fake, ec2 } = await setup();
    const id = (await launch(ec2)).InstanceId!;
    await describeOne(ec2, id); // running

    const alloc = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    expect(alloc.PublicIp).toMatch(/^203\.0\.113\.\d+$/);
    expect(alloc.AllocationId).toMatch(/^eipalloc-[0-9a-f]{17}$/);

    const assoc = await ec2.send(new AssociateAddressCommand({ AllocationId: alloc.AllocationId, InstanceId: id }));
    expect(assoc.AssociationId).toMatch(/^eipassoc-/);
    const byInstance = await ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'instance-id', Values: [id] }] }));
    expect(byInstance.Addresses).toEqual([
      expect.objectContaining({ PublicIp: alloc.PublicIp, AllocationId: alloc.AllocationId, AssociationId: assoc.AssociationId, InstanceId: id, Domain: 'vpc' }),
    ]);
    expect((await describeOne(ec2, id)).PublicIpAddress).toBe(alloc.PublicIp);

    const inUse = await ec2Error(ec2.send(new ReleaseAddressCommand({ AllocationId: alloc.AllocationId })));
    expect(inUse.name).toBe('InvalidIPAddress.InUse');

    await ec2.send(new DisassociateAddressCommand({ AssociationId: assoc.AssociationId }));
    expect((await describeOne(ec2, id)).PublicIpAddress).toBeUndefined();
    expect((await ec2Error(ec2.send(new DisassociateAddressCommand({ AssociationId: assoc.AssociationId })))).name).toBe('InvalidAssociationID.NotFound');
    await ec2.send(new ReleaseAddressCommand({ AllocationId: alloc.AllocationId }));
    expect(fake.addresses()).toEqual([]);
    expect((await ec2.send(new DescribeAddressesCommand({}))).Addresses).toEqual([]);
  });

  it('refuses to associate with an instance that is not running', async () => {
    const { ec2 } = await setup({ bootDelayMs: 60_000 });
    const id = (await launch(ec2)).InstanceId!;
    const alloc = await ec2.send(new AllocateAddressCommand({}));
    expect((await ec2Error(ec2.send(new AssociateAddressCommand({ AllocationId: alloc.AllocationId, InstanceId: id })))).name).toBe('IncorrectInstanceState');
  });
});

describe('FakeEc2 catalogue', () => {
  it('describes images with root device, boot mode and snapshot size', async () => {
    const { ec2 } = await setup();
    const out = await ec2.send(new DescribeImagesCommand({ ImageIds: [DEFAULT_IMAGE_ID] }));
    expect(out.Images).toEqual([
      expect.objectContaining({
        ImageId: DEFAULT_IMAGE_ID,
        State: 'available',
        Architecture: 'x86_64',
        RootDeviceName: '/dev/xvda',
        RootDeviceType: 'ebs',
        BootMode: 'uefi',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: expect.objectContaining({ VolumeSize: 8, SnapshotId: expect.stringMatching(/^snap-/) }) }],
      }),
    ]);
  });

  it('describes instance types with vCPUs, memory, GPUs and SEV-SNP support, paged', async () => {
    const { ec2 } = await setup();
    const out = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['m6a.large', 'g5.xlarge', 't3.small'] }));
    const byName = new Map(out.InstanceTypes?.map((t) => [t.InstanceType, t]));
    expect(byName.get('m6a.large')).toMatchObject({ VCpuInfo: { DefaultVCpus: 2 }, MemoryInfo: { SizeInMiB: 8192 }, ProcessorInfo: { SupportedFeatures: ['amd-sev-snp'], SupportedArchitectures: ['x86_64'] } });
    expect(byName.get('g5.xlarge')).toMatchObject({ VCpuInfo: { DefaultVCpus: 4 }, GpuInfo: { Gpus: [{ Count: 1, Name: 'A10G', Manufacturer: 'NVIDIA' }] } });
    expect(byName.get('t3.small')?.ProcessorInfo?.SupportedFeatures ?? []).not.toContain('amd-sev-snp');
    expect(byName.get('t3.small')?.GpuInfo).toBeUndefined();

    const first = await ec2.send(new DescribeInstanceTypesCommand({ MaxResults: 5 }));
    const second = await ec2.send(new DescribeInstanceTypesCommand({ MaxResults: 5, NextToken: first.NextToken }));
    expect(first.InstanceTypes).toHaveLength(5);
    expect(second.InstanceTypes).toHaveLength(1);
    expect(second.NextToken).toBeUndefined();
  });

  it('describes subnets, security groups, key pairs and regions', async () => {
    const { ec2 } = await setup({ regions: ['us-east-1', 'eu-west-1'] });
    const subnets = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [DEFAULT_SUBNET_ID] }));
    expect(subnets.Subnets).toEqual([expect.objectContaining({ SubnetId: DEFAULT_SUBNET_ID, CidrBlock: '10.96.0.0/16', AvailabilityZone: 'us-east-1a', State: 'available', VpcId: expect.stringMatching(/^vpc-/) })]);
    expect(subnets.Subnets?.[0]?.AvailableIpAddressCount).toBe(65536 - 5);
    const groups = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [DEFAULT_SECURITY_GROUP_ID] }));
    expect(groups.SecurityGroups).toEqual([expect.objectContaining({ GroupId: DEFAULT_SECURITY_GROUP_ID, GroupName: 'caa-peer-pods', VpcId: subnets.Subnets?.[0]?.VpcId })]);
    const keys = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [DEFAULT_KEY_NAME] }));
    expect(keys.KeyPairs).toEqual([expect.objectContaining({ KeyName: DEFAULT_KEY_NAME, KeyPairId: expect.stringMatching(/^key-/) })]);
    const regions = await ec2.send(new DescribeRegionsCommand({}));
    expect(regions.Regions?.map((r) => r.RegionName)).toEqual(['us-east-1', 'eu-west-1']);
  });
});

describe('FakeImds', () => {
  it('serves IMDSv2: token first, then metadata; 401 without a valid token, 404 for unknown paths', async () => {
    const imds = await FakeImds.start({ region: 'eu-west-1', mac: '02:aa:bb:cc:dd:ee', subnetId: 'subnet-1', securityGroupIds: ['sg-1', 'sg-2'], keyName: 'caa-key' });
    fakes.push(imds);
    const tokenRes = await fetch(`${imds.endpoint}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } });
    expect(tokenRes.status).toBe(200);
    const token = await tokenRes.text();
    const get = (path: string, t: string | null = token) => fetch(`${imds.endpoint}${path}`, { headers: t === null ? {} : { 'X-aws-ec2-metadata-token': t } });

    expect(await (await get('/latest/meta-data/placement/region')).text()).toBe('eu-west-1');
    expect(await (await get('/latest/meta-data/mac')).text()).toBe('02:aa:bb:cc:dd:ee');
    expect(await (await get('/latest/meta-data/network/interfaces/macs/02:aa:bb:cc:dd:ee/subnet-id')).text()).toBe('subnet-1');
    expect(await (await get('/latest/meta-data/network/interfaces/macs/02:aa:bb:cc:dd:ee/security-group-ids')).text()).toBe('sg-1\nsg-2');
    expect(await (await get('/latest/meta-data/public-keys/')).text()).toBe('0=caa-key');
    expect((await get('/latest/meta-data/placement/region', null)).status).toBe(401);
    expect((await get('/latest/meta-data/placement/region', 'forged')).status).toBe(401);
    expect((await get('/latest/meta-data/nothing-here')).status).toBe(404);
    expect((await fetch(`${imds.endpoint}/latest/api/token`, { method: 'PUT' })).status).toBe(400);
  });

  it('allows IMDSv1 when requireToken is false', async () => {
    const imds = await FakeImds.start({ requireToken: false });
    fakes.push(imds);
    const res = await fetch(`${imds.endpoint}/latest/meta-data/placement/region`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('us-east-1');
  });
});
