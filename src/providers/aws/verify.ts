/**
 * `cloud-api-adaptor aws --verify` (and CLOUD_CONFIG_VERIFY=true): every check runs, each gives one
 * line, a failure in one does not hide the others.
 */
import type { RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { Logger } from 'pino';
import type { VerifyCheck } from '../registry.js';
import { VerifyChecks } from '../verify-checks.js';
import type { Ec2Api } from './client.js';
import type { AwsConfig } from './config.js';
import { ec2ErrorCode } from './errors.js';
import { createEc2Api, createLimiter, resolveImage, resolveInstanceTypes, resolveNetwork, resolveRegion } from './setup.js';

export async function verifyAws(config: AwsConfig, log: Logger, signal: AbortSignal, makeApi = createEc2Api): Promise<VerifyCheck[]> {
  const runner = new VerifyChecks();
  const checks = runner.results;
  const check = (name: string, fn: () => Promise<string>): Promise<boolean> => runner.check(name, fn);

  let region = '';
  if (!(await check('region', async () => `${(region = await resolveRegion(config, signal))}${config.region ? '' : ' (from instance metadata)'}`))) return checks;
  const api: Ec2Api = makeApi(config, region, createLimiter(config));
  try {
    if (!(await check('credentials', async () => `EC2 answers: ${(await api.describeRegions(signal)).length} regions visible`))) return checks;
    let net = { subnetId: config.subnetId, securityGroupIds: config.securityGroupIds, keyName: config.keyName };
    await check('network keys', async () => {
      net = await resolveNetwork(config, signal, log);
      return `subnet ${net.subnetId || '(launch template)'}, security groups [${net.securityGroupIds.join(', ')}], key pair ${net.keyName || '(none)'}`;
    });
    if (!config.useLaunchTemplate) {
      await check('image', async () => {
        const root = await resolveImage(api, config, signal);
        return `${config.imageId}: root ${root.rootDeviceName}, root volume ${root.rootVolumeSize || 'as the AMI'} GiB`;
      });
    }
    if (net.subnetId) {
      await check('subnet', async () => {
        const [s] = await api.describeSubnets([net.subnetId], signal);
        if (!s) throw new Error(`${net.subnetId} not found`);
        return `${s.SubnetId} in ${s.VpcId ?? '?'} ${s.AvailabilityZone ?? '?'} ${s.CidrBlock ?? ''}`.trim();
      });
    }
    if (net.securityGroupIds.length) {
      await check('security groups', async () => {
        const groups = await api.describeSecurityGroups(net.securityGroupIds, signal);
        const missing = net.securityGroupIds.filter((g) => !groups.some((x) => x.GroupId === g));
        if (missing.length) throw new Error(`not found: ${missing.join(', ')}`);
        return groups.map((g) => `${g.GroupId} (${g.GroupName ?? ''})`).join(', ');
      });
    }
    if (net.keyName) {
      await check('key pair', async () => {
        const [k] = await api.describeKeyPairs([net.keyName], signal);
        if (!k) throw new Error(`${net.keyName} not found`);
        return `${k.KeyName}`;
      });
    }
    let types: string[] = [];
    if (!config.useLaunchTemplate) {
      await check('instance types', async () => {
        const list = await resolveInstanceTypes(api, config, signal);
        types = list.map((t) => t.name);
        return list.map((t) => `${t.name} (${t.vcpus} vCPU, ${t.memoryMiB} MiB${t.gpus ? `, ${t.gpus} GPU` : ''})`).join(', ') + (config.disableCvm ? '' : '; all SEV-SNP capable');
      });
    }
    await check('permission to create', async () => {
      const input: RunInstancesCommandInput = config.useLaunchTemplate
        ? { MinCount: 1, MaxCount: 1, DryRun: true, LaunchTemplate: { LaunchTemplateName: config.launchTemplateName } }
        : {
            MinCount: 1,
            MaxCount: 1,
            DryRun: true,
            ImageId: config.imageId,
            InstanceType: (types[0] ?? config.instanceType) as RunInstancesCommandInput['InstanceType'],
            SubnetId: net.subnetId || undefined,
            SecurityGroupIds: net.securityGroupIds.length ? net.securityGroupIds : undefined,
            ...(config.disableCvm ? {} : { CpuOptions: { AmdSevSnp: 'enabled' } }),
          };
      try {
        await api.runInstances(input, signal);
      } catch (err) {
        // EC2's way of saying "this would have worked".
        if (ec2ErrorCode((err as Error).cause) === 'DryRunOperation') return 'RunInstances (dry run) would succeed';
        throw err;
      }
      throw new Error('RunInstances with DryRun created an instance?');
    });
  } finally {
    api.close();
  }
  return checks;
}
