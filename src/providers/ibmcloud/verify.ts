/**
 * `cloud-api-adaptor ibmcloud --verify` (and CLOUD_CONFIG_VERIFY=true): every check runs, each gives one
 * line, a failure in one does not hide the others; nothing runs after refused credentials. The VPC has
 * no dry-run create, so the last check is that the Global Tagging API answers for our resources.
 */
import type { Logger } from 'pino';
import type { VerifyCheck } from '../registry.js';
import { VerifyChecks } from '../verify-checks.js';
import type { VpcApi } from './client.js';
import type { IbmCloudConfig } from './config.js';
import type { ImageInfo, ProfileInfo } from './profiles.js';
import {
  checkConfidential,
  checkKeys,
  checkPairing,
  createLimiter,
  createVpcApi,
  lookupProfiles,
  resolveImages,
  resolvePlacement,
  resolveSecondary,
  resolveSecurityGroups,
  resolveSubnet,
  resolveVpcEndpoint,
} from './setup.js';

export async function verifyIbmCloud(config: IbmCloudConfig, log: Logger, signal: AbortSignal, makeApi = createVpcApi): Promise<VerifyCheck[]> {
  const runner = new VerifyChecks();
  const checks = runner.results;
  const check = (name: string, fn: () => Promise<string> | string): Promise<boolean> => runner.check(name, fn);

  let endpoint = '';
  if (!(await check('endpoints', () => `VPC ${(endpoint = resolveVpcEndpoint(config))}, IAM ${config.iamEndpoint}, Global Tagging ${config.taggingEndpoint}`))) return checks;
  let api: VpcApi | undefined;
  const credentials = await check('credentials', async () => {
    api = makeApi(config, endpoint, createLimiter(config), log);
    const kind = config.apiKey ? 'API key' : `trusted profile ${config.iamProfileId}`;
    return `${kind}: IAM token issued, VPC answers: ${(await api.listRegions(signal)).length} regions visible`;
  });
  if (!credentials || !api) {
    api?.close();
    return checks;
  }
  const vpc: VpcApi = api;
  try {
    let where: Awaited<ReturnType<typeof resolveSubnet>> | undefined;
    await check('subnet', async () => {
      where = await resolveSubnet(vpc, config, signal);
      const s = where.subnet;
      return `${s.id} (${s.name}) ${s.ipv4_cidr_block ?? ''} in VPC ${where.vpcId}, zone ${where.zone}, resource group ${where.resourceGroupId || '(account default)'}`;
    });
    if (where) {
      const w = where;
      await check('security groups', async () => {
        const ids = await resolveSecurityGroups(vpc, config, w.vpcId, signal);
        return ids.length ? ids.join(', ') + (config.clusterId ? ` (with kube-${config.clusterId})` : '') : "none (the VPC's default group)";
      });
      if (config.dedicatedHostIds.length || config.dedicatedHostGroupIds.length) {
        await check('dedicated hosts', async () => {
          const p = await resolvePlacement(vpc, config, w.zone, signal);
          return `host ${p.hostId ?? '(none)'}, host group ${p.groupId ?? '(none)'} in ${w.zone}`;
        });
      }
      if (config.secondarySubnetId) {
        await check('tunnel interface', async () => `subnet ${(await resolveSecondary(vpc, config, w.zone, signal))?.subnetId}`);
      }
    }
    if (config.keyIds.length) await check('ssh keys', async () => (await checkKeys(vpc, config, signal)).join(', '));
    let images: ImageInfo[] = [];
    await check('images', async () => {
      images = await resolveImages(vpc, config, signal, log);
      return images.map((i) => `${i.id} (${i.name}, ${i.architecture}${i.secureExecution ? ', Secure Execution' : ''})`).join(', ');
    });
    let profiles: ProfileInfo[] = [];
    await check('instance profiles', async () => {
      profiles = await lookupProfiles(vpc, config, signal);
      checkConfidential(config, profiles);
      const tee = (p: ProfileInfo): string => (p.secureExecution ? ', Secure Execution' : p.tdx ? ', TDX' : '');
      return profiles.map((p) => `${p.name} (${p.vcpus} vCPU, ${p.memoryMiB} MiB, ${p.architecture}${p.gpus ? `, ${p.gpus} GPU` : ''}${tee(p)})`).join(', ') + (config.disableCvm ? '' : '; all confidential');
    });
    if (images.length && profiles.length) {
      await check('image and profile pairing', () => {
        checkPairing(profiles, images);
        return 'every profile has an image of its architecture and Secure Execution kind';
      });
    }
    if (where?.subnet.crn) {
      const crn = where.subnet.crn;
      await check('global tagging', async () => `answers (${(await vpc.listTags(crn, signal)).length} tags on the subnet)`);
    }
  } finally {
    vpc.close();
  }
  return checks;
}
