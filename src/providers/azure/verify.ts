/**
 * `cloud-api-adaptor azure --verify` (and CLOUD_CONFIG_VERIFY=true): every check runs and gives one
 * line; a failure does not hide the others, except that nothing runs after refused credentials.
 */
import { messageOf } from '../../util/errors.js';
import { isProviderError } from '../errors.js';
import type { VerifyCheck } from '../registry.js';
import { VerifyChecks } from '../verify-checks.js';
import type { ArmApi } from './client.js';
import { resolveCloud } from './cloud.js';
import type { AzureConfig } from './config.js';
import { createCredential } from './credentials.js';
import { parseNsgId, parseSubnetId } from './ids.js';
import { createArmApi, createLimiter, resolveImage, resolveSizes } from './setup.js';

export async function verifyAzure(config: AzureConfig, signal: AbortSignal, makeApi = createArmApi): Promise<VerifyCheck[]> {
  const runner = new VerifyChecks();
  const checks = runner.results;
  const check = (name: string, fn: () => Promise<string> | string): Promise<boolean> => runner.check(name, fn);

  const cloud = resolveCloud(config);
  await check('cloud', () => `${cloud.name}: Resource Manager ${cloud.resourceManager}, authority ${cloud.authorityHost}`);
  let api: ArmApi | undefined;
  const credentialsOk = await check('credentials', async () => {
    const identity = createCredential(config, cloud);
    api = makeApi(config, cloud, identity, createLimiter(config));
    const token = await api.getToken(signal);
    const minutes = Math.round((token.expiresOnTimestamp - Date.now()) / 60_000);
    return `${identity.description}: token for ${cloud.scope} acquired (valid ${minutes} min)`;
  });
  if (!credentialsOk || !api) {
    api?.close();
    return checks;
  }
  const arm: ArmApi = api;
  try {
    await check('resource group', async () => {
      const vms = await arm.listVms(config.resourceGroup, signal).catch((err: unknown) => {
        if (isProviderError(err, 'NOT_FOUND')) throw new Error(`${config.resourceGroup} does not exist in subscription ${config.subscriptionId} (${messageOf(err)})`);
        throw err;
      });
      return `${config.resourceGroup}: readable, ${vms.length} VM(s) in it`;
    });
    await check('subnet', async () => {
      const ref = parseSubnetId(config.subnetId)!;
      const subnet = await arm.getSubnet(ref, signal);
      const prefix = subnet.addressPrefix ?? subnet.addressPrefixes?.join(', ') ?? '?';
      return `${ref.subnet} in virtual network ${ref.virtualNetwork} (${ref.resourceGroup}): ${prefix}`;
    });
    if (config.securityGroupId) {
      await check('network security group', async () => {
        const ref = parseNsgId(config.securityGroupId)!;
        const nsg = await arm.getNsg(ref.resourceGroup, ref.name, signal);
        return `${nsg.name ?? ref.name} in ${nsg.location ?? '?'}, ${nsg.securityRules?.length ?? 0} rule(s)`;
      });
    }
    await check('image', async () => (await resolveImage(arm, config, signal)).summary);
    await check('sizes', async () => {
      const sizes = await resolveSizes(arm, config, signal);
      return `${sizes.map((s) => `${s.name} (${s.vcpus} vCPU, ${s.memoryMiB} MiB)`).join(', ')} in ${config.region}`;
    });
  } finally {
    arm.close();
  }
  return checks;
}
