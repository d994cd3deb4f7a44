/**
 * What the ibmcloud provider asks the VPC, IAM and Global Tagging for, and how it reacts to what they
 * answer — against the fake VPC over ibm-cloud-sdk-core. The provider-neutral contract lives in
 * test/providers/contract.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ibmcloudPlugin } from '../../src/providers/ibmcloud/index.js';
import type { IbmCloudProvider } from '../../src/providers/ibmcloud/provider.js';
import { loadIbmCloudConfig } from '../../src/providers/ibmcloud/config.js';
import { resolveVpcEndpoint } from '../../src/providers/ibmcloud/setup.js';
import { classifyIbmError, retryAfterMs } from '../../src/providers/ibmcloud/errors.js';
import { fingerprint, fingerprintVerdict } from '../../src/providers/ibmcloud/tags.js';
import { ProviderError, isProviderError } from '../../src/providers/errors.js';
import { TagKey, sandboxTags } from '../../src/providers/naming.js';
import { captureLogger, ibmcloudEnv, startIbmCloud, type IbmCloudUnderTest } from '../helpers/ibmcloud.js';
import {
  ALT_IMAGE_ID,
  CLUSTER_ID,
  CLUSTER_SECURITY_GROUP_ID,
  DEDICATED_HOST_GROUP_ID,
  DEDICATED_HOST_ID,
  DEFAULT_CR_TOKEN,
  DEFAULT_IMAGE_ID,
  DEFAULT_KEY_ID,
  DEFAULT_RESOURCE_GROUP_ID,
  DEFAULT_SECURITY_GROUP_ID,
  DEFAULT_SUBNET_ID,
  DEFAULT_TRUSTED_PROFILE_ID,
  DEFAULT_VPC_ID,
  FakeVpc,
  OBSOLETE_IMAGE_ID,
  OTHER_VPC_SECURITY_GROUP_ID,
  S390X_IMAGE_ID,
  SE_IMAGE_ID,
  TUNNEL_SUBNET_ID,
  ZONE2_SUBNET_ID,
  type FakeVpcOptions,
} from '../fakes/vpc/index.js';
import { request } from '../providers/contract/provider-contract.js';

const ids = { clusterName: 'c1', nodeName: 'node-a' };
const signal = (): AbortSignal => AbortSignal.timeout(30_000);
const host = () => ({ ...captureLogger(), stateDir: '/nonexistent', ...ids, forwarderPort: 15150 });

let ibm: IbmCloudUnderTest | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await ibm?.close();
  ibm = undefined;
  for (const c of closers.splice(0)) await c();
});

async function fakeVpc(options: FakeVpcOptions = {}): Promise<FakeVpc> {
  const fake = await FakeVpc.start(options);
  closers.push(() => fake.close());
  return fake;
}

async function startError(env: Record<string, string>, fakeOptions: FakeVpcOptions = {}): Promise<ProviderError> {
  const fake = await fakeVpc(fakeOptions);
  return ibmcloudPlugin.create(host(), { flags: {}, env: ibmcloudEnv(fake, env) }).then(
    ({ provider: p }) => {
      closers.push(() => p.teardown());
      return expect.unreachable('start-up should have failed');
    },
    (e: unknown) => e as ProviderError,
  );
}

const created = (t: IbmCloudUnderTest, id: string) => t.fake.instance(id)!;
const sortedTags = (t: IbmCloudUnderTest, id: string): string[] => t.fake.tagsOf(created(t, id).crn).sort();

describe('ibmcloud provider: POST /instances', () => {
  it('sends name, image, profile, zone, VPC, keys, resource group, the interface with subnet and groups, plain user-data, metadata on, TDX with secure boot', async () => {
    ibm = await startIbmCloud({ env: { TAGS: 'team:peerpods,cost-center:42,confidential' } });
    const req = request(ids, { userData: '#cloud-config\n# plain text, not base64: üñí\n' });
    const inst = await ibm.provider.createInstance(req, signal());
    const stored = created(ibm, inst.id);
    expect(inst).toMatchObject({ name: req.instanceName, instanceType: 'bx3dc-2x10' });
    expect(inst.ips).toEqual([stored.nics[0]!.address]);
    expect(inst.ips[0]).toMatch(/^10\.243\./);
    expect(stored.prototype).toMatchObject({
      name: req.instanceName,
      image: { id: DEFAULT_IMAGE_ID },
      profile: { name: 'bx3dc-2x10' },
      zone: { name: 'us-south-1' },
      vpc: { id: DEFAULT_VPC_ID },
      keys: [{ id: DEFAULT_KEY_ID }],
      resource_group: { id: DEFAULT_RESOURCE_GROUP_ID },
      primary_network_interface: { subnet: { id: DEFAULT_SUBNET_ID }, security_groups: [{ id: DEFAULT_SECURITY_GROUP_ID }] },
      metadata_service: { enabled: true, protocol: 'http' },
      user_data: req.userData,
      confidential_compute_mode: 'tdx',
      enable_secure_boot: true,
    });
    expect(stored.userData).toBe(req.userData);
    const expected = ['team:peerpods', 'cost-center:42', 'confidential', ...Object.entries(req.tags).map(([k, v]) => `${k}:${v}`)].sort();
    expect(sortedTags(ibm, inst.id)).toEqual(expected);
    // Every VPC call carries the API version date and generation 2, and an IAM bearer token.
    const post = ibm.fake.calls.find((c) => c.operation === 'create_instance')!;
    expect(post.query.get('version')).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(post.query.get('generation')).toBe('2');
    expect(post.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(ibm.fake.calls.find((c) => c.operation === 'attach_tag')!.query.get('tag_type')).toBe('user');
  });

  it('TAGS cannot overwrite the tags the daemon finds its instances by', async () => {
    ibm = await startIbmCloud({ env: { TAGS: `${TagKey.CLUSTER}:someone-else` } });
    const inst = await ibm.provider.createInstance(request(ids), signal());
    expect(sortedTags(ibm, inst.id)).toContain(`${TagKey.CLUSTER}:c1`);
    expect(sortedTags(ibm, inst.id)).not.toContain(`${TagKey.CLUSTER}:someone-else`);
  });

  it('adds the cluster security group kube-<IBMCLOUD_CLUSTER_ID> to the configured ones', async () => {
    ibm = await startIbmCloud({ env: { IBMCLOUD_CLUSTER_ID: CLUSTER_ID } });
    const inst = await ibm.provider.createInstance(request(ids), signal());
    expect(created(ibm, inst.id).nics[0]!.securityGroupIds).toEqual([DEFAULT_SECURITY_GROUP_ID, CLUSTER_SECURITY_GROUP_ID]);
  });

  it('DISABLECVM=true: confidential_compute_mode disabled, secure boot off, and a non-TDX profile is accepted', async () => {
    ibm = await startIbmCloud({ env: { DISABLECVM: 'true', IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME: 'bx2-2x8', IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: '' } });
    const inst = await ibm.provider.createInstance(request(ids), signal());
    expect(created(ibm, inst.id).prototype).toMatchObject({ confidential_compute_mode: 'disabled', enable_secure_boot: false, profile: { name: 'bx2-2x8' } });
  });

  it('an empty profile name means upstream\'s default bx2-2x8', async () => {
    ibm = await startIbmCloud({ env: { DISABLECVM: 'true', IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME: '', IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: '' } });
    expect((await ibm.provider.createInstance(request(ids), signal())).instanceType).toBe('bx2-2x8');
  });

  it('refuses user-data over 65536 bytes before calling the VPC, with both sizes in the message', async () => {
    ibm = await startIbmCloud();
    const err = await ibm.provider.createInstance(request(ids, { userData: 'x'.repeat(65_537) }), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/65537 bytes.*at most 65536/);
    expect(ibm.fake.callCount('create_instance')).toBe(0);
    // Exactly the limit is fine.
    await ibm.provider.createInstance(request(ids, { userData: 'x'.repeat(65_536) }), signal());
  });

  it('the image annotation overrides the configured image; an unknown or wrong-architecture one is an INVALID_REQUEST naming it', async () => {
    ibm = await startIbmCloud();
    const req = request(ids);
    const inst = await ibm.provider.createInstance({ ...req, spec: { ...req.spec, image: ALT_IMAGE_ID } }, signal());
    expect(created(ibm, inst.id).imageId).toBe(ALT_IMAGE_ID);
    for (const [image, why] of [
      ['r006-00000000-0000-4000-8000-00000000dead', /r006-00000000-0000-4000-8000-00000000dead.*not_found/],
      [S390X_IMAGE_ID, /s390x, profile bx3dc-2x10 is amd64/],
      [OBSOLETE_IMAGE_ID, /cannot boot \(status obsolete\)/],
    ] as const) {
      const bad = request(ids);
      const err = await ibm.provider.createInstance({ ...bad, spec: { ...bad.spec, image } }, signal()).catch((e: unknown) => e);
      expect(isProviderError(err, 'INVALID_REQUEST'), image).toBe(true);
      expect((err as Error).message).toMatch(why);
    }
    expect(ibm.fake.liveInstances()).toHaveLength(1);
  });

  it('selects the profile from the pod size within the allowed list', async () => {
    ibm = await startIbmCloud();
    const req = request(ids);
    const inst = await ibm.provider.createInstance({ ...req, spec: { ...req.spec, vcpus: 4, memoryMiB: 16_000 } }, signal());
    expect(inst.instanceType).toBe('bx3dc-4x20');
    const outside = request(ids);
    const err = await ibm.provider.createInstance({ ...outside, spec: { ...outside.spec, instanceType: 'bx2-2x8' } }, signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/bx2-2x8 is not part of supported instance types/);
  });

  it('polls the instance until it runs with an address', async () => {
    ibm = await startIbmCloud({ fake: { bootDelayMs: 400, ipDelayMs: 200 } });
    const inst = await ibm.provider.createInstance(request(ids), signal());
    expect(inst.ips[0]).toMatch(/^10\.243\./);
    expect(ibm.fake.callCount('get_instance')).toBeGreaterThan(1);
    expect(created(ibm, inst.id).status).toBe('running');
  });

  it('a second, tunnel interface with allow_ip_spoofing from the secondary subnet flags', async () => {
    const fake = await fakeVpc();
    const provider = (await ibmcloudPlugin.create(host(), { flags: { 'secondary-subnet-id': TUNNEL_SUBNET_ID, 'secondary-security-group-id': DEFAULT_SECURITY_GROUP_ID }, env: ibmcloudEnv(fake) })).provider as IbmCloudProvider;
    closers.push(() => provider.teardown());
    const inst = await provider.createInstance(request(ids), signal());
    const stored = fake.instance(inst.id)!;
    expect(stored.nics.map((n) => [n.subnetId, n.allowIpSpoofing])).toEqual([
      [DEFAULT_SUBNET_ID, false],
      [TUNNEL_SUBNET_ID, true],
    ]);
    expect(inst.ips).toEqual(stored.nics.map((n) => n.address));
  });

  it('places the instance on the dedicated host of the zone, and on the host group when the host refuses', async () => {
    ibm = await startIbmCloud({ env: { IBMCLOUD_DEDICATED_HOST_IDS: DEDICATED_HOST_ID, IBMCLOUD_DEDICATED_HOST_GROUP_IDS: DEDICATED_HOST_GROUP_ID } });
    const first = await ibm.provider.createInstance(request(ids), signal());
    expect(created(ibm, first.id).placementTargetId).toBe(DEDICATED_HOST_ID);
    ibm.fake.inject({ operation: 'create_instance', code: 'dedicated_host_insufficient_capacity', when: (r) => (r.body as { placement_target?: { id: string } }).placement_target?.id === DEDICATED_HOST_ID });
    const second = await ibm.provider.createInstance(request(ids), signal());
    expect(created(ibm, second.id).placementTargetId).toBe(DEDICATED_HOST_GROUP_ID);
    expect(ibm.logs.some((l) => l.msg === `dedicated host ${DEDICATED_HOST_ID} refused the instance; trying dedicated host group ${DEDICATED_HOST_GROUP_ID}`)).toBe(true);
  });
});

describe('ibmcloud provider: faults', () => {
  it('no capacity at create → the next allowed profile that fits, said in the log', async () => {
    ibm = await startIbmCloud();
    ibm.fake.inject({ operation: 'create_instance', code: 'insufficient_capacity', when: (r) => (r.body as { profile: { name: string } }).profile.name === 'bx3dc-2x10' });
    const inst = await ibm.provider.createInstance(request(ids), signal());
    expect(inst.instanceType).toBe('mx3dc-2x20'); // cx3dc-2x5 is smaller than the default: never a downgrade
    expect(ibm.logs.some((l) => l.msg === 'no capacity for bx3dc-2x10; trying mx3dc-2x20')).toBe(true);
    expect(ibm.fake.liveInstances()).toHaveLength(1);
  });

  it('capacity reported after the 201 (failed, cannot_start_capacity): the failed instance is deleted, then the next profile', async () => {
    ibm = await startIbmCloud({ fake: { bootDelayMs: 100, deleteDelayMs: 300 } });
    ibm.fake.failStarts({ profile: 'bx3dc-2x10' });
    const req = request(ids);
    const inst = await ibm.provider.createInstance(req, signal());
    expect(inst.instanceType).toBe('mx3dc-2x20');
    expect(ibm.logs.some((l) => l.msg === 'no capacity for bx3dc-2x10; trying mx3dc-2x20')).toBe(true);
    // The name was freed before the second create used it again.
    expect(ibm.fake.instances().map((i) => [i.name, i.profile])).toEqual([[req.instanceName, 'mx3dc-2x20']]);
    expect(ibm.fake.calls.filter((c) => c.operation === 'create_instance').map((c) => c.status)).toEqual([201, 201]);
  });

  it('no capacity anywhere → CAPACITY naming what was tried, and nothing left', async () => {
    ibm = await startIbmCloud();
    ibm.fake.inject({ operation: 'create_instance', code: 'insufficient_capacity' });
    const err = await ibm.provider.createInstance(request(ids), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'CAPACITY')).toBe(true);
    expect((err as ProviderError).partialInstanceId).toBeUndefined();
    expect((err as Error).message).toMatch(/^insufficient_capacity for bx3dc-2x10 in us-south-1; tried mx3dc-2x20, bx3dc-4x20/);
    expect(ibm.fake.liveInstances()).toHaveLength(0);
  });

  it('capacity refused after the 201 for every fitting profile → CAPACITY naming them, each failed instance deleted', async () => {
    ibm = await startIbmCloud();
    ibm.fake.failStarts({});
    const err = await ibm.provider.createInstance(request(ids), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'CAPACITY')).toBe(true);
    expect((err as ProviderError).partialInstanceId).toBeUndefined();
    expect((err as Error).message).toMatch(/^cannot_start_capacity for bx3dc-2x10 in us-south-1; tried mx3dc-2x20, bx3dc-4x20 \(cannot_start_capacity for mx3dc-2x20/);
    expect(ibm.fake.callCount('create_instance')).toBe(3);
    expect(ibm.fake.callCount('delete_instance')).toBe(3);
    expect(ibm.fake.instances()).toEqual([]);
  });

  it('a start failure other than capacity is UNAVAILABLE with the instance to delete', async () => {
    ibm = await startIbmCloud();
    ibm.fake.failStarts({ code: 'cannot_start_storage' });
    const err = (await ibm.provider.createInstance(request(ids), signal()).catch((e: unknown) => e)) as ProviderError;
    expect(isProviderError(err, 'UNAVAILABLE')).toBe(true);
    expect(err.message).toMatch(/failed to start \(cannot_start_storage: /);
    expect(err.partialInstanceId).toBe(ibm.fake.liveInstances()[0]!.id);
    expect(ibm.fake.callCount('create_instance')).toBe(1);
  });

  it('a vCPU quota is QUOTA with IBM\'s message, not retried over other profiles', async () => {
    ibm = await startIbmCloud({ fake: { vcpuQuota: 1 } });
    const err = await ibm.provider.createInstance(request(ids), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'QUOTA')).toBe(true);
    expect((err as Error).message).toMatch(/over_quota: .*vCPU quota of 1/);
    expect(ibm.fake.callCount('create_instance')).toBe(1);
  });

  it('429 waits out Retry-After, then the create succeeds', async () => {
    ibm = await startIbmCloud();
    ibm.fake.inject({ operation: 'create_instance', code: 'rate_limit_exceeded', retryAfterSeconds: 1, times: 1 });
    const started = performance.now();
    const inst = await ibm.provider.createInstance(request(ids), signal());
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    const posts = ibm.fake.calls.filter((c) => c.operation === 'create_instance');
    expect(posts.map((c) => c.status)).toEqual([429, 201]);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(ibm.fake.instance(inst.id)).toBeDefined();
  });

  it('persistent 5xx: IBMCLOUD_MAX_ATTEMPTS attempts, then UNAVAILABLE', async () => {
    ibm = await startIbmCloud({ env: { IBMCLOUD_MAX_ATTEMPTS: '3' } });
    ibm.fake.inject({ operation: 'create_instance', code: 'service_unavailable' });
    const err = await ibm.provider.createInstance(request(ids), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/service_unavailable: .*\(after 3 attempts\)/);
    expect(ibm.fake.callCount('create_instance')).toBe(3);
  });

  it('a lost create reply is retried, the name conflict adopts the instance: one instance, not two', async () => {
    ibm = await startIbmCloud();
    ibm.fake.failAfterEffect({ operation: 'create_instance', times: 1 });
    const inst = await ibm.provider.createInstance(request(ids), signal());
    expect(ibm.fake.liveInstances().map((i) => i.id)).toEqual([inst.id]);
    expect(ibm.fake.calls.filter((c) => c.operation === 'create_instance').map((c) => c.status)).toEqual([500, 400]);
    expect(ibm.logs.some((l) => String(l.msg).startsWith(`adopted instance ${inst.id}`))).toBe(true);
    expect(sortedTags(ibm, inst.id)).toContain(`${TagKey.NODE}:node-a`);
  });

  it('an instance of the same name that is not this sandbox\'s is never adopted', async () => {
    ibm = await startIbmCloud();
    const req = request(ids);
    await ibm.provider.createInstance({ ...req, sandboxId: `${req.sandboxId.slice(0, 8)}${'d'.repeat(56)}`, tags: { ...req.tags, [TagKey.SANDBOX]: `${req.sandboxId.slice(0, 8)}${'d'.repeat(56)}` } }, signal());
    const err = await ibm.provider.createInstance(req, signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/is taken in VPC .* belongs to another sandbox/);
    expect(ibm.fake.liveInstances()).toHaveLength(1);
  });

  it('an instance whose tags were never attached is still found by its sandbox tags (name and interface fingerprint)', async () => {
    ibm = await startIbmCloud({ env: { IBMCLOUD_MAX_ATTEMPTS: '2' } });
    ibm.fake.inject({ operation: 'attach_tag', code: 'internal_error' });
    const req = request(ids);
    const err = (await ibm.provider.createInstance(req, signal()).catch((e: unknown) => e)) as ProviderError;
    expect(isProviderError(err, 'UNAVAILABLE')).toBe(true);
    const id = err.partialInstanceId!;
    expect(id).toBe(ibm.fake.liveInstances()[0]!.id);
    expect(ibm.fake.tagsOf(created(ibm, id).crn)).toEqual([]);
    const mine = sandboxTags({ ...ids, sandboxId: req.sandboxId });
    expect(await ibm.provider.listInstances(mine, signal())).toEqual([{ id, name: req.instanceName, tags: mine }]);
    expect((await ibm.provider.listInstances({ [TagKey.SANDBOX]: req.sandboxId }, signal())).map((i) => i.id)).toEqual([id]);
    expect((await ibm.provider.listInstances({ [TagKey.CLUSTER]: 'c1', [TagKey.NODE]: 'node-a' }, signal())).map((i) => i.id)).toEqual([id]);
    // What the fingerprint cannot vouch for is not claimed.
    expect(await ibm.provider.listInstances({ ...mine, [TagKey.NODE]: 'node-b' }, signal())).toEqual([]);
    expect(await ibm.provider.listInstances({ ...mine, [TagKey.POD_NAME]: req.podName }, signal())).toEqual([]);
    await ibm.provider.deleteInstance(id, signal());
    expect(ibm.fake.liveInstances()).toEqual([]);
  });

  it('an IAM token that expires mid-run is replaced before the VPC would refuse it', async () => {
    // The SDK treats a token as expired 10 s before its `exp` (in whole seconds): a 12 s token is stale
    // 1 to 2 s after it was issued, and never within one create.
    ibm = await startIbmCloud({ fake: { tokenTtlSeconds: 12 } });
    await ibm.provider.createInstance(request(ids), signal());
    const before = ibm.fake.tokensIssued;
    await new Promise((r) => setTimeout(r, 3_100));
    await ibm.provider.createInstance(request(ids), signal());
    expect(ibm.fake.tokensIssued).toBe(before + 1);
    expect(ibm.fake.calls.filter((c) => c.status === 401)).toEqual([]);
    const tokens = new Set(ibm.fake.calls.filter((c) => c.operation === 'create_instance').map((c) => c.authorization));
    expect(tokens.size).toBe(2);
  });

  it('a token the VPC refuses (401) is renewed once and the call retried', async () => {
    ibm = await startIbmCloud();
    expect(ibm.fake.revokeTokens()).toBe(1);
    const inst = await ibm.provider.createInstance(request(ids), signal());
    expect(ibm.fake.instance(inst.id)).toBeDefined();
    expect(ibm.fake.calls.filter((c) => c.status === 401)).toHaveLength(1);
    expect(ibm.fake.tokensIssued).toBe(2);
  });

  it('never more API calls in flight than IBMCLOUD_API_MAX_IN_FLIGHT', async () => {
    ibm = await startIbmCloud({ env: { IBMCLOUD_API_MAX_IN_FLIGHT: '4' } });
    ibm.fake.latencyMs = 20;
    ibm.fake.resetStats();
    await Promise.all(Array.from({ length: 24 }, () => ibm!.provider.createInstance(request(ids), signal())));
    expect(ibm.fake.peakInFlight).toBeLessThanOrEqual(4);
    expect(ibm.fake.peakInFlight).toBeGreaterThan(1);
  });

  it('an abort while waiting out Retry-After rejects with CANCELLED at once', async () => {
    ibm = await startIbmCloud();
    ibm.fake.inject({ operation: 'create_instance', code: 'rate_limit_exceeded', retryAfterSeconds: 30 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('pod deleted')), 200);
    const started = performance.now();
    const err = await ibm.provider.createInstance(request(ids), ac.signal).catch((e: unknown) => e);
    expect(isProviderError(err, 'CANCELLED')).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('ibmcloud provider: delete and list', () => {
  it('DELETE; an instance already deleting or gone is success', async () => {
    ibm = await startIbmCloud({ fake: { deleteDelayMs: 400 } });
    const inst = await ibm.provider.createInstance(request(ids), signal());
    await ibm.provider.deleteInstance(inst.id, signal());
    expect(created(ibm, inst.id).status).toBe('deleting');
    await ibm.provider.deleteInstance(inst.id, signal()); // 409 instance_delete_conflict: already on its way
    expect(ibm.fake.calls.filter((c) => c.operation === 'delete_instance').map((c) => c.status)).toEqual([204, 409]);
    expect(await ibm.provider.listInstances({ [TagKey.CLUSTER]: 'c1' }, signal())).toEqual([]);
    await new Promise((r) => setTimeout(r, 450));
    await ibm.provider.deleteInstance(inst.id, signal()); // 404
    expect(ibm.fake.instance(inst.id)).toBeUndefined();
  });

  it('refuses a malformed or empty id without calling the VPC (a silent success would leak the VM)', async () => {
    ibm = await startIbmCloud();
    const before = ibm.fake.calls.length;
    for (const bad of ['', 'podvm-x', 'i-0123456789abcdef0', '0717_xyz', '0717-7b6c5d4e-3f2a-4b1c-8d9e-0a1b2c3d4e5f', '../0717_00000000-0000-4000-8000-000000000000']) {
      const err = await ibm.provider.deleteInstance(bad, signal()).catch((e: unknown) => e);
      expect(isProviderError(err, 'INVALID_REQUEST'), bad).toBe(true);
    }
    expect(ibm.fake.calls.length).toBe(before);
  });

  it('lists only podvm- instances of the VPC whose tags match, with their tags', async () => {
    ibm = await startIbmCloud();
    const a = await ibm.provider.createInstance(request(ids), signal());
    const b = await ibm.provider.createInstance(request({ ...ids, nodeName: 'node-b' }), signal());
    const listed = await ibm.provider.listInstances({ [TagKey.CLUSTER]: 'c1', [TagKey.NODE]: 'node-a' }, signal());
    expect(listed.map((i) => i.id)).toEqual([a.id]);
    expect(listed[0]!.name).toMatch(/^podvm-contract-pod-/);
    expect(listed[0]!.tags[TagKey.POD_NAMESPACE]).toBe('default');
    expect((await ibm.provider.listInstances({ [TagKey.CLUSTER]: 'c1' }, signal())).map((i) => i.id).sort()).toEqual([a.id, b.id].sort());
    expect(await ibm.provider.listInstances({ [TagKey.CLUSTER]: 'other' }, signal())).toEqual([]);
  });
});

describe('ibmcloud provider: start-up', () => {
  it('a confidential configuration with a profile that cannot run TDX names the profile', async () => {
    const err = await startError({ IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: 'bx3dc-2x10,bx2-2x8,bx2-4x16' });
    expect(isProviderError(err, 'INVALID_CONFIG')).toBe(true);
    expect(err.message).toMatch(/profile\(s\) bx2-2x8, bx2-4x16 cannot run confidential VMs/);
  });

  it('s390x Secure Execution: a bz2e profile boots the Secure Execution image, with no compute mode sent', async () => {
    ibm = await startIbmCloud({ env: { IBMCLOUD_PODVM_IMAGE_ID: `${DEFAULT_IMAGE_ID},${SE_IMAGE_ID}`, IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME: 'bz2e-2x8', IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: 'bz2e-2x8,bz2e-4x16' } });
    const inst = await ibm.provider.createInstance(request(ids), signal());
    const stored = created(ibm, inst.id);
    expect(stored.imageId).toBe(SE_IMAGE_ID);
    expect(stored.architecture).toBe('s390x');
    expect(stored.prototype.confidential_compute_mode).toBeUndefined();
    expect(stored.prototype.enable_secure_boot).toBeUndefined();
  });

  it('Secure Execution pairing is checked at start-up: an SE profile without an SE image, an SE image for an ordinary profile', async () => {
    const noSe = await startError({ IBMCLOUD_PODVM_IMAGE_ID: S390X_IMAGE_ID, IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME: 'bz2e-2x8', IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: '' });
    expect(noSe.code).toBe('INVALID_CONFIG');
    expect(noSe.message).toMatch(/profile bz2e-2x8 needs a Secure Execution s390x image and IBMCLOUD_PODVM_IMAGE_ID has none/);
    const seOnPlain = await startError({ DISABLECVM: 'true', IBMCLOUD_PODVM_IMAGE_ID: SE_IMAGE_ID, IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME: 'bz2-2x8', IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: '' });
    expect(seOnPlain.message).toMatch(/profile bz2-2x8 needs an s390x non-Secure-Execution image/);
    const wrongArch = await startError({ IBMCLOUD_PODVM_IMAGE_ID: SE_IMAGE_ID });
    expect(wrongArch.message).toMatch(/profile bx3dc-2x10 needs an amd64 image/);
  });

  it('an unknown profile, a missing image list, only unusable images: INVALID_CONFIG naming the key', async () => {
    expect((await startError({ IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: 'bx3dc-2x10,bx3dc-huge' })).message).toMatch(/bx3dc-huge not offered .*IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST/);
    const fake = await fakeVpc();
    await expect(ibmcloudPlugin.create(host(), { flags: {}, env: ibmcloudEnv(fake, { IBMCLOUD_PODVM_IMAGE_ID: '' }) })).rejects.toThrow(/IBMCLOUD_PODVM_IMAGE_ID \/ --image-id is required/);
    const none = await startError({ IBMCLOUD_PODVM_IMAGE_ID: `${OBSOLETE_IMAGE_ID},r006-00000000-0000-4000-8000-00000000dead` });
    expect(none.code).toBe('INVALID_CONFIG');
    expect(none.message).toMatch(/IBMCLOUD_PODVM_IMAGE_ID .* has no usable image .*status obsolete/);
  });

  it('an unusable image among good ones is dropped with a warning', async () => {
    ibm = await startIbmCloud({ env: { IBMCLOUD_PODVM_IMAGE_ID: `${OBSOLETE_IMAGE_ID},${DEFAULT_IMAGE_ID}` } });
    expect(ibm.provider.settings.images.map((i) => i.id)).toEqual([DEFAULT_IMAGE_ID]);
    expect(ibm.logs.some((l) => l.level === 40 && /ignoring 1 image/.test(l.msg))).toBe(true);
  });

  it('credentials: none is INVALID_CONFIG naming both keys, a refused API key is UNAUTHORIZED', async () => {
    const none = await startError({ IBMCLOUD_API_KEY: '' });
    expect(none.code).toBe('INVALID_CONFIG');
    expect(none.message).toMatch(/IBMCLOUD_API_KEY or IBMCLOUD_IAM_PROFILE_ID/);
    const refused = await startError({ IBMCLOUD_API_KEY: 'someone-elses-key' });
    expect(isProviderError(refused, 'UNAUTHORIZED')).toBe(true);
    expect(refused.message).toMatch(/BXNIM0415E: Provided API key could not be found/);
  });

  it('a trusted profile trades the projected service-account token for IAM tokens', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'caa-ibm-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const tokenFile = join(dir, 'vault-token');
    await writeFile(tokenFile, DEFAULT_CR_TOKEN);
    const fake = await fakeVpc();
    const env = ibmcloudEnv(fake, { IBMCLOUD_API_KEY: '', IBMCLOUD_IAM_PROFILE_ID: DEFAULT_TRUSTED_PROFILE_ID, IBMCLOUD_IAM_PROFILE_TOKEN_FILE: tokenFile });
    const { provider } = await ibmcloudPlugin.create(host(), { flags: {}, env });
    closers.push(() => provider.teardown());
    await provider.createInstance(request(ids), signal());
    const grant = fake.calls.find((c) => c.operation === 'iam_token')!.body as Record<string, string>;
    expect(grant).toMatchObject({ grant_type: 'urn:ibm:params:oauth:grant-type:cr-token', profile_id: DEFAULT_TRUSTED_PROFILE_ID, cr_token: DEFAULT_CR_TOKEN });
    expect(fake.liveInstances()).toHaveLength(1);
    const unreadable = await startError({ IBMCLOUD_API_KEY: '', IBMCLOUD_IAM_PROFILE_ID: DEFAULT_TRUSTED_PROFILE_ID, IBMCLOUD_IAM_PROFILE_TOKEN_FILE: join(dir, 'missing') });
    expect(unreadable.code).toBe('INVALID_CONFIG');
    expect(unreadable.message).toMatch(/IBMCLOUD_IAM_PROFILE_TOKEN_FILE=.*missing cannot be read/);
  });

  it('network keys: subnet missing, unknown, in another zone; VPC mismatch; a group of another VPC; no cluster group', async () => {
    expect((await startError({ IBMCLOUD_VPC_SUBNET_ID: '' })).message).toMatch(/IBMCLOUD_VPC_SUBNET_ID is required/);
    const unknown = await startError({ IBMCLOUD_VPC_SUBNET_ID: '0717-00000000-0000-4000-8000-000000000000' });
    expect(unknown.code).toBe('INVALID_CONFIG');
    expect(unknown.message).toMatch(/^IBMCLOUD_VPC_SUBNET_ID 0717-00000000-0000-4000-8000-000000000000: VPC get_subnet: not_found/);
    expect((await startError({ IBMCLOUD_VPC_SUBNET_ID: ZONE2_SUBNET_ID })).message).toMatch(/IBMCLOUD_ZONE=us-south-1 but the subnet .* is in us-south-2/);
    expect((await startError({ IBMCLOUD_VPC_ID: 'r006-8a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d' })).message).toMatch(/IBMCLOUD_VPC_ID=.* but the subnet .* is in VPC/);
    expect((await startError({ IBMCLOUD_SECURITY_GROUP_IDS: `${DEFAULT_SECURITY_GROUP_ID},${OTHER_VPC_SECURITY_GROUP_ID}` })).message).toMatch(new RegExp(`${OTHER_VPC_SECURITY_GROUP_ID} \\(elsewhere\\) belongs to VPC`));
    expect((await startError({ IBMCLOUD_CLUSTER_ID: 'nosuchcluster' })).message).toMatch(/has no security group named kube-nosuchcluster/);
  });

  it('the zone and VPC come from the subnet when left empty; the endpoint from the zone', async () => {
    ibm = await startIbmCloud({ env: { IBMCLOUD_ZONE: '', IBMCLOUD_VPC_ID: '', IBMCLOUD_RESOURCE_GROUP_ID: '' } });
    expect(ibm.provider.settings).toMatchObject({ zone: 'us-south-1', vpcId: DEFAULT_VPC_ID, resourceGroupId: DEFAULT_RESOURCE_GROUP_ID });
    const env = (extra: Record<string, string>) => ({ flags: {}, env: { IBMCLOUD_PODVM_IMAGE_ID: DEFAULT_IMAGE_ID, ...extra } });
    expect(resolveVpcEndpoint(loadIbmCloudConfig(env({ IBMCLOUD_ZONE: 'eu-de-2' })))).toBe('https://eu-de.iaas.cloud.ibm.com/v1');
    expect(() => resolveVpcEndpoint(loadIbmCloudConfig(env({})))).toThrow(/IBMCLOUD_VPC_ENDPOINT and IBMCLOUD_ZONE are both empty/);
  });

  it('malformed TAGS, a cluster name IBM cannot tag with: configuration errors naming the key', async () => {
    const fake = await fakeVpc();
    await expect(ibmcloudPlugin.create(host(), { flags: {}, env: ibmcloudEnv(fake, { TAGS: 'team:a,owner=b/c' }) })).rejects.toThrow(/TAGS .*"owner=b\/c": IBM tags may hold only/);
    await expect(ibmcloudPlugin.create({ ...host(), clusterName: 'prod/eu' }, { flags: {}, env: ibmcloudEnv(fake) })).rejects.toThrow(/peerpod-cluster:prod\/eu.*CLUSTER_NAME/);
  });
});

describe('ibmcloud provider: verify', () => {
  it('one line per check, all passing on a good configuration, nothing created', async () => {
    const fake = await fakeVpc();
    const checks = await ibmcloudPlugin.verify!(host(), { flags: {}, env: ibmcloudEnv(fake, { IBMCLOUD_CLUSTER_ID: CLUSTER_ID }) }, signal());
    expect(checks.map((c) => c.name)).toEqual(['endpoints', 'credentials', 'subnet', 'security groups', 'ssh keys', 'images', 'instance profiles', 'image and profile pairing', 'global tagging']);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.name === 'security groups')!.detail).toBe(`${DEFAULT_SECURITY_GROUP_ID}, ${CLUSTER_SECURITY_GROUP_ID} (with kube-${CLUSTER_ID})`);
    expect(checks.find((c) => c.name === 'instance profiles')!.detail).toMatch(/^cx3dc-2x5 \(2 vCPU, 5120 MiB, amd64, TDX\).*; all confidential$/);
    expect(fake.liveInstances()).toHaveLength(0);
  });

  it('reports each broken key on its own line and goes on with the others', async () => {
    const fake = await fakeVpc();
    const env = ibmcloudEnv(fake, { IBMCLOUD_SECURITY_GROUP_IDS: `${DEFAULT_SECURITY_GROUP_ID},r006-00000000-0000-4000-8000-00000000dead`, IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST: 'bx3dc-2x10,bx2-2x8', IBMCLOUD_PODVM_IMAGE_ID: SE_IMAGE_ID });
    const checks = await ibmcloudPlugin.verify!(host(), { flags: {}, env }, signal());
    const failed = Object.fromEntries(checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
    expect(Object.keys(failed).sort()).toEqual(['image and profile pairing', 'instance profiles', 'security groups']);
    expect(failed['security groups']).toMatch(/r006-00000000-0000-4000-8000-00000000dead/);
    expect(failed['instance profiles']).toMatch(/bx2-2x8 cannot run confidential VMs/);
    expect(checks.find((c) => c.name === 'images')!.detail).toMatch(/Secure Execution/);
  });

  it('stops after the credentials check when the credentials are refused', async () => {
    const fake = await fakeVpc();
    const checks = await ibmcloudPlugin.verify!(host(), { flags: {}, env: ibmcloudEnv(fake, { IBMCLOUD_API_KEY: 'wrong' }) }, signal());
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['endpoints', true],
      ['credentials', false],
    ]);
    expect(checks[1]!.detail).toMatch(/BXNIM0415E/);
  });
});

describe('ibmcloud provider: error mapping and fingerprints', () => {
  const sdkError = (status: number, body: unknown, headers: Record<string, string> = {}) => Object.assign(new Error('Access is denied'), { status, result: body, headers });

  it('maps IBM error bodies to the contract\'s codes, naming API, operation and IBM\'s code', () => {
    const vpc = (code: string, status: number) => classifyIbmError(sdkError(status, { errors: [{ code, message: `${code} happened` }] }), 'VPC', 'create_instance');
    expect(vpc('insufficient_capacity', 400).code).toBe('CAPACITY');
    expect(vpc('over_quota', 400).code).toBe('QUOTA');
    expect(vpc('instance_vcpu_quota_exceeded', 403).code).toBe('QUOTA');
    expect(vpc('rate_limit_exceeded', 429).code).toBe('THROTTLED');
    expect(vpc('not_authorized', 401).code).toBe('UNAUTHORIZED');
    expect(vpc('forbidden', 403).code).toBe('UNAUTHORIZED');
    expect(vpc('not_found', 404).code).toBe('NOT_FOUND');
    expect(vpc('validation_unique_failed', 400).code).toBe('INVALID_REQUEST');
    expect(vpc('internal_error', 500).code).toBe('UNAVAILABLE');
    expect(vpc('over_quota', 400).message).toBe('VPC create_instance: over_quota: over_quota happened');
    const iam = classifyIbmError(sdkError(400, { errorCode: 'BXNIM0415E', errorMessage: 'Provided API key could not be found.' }), 'VPC', 'get_subnet');
    expect([iam.code, iam.message]).toEqual(['UNAUTHORIZED', 'VPC get_subnet: BXNIM0415E: Provided API key could not be found.']);
    const network = classifyIbmError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { statusText: 'ECONNREFUSED' }), 'Global Tagging', 'attach_tag');
    expect(network.code).toBe('UNAVAILABLE');
    const ac = new AbortController();
    ac.abort();
    expect(classifyIbmError(new Error('canceled'), 'VPC', 'get_instance', ac.signal).code).toBe('CANCELLED');
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs(sdkError(429, {}, { 'retry-after': '3' }))).toBe(3000);
    expect(retryAfterMs(sdkError(429, {}, { 'retry-after': new Date(10_000).toUTCString() }), 4_000)).toBe(6_000);
    expect(retryAfterMs(sdkError(429, {}))).toBeUndefined();
    expect(retryAfterMs(sdkError(429, {}, { 'retry-after': 'soon' }))).toBeUndefined();
  });

  it('a fingerprint vouches for cluster, node and sandbox, each on its own, and for nothing else', () => {
    const fp = fingerprint({ cluster: 'c1', node: 'node-a', sandbox: 'abc' });
    expect(fp).toMatch(/^pp-[0-9a-f]{12}-[0-9a-f]{12}-[0-9a-f]{32}$/);
    expect(fp.length).toBeLessThanOrEqual(63);
    expect(fingerprintVerdict(fp, { [TagKey.SANDBOX]: 'abc' })).toBe('match');
    expect(fingerprintVerdict(fp, { [TagKey.CLUSTER]: 'C1', [TagKey.NODE]: 'node-a' })).toBe('match');
    expect(fingerprintVerdict(fp, { [TagKey.NODE]: 'node-b' })).toBe('mismatch');
    expect(fingerprintVerdict(fp, { [TagKey.SANDBOX]: 'abc', [TagKey.POD_NAME]: 'p' })).toBe('unknown');
    expect(fingerprintVerdict('eth0', { [TagKey.SANDBOX]: 'abc' })).toBe('unknown');
    expect(fingerprintVerdict(undefined, {})).toBe('unknown');
  });
});
