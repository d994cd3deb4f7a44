/**
 * A stateful fake EC2 endpoint speaking the EC2 Query protocol over HTTP on 127.0.0.1, for
 * `new EC2Client({ endpoint: fake.endpoint, … })`. Behaviour notes are in index.ts.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACTIONS } from './actions/index.js';
import { authenticate, parseCredentialScope } from './auth.js';
import { Ec2Error } from './errors.js';
import { FaultRules, type AfterEffectRule, type FaultRule } from './faults.js';
import { Ec2Model } from './model.js';
import { QueryParams } from './query.js';
import { mulberry32 } from './random.js';
import type { FakeAddress, FakeEc2State, FakeInstance, FakeNetworkInterface, FakeVolume } from './resources.js';
import { createState, type FakeEc2Options, type LatencySetting } from './state.js';
import { errorDocument, responseDocument, type XmlNode } from './xml.js';

export interface CallRecord {
  action: string;
  params: URLSearchParams;
  /** Region of the SigV4 credential scope ('' when the request was not signed). */
  region: string;
  at: number;
}

const MAX_BODY_BYTES = 1 << 20;

export class FakeEc2 {
  readonly state: FakeEc2State;
  readonly calls: CallRecord[] = [];
  latencyMs: LatencySetting;
  private readonly model: Ec2Model;
  private random: () => number;
  private readonly faults: FaultRules;
  private readonly afterEffectFaults: FaultRules;
  private readonly sleepers = new Set<() => void>();
  private server: Server | undefined;
  private url = '';
  private closed = false;
  private inFlightNow = 0;
  private inFlightPeak = 0;

  private constructor(options: FakeEc2Options) {
    this.state = createState(options);
    const seed = options.seed ?? 1;
    this.random = mulberry32(seed);
    this.model = new Ec2Model(this.state, options.now ?? Date.now, seed ^ 0x5eed);
    this.faults = new FaultRules(() => this.random());
    this.afterEffectFaults = new FaultRules(() => this.random());
    this.latencyMs = options.latencyMs ?? 0;
  }

  static async start(options: FakeEc2Options = {}): Promise<FakeEc2> {
    const fake = new FakeEc2(options);
    await fake.listen();
    return fake;
  }

  private async listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** `http://127.0.0.1:PORT`, for the SDK's `endpoint`. */
  get endpoint(): string {
    return this.url;
  }

  /** Requests being processed right now (including those waiting out injected latency). */
  get inFlight(): number {
    return this.inFlightNow;
  }

  /** The most requests ever processed at once since start or `resetStats()`. */
  get peakInFlight(): number {
    return this.inFlightPeak;
  }

  callCount(action?: string): number {
    return action === undefined ? this.calls.length : this.calls.filter((c) => c.action === action).length;
  }

  resetStats(): void {
    this.calls.length = 0;
    this.inFlightPeak = this.inFlightNow;
  }

  /** Makes matching requests fail with `rule.code` before they take effect; returns the rule's remover. */
  inject(rule: FaultRule): () => void {
    return this.faults.add(rule);
  }

  /** Lets matching requests take effect, then answers them with an error (default 500 InternalError). */
  failAfterEffect(rule: AfterEffectRule = {}): () => void {
    return this.afterEffectFaults.add({ ...rule, code: rule.code ?? 'InternalError' });
  }

  clearFaults(): void {
    this.faults.clear();
    this.afterEffectFaults.clear();
  }

  /** Restarts the random source behind rate-based faults. */
  reseed(seed: number): void {
    this.random = mulberry32(seed);
  }

  // ---- accessors for assertions (the lifecycle is brought up to date first) ----

  instance(id: string): FakeInstance | undefined {
    this.model.tick();
    return this.state.instances.get(id);
  }

  /** Instances not (yet) terminated: pending, running or shutting-down. */
  liveInstances(): FakeInstance[] {
    this.model.tick();
    return [...this.state.instances.values()].filter((i) => i.state !== 'terminated');
  }

  volumes(): FakeVolume[] {
    this.model.tick();
    return [...this.state.volumes.values()];
  }

  networkInterfaces(): FakeNetworkInterface[] {
    this.model.tick();
    return [...this.state.networkInterfaces.values()];
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
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.sleepers) wake();
    const server = this.server;
    if (!server) return;
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await done;
  }

  // ---- request handling ----

  private latencyFor(action: string): number {
    const l = this.latencyMs;
    if (typeof l === 'number') return l;
    return (Object.hasOwn(l, action) ? l[action] : l['*']) ?? 0;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlightNow++;
    this.inFlightPeak = Math.max(this.inFlightPeak, this.inFlightNow);
    const requestId = randomUUID();
    try {
      const params = await readParams(req);
      const action = params.get('Action') ?? '';
      const scope = parseCredentialScope(req.headers.authorization);
      this.calls.push({ action, params, region: scope?.region ?? '', at: this.model.now() });
      await this.sleep(this.latencyFor(action));
      if (this.closed) {
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
      this.inFlightNow--;
    }
  }

  private execute(action: string, params: URLSearchParams, region: string): XmlNode {
    if (action === '') throw new Ec2Error('MissingAction', 'The request must contain the parameter Action');
    const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (!handler) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
    const before = this.faults.take(action, params);
    if (before) throw before;
    this.model.tick();
    const body = handler({ model: this.model, state: this.state, params: new QueryParams(params), region });
    const after = this.afterEffectFaults.take(action, params);
    if (after) throw after;
    return body;
  }
}

async function readParams(req: IncomingMessage): Promise<URLSearchParams> {
  if (req.method === 'GET') return new URL(req.url ?? '/', 'http://fake').searchParams;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Ec2Error('InvalidParameterValue', `Request body exceeds ${MAX_BODY_BYTES} bytes`, 413);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
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
