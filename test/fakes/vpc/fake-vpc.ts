/**
 * A stateful fake of IBM Cloud's VPC API (`/v1/...`), its IAM token service (`/identity/token`) and
 * the Global Tagging API (`/v3/tags...`), all on one HTTP server on 127.0.0.1. Behaviour notes are in
 * index.ts.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { IamError, VpcError, errorBody, iamErrorBody } from './errors.js';
import { FaultRules, StartFailures, type FakeRequest, type FaultRule, type StartFailureRule } from './faults.js';
import { authenticate, issueToken } from './iam.js';
import { VpcModel } from './model.js';
import type { FakeInstance, FakeVpcState } from './resources.js';
import { findRoute, type Route } from './routes.js';
import { createState, type FakeVpcOptions, type LatencySetting } from './state.js';
import { CallFaults } from '../fault-rules.js';
import { FakeCloudStats, HttpFakeServer, latencyFor, readBody } from '../http-fake-server.js';
import { currentRows } from '../cloud-fake-kit.js';

export interface CallRecord extends FakeRequest {
  authorization: string | undefined;
  at: number;
  /** HTTP status answered (0 while in progress or when the fake was closed first). */
  status: number;
}

/** A rule for `failAfterEffect`: the code defaults to `internal_error` (HTTP 500). */
export type AfterEffectRule = FaultRule;

const VERSION = /^(\d{4})-(\d{2})-(\d{2})$/;

interface Outcome {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export class FakeVpc extends FakeCloudStats<CallRecord> {
  readonly state: FakeVpcState;
  latencyMs: LatencySetting;
  protected readonly http = new HttpFakeServer<CallRecord>((c) => c.operation);
  private readonly model: VpcModel;
  private readonly faults: CallFaults<FaultRule, FakeRequest, VpcError>;
  private readonly startFailures = new StartFailures();

  private constructor(options: FakeVpcOptions) {
    super();
    this.state = createState(options);
    const seed = options.seed ?? 1;
    this.model = new VpcModel(this.state, options.now ?? Date.now, seed ^ 0x5eed);
    this.faults = new CallFaults(seed, (random) => new FaultRules(random));
    this.latencyMs = options.latencyMs ?? 0;
  }

  static async start(options: FakeVpcOptions = {}): Promise<FakeVpc> {
    const fake = new FakeVpc(options);
    await fake.http.listen(createServer((req, res) => void fake.handle(req, res)), 'http');
    return fake;
  }

  /** `http://127.0.0.1:PORT`: the Global Tagging endpoint. */
  get endpoint(): string {
    return this.http.origin;
  }

  /** For IBMCLOUD_VPC_ENDPOINT. */
  get vpcEndpoint(): string {
    return `${this.http.origin}/v1`;
  }

  /** For IBMCLOUD_IAM_ENDPOINT. */
  get iamEndpoint(): string {
    return `${this.http.origin}/identity/token`;
  }

  /** Matching requests fail with the rule's error before they take effect; returns the remover. */
  inject(rule: FaultRule): () => void {
    return this.faults.before.add(rule);
  }

  /**
   * Matching requests are processed (taking effect if they succeed), then their reply — success or
   * error — is replaced by the rule's error (default 500 internal_error): the reply is lost.
   */
  failAfterEffect(rule: AfterEffectRule = {}): () => void {
    return this.faults.after.add({ ...rule, code: rule.code ?? 'internal_error' });
  }

  /** Matching instances are created (201) and then end `failed` with the rule's status reason. */
  failStarts(rule: StartFailureRule = {}): () => void {
    return this.startFailures.add(rule);
  }

  clearFaults(): void {
    this.faults.clear();
    this.startFailures.clear();
  }

  /** Restarts the random source behind rate-based faults. */
  reseed(seed: number): void {
    this.faults.reseed(seed);
  }

  /** Revokes every IAM token issued so far (the VPC then answers 401 to them); returns how many. */
  revokeTokens(): number {
    let n = 0;
    for (const t of this.state.tokens.values()) {
      if (t.revoked) continue;
      t.revoked = true;
      n++;
    }
    return n;
  }

  /** IAM tokens issued so far. */
  get tokensIssued(): number {
    return this.state.tokens.size;
  }

  // ---- accessors for assertions (the lifecycle is brought up to date first) ----

  instance(id: string): FakeInstance | undefined {
    this.model.tick();
    return this.state.instances.get(id);
  }

  /** Every instance that exists, `deleting` included. */
  instances(): FakeInstance[] {
    return currentRows(this.model, this.state.instances);
  }

  /** Instances not on their way out (pending, running or failed). */
  liveInstances(): FakeInstance[] {
    return this.instances().filter((i) => i.status !== 'deleting');
  }

  tagsOf(crn: string): string[] {
    return [...(this.state.tags.get(crn) ?? [])];
  }

  /** Stops listening and drops keep-alive connections so that the test process can exit. */
  close(): Promise<void> {
    return this.http.close();
  }

  // ---- request handling ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.http.enter();
    const trace = randomUUID();
    try {
      const url = new URL(req.url ?? '/', 'http://fake');
      const raw = await readBody(req, (max) => new VpcError('http_request_size_exceeded', `The request body exceeds ${max} bytes.`, 413));
      const found = findRoute(req.method ?? 'GET', url.pathname.replace(/\/+$/, '') || '/');
      if (!found) {
        send(res, errorOutcome(new VpcError('invalid_route', `The requested route ${req.method} ${url.pathname} does not exist.`, 404), trace, this.iamEndpoint), trace);
        return;
      }
      const { route, params } = found;
      const call: CallRecord = {
        operation: route.operation,
        method: route.method,
        path: url.pathname,
        params,
        query: url.searchParams,
        body: parseBody(route, raw),
        authorization: req.headers.authorization,
        at: this.model.now(),
        status: 0,
      };
      this.calls.push(call);
      await this.http.sleep(latencyFor(this.latencyMs, route.operation));
      if (this.http.closed) {
        res.destroy();
        return;
      }
      let outcome: Outcome;
      const before = this.faults.before.fire(call);
      if (before) {
        outcome = errorOutcome(before, trace, this.iamEndpoint);
      } else {
        try {
          outcome = this.execute(route, call);
        } catch (err) {
          outcome = errorOutcome(err, trace, this.iamEndpoint);
        }
        const after = this.faults.after.fire(call);
        if (after) outcome = errorOutcome(after, trace, this.iamEndpoint);
      }
      call.status = outcome.status;
      send(res, outcome, trace);
    } catch (err) {
      send(res, errorOutcome(err, trace, this.iamEndpoint), trace);
    } finally {
      this.http.leave();
    }
  }

  private execute(route: Route, call: CallRecord): Outcome {
    if (route.api === 'iam') return { status: 200, body: issueToken(this.state, new URLSearchParams(call.body as Record<string, string>), this.model.now()) };
    authenticate(this.state, call.authorization, this.model.now());
    if (route.api === 'vpc') checkVersion(call.query, this.model.now());
    this.model.tick();
    const render = { state: this.state, base: this.vpcEndpoint, now: this.model.now() };
    return route.handler!({ model: this.model, state: this.state, req: call, render, startFailures: this.startFailures });
  }
}

/** `version=YYYY-MM-DD` (2019-01-01 … today) and `generation=2` on every VPC call (fake: both required). */
function checkVersion(q: URLSearchParams, nowMs: number): void {
  const v = q.get('version') ?? '';
  const m = VERSION.exec(v);
  if (!m) throw new VpcError('invalid_version', 'The `version` parameter is required and must be of the form YYYY-MM-DD.', 400, { name: 'version', type: 'parameter', value: v });
  const today = new Date(nowMs).toISOString().slice(0, 10);
  if (v < '2019-01-01' || v > today) throw new VpcError('invalid_version_range', `The version ${v} cannot be in the future nor before 2019-01-01.`, 400, { name: 'version', type: 'parameter', value: v });
  if (q.get('generation') !== '2') throw new VpcError('invalid_generation_parameter', 'The generation query parameter must be 2.', 400, { name: 'generation', type: 'parameter', value: q.get('generation') });
}

function parseBody(route: Route, raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  if (route.api === 'iam') return Object.fromEntries(new URLSearchParams(text));
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new VpcError('bad_request', 'The request body is not valid JSON.');
  }
}

function errorOutcome(err: unknown, trace: string, iamUrl: string): Outcome {
  if (err instanceof IamError) return { status: err.status, body: iamErrorBody(err, iamUrl) };
  const e = err instanceof VpcError ? err : new VpcError('internal_error', `fake VPC bug: ${err instanceof Error ? err.message : String(err)}`, 500);
  return { status: e.status, body: errorBody(e, trace), ...(e.retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(e.retryAfterSeconds) } } : {}) };
}

function send(res: ServerResponse, o: Outcome, trace: string): void {
  if (res.destroyed || res.writableEnded) return;
  const body = o.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(o.body), 'utf8');
  res.writeHead(o.status, {
    ...(o.body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': body.length,
    'x-request-id': trace,
    ...o.headers,
  });
  res.end(body);
}
