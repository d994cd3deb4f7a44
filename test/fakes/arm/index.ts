/**
 * Fake Azure Resource Manager (with the Entra ID token endpoint) for tests and benchmarks.
 *
 *   const fake = await FakeArm.start();          // under vitest: TLS from global-setup.ts
 *   const credential = new ClientSecretCredential(DEFAULT_TENANT_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
 *     { authorityHost: fake.endpoint, disableInstanceDiscovery: true });
 *   const compute = new ComputeManagementClient(credential, DEFAULT_SUBSCRIPTION_ID,
 *     { endpoint: fake.endpoint, credentials: { scopes: [`${fake.endpoint}/.default`] } });
 *   …
 *   await fake.close();
 *
 * Behaviour worth knowing (as in Azure unless marked "fake"):
 * - HTTPS only (the SDK sends bearer tokens over TLS only). The CA must be trusted by the client
 *   process through NODE_EXTRA_CA_CERTS set before it starts (tls.ts, global-setup.ts).
 * - Tokens: the client-credentials grant (client secret) and the client-assertion grant (workload
 *   identity) at `/<tenant>/oauth2/v2.0/token`; ARM accepts only unexpired tokens it issued for the
 *   scope `<endpoint>/.default`, else 401 InvalidAuthenticationToken(Audience).
 * - VM PUT is a long-running operation: 201 (create) or 200 (update) with `Azure-AsyncOperation`;
 *   it completes `createDurationMs` later. DELETE: 202 with `Azure-AsyncOperation` and `Location`,
 *   204 for a VM that does not exist. Polls answer `{status: InProgress|Succeeded|Failed, error?}`.
 * - The NIC (and public IP) in `networkInterfaceConfigurations` and the OS disk are created with the
 *   VM and removed with it when their `deleteOption` is `Delete`; otherwise they stay, detached —
 *   which is how a careless client leaks them.
 * - Validation of what matters to the provider: sizes of the region, ConfidentialVM needs a
 *   confidential size, vTPM, the OS disk's securityEncryptionType and a CVM-capable image; password
 *   login off needs an SSH key; userData ≤ 64 KiB of base64; subnet and NSG must exist; Standard
 *   public IPs only; Azure's tag name rules; per-family cores quotas (409 OperationNotAllowed with
 *   ARM's quota message); immutable properties of an existing VM (409 PropertyChangeNotAllowed);
 *   a PUT while the VM is deleting (409 OperationNotAllowed).
 * - `virtualMachines.list` pages with `nextLink` (`pageSize` per page).
 * - Faults (faults.ts): before the effect, after it (error or cut connection), or asynchronously in
 *   the long-running operation; by operation name, rate, count or predicate; with Retry-After.
 */
export { FakeArm, type ArmCallRecord, type FakeArmOptions, type LatencySetting } from './fake-arm.js';
export type { ArmFaultRule, FakeRequest, FaultPhase } from './faults.js';
export type * from './resources.js';
export * from './seeds.js';
export { MAX_USER_DATA_BASE64 } from './model.js';
export { TLS_DIR_ENV, armTlsFromEnv, createArmTls, writeArmTls, type ArmTls } from './tls.js';
