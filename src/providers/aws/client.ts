/**
 * The narrow slice of EC2 the provider uses, behind an interface so tests can swap it. Every call
 * goes through the provider's rate limiter and comes back either as the SDK's output or as a
 * ProviderError with a stable code.
 */
import {
  DescribeAddressesCommand,
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeRegionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DisassociateAddressCommand,
  EC2Client,
  ReleaseAddressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Address,
  type DescribeInstancesCommandInput,
  type Filter,
  type Image,
  type Instance as Ec2Instance,
  type InstanceTypeInfo,
  type KeyPairInfo,
  type RunInstancesCommandInput,
  type SecurityGroup,
  type Subnet,
} from '@aws-sdk/client-ec2';
import { classifyAwsError } from './errors.js';
import type { RateLimiter } from '../rate-limiter.js';

export interface Ec2Api {
  runInstances(input: RunInstancesCommandInput, signal: AbortSignal): Promise<Ec2Instance>;
  /** Every page, concatenated. */
  describeInstances(input: Pick<DescribeInstancesCommandInput, 'InstanceIds' | 'Filters'>, signal: AbortSignal): Promise<Ec2Instance[]>;
  terminateInstances(ids: string[], signal: AbortSignal): Promise<void>;
  describeImages(ids: string[], signal: AbortSignal): Promise<Image[]>;
  describeInstanceTypes(types: string[], signal: AbortSignal): Promise<InstanceTypeInfo[]>;
  describeSubnets(ids: string[], signal: AbortSignal): Promise<Subnet[]>;
  describeSecurityGroups(ids: string[], signal: AbortSignal): Promise<SecurityGroup[]>;
  describeKeyPairs(names: string[], signal: AbortSignal): Promise<KeyPairInfo[]>;
  describeRegions(signal: AbortSignal): Promise<string[]>;
  describeAddresses(filters: Filter[], signal: AbortSignal): Promise<Address[]>;
  disassociateAddress(associationId: string, signal: AbortSignal): Promise<void>;
  releaseAddress(allocationId: string, signal: AbortSignal): Promise<void>;
  close(): void;
}

export interface Ec2ClientOptions {
  region: string;
  endpoint?: string;
  /** Static credentials; otherwise `profile`, otherwise the SDK's default chain (IRSA included). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  profile?: string;
  maxAttempts: number;
  limiter: RateLimiter;
}

/** The SDK-backed implementation. */
export class SdkEc2Api implements Ec2Api {
  private readonly client: EC2Client;
  private readonly limiter: RateLimiter;

  constructor(options: Ec2ClientOptions) {
    this.limiter = options.limiter;
    this.client = new EC2Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.profile ? { profile: options.profile } : {}),
      maxAttempts: options.maxAttempts,
      // Adaptive: backs off and rate-limits itself client-side once EC2 answers RequestLimitExceeded.
      retryMode: 'adaptive',
    });
  }

  /** One logical call: a limiter slot for the whole of it, SDK retries included. */
  private send<T>(action: string, signal: AbortSignal, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return this.limiter.run(async () => {
      try {
        return await call(signal);
      } catch (err) {
        throw classifyAwsError(err, action, signal);
      }
    }, signal);
  }

  async runInstances(input: RunInstancesCommandInput, signal: AbortSignal): Promise<Ec2Instance> {
    const out = await this.send('RunInstances', signal, (abortSignal) => this.client.send(new RunInstancesCommand(input), { abortSignal }));
    const instance = out.Instances?.[0];
    if (!instance?.InstanceId) throw classifyAwsError(new Error('RunInstances returned no instance'), 'RunInstances', signal);
    return instance;
  }

  async describeInstances(input: Pick<DescribeInstancesCommandInput, 'InstanceIds' | 'Filters'>, signal: AbortSignal): Promise<Ec2Instance[]> {
    const out: Ec2Instance[] = [];
    let token: string | undefined;
    do {
      const page = await this.send('DescribeInstances', signal, (abortSignal) =>
        this.client.send(
          // MaxResults may not be combined with InstanceIds.
          new DescribeInstancesCommand({ ...input, NextToken: token, ...(input.InstanceIds ? {} : { MaxResults: 1000 }) }),
          { abortSignal },
        ),
      );
      for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
      token = page.NextToken;
    } while (token);
    return out;
  }

  async terminateInstances(ids: string[], signal: AbortSignal): Promise<void> {
    await this.send('TerminateInstances', signal, (abortSignal) => this.client.send(new TerminateInstancesCommand({ InstanceIds: ids }), { abortSignal }));
  }

  async describeImages(ids: string[], signal: AbortSignal): Promise<Image[]> {
    const out = await this.send('DescribeImages', signal, (abortSignal) => this.client.send(new DescribeImagesCommand({ ImageIds: ids }), { abortSignal }));
    return out.Images ?? [];
  }

  async describeInstanceTypes(types: string[], signal: AbortSignal): Promise<InstanceTypeInfo[]> {
    const out: InstanceTypeInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.send('DescribeInstanceTypes', signal, (abortSignal) =>
        this.client.send(new DescribeInstanceTypesCommand({ InstanceTypes: types as never, NextToken: token }), { abortSignal }),
      );
      out.push(...(page.InstanceTypes ?? []));
      token = page.NextToken;
    } while (token);
    return out;
  }

  async describeSubnets(ids: string[], signal: AbortSignal): Promise<Subnet[]> {
    const out = await this.send('DescribeSubnets', signal, (abortSignal) => this.client.send(new DescribeSubnetsCommand({ SubnetIds: ids }), { abortSignal }));
    return out.Subnets ?? [];
  }

  async describeSecurityGroups(ids: string[], signal: AbortSignal): Promise<SecurityGroup[]> {
    const out = await this.send('DescribeSecurityGroups', signal, (abortSignal) =>
      this.client.send(new DescribeSecurityGroupsCommand({ GroupIds: ids }), { abortSignal }),
    );
    return out.SecurityGroups ?? [];
  }

  async describeKeyPairs(names: string[], signal: AbortSignal): Promise<KeyPairInfo[]> {
    const out = await this.send('DescribeKeyPairs', signal, (abortSignal) => this.client.send(new DescribeKeyPairsCommand({ KeyNames: names }), { abortSignal }));
    return out.KeyPairs ?? [];
  }

  async describeRegions(signal: AbortSignal): Promise<string[]> {
    const out = await this.send('DescribeRegions', signal, (abortSignal) => this.client.send(new DescribeRegionsCommand({}), { abortSignal }));
    return (out.Regions ?? []).map((r) => r.RegionName ?? '').filter(Boolean);
  }

  async describeAddresses(filters: Filter[], signal: AbortSignal): Promise<Address[]> {
    const out = await this.send('DescribeAddresses', signal, (abortSignal) => this.client.send(new DescribeAddressesCommand({ Filters: filters }), { abortSignal }));
    return out.Addresses ?? [];
  }

  async disassociateAddress(associationId: string, signal: AbortSignal): Promise<void> {
    await this.send('DisassociateAddress', signal, (abortSignal) =>
      this.client.send(new DisassociateAddressCommand({ AssociationId: associationId }), { abortSignal }),
    );
  }

  async releaseAddress(allocationId: string, signal: AbortSignal): Promise<void> {
    await this.send('ReleaseAddress', signal, (abortSignal) => this.client.send(new ReleaseAddressCommand({ AllocationId: allocationId }), { abortSignal }));
  }

  close(): void {
    this.limiter.close();
    this.client.destroy();
  }
}
