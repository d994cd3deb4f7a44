/**
 * A stateful fake EC2 endpoint speaking the EC2 Query protocol over HTTP on 127.0.0.1, for
 * `new EC2Client({ endpoint: fake.endpoint, … })`. Behaviour notes are in index.ts.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ACTIONS } from './actions/index.js';
import { authenticate, parseCredentialScope } from './auth.js';
import { Ec2Error } from './errors.js';
import { FaultRules, type AfterEffectRule, type FaultRule } from './faults.js';
import { Ec2Model } from './model.js';
import { QueryParams } from './query.js';
import type { FakeAddress, FakeEc2State, FakeInstance, FakeNetworkInterface, FakeVolume } from './resources.js';
import { createState, type FakeEc2Options, type LatencySetting } from './state.js';
import { errorDocument, responseDocument, type XmlNode } from './xml.js';
import { CallFaults } from '../fault-rules.js';
import { FakeCloudStats, HttpFakeServer, latencyFor, readBody } from '../http-fake-server.js';
import { currentRows } from '../cloud-fake-kit.js';

export interface CallRecord {
  action: string;
  params: URLSearchParams;
  /** Region of the SigV4 credential scope ('' when the request was not signed). */
  region: string;
  at: number;
}

export class FakeEc2 extends FakeCloudStats<CallRecord> {
  readonly state: FakeEc2State;
  latencyMs: LatencySetting;
  protected readonly http = new HttpFakeServer<CallRecord>((c) => c.action);
  private readonly model: Ec2Model;
  private readonly faults: CallFaults<FaultRule, { action: string; params: URLSearchParams }, Ec2Error>;

  private constructor(options: FakeEc2Options) {
    super();
    this.state = createState(options);
    const seed = options.seed ?? 1;
    this.model = new Ec2Model(this.state, options.now ?? Date.now, seed ^ 0x5eed);
    this.faults = new CallFaults(seed, (random) => new FaultRules(random));
    this.latencyMs = options.latencyMs ?? 0;
  }

  static async start(options: FakeEc2Options = {}): Promise<FakeEc2> {
    const fake = new FakeEc2(options);
    await fake.http.listen(createServer((req, res) => void fake.handle(req, res)), 'http');
    return fake;
  }

  /** `http://127.0.0.1:PORT`, for the SDK's `endpoint`. */
  get endpoint(): string {
    return this.http.origin;
  }

  /** Makes matching requests fail with `rule.code` before they take effect; returns the rule's remover. */
  inject(rule: FaultRule): () => void {
    return this.faults.before.add(rule);
  }

  /** Lets matching requests take effect, then answers them with an error (default 500 InternalError). */
  failAfterEffect(rule: AfterEffectRule = {}): () => void {
    return this.faults.after.add({ ...rule, code: rule.code ?? 'InternalError' });
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Restarts the random source behind rate-based faults. */
  reseed(seed: number): void {
    this.faults.reseed(seed);
  }

  // ---- accessors for assertions (the lifecycle is brought up to date first) ----

  instance(id: string): FakeInstance | undefined {
    this.model.tick();
    return this.state.instances.get(id);
  }

  /** Instances not (yet) terminated: pending, running or shutting-down. */
  liveInstances(): FakeInstance[] {
    return currentRows(this.model, this.state.instances).filter((i) => i.state !== 'terminated');
  }

  volumes(): FakeVolume[] {
    return currentRows(this.model, this.state.volumes);
  }

  networkInterfaces(): FakeNetworkInterface[] {
    return currentRows(this.model, this.state.networkInterfaces);
  }

  addresses(): FakeAddress[] {
    return [...this.state.addresses.values()];
  }

  /** Forgets terminated instances now (DescribeInstances then says NotFound for them); returns how many. */
  purgeTerminated(): number {
    this.model.tick();
    return this.model.purgeTerminated();
  }

  /** Stops listening and drops keep-alive connections so that the test process can exit. */
  close(): Promise<void> {
    return this.http.close();
  }

  // ---- request handling ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.http.enter();
    const requestId = randomUUID();
    try {
      const params = await readParams(req);
      const action = params.get('Action') ?? '';
      const scope = parseCredentialScope(req.headers.authorization);
      this.calls.push({ action, params, region: scope?.region ?? '', at: this.model.now() });
      await this.http.sleep(latencyFor(this.latencyMs, action));
      if (this.http.closed) {
        res.destroy();
        return;
      }
      authenticate(scope, this.state.accessKeys);
      const body = this.execute(action, params, scope?.region ?? this.state.region);
      send(res, 200, responseDocument(action, requestId, body), requestId);
    } catch (err) {
      const e = err instanceof Ec2Error ? err : new Ec2Error('InternalError', `fake EC2 bug: ${err instanceof Error ? err.message : String(err)}`);
      send(res, e.status, errorDocument(e.code, e.message, requestId), requestId);
    } finally {
      this.http.leave();
    }
  }

  private execute(action: string, params: URLSearchParams, region: string): XmlNode {
    if (action === '') throw new Ec2Error('MissingAction', 'The request must contain the parameter Action');
    const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (!handler) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
    const before = this.faults.before.fire({ action, params });
    if (before) throw before;
    this.model.tick();
    const body = handler({ model: this.model, state: this.state, params: new QueryParams(params), region });
    const after = this.faults.after.fire({ action, params });
    if (after) throw after;
    return body;
  }
}

async function readParams(req: IncomingMessage): Promise<URLSearchParams> {
  if (req.method === 'GET') return new URL(req.url ?? '/', 'http://fake').searchParams;
  const body = await readBody(req, (max) => new Ec2Error('InvalidParameterValue', `Request body exceeds ${max} bytes`, 413));
  return new URLSearchParams(body.toString('utf8'));
}

function send(res: ServerResponse, status: number, xml: string, requestId: string): void {
  if (res.destroyed || res.writableEnded) return;
  const body = Buffer.from(xml, 'utf8');
  res.writeHead(status, {
    'content-type': 'text/xml;charset=UTF-8',
    'content-length': body.length,
    // EC2 carries the id in the body; the header lets the SDK put it in `$metadata.requestId` too.
    'x-amzn-requestid': requestId,
  });
  res.end(body);
}
