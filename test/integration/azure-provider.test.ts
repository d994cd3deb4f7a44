/**
 * What the azure provider asks Resource Manager for, and how it reacts to what ARM answers — against
 * the fake ARM over HTTPS with the real SDKs and @azure/identity. The provider-neutral contract lives
 * in test/providers/contract.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveCloud } from '../../src/providers/azure/cloud.js';
import { loadAzureConfig } from '../../src/providers/azure/config.js';
import { classifyAzureError, quotaOf } from '../../src/providers/azure/errors.js';
import { parseImageId, parseVmId } from '../../src/providers/azure/ids.js';
import { azurePlugin } from '../../src/providers/azure/index.js';
import { ProviderError, isProviderError } from '../../src/providers/errors.js';
import { TagKey } from '../../src/providers/naming.js';
import { azureEnv, startAzure, type AzureUnderTest } from '../helpers/azure.js';
import { captureLogger } from '../helpers/aws.js';
import {
  COMMUNITY_IMAGE_ID,
  DEFAULT_FEDERATED_TOKEN,
  DEFAULT_NSG_ID,
  DEFAULT_RESOURCE_GROUP,
  DEFAULT_SUBSCRIPTION_ID,
  FakeArm,
  MANAGED_IMAGE_ID,
  type FakeArmOptions,
} from '../fakes/arm/index.js';
import { request } from '../providers/contract/provider-contract.js';

const ids = { clusterName: 'c1', nodeName: 'node-a' };
const signal = (): AbortSignal => AbortSignal.timeout(30_000);
const host = () => ({ ...captureLogger(), stateDir: '/nonexistent', ...ids, forwarderPort: 15150 });
const vmIdOf = (name: string): string => `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/${DEFAULT_RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachines/${name}`;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let az: AzureUnderTest | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await az?.close();
  az = undefined;
  for (const c of closers.splice(0)) await c();
});

async function fakeArm(options: FakeArmOptions = {}): Promise<FakeArm> {
  const fake = await FakeArm.start(options);
  closers.push(() => fake.close());
  return fake;
}

async function startError(env: Record<string, string>, fakeOptions: FakeArmOptions = {}): Promise<Error & { code?: string }> {
  const fake = await fakeArm(fakeOptions);
  return azurePlugin.create(host(), { flags: {}, env: azureEnv(fake, env) }).then(
    () => expect.unreachable('start-up should have failed'),
    (e: unknown) => e as Error & { code?: string },
  );
}

/** The VM PUT the fake received last for a VM name. */
function lastPut(fake: FakeArm, name: string): Json {
  const put = fake.calls.filter((c) => c.operation === 'virtualMachines.createOrUpdate' && c.path.endsWith(`/${name}`)).at(-1);
  if (!put) throw new Error(`no PUT for ${name}`);
  return put.body as Json;
}

describe('azure provider: the VM PUT', () => {
  it('a tagged confidential VM: vTPM, VM guest state encryption, NIC and OS disk deleted with it, boot diagnostics, userData', async () => {
    az = await startAzure({ env: { TAGS: 'team=peerpods,cost-center=42' } });
    const req = request(ids);
    const inst = await az.provider.createInstance(req, signal());
    expect(inst).toMatchObject({ id: vmIdOf(req.instanceName), name: req.instanceName, instanceType: 'Standard_DC2as_v5' });
    const vm = az.fake.vm(inst.id)!;
    const nic = az.fake.nics().find((n) => n.vmId === vm.id)!;
    expect(inst.ips).toEqual([nic.privateIp]);
    expect(inst.ips[0]).toMatch(/^10\.97\./);

    const body = lastPut(az.fake, req.instanceName);
    const p = body.properties;
    expect(body.location).toBe('eastus');
    expect(p.hardwareProfile).toEqual({ vmSize: 'Standard_DC2as_v5' });
    expect(p.securityProfile).toEqual({ securityType: 'ConfidentialVM', uefiSettings: { secureBootEnabled: false, vTpmEnabled: true } });
    expect(p.storageProfile.osDisk).toEqual({
      name: `${req.instanceName}-disk`,
      createOption: 'FromImage',
      caching: 'ReadWrite',
      deleteOption: 'Delete',
      managedDisk: { storageAccountType: 'Premium_LRS', securityProfile: { securityEncryptionType: 'VMGuestStateOnly' } },
    });
    expect(p.storageProfile.imageReference).toEqual({ id: az.env.AZURE_IMAGE_ID });
    expect(p.diagnosticsProfile).toEqual({ bootDiagnostics: { enabled: true } });
    expect(p.networkProfile.networkApiVersion).toBe('2020-11-01');
    const nicConfig = p.networkProfile.networkInterfaceConfigurations[0];
    expect(nicConfig).toMatchObject({ name: `${req.instanceName}-net`, properties: { primary: true, deleteOption: 'Delete' } });
    expect(nicConfig.properties.ipConfigurations).toEqual([{ name: 'ip-config', properties: { primary: true, subnet: { id: az.env.AZURE_SUBNET_ID } } }]);
    expect(nicConfig.properties.networkSecurityGroup).toBeUndefined();
    expect(p.osProfile).toMatchObject({ adminUsername: 'peerpod', computerName: req.instanceName, linuxConfiguration: { disablePasswordAuthentication: true } });
    expect(p.osProfile.linuxConfiguration.ssh.publicKeys[0].path).toBe('/home/peerpod/.ssh/authorized_keys');
    expect(p.customData).toBeUndefined();
    expect(Buffer.from(p.userData, 'base64').toString('utf8')).toBe(req.userData);
    expect(body.zones).toBeUndefined();

    // Tags on the VM and on the NIC Azure makes with it, from the PUT on.
    const expectedTags = { team: 'peerpods', 'cost-center': '42', ...req.tags };
    expect(vm.tags).toEqual(expectedTags);
    expect(nic.tags).toEqual(expectedTags);
    expect(vm.userData).toBe(req.userData);
  });

  it('TAGS cannot overwrite the tags the daemon finds its VMs by', async () => {
    az = await startAzure({ env: { TAGS: `${TagKey.CLUSTER}=someone-else,owner=me` } });
    const inst = await az.provider.createInstance(request(ids), signal());
    expect(az.fake.vm(inst.id)!.tags).toMatchObject({ [TagKey.CLUSTER]: 'c1', owner: 'me' });
  });

  it('ENABLE_SECURE_BOOT, AZURE_NSG_ID, ROOT_VOLUME_SIZE, -zone and SSH_USERNAME reach the PUT', async () => {
    az = await startAzure({ env: { ENABLE_SECURE_BOOT: 'true', AZURE_NSG_ID: DEFAULT_NSG_ID, ROOT_VOLUME_SIZE: '64', SSH_USERNAME: 'caa' } });
    const req = request(ids);
    // -zone has no environment name upstream; it is a flag.
    await az.provider.teardown();
    const { provider } = await azurePlugin.create(host(), { flags: { zone: '2' }, env: az.env });
    closers.push(() => provider.teardown());
    await provider.createInstance(req, signal());
    const body = lastPut(az.fake, req.instanceName);
    expect(body.properties.securityProfile.uefiSettings.secureBootEnabled).toBe(true);
    expect(body.properties.networkProfile.networkInterfaceConfigurations[0].properties.networkSecurityGroup).toEqual({ id: DEFAULT_NSG_ID });
    expect(body.properties.storageProfile.osDisk.diskSizeGB).toBe(64);
    expect(body.zones).toEqual(['2']);
    expect(body.properties.osProfile.adminUsername).toBe('caa');
    expect(body.properties.osProfile.linuxConfiguration.ssh.publicKeys[0].path).toBe('/home/caa/.ssh/authorized_keys');
    expect(az.fake.nics()[0]!.nsgId).toBe(DEFAULT_NSG_ID);
  });

  it('DISABLECVM=true: no security profile, and then an ordinary size and image are accepted', async () => {
    az = await startAzure({ env: { DISABLECVM: 'true', AZURE_INSTANCE_SIZE: 'Standard_D2as_v5', AZURE_INSTANCE_SIZES: '', AZURE_IMAGE_ID: MANAGED_IMAGE_ID } });
    const req = request(ids);
    const inst = await az.provider.createInstance(req, signal());
    const body = lastPut(az.fake, req.instanceName);
    expect(body.properties.securityProfile).toBeUndefined();
    expect(body.properties.storageProfile.osDisk.managedDisk).toEqual({ storageAccountType: 'Premium_LRS' });
    expect(inst.instanceType).toBe('Standard_D2as_v5');
  });

  it('USE_PUBLIC_IP: a Standard public IP deleted with the VM, and its address first', async () => {
    az = await startAzure({ env: { USE_PUBLIC_IP: 'true' } });
    const req = request(ids);
    const inst = await az.provider.createInstance(req, signal());
    const ipConfig = lastPut(az.fake, req.instanceName).properties.networkProfile.networkInterfaceConfigurations[0].properties.ipConfigurations[0];
    expect(ipConfig.properties.publicIPAddressConfiguration).toEqual({
      name: `${req.instanceName}-ip`,
      properties: { deleteOption: 'Delete', publicIPAllocationMethod: 'Static' },
      sku: { name: 'Standard', tier: 'Regional' },
      tags: req.tags,
    });
    expect(inst.ips).toHaveLength(2);
    expect(inst.ips[0]).toMatch(/^203\.0\.113\./);
    expect(inst.ips[1]).toMatch(/^10\.97\./);
    expect(az.fake.publicIps().map((p) => p.ipAddress)).toEqual([inst.ips[0]]);
    await az.provider.deleteInstance(inst.id, signal());
    expect(az.fake.publicIps()).toEqual([]);
  });

  it('refuses userData over 64 KiB of base64 before calling Azure, naming both sizes; exactly 64 KiB passes', async () => {
    az = await startAzure();
    const before = az.fake.callCount('virtualMachines.createOrUpdate');
    const err = await az.provider.createInstance(request(ids, { userData: 'x'.repeat(49_153) }), signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/49153 bytes, 65540 bytes in base64; Azure accepts at most 65536 bytes/);
    expect(az.fake.callCount('virtualMachines.createOrUpdate')).toBe(before);
    const atLimit = await az.provider.createInstance(request(ids, { userData: 'y'.repeat(49_152) }), signal());
    expect(az.fake.vm(atLimit.id)!.userData).toHaveLength(49_152);
  });

  it('the image annotation overrides AZURE_IMAGE_ID; a community gallery image goes in communityGalleryImageId', async () => {
    az = await startAzure();
    const req = request(ids);
    await az.provider.createInstance({ ...req, spec: { ...req.spec, image: COMMUNITY_IMAGE_ID } }, signal());
    expect(lastPut(az.fake, req.instanceName).properties.storageProfile.imageReference).toEqual({ communityGalleryImageId: COMMUNITY_IMAGE_ID });
  });

  it('an unknown or malformed image annotation is INVALID_REQUEST naming it, and leaves nothing', async () => {
    az = await startAzure();
    const unknown = `${az.env.AZURE_IMAGE_ID!.replace(/0\.2\.0$/, '9.9.9')}`;
    const a = request(ids);
    const err = await az.provider.createInstance({ ...a, spec: { ...a.spec, image: unknown } }, signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST'), String(err)).toBe(true);
    expect((err as Error).message).toContain(unknown);
    expect((err as ProviderError).partialInstanceId).toBeUndefined();
    const puts = az.fake.callCount('virtualMachines.createOrUpdate');
    const b = request(ids);
    const bad = await az.provider.createInstance({ ...b, spec: { ...b.spec, image: 'ami-0123456789abcdef0' } }, signal()).catch((e: unknown) => e);
    expect(isProviderError(bad, 'INVALID_REQUEST')).toBe(true);
    expect((bad as Error).message).toMatch(/"ami-0123456789abcdef0" .* is not an Azure image id/);
    expect(az.fake.callCount('virtualMachines.createOrUpdate')).toBe(puts);
    expect(az.fake.vms()).toEqual([]);
  });

  it('an SSH key of its own per VM (Ed25519), never in the logs; -ssh-key-path gives the operator\'s', async () => {
    az = await startAzure();
    const [a, b] = [request(ids), request(ids)];
    await az.provider.createInstance(a, signal());
    await az.provider.createInstance(b, signal());
    const keyOf = (name: string): string => lastPut(az!.fake, name).properties.osProfile.linuxConfiguration.ssh.publicKeys[0].keyData;
    expect(keyOf(a.instanceName)).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} peerpod$/);
    expect(keyOf(a.instanceName)).not.toBe(keyOf(b.instanceName));
    const logText = JSON.stringify(az.logs);
    expect(logText).not.toContain('ssh-ed25519');
    expect(logText).not.toContain('PRIVATE KEY');

    const dir = await mkdtemp(join(tmpdir(), 'caa-azure-ssh-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const operatorKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9wZXJhdG9yLWtleS1mb3ItdGVzdHMtb25seS0xMjM0 ops@example';
    await writeFile(join(dir, 'id.pub'), `${operatorKey}\n`);
    const { provider } = await azurePlugin.create(host(), { flags: { 'ssh-key-path': join(dir, 'id.pub') }, env: az.env });
    closers.push(() => provider.teardown());
    const c = request(ids);
    await provider.createInstance(c, signal());
    expect(keyOf(c.instanceName)).toBe(operatorKey);
    await writeFile(join(dir, 'id'), '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n');
    await expect(azurePlugin.create(host(), { flags: { 'ssh-key-path': join(dir, 'id') }, env: az.env })).rejects.toThrow(/holds a private key/);
  });

  it('selects the size from the pod size within the allowed list', async () => {
    az = await startAzure();
    const req = request(ids);
    const inst = await az.provider.createInstance({ ...req, spec: { ...req.spec, vcpus: 4, memoryMiB: 12_000 } }, signal());
    expect(inst.instanceType).toBe('Standard_DC4as_v5');
    const outside = request(ids);
    const err = await az.provider.createInstance({ ...outside, spec: { ...outside.spec, instanceType: 'Standard_DC8as_v5' } }, signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/Standard_DC8as_v5 is not part of supported instance types/);
  });
});

describe('azure provider: faults', () => {
  it('SkuNotAvailable for the selected size → the next allowed size that fits, said in the log', async () => {
    az = await startAzure();
    az.fake.inject({ operation: 'virtualMachines.createOrUpdate', code: 'SkuNotAvailable', when: (r) => r.vmSize === 'Standard_DC2as_v5' });
    const inst = await az.provider.createInstance(request(ids), signal());
    expect(inst.instanceType).toBe('Standard_DC2ads_v5');
    expect(az.logs.some((l) => l.msg === 'no capacity for Standard_DC2as_v5; trying Standard_DC2ads_v5')).toBe(true);
    expect(az.fake.vms().map((v) => [v.id, v.vmSize])).toEqual([[inst.id, 'Standard_DC2ads_v5']]);
  });

  it('AllocationFailed at the end of the long-running operation → the same VM again with the next size', async () => {
    az = await startAzure();
    az.fake.failAsync({ operation: 'virtualMachines.createOrUpdate', code: 'AllocationFailed', when: (r) => r.vmSize === 'Standard_DC2as_v5' });
    const inst = await az.provider.createInstance(request(ids), signal());
    expect(inst.instanceType).toBe('Standard_DC2ads_v5');
    expect(az.fake.vms().map((v) => [v.id, v.vmSize, v.provisioningState])).toEqual([[inst.id, 'Standard_DC2ads_v5', 'Succeeded']]);
    expect(az.fake.callCount('virtualMachines.createOrUpdate')).toBe(2);
    expect(az.logs.find((l) => l.msg === 'no capacity for Standard_DC2as_v5; trying Standard_DC2ads_v5')?.err).toMatch(/AllocationFailed/);
  });

  it('no capacity anywhere → CAPACITY naming every size tried; the failed VM is reported for clean-up', async () => {
    az = await startAzure();
    await az.provider.teardown();
    const { provider } = await azurePlugin.create(host(), { flags: { zone: '2' }, env: az.env });
    closers.push(() => provider.teardown());
    az.fake.failAsync({ operation: 'virtualMachines.createOrUpdate', code: 'ZonalAllocationFailed' });
    const err = (await provider.createInstance(request(ids), signal()).catch((e: unknown) => e)) as ProviderError;
    expect(isProviderError(err, 'CAPACITY')).toBe(true);
    expect(err.message).toMatch(/^ZonalAllocationFailed for Standard_DC2as_v5 in eastus zone 2; tried Standard_DC2ads_v5, Standard_EC2as_v5, Standard_DC4as_v5 \(ZonalAllocationFailed for Standard_DC2ads_v5/);
    expect(err.partialInstanceId).toBe(az.fake.vms()[0]!.id);
    expect(az.fake.vms()[0]!.provisioningState).toBe('Failed');
    await provider.deleteInstance(err.partialInstanceId!, signal());
    expect(az.fake.vms()).toEqual([]);
    expect(az.fake.nics()).toEqual([]);
    expect(az.fake.disks()).toEqual([]);
  });

  it('SkuNotAvailable everywhere → CAPACITY, nothing created, nothing to clean up', async () => {
    az = await startAzure();
    az.fake.inject({ operation: 'virtualMachines.createOrUpdate', code: 'SkuNotAvailable' });
    const err = (await az.provider.createInstance(request(ids), signal()).catch((e: unknown) => e)) as ProviderError;
    expect(isProviderError(err, 'CAPACITY')).toBe(true);
    expect(err.partialInstanceId).toBeUndefined();
    expect(az.fake.callCount('virtualMachines.createOrUpdate')).toBe(4);
    expect(az.fake.vms()).toEqual([]);
  });

  it('a cores quota is QUOTA naming the quota and its figures, not retried over other sizes', async () => {
    az = await startAzure({ fake: { familyCoresQuota: { standardDCASv5Family: 2 } } });
    await az.provider.createInstance(request(ids), signal());
    const puts = az.fake.callCount('virtualMachines.createOrUpdate');
    const err = (await az.provider.createInstance(request(ids), signal()).catch((e: unknown) => e)) as ProviderError;
    expect(isProviderError(err, 'QUOTA')).toBe(true);
    expect(err.message).toMatch(/^Azure quota standardDCASv5Family Cores \(limit 2, in use 2, asked for 2 more\) exhausted/);
    expect(err.retryable).toBe(false);
    expect(err.partialInstanceId).toBeUndefined();
    expect(az.fake.callCount('virtualMachines.createOrUpdate')).toBe(puts + 1);
  });

  it('429 with Retry-After: the PUT is retried after it, and no other request starts before it ends', async () => {
    az = await startAzure();
    az.fake.inject({ operation: 'virtualMachines.createOrUpdate', code: 'TooManyRequests', retryAfterSeconds: 1, times: 1 });
    const started = Date.now();
    const creating = az.provider.createInstance(request(ids), signal());
    while (az.fake.callCount('virtualMachines.createOrUpdate') === 0) await new Promise((r) => setTimeout(r, 5));
    const throttledAt = az.fake.calls.find((c) => c.operation === 'virtualMachines.createOrUpdate')!.at;
    await new Promise((r) => setTimeout(r, 50));
    const listed = az.provider.listInstances({}, signal());
    const inst = await creating;
    await listed;
    const puts = az.fake.calls.filter((c) => c.operation === 'virtualMachines.createOrUpdate');
    expect(puts).toHaveLength(2);
    expect(puts[1]!.at - throttledAt).toBeGreaterThanOrEqual(950);
    // The list waited for the window too (ARM throttles the subscription, not one request).
    expect(az.fake.calls.find((c) => c.operation === 'virtualMachines.list')!.at - throttledAt).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(az.fake.vm(inst.id)).toBeDefined();
  });

  it('throttled beyond the retries → THROTTLED, retryable', async () => {
    az = await startAzure({ env: { AZURE_API_MAX_RETRIES: '1' } });
    az.fake.inject({ operation: 'virtualMachines.createOrUpdate', code: 'TooManyRequests', retryAfterSeconds: 0 });
    const err = (await az.provider.createInstance(request(ids), signal()).catch((e: unknown) => e)) as ProviderError;
    expect(isProviderError(err, 'THROTTLED')).toBe(true);
    expect(err.retryable).toBe(true);
    expect(az.fake.callCount('virtualMachines.createOrUpdate')).toBe(2);
  });

  it('a PUT whose connection is cut after it took effect is retried: one VM, not two', async () => {
    az = await startAzure();
    az.fake.failAfterEffect({ operation: 'virtualMachines.createOrUpdate', reset: true, times: 1 });
    const inst = await az.provider.createInstance(request(ids), signal());
    expect(az.fake.vms().map((v) => v.id)).toEqual([inst.id]);
    expect(az.fake.callCount('virtualMachines.createOrUpdate')).toBe(2);
  });

  it('the long-running operation is polled at AZURE_POLL_INTERVAL, and a cancel during it names the VM to clean up', async () => {
    az = await startAzure({ env: { AZURE_POLL_INTERVAL: '100ms' }, fake: { createDurationMs: 450 } });
    await az.provider.createInstance(request(ids), signal());
    const polls = az.fake.callCount('operations.get');
    expect(polls).toBeGreaterThanOrEqual(3);
    expect(polls).toBeLessThanOrEqual(7);
    const req = request(ids);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('test abort')), 150);
    const err = (await az.provider.createInstance(req, ac.signal).catch((e: unknown) => e)) as ProviderError;
    expect(isProviderError(err, 'CANCELLED')).toBe(true);
    expect(err.partialInstanceId).toBe(vmIdOf(req.instanceName));
  });

  it('never more ARM requests in flight than AZURE_API_MAX_IN_FLIGHT, polls included', async () => {
    az = await startAzure({ env: { AZURE_API_MAX_IN_FLIGHT: '4' }, fake: { createDurationMs: 60 } });
    az.fake.latencyMs = 20;
    az.fake.resetStats();
    await Promise.all(Array.from({ length: 24 }, () => az!.provider.createInstance(request(ids), signal())));
    expect(az.fake.callCount('operations.get')).toBeGreaterThan(0);
    expect(az.fake.peakInFlight).toBeLessThanOrEqual(4);
    expect(az.fake.peakInFlight).toBeGreaterThan(1);
  });
});

describe('azure provider: delete and list', () => {
  it('deletes the VM and waits until it is gone; Azure removes its NIC and OS disk with it', async () => {
    az = await startAzure({ fake: { deleteDurationMs: 200 } });
    const inst = await az.provider.createInstance(request(ids), signal());
    expect(az.fake.nics()).toHaveLength(1);
    expect(az.fake.disks()).toHaveLength(1);
    await az.provider.deleteInstance(inst.id, signal());
    expect(az.fake.vms()).toEqual([]);
    expect(az.fake.nics()).toEqual([]);
    expect(az.fake.disks()).toEqual([]);
    expect(az.fake.callCount('operations.get')).toBeGreaterThan(0);
  });

  it('refuses an empty or malformed id without calling Azure (a silent success would leak the VM)', async () => {
    az = await startAzure();
    const before = az.fake.calls.length;
    const vm = vmIdOf('podvm-x-12345678');
    for (const bad of [
      '',
      '   ',
      'podvm-x-12345678',
      `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/${DEFAULT_RESOURCE_GROUP}`,
      `${vm}/`,
      `${vm}/extensions/x`,
      vm.replace('virtualMachines', 'networkInterfaces').replace('Microsoft.Compute', 'Microsoft.Network'),
      vm.replace('/podvm-x-12345678', '/'),
      'i-0123456789abcdef0',
    ]) {
      const err = await az.provider.deleteInstance(bad, signal()).catch((e: unknown) => e);
      expect(isProviderError(err, 'INVALID_REQUEST'), JSON.stringify(bad)).toBe(true);
    }
    const otherSub = vm.replace(DEFAULT_SUBSCRIPTION_ID, '00000000-0000-4000-8000-000000000000');
    const err = await az.provider.deleteInstance(otherSub, signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'INVALID_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/subscription 00000000-0000-4000-8000-000000000000/);
    expect(az.fake.calls.length).toBe(before);
  });

  it('a VM that is not there is success, and so is a resource group that is gone', async () => {
    az = await startAzure();
    await az.provider.deleteInstance(vmIdOf('podvm-gone-00000000'), signal());
    await az.provider.deleteInstance(vmIdOf('podvm-gone-00000000').replace(DEFAULT_RESOURCE_GROUP, 'deleted-rg'), signal());
    expect(az.logs.filter((l) => /is already gone/.test(l.msg))).toHaveLength(1);
  });

  it('list finds by tags across pages, leaves out VMs being deleted and keeps failed ones', async () => {
    az = await startAzure({ fake: { pageSize: 2, deleteDurationMs: 60_000 } });
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await az.provider.createInstance(request(ids), signal()));
    az.fake.failAsync({ operation: 'virtualMachines.createOrUpdate', code: 'OSProvisioningTimedOut', message: 'OS Provisioning for VM did not finish in the allotted time.' });
    const failedReq = request(ids);
    const failed = (await az.provider.createInstance(failedReq, signal()).catch((e: unknown) => e)) as ProviderError;
    expect(failed.code).toBe('UNAVAILABLE');
    expect(failed.partialInstanceId).toBe(vmIdOf(failedReq.instanceName));
    az.fake.clearFaults();
    // A delete whose long-running operation is still going: the VM is on its way out.
    const deleting = az.provider.deleteInstance(made[0]!.id, AbortSignal.timeout(300)).catch((e: unknown) => e);
    await deleting;
    const listed = await az.provider.listInstances({ [TagKey.CLUSTER]: 'c1' }, signal());
    expect(listed.map((i) => i.id).sort()).toEqual([...made.slice(1).map((m) => m.id), failed.partialInstanceId!].sort());
    expect(az.fake.callCount('virtualMachines.list')).toBe(3);
    expect(listed[0]!.name).toMatch(/^podvm-contract-pod-/);
    expect(await az.provider.listInstances({ [TagKey.CLUSTER]: 'c1', [TagKey.NODE]: 'another-node' }, signal())).toEqual([]);
  });
});

describe('azure provider: start-up', () => {
  it('every missing required key is named at once', async () => {
    const fake = await fakeArm();
    const env = azureEnv(fake, { AZURE_SUBSCRIPTION_ID: '', AZURE_REGION: '', AZURE_RESOURCE_GROUP: '', AZURE_SUBNET_ID: '', AZURE_IMAGE_ID: '' });
    const err = (await azurePlugin.create(host(), { flags: {}, env }).catch((e: unknown) => e)) as Error;
    for (const key of ['AZURE_SUBSCRIPTION_ID', 'AZURE_REGION', 'AZURE_RESOURCE_GROUP', 'AZURE_SUBNET_ID', 'AZURE_IMAGE_ID']) expect(err.message).toContain(`${key} / --`);
  });

  it('malformed ids, cloud names and tags are configuration errors naming the key', () => {
    const load = (extra: Record<string, string>) => () => loadAzureConfig({ flags: {}, env: azureEnv({ endpoint: 'https://127.0.0.1:1' }, extra) });
    expect(load({ AZURE_SUBNET_ID: '/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/v' })).toThrow(/AZURE_SUBNET_ID .*expected \/subscriptions/);
    expect(load({ AZURE_IMAGE_ID: 'ami-0123456789abcdef0' })).toThrow(/AZURE_IMAGE_ID .*CommunityGalleries/);
    expect(load({ AZURE_NSG_ID: 'peerpods-nsg' })).toThrow(/AZURE_NSG_ID/);
    expect(load({ AZURE_CLOUD: 'AzureGermanCloud' })).toThrow(/AZURE_CLOUD .*AzurePublicCloud, AzureChinaCloud, AzureUSGovernment/);
    expect(load({ TAGS: 'a/b=c' })).toThrow(/TAGS .*not allowed by Azure/);
    expect(load({ AZURE_RESOURCE_MANAGER_ENDPOINT: 'http://127.0.0.1:1' })).toThrow(/AZURE_RESOURCE_MANAGER_ENDPOINT .*https/);
    expect(load({ AZURE_POLL_INTERVAL: '0s' })).toThrow(/AZURE_POLL_INTERVAL/);
  });

  it('a size the region does not offer, an unknown image: INVALID_CONFIG naming the key', async () => {
    const size = await startError({ AZURE_INSTANCE_SIZES: 'Standard_DC2as_v5,Standard_DC96as_v9' });
    expect(size.code).toBe('INVALID_CONFIG');
    expect(size.message).toMatch(/Standard_DC96as_v9 not offered in eastus \(AZURE_INSTANCE_SIZE \/ AZURE_INSTANCE_SIZES\)/);
    const image = await startError({ AZURE_IMAGE_ID: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/images-rg/providers/Microsoft.Compute/images/nope` });
    expect(image.code).toBe('INVALID_CONFIG');
    expect(image.message).toMatch(/^AZURE_IMAGE_ID \/subscriptions\/.*\/images\/nope: /);
  });

  it('a wrong client secret is UNAUTHORIZED; a secret without its tenant is INVALID_CONFIG', async () => {
    const wrong = await startError({ AZURE_CLIENT_SECRET: 'not-the-secret' });
    expect(isProviderError(wrong, 'UNAUTHORIZED'), String(wrong)).toBe(true);
    expect(wrong.message).toMatch(/AADSTS7000215/);
    expect(wrong.message).not.toContain('not-the-secret');
    const noTenant = await startError({ AZURE_TENANT_ID: '' });
    expect(noTenant.code).toBe('INVALID_CONFIG');
    expect(noTenant.message).toMatch(/AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID is empty/);
  });

  it('workload identity: without a secret, the federated token file is exchanged for a token', async () => {
    const fake = await fakeArm();
    const dir = await mkdtemp(join(tmpdir(), 'caa-azure-wi-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'token'), DEFAULT_FEDERATED_TOKEN);
    const env = azureEnv(fake, { AZURE_CLIENT_SECRET: '', AZURE_FEDERATED_TOKEN_FILE: join(dir, 'token') });
    const { provider } = await azurePlugin.create(host(), { flags: {}, env });
    closers.push(() => provider.teardown());
    expect(fake.tokenRequests.map((t) => [t.grant, t.ok])).toEqual([['client_assertion', true]]);
    expect(fake.tokenRequests[0]!.scope).toBe(`${fake.endpoint}/.default`);
    const inst = await provider.createInstance(request(ids), signal());
    expect(fake.vm(inst.id)).toBeDefined();
  });

  it('sovereign clouds: AZURE_CLOUD picks Resource Manager and authority; explicit endpoints win', () => {
    const cfg = (env: Record<string, string>) => loadAzureConfig({ flags: {}, env: { ...azureEnv({ endpoint: '' }), AZURE_RESOURCE_MANAGER_ENDPOINT: '', AZURE_AUTHORITY_HOST: '', ...env } });
    expect(resolveCloud(cfg({}))).toMatchObject({ resourceManager: 'https://management.azure.com', authorityHost: 'https://login.microsoftonline.com', scope: 'https://management.azure.com/.default', knownAuthority: true });
    expect(resolveCloud(cfg({ AZURE_CLOUD: 'AzureChinaCloud' }))).toMatchObject({ resourceManager: 'https://management.chinacloudapi.cn', authorityHost: 'https://login.chinacloudapi.cn', scope: 'https://management.chinacloudapi.cn/.default' });
    expect(resolveCloud(cfg({ AZURE_CLOUD: 'AzureUSGovernment' }))).toMatchObject({ resourceManager: 'https://management.usgovcloudapi.net', authorityHost: 'https://login.microsoftonline.us' });
    const stack = resolveCloud(cfg({ AZURE_RESOURCE_MANAGER_ENDPOINT: 'https://management.local.azurestack.external/', AZURE_AUTHORITY_HOST: 'https://adfs.local.azurestack.external' }));
    expect(stack).toMatchObject({ resourceManager: 'https://management.local.azurestack.external', scope: 'https://management.local.azurestack.external/.default', knownAuthority: false });
    expect(stack.name).toMatch(/AzurePublicCloud with Resource Manager https:\/\/management\.local\.azurestack\.external/);
  });

  it('the start-up log line and describeConfig never show the secrets', async () => {
    az = await startAzure();
    const described = azurePlugin.describeConfig!({ flags: {}, env: az.env });
    expect(described).toMatchObject({ clientSecret: '<redacted>', clientId: '<redacted>', tenantId: '<redacted>', subscriptionId: DEFAULT_SUBSCRIPTION_ID });
    const text = JSON.stringify(az.logs);
    expect(text).toContain('azure provider ready in eastus');
    for (const secret of [az.env.AZURE_CLIENT_SECRET!, az.env.AZURE_CLIENT_ID!, az.env.AZURE_TENANT_ID!]) expect(text).not.toContain(secret);
  });
});

describe('azure provider: verify', () => {
  it('one line per check, all passing on a good configuration', async () => {
    const fake = await fakeArm();
    const checks = await azurePlugin.verify!(host(), { flags: {}, env: azureEnv(fake, { AZURE_NSG_ID: DEFAULT_NSG_ID }) }, signal());
    expect(checks.map((c) => c.name)).toEqual(['cloud', 'credentials', 'resource group', 'subnet', 'network security group', 'image', 'sizes']);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.name === 'subnet')!.detail).toBe('pods in virtual network peerpods-vnet (network-rg): 10.97.0.0/16');
    expect(checks.find((c) => c.name === 'sizes')!.detail).toMatch(/^Standard_DC2as_v5 \(2 vCPU, 8192 MiB\), /);
    expect(fake.vms()).toEqual([]);
  });

  it('reports each broken key on its own line and goes on with the others', async () => {
    const fake = await fakeArm();
    const env = azureEnv(fake, {
      AZURE_RESOURCE_GROUP: 'no-such-rg',
      AZURE_SUBNET_ID: az0Subnet('missing'),
      AZURE_INSTANCE_SIZES: 'Standard_DC2as_v5,Standard_Nope_v1',
    });
    const checks = await azurePlugin.verify!(host(), { flags: {}, env }, signal());
    const failed = Object.fromEntries(checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
    expect(Object.keys(failed).sort()).toEqual(['resource group', 'sizes', 'subnet']);
    expect(failed['resource group']).toMatch(/ResourceGroupNotFound/);
    expect(failed.sizes).toMatch(/Standard_Nope_v1/);
    expect(checks.find((c) => c.name === 'image')!.ok).toBe(true);
  });

  it('stops after the credentials check when the credentials are refused', async () => {
    const fake = await fakeArm();
    const checks = await azurePlugin.verify!(host(), { flags: {}, env: azureEnv(fake, { AZURE_CLIENT_SECRET: 'wrong' }) }, signal());
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['cloud', true],
      ['credentials', false],
    ]);
    expect(checks[1]!.detail).toMatch(/Invalid client secret/);
  });
});

describe('azure ids and errors', () => {
  it('parses VM and image ids, refuses the rest', () => {
    expect(parseVmId(vmIdOf('podvm-a-1'))).toEqual({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, resourceGroup: DEFAULT_RESOURCE_GROUP, name: 'podvm-a-1' });
    expect(parseVmId(vmIdOf('podvm-a-1').replace('resourceGroups', 'resourcegroups').replace('virtualMachines', 'VIRTUALMACHINES')).name).toBe('podvm-a-1');
    expect(() => parseVmId(vmIdOf('-bad'))).toThrow(ProviderError);
    expect(parseImageId(COMMUNITY_IMAGE_ID)).toMatchObject({ kind: 'community', image: 'podvm_image0', version: '2025.10.01' });
    expect(parseImageId(MANAGED_IMAGE_ID)).toMatchObject({ kind: 'managed', name: 'podvm-managed' });
    expect(parseImageId('/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/gal/images/img')).toMatchObject({ kind: 'gallery', image: 'img' });
    expect(parseImageId('/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d')).toBeUndefined();
  });

  it('classifies what ARM and core-lro report', () => {
    const rest = (statusCode: number, code: string, message: string) => Object.assign(new Error(message), { name: 'RestError', statusCode, code, details: { error: { code, message } } });
    expect(classifyAzureError(new Error('The long-running operation has failed. AllocationFailed. Allocation failed.'), 'x').code).toBe('CAPACITY');
    expect(classifyAzureError(rest(409, 'SkuNotAvailable', 'not here'), 'x').code).toBe('CAPACITY');
    expect(classifyAzureError(rest(409, 'OperationNotAllowed', 'marked for deletion'), 'x').code).toBe('INVALID_REQUEST');
    expect(classifyAzureError(rest(429, 'TooManyRequests', 'slow down'), 'x').code).toBe('THROTTLED');
    expect(classifyAzureError(rest(503, 'Whatever', 'down'), 'x').code).toBe('UNAVAILABLE');
    expect(classifyAzureError(Object.assign(new Error('socket hang up'), { name: 'RestError', code: 'ECONNRESET' }), 'x').code).toBe('UNAVAILABLE');
    expect(quotaOf('Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - Current Limit: 10, Current Usage: 10, Additional Required: 2')).toBe(
      'Total Regional Cores (limit 10, in use 10, asked for 2 more)',
    );
  });
});

function az0Subnet(name: string): string {
  return `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/network-rg/providers/Microsoft.Network/virtualNetworks/peerpods-vnet/subnets/${name}`;
}

// The fake's TLS material comes from global-setup.ts; a process without it gets a clear error.
describe('fake ARM without its CA', () => {
  let saved: string | undefined;
  beforeAll(() => {
    saved = process.env.CAA_FAKE_ARM_TLS_DIR;
    delete process.env.CAA_FAKE_ARM_TLS_DIR;
  });
  afterAll(() => {
    if (saved !== undefined) process.env.CAA_FAKE_ARM_TLS_DIR = saved;
  });
  it('refuses to start, saying how to get one', async () => {
    await expect(FakeArm.start()).rejects.toThrow(/NODE_EXTRA_CA_CERTS/);
  });
});
