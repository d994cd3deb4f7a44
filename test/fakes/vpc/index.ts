/**
 * Fake IBM Cloud VPC + IAM + Global Tagging for tests and benchmarks.
 *
 *   const fake = await FakeVpc.start();
 *   // IBMCLOUD_VPC_ENDPOINT=fake.vpcEndpoint, IBMCLOUD_IAM_ENDPOINT=fake.iamEndpoint,
 *   // IBMCLOUD_TAGGING_ENDPOINT=fake.endpoint, IBMCLOUD_API_KEY=DEFAULT_API_KEY
 *   …
 *   await fake.close();
 *
 * Behaviour worth knowing (as in IBM Cloud unless marked "fake"):
 * - Every VPC call needs `version=YYYY-MM-DD` (not in the future) and (fake: required) `generation=2`,
 *   and a bearer token this fake's IAM issued, unexpired and unrevoked (else 401 `not_authorized`).
 * - IAM: `grant_type=urn:ibm:params:oauth:grant-type:apikey` with a known `apikey`, or
 *   `…:cr-token` with `profile_id` + `cr_token` (a trusted profile). Tokens are JWT-shaped with
 *   `iat`/`exp` (`tokenTtlSeconds`, default 3600). Errors have IAM's own shape (`errorCode: BXNIM…`).
 * - POST /instances validates the prototype (profile, zone, image architecture, Secure Execution
 *   image ↔ `bz2e-*`-like profile, confidential_compute_mode / enable_secure_boot against the
 *   profile, subnet and security groups in the VPC, keys, resource group, placement target,
 *   user_data ≤ 64 KiB) and answers 201 with the instance `pending`. Names are unique in a VPC while
 *   an instance of that name exists (`deleting` included): a second create answers 400
 *   `validation_unique_failed`. The vCPU quota (`vcpuQuota`) answers 400 `over_quota`.
 * - Instances become `running` after `bootDelayMs`, or `failed` with a status reason if a
 *   `failStarts` rule matched at creation (e.g. `cannot_start_capacity`). The primary IP reads
 *   `0.0.0.0` for `ipDelayMs`. DELETE answers 204 and the instance is `deleting` for `deleteDelayMs`
 *   (a second DELETE then answers 409 `instance_delete_conflict`), then 404.
 * - GET /instances filters by `name`, `vpc.id`, `resource_group.id`, pages with `limit` (≤ 100) and
 *   `start` (`next.href`).
 * - Global Tagging keeps user tags per CRN (case-insensitively unique) and keeps them after the
 *   instance is gone; attaching to a CRN it never knew reports `is_error`.
 * - Faults: `inject` (before the effect), `failAfterEffect` (after it: whatever the reply was, it is
 *   replaced), by operation name, rate, count or predicate, with `Retry-After`; `latencyMs` per
 *   operation; `inFlight` / `peakInFlight`; every request is in `calls`.
 */
export { FakeVpc, type AfterEffectRule, type CallRecord } from './fake-vpc.js';
export type { FakeRequest, FaultRule, StartFailureRule } from './faults.js';
export type { FakeVpcOptions, LatencySetting } from './state.js';
export type * from './resources.js';
export * from './seeds.js';
export { USER_DATA_LIMIT } from './handlers/instances.js';
