/**
 * A stateful fake Azure Resource Manager (and the Entra ID token endpoint in front of it) over HTTPS on
 * 127.0.0.1, for `new ComputeManagementClient(credential, sub, { endpoint: fake.endpoint })` and
 * `new NetworkManagementClient(…)`. Behaviour notes are in index.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { ReseedableRandom } from '../fault-rules.js';
import { FakeCloudStats, HttpFakeServer, latencyFor, readBody, type LatencySetting } from '../http-fake-server.js';
import { ArmError } from './errors.js';
import { FaultRules, type ArmFaultRule, type FakeRequest } from './faults.js';
import { TokenIssuer, type TokenRequestRecord } from './identity.js';
import { ArmModel } from './model.js';
import type { FakeArmState, FakeDisk, FakeNic, FakeOperation, FakePublicIp, FakeVm } from './resources.js';
import { matchRoute, type ArmReply } from './routes.js';
import {
  DEFAULT_IMAGES,
  DEFAULT_NSGS,
  DEFAULT_PRINCIPALS,
  DEFAULT_REGION,
  DEFAULT_RESOURCE_GROUPS,
  DEFAULT_SIZES,
  DEFAULT_SUBNETS,
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_TENANT_ID,
  type ImageSeed,
  type PrincipalSeed,
  type SizeSeed,
  type SubnetSeed,
} from './seeds.js';
import { armTlsFromEnv, type ArmTls } from './tls.js';
import { currentRows, type CloudFakeOptions } from '../cloud-fake-kit.js';

export type { LatencySetting };

export interface FakeArmOptions extends CloudFakeOptions {
  /** Certificate and key; default: what global-setup.ts prepared (CAA_FAKE_ARM_TLS_DIR). */
  tls?: Pick<ArmTls, 'cert' | 'key'>;
  tenantId?: string;
  subscriptionId?: string;
  /** Default `eastus`. */
  region?: string;
  resourceGroups?: readonly string[];
  principals?: readonly PrincipalSeed[];
  sizes?: readonly SizeSeed[];
  subnets?: readonly SubnetSeed[];
  nsgs?: readonly string[];
  images?: readonly ImageSeed[];
  /** Cores quota per size family, e.g. `{ standardDCASv5Family: 8 }`. */
  familyCoresQuota?: Record<string, number>;
  /** How long a VM create (or update) takes before its operation ends; default 0. */
  createDurationMs?: number;
  /** How long a VM delete takes; default 0. */
  deleteDurationMs?: number;
  /** VMs per page of `virtualMachines.list`; default 20. */
  pageSize?: number;
  /** Adds `Retry-After` to long-running-operation replies while in progress. */
  pollRetryAfterSeconds?: number;
}

export interface ArmCallRecord {
  operation: string;
  method: string;
  path: string;
  /** Parsed JSON body of a PUT, else undefined. */
  body: unknown;
  at: number;
}

export class FakeArm extends FakeCloudStats<ArmCallRecord> {
  readonly state: FakeArmState;
  readonly identity: TokenIssuer;
  latencyMs: LatencySetting;
  pageSize: number;
  pollRetryAfterSeconds: number | undefined;
  protected readonly http = new HttpFakeServer<ArmCallRecord>((c) => c.operation);
  private readonly model: ArmModel;
  private readonly random: ReseedableRandom;
  private readonly faults: FaultRules;
  private connections = 0;

  private constructor(options: FakeArmOptions) {
    super();
    const region = options.region ?? DEFAULT_REGION;
    this.state = {
      tenantId: options.tenantId ?? DEFAULT_TENANT_ID,
      subscriptionId: options.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID,
      region,
      resourceGroups: new Set(options.resourceGroups ?? DEFAULT_RESOURCE_GROUPS),
      principals: structuredClone([...(options.principals ?? DEFAULT_PRINCIPALS)]),
      sizes: new Map((options.sizes ?? DEFAULT_SIZES).map((s) => [s.name.toLowerCase(), { ...s }])),
      subnets: new Map((options.subnets ?? DEFAULT_SUBNETS).map((s) => [s.id.toLowerCase(), { ...s }])),
      nsgs: new Set((options.nsgs ?? DEFAULT_NSGS).map((n) => n.toLowerCase())),
      images: new Map((options.images ?? DEFAULT_IMAGES).map((i) => [i.id.toLowerCase(), { ...i }])),
      familyCoresQuota: { ...options.familyCoresQuota },
      vms: new Map(),
      nics: new Map(),
      publicIps: new Map(),
      disks: new Map(),
      operations: new Map(),
    };
    const now = options.now ?? Date.now;
    this.model = new ArmModel(this.state, now);
    this.model.createDurationMs = options.createDurationMs ?? 0;
    this.model.deleteDurationMs = options.deleteDurationMs ?? 0;
    this.identity = new TokenIssuer(() => this.state.principals, now);
    this.random = new ReseedableRandom(options.seed ?? 1);
    this.faults = new FaultRules(this.random.next);
    this.latencyMs = options.latencyMs ?? 0;
    this.pageSize = options.pageSize ?? 20;
    this.pollRetryAfterSeconds = options.pollRetryAfterSeconds;
  }

  static async start(options: FakeArmOptions = {}): Promise<FakeArm> {
    const tls = options.tls ?? armTlsFromEnv();
    if (!tls) {
      throw new Error(
        'FakeArm needs a certificate the client process trusts: run under vitest (test/fakes/arm/global-setup.ts sets CAA_FAKE_ARM_TLS_DIR and NODE_EXTRA_CA_CERTS), or pass `tls` and start the client with NODE_EXTRA_CA_CERTS naming its CA',
      );
    }
    const fake = new FakeArm(options);
    const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => void fake.handle(req, res));
    server.on('secureConnection', () => void fake.connections++);
    await fake.http.listen(server, 'https');
    return fake;
  }

  /** `https://127.0.0.1:PORT`: Resource Manager endpoint and Entra ID authority host at once. */
  get endpoint(): string {
    return this.http.origin;
  }

  private get url(): string {
    return this.http.origin;
  }

  // ---- knobs ----

  get createDurationMs(): number {
    return this.model.createDurationMs;
  }

  set createDurationMs(ms: number) {
    this.model.createDurationMs = ms;
  }

  get deleteDurationMs(): number {
    return this.model.deleteDurationMs;
  }

  set deleteDurationMs(ms: number) {
    this.model.deleteDurationMs = ms;
  }

  /** Makes matching requests fail (see faults.ts for the phases); returns the rule's remover. */
  inject(rule: ArmFaultRule): () => void {
    return this.faults.add(rule);
  }

  /** Lets matching requests take effect, then answers them with an error (default 500 InternalServerError). */
  failAfterEffect(rule: Omit<ArmFaultRule, 'code' | 'phase'> & { code?: string }): () => void {
    return this.faults.add({ ...rule, code: rule.code ?? 'InternalServerError', phase: 'after' });
  }

  /** Accepts matching VM creates/deletes, then ends their long-running operation Failed with the code. */
  failAsync(rule: Omit<ArmFaultRule, 'phase'>): () => void {
    return this.faults.add({ ...rule, phase: 'async' });
  }

  clearFaults(): void {
    this.faults.clear();
  }

  reseed(seed: number): void {
    this.random.reseed(seed);
  }

  // ---- stats ----

  /** TLS connections accepted since start or `resetStats()` (each one a full handshake for the client). */
  get tlsConnections(): number {
    return this.connections;
  }

  get tokenRequests(): readonly TokenRequestRecord[] {
    return this.identity.requests;
  }

  override resetStats(): void {
    super.resetStats();
    this.connections = 0;
  }

  // ---- accessors for assertions (brought up to date first) ----

  /** A VM by ARM id or by name (in any resource group). */
  vm(idOrName: string): FakeVm | undefined {
    const wanted = idOrName.toLowerCase();
    return this.vms().find((vm) => vm.id.toLowerCase() === wanted || vm.name.toLowerCase() === wanted);
  }

  /** Every VM that exists, whatever its provisioning state. */
  vms(): FakeVm[] {
    return currentRows(this.model, this.state.vms);
  }

  /** VMs that exist and are not being deleted. */
  liveVms(): FakeVm[] {
    return this.vms().filter((vm) => vm.provisioningState !== 'Deleting');
  }

  nics(): FakeNic[] {
    return currentRows(this.model, this.state.nics);
  }

  publicIps(): FakePublicIp[] {
    return currentRows(this.model, this.state.publicIps);
  }

  disks(): FakeDisk[] {
    return currentRows(this.model, this.state.disks);
  }

  operations(): FakeOperation[] {
    return currentRows(this.model, this.state.operations);
  }

  /** Stops listening and drops keep-alive connections so that the test process can exit. */
  close(): Promise<void> {
    return this.http.close();
  }

  // ---- request handling ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    let raw: string;
    try {
      raw = (await readBody(req, (max) => new ArmError('RequestEntityTooLarge', `The request body exceeds ${max} bytes.`, 413))).toString('utf8');
    } catch (err) {
      return send(res, err instanceof ArmError ? err.status : 400, err instanceof ArmError ? err.body() : { error: { code: 'BadRequest', message: String(err) } });
    }
    const identity = this.identity.handle(method, url.pathname, new URLSearchParams(raw), this.url);
    if (identity) return send(res, identity.status, identity.body);

    const matched = matchRoute(method, url.pathname);
    const operation = matched?.route.operation ?? `unknown:${method}`;
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return send(res, 400, new ArmError('InvalidRequestContent', 'The request content was invalid and could not be deserialized.').body());
    }
    const request: FakeRequest = { operation, method, path: url.pathname, query: url.searchParams, body, vmSize: vmSizeOf(body) };
    this.calls.push({ operation, method, path: url.pathname, body: method === 'PUT' ? body : undefined, at: Date.now() });
    this.http.enter();
    try {
      await this.http.sleep(latencyFor(this.latencyMs, operation));
      if (this.http.closed) {
        res.destroy();
        return;
      }
      const reply = this.execute(request, matched, req.headers.authorization);
      if (reply === 'reset') {
        res.destroy();
        return;
      }
      send(res, reply.status, reply.body, reply.headers);
    } catch (err) {
      const e = err instanceof ArmError ? err : new ArmError('InternalServerError', `fake ARM bug: ${err instanceof Error ? err.stack : String(err)}`, 500);
      send(res, e.status, e.body(), e.headers);
    } finally {
      this.http.leave();
    }
  }

  private execute(request: FakeRequest, matched: ReturnType<typeof matchRoute>, authorization: string | undefined): ArmReply | 'reset' {
    if (!matched) throw new ArmError('NotFound', `fake ARM: no route for ${request.method} ${request.path}`, 404);
    const apiVersion = request.query.get('api-version');
    if (!apiVersion) throw new ArmError('MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
    this.identity.check(authorization, this.url);
    const sub = matched.params[0] ?? '';
    if (sub.toLowerCase() !== this.state.subscriptionId.toLowerCase()) throw new ArmError('SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
    const before = this.faults.fire({ phase: 'before', req: request });
    if (before) throw before.error;
    const asyncFault = request.operation === 'virtualMachines.createOrUpdate' || request.operation === 'virtualMachines.delete' ? this.faults.fire({ phase: 'async', req: request }) : undefined;
    const reply = matched.route.handle({
      model: this.model,
      params: matched.params,
      query: request.query,
      body: request.body,
      base: this.url,
      apiVersion,
      pageSize: this.pageSize,
      ...(this.pollRetryAfterSeconds !== undefined ? { pollRetryAfterSeconds: this.pollRetryAfterSeconds } : {}),
      ...(asyncFault ? { asyncFailure: { code: asyncFault.error.code, message: asyncFault.error.message } } : {}),
    });
    const after = this.faults.fire({ phase: 'after', req: request });
    if (after) {
      if (after.reset) return 'reset';
      throw after.error;
    }
    return reply;
  }
}

function vmSizeOf(body: unknown): string | undefined {
  const size = (body as { properties?: { hardwareProfile?: { vmSize?: unknown } } } | undefined)?.properties?.hardwareProfile?.vmSize;
  return typeof size === 'string' ? size : undefined;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body), 'utf8');
  const requestId = randomUUID();
  res.writeHead(status, {
    ...(payload.length ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    'content-length': payload.length,
    'x-ms-request-id': requestId,
    'x-ms-correlation-request-id': requestId,
    ...headers,
  });
  res.end(payload);
}
