/**
 * A fake kube-apiserver on 127.0.0.1 (http, or https when given a certificate) over `ObjectStore`,
 * for `@kubernetes/client-node` through `fake.kubeConfig()`. Behaviour notes are in index.ts.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { API_CALLS, isAllowedCall, type ApiCall } from '../../deploy/rbac-table.js';
import { seededRandom } from '../../../bench/stats.js';
import { labelSelector, fieldSelector } from './selectors.js';
import { ObjectStore, kubeNow, type StoreEvent } from './store.js';
import { apiVersionOf, resourceByKind, resourceByPath, resourceByPlural, type KubeObject, type OwnerReference, type ResourceType } from './resources.js';
import { StatusError, notFound } from './status.js';

/** The identity the fake's RBAC messages name (the daemon's service account). */
export const FAKE_USER = 'system:serviceaccount:confidential-containers-system:cloud-api-adaptor';

export interface FakeKubeOptions {
  /** Refuse (403) every call the table does not grant; `true` uses the daemon's table (test/deploy/rbac-table.ts). */
  rbac?: boolean | readonly ApiCall[];
  /** Serve https with this certificate instead of http. */
  tls?: { cert: string; key: string };
  /** Clock for creationTimestamp / deletionTimestamp. */
  now?: () => Date;
  /** Seed of the random source behind `rate` faults (default 1). */
  seed?: number;
}

export interface FaultRule {
  /** HTTP method to hit (any when left out). */
  method?: string;
  /** Path prefix to hit, e.g. `/apis/confidentialcontainers.org/` (any when left out). */
  pathPrefix?: string;
  /** Status to answer with (a Kubernetes Status body); left out = only `delayMs`, then served normally. */
  status?: number;
  reason?: string;
  message?: string;
  /** Fire at most this many times, then retire. */
  times?: number;
  /** Probability 0..1 that a matching request is hit (default 1). */
  rate?: number;
  /** Hold the request this long first (until the client gives up, or the server closes). */
  delayMs?: number;
  /** Let the request take effect, then answer with `status` (a reply lost after the write). */
  afterEffect?: boolean;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  authorization?: string;
  body?: unknown;
  /** The HTTP status answered (200 for a watch that streamed). */
  status: number;
  /** RBAC view of the call, when the path is one the fake knows. */
  verb?: string;
  group?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  /** Answered by an injected fault. */
  fault?: boolean;
  at: number;
}

interface Route {
  r: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface LiveFault {
  rule: FaultRule;
  remaining: number;
}

const MAX_BODY = 3 << 20;

export class FakeKubeApiServer {
  readonly store: ObjectStore;
  readonly requests: RequestRecord[] = [];
  /** The RBAC table in force, or undefined when every call is allowed. Settable between requests. */
  rbacTable: readonly ApiCall[] | undefined;
  private faults: LiveFault[] = [];
  private readonly random: () => number;
  private readonly watches = new Set<ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: Server | undefined;
  private baseUrl = '';

  private constructor(private readonly options: FakeKubeOptions) {
    this.store = new ObjectStore(options.now);
    this.rbacTable = options.rbac === true ? API_CALLS : options.rbac === false || options.rbac === undefined ? undefined : options.rbac;
    this.random = seededRandom(options.seed ?? 1);
  }

  static async start(options: FakeKubeOptions = {}): Promise<FakeKubeApiServer> {
    const fake = new FakeKubeApiServer(options);
    const handler = (req: IncomingMessage, res: ServerResponse): void => void fake.handle(req, res);
    const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.server = server;
    fake.baseUrl = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  /** `http://127.0.0.1:PORT` (https with `tls`). */
  get url(): string {
    return this.baseUrl;
  }

  get port(): number {
    return Number(new URL(this.baseUrl).port);
  }

  /** A KubeConfig pointed at the fake (plain http needs client-node's `skipTLSVerify`). */
  kubeConfig(options: { token?: string; ca?: string } = {}): KubeConfig {
    const kc = new KubeConfig();
    const https = this.baseUrl.startsWith('https');
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.baseUrl, skipTLSVerify: !https, ...(options.ca ? { caData: Buffer.from(options.ca).toString('base64') } : {}) }],
      users: [{ name: 'fake', ...(options.token ? { token: options.token } : {}) }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  set rbac(on: boolean) {
    this.rbacTable = on ? API_CALLS : undefined;
  }

  /** Makes matching requests fail (or wait); returns the rule's remover. */
  inject(rule: FaultRule): () => void {
    const live = { rule, remaining: rule.times ?? Infinity };
    this.faults.push(live);
    return () => {
      this.faults = this.faults.filter((f) => f !== live);
    };
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Requests matching method and/or path prefix (all when both are left out). */
  requestsTo(method?: string, pathPrefix?: string): RequestRecord[] {
    return this.requests.filter((r) => (method === undefined || r.method === method) && (pathPrefix === undefined || r.path.startsWith(pathPrefix)));
  }

  // ---- seeds and accessors (no HTTP, no RBAC) ----

  addPod(seed: {
    name: string;
    namespace?: string;
    nodeName?: string;
    runtimeClassName?: string;
    serviceAccountName?: string;
    imagePullSecrets?: string[];
    labels?: Record<string, string>;
    /** Condition Ready=True since this time; `false` for Ready=False; left out = no conditions. */
    readySince?: Date | false;
  }): KubeObject {
    const spec: Record<string, unknown> = { containers: [{ name: 'c', image: 'registry.example/app:1' }] };
    if (seed.nodeName) spec.nodeName = seed.nodeName;
    if (seed.runtimeClassName) spec.runtimeClassName = seed.runtimeClassName;
    if (seed.serviceAccountName) spec.serviceAccountName = seed.serviceAccountName;
    if (seed.imagePullSecrets) spec.imagePullSecrets = seed.imagePullSecrets.map((name) => ({ name }));
    const status: Record<string, unknown> = { phase: seed.readySince ? 'Running' : 'Pending' };
    if (seed.readySince !== undefined) status.conditions = [readyCondition(seed.readySince)];
    return this.store.create(
      resourceByPlural('pods'),
      seed.namespace ?? 'default',
      { metadata: { name: seed.name, namespace: seed.namespace ?? 'default', labels: seed.labels }, spec, status },
      { keepStatus: true },
    );
  }

  /** Sets the pod's Ready condition (True since `at`, or False) through the status subresource. */
  setPodReady(namespace: string, name: string, readySince: Date | false): KubeObject {
    const pod = this.store.get(resourceByPlural('pods'), namespace, name);
    if (!pod) throw new Error(`no pod ${namespace}/${name}`);
    const status = { ...(pod.status as Record<string, unknown>), phase: readySince ? 'Running' : 'Pending', conditions: [readyCondition(readySince)] };
    return this.store.update(resourceByPlural('pods'), namespace, name, { ...pod, status }, 'status');
  }

  deletePod(namespace: string, name: string): KubeObject {
    return this.store.delete(resourceByPlural('pods'), namespace, name);
  }

  addServiceAccount(seed: { name: string; namespace?: string; imagePullSecrets?: string[] }): KubeObject {
    return this.store.create(resourceByPlural('serviceaccounts'), seed.namespace ?? 'default', {
      metadata: { name: seed.name },
      ...(seed.imagePullSecrets ? { imagePullSecrets: seed.imagePullSecrets.map((name) => ({ name })) } : {}),
    });
  }

  /** `data` values are base64 (as on the wire); `stringData` values are encoded by the fake, as the apiserver does. */
  addSecret(seed: { name: string; namespace?: string; type?: string; data?: Record<string, string>; stringData?: Record<string, string> }): KubeObject {
    const data: Record<string, string> = { ...seed.data };
    for (const [k, v] of Object.entries(seed.stringData ?? {})) data[k] = Buffer.from(v).toString('base64');
    return this.store.create(resourceByPlural('secrets'), seed.namespace ?? 'default', {
      metadata: { name: seed.name },
      type: seed.type ?? 'Opaque',
      data,
    });
  }

  addNode(seed: { name: string; capacity?: Record<string, string>; allocatable?: Record<string, string> }): KubeObject {
    const capacity = seed.capacity ?? { cpu: '4', memory: '16Gi', pods: '110' };
    return this.store.create(
      resourceByPlural('nodes'),
      undefined,
      { metadata: { name: seed.name }, spec: {}, status: { capacity, allocatable: seed.allocatable ?? { ...capacity } } },
      { keepStatus: true },
    );
  }

  object(plural: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(resourceByPlural(plural), namespace, name);
  }

  objects(plural: string, namespace?: string): KubeObject[] {
    return this.store.list(resourceByPlural(plural), namespace);
  }

  peerPods(namespace?: string): KubeObject[] {
    return this.objects('peerpods', namespace);
  }

  events(namespace?: string): KubeObject[] {
    return this.objects('events', namespace);
  }

  /** Runs the garbage collector once (to a fixed point); returns how many objects it deleted or marked. */
  gc(): number {
    return this.store.gc();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const w of this.watches) w.end();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type']?.split(';')[0]?.trim(),
      authorization: req.headers.authorization,
      status: 0,
      at: Date.now(),
    };
    this.requests.push(record);
    try {
      const raw = await readBody(req);
      if (raw.length > 0) {
        try {
          record.body = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new StatusError(400, 'the request body is not JSON');
        }
      }
      const route = this.route(url.pathname);
      const watch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '');
      if (route) {
        record.verb = verbOf(record.method, route, watch);
        record.group = route.r.group;
        record.resource = route.subresource ? `${route.r.plural}/${route.subresource}` : route.r.plural;
        record.namespace = route.namespace;
        record.name = route.name;
      }
      const fault = this.takeFault(record.method, url.pathname);
      if (fault) {
        if (fault.delayMs) await this.delay(fault.delayMs);
        if (fault.status !== undefined && !fault.afterEffect) {
          record.fault = true;
          throw new StatusError(fault.status, fault.message ?? `injected fault: HTTP ${fault.status}`, fault.reason);
        }
      }
      if (!route) throw new StatusError(404, `the server could not find the requested resource (${record.method} ${url.pathname})`, 'NotFound');
      this.authorize(record, route);
      if (watch) {
        record.status = 200;
        this.watch(route, url.searchParams, res);
        return;
      }
      this.authorizeOwnerRefs(record, route);
      const [status, body] = this.serve(record, route, url.searchParams);
      if (fault?.afterEffect && fault.status !== undefined) {
        record.fault = true;
        throw new StatusError(fault.status, fault.message ?? `injected fault after the write: HTTP ${fault.status}`, fault.reason);
      }
      record.status = status;
      send(res, status, body);
    } catch (err) {
      const e = err instanceof StatusError ? err : new StatusError(500, err instanceof Error ? err.message : String(err));
      record.status = e.code;
      send(res, e.code, e.body());
    }
  }

  private serve(record: RequestRecord, route: Route, query: URLSearchParams): [number, unknown] {
    const { r, namespace, name, subresource } = route;
    switch (record.verb) {
      case 'get': {
        const o = this.store.get(r, namespace, name!);
        if (!o) throw notFound(r.plural, name!, r.group);
        return [200, o];
      }
      case 'list':
        return [200, this.listBody(route, query)];
      case 'create':
        if (name) throw new StatusError(405, `the server does not allow this method on the requested resource`, 'MethodNotAllowed');
        return [201, this.store.create(r, namespace, record.body)];
      case 'update':
        return [200, this.store.update(r, namespace, name!, record.body, subresource)];
      case 'patch':
        return [200, this.store.patch(r, namespace, name!, record.contentType ?? '', record.body, subresource)];
      case 'delete':
        return [200, this.store.delete(r, namespace, name!)];
      default:
        throw new StatusError(405, `the server does not allow this method on the requested resource`, 'MethodNotAllowed');
    }
  }

  private listBody(route: Route, query: URLSearchParams): unknown {
    const matchLabels = labelSelector(query.get('labelSelector'));
    const matchFields = fieldSelector(query.get('fieldSelector'));
    const all = this.store.list(route.r, route.namespace).filter((o) => matchLabels(o.metadata.labels) && matchFields(o));
    const limit = Number(query.get('limit') ?? '0');
    const offset = query.get('continue') ? Number(Buffer.from(query.get('continue')!, 'base64').toString('utf8')) : 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new StatusError(400, 'invalid continue token');
    const items = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const more = limit > 0 && offset + limit < all.length;
    return {
      apiVersion: apiVersionOf(route.r),
      kind: `${route.r.kind}List`,
      metadata: { resourceVersion: String(this.store.resourceVersion), ...(more ? { continue: Buffer.from(String(offset + limit)).toString('base64') } : {}) },
      items,
    };
  }

  /** Streams `{type, object}` JSON lines: the current objects (or the history since `resourceVersion`), then changes. */
  private watch(route: Route, query: URLSearchParams, res: ServerResponse): void {
    const matchLabels = labelSelector(query.get('labelSelector'));
    const matchFields = fieldSelector(query.get('fieldSelector'));
    const matches = (e: StoreEvent): boolean =>
      e.resource === route.r &&
      (route.namespace === undefined || e.object.metadata.namespace === route.namespace) &&
      (route.name === undefined || e.object.metadata.name === route.name) &&
      matchLabels(e.object.metadata.labels) &&
      matchFields(e.object);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const write = (type: string, object: unknown): void => void res.write(`${JSON.stringify({ type, object })}\n`);
    const rv = Number(query.get('resourceVersion') ?? '0');
    if (rv > 0) {
      const since = this.store.eventsSince(rv);
      if (!since) {
        write('ERROR', new StatusError(410, `too old resource version: ${rv} (${this.store.resourceVersion})`, 'Expired').body());
        res.end();
        return;
      }
      for (const e of since) if (matches(e)) write(e.type, e.object);
    } else {
      for (const o of this.store.list(route.r, route.namespace)) {
        if (matches({ type: 'ADDED', resource: route.r, object: o, rv: 0 })) write('ADDED', o);
      }
    }
    const unsubscribe = this.store.subscribe((e) => {
      if (matches(e)) write(e.type, e.object);
    });
    this.watches.add(res);
    const done = (): void => {
      unsubscribe();
      this.watches.delete(res);
    };
    res.on('close', done);
    const timeout = Number(query.get('timeoutSeconds') ?? '0');
    if (timeout > 0) {
      const t = setTimeout(() => res.end(), timeout * 1000);
      t.unref();
      res.on('close', () => clearTimeout(t));
    }
  }

  private route(path: string): Route | undefined {
    const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1]) {
      group = '';
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts[1] && parts[2]) {
      group = parts[1];
      version = parts[2];
      rest = parts.slice(3);
    } else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const r = resourceByPath(group, version, rest[0] ?? '');
    if (!r || rest.length > 3) return undefined;
    if (namespace !== undefined && !r.namespaced) return undefined;
    if (namespace === undefined && r.namespaced && rest.length > 1) return undefined;
    return { r, namespace, name: rest[1], subresource: rest[2] };
  }

  private authorize(record: RequestRecord, route: Route): void {
    const table = this.rbacTable;
    if (!table || !record.verb || isAllowedCall(record.verb, route.r.group, record.resource!, table)) return;
    const scope = route.namespace ? `in the namespace "${route.namespace}"` : 'at the cluster scope';
    const what = route.name ? `${record.resource} "${route.name}"` : record.resource;
    throw new StatusError(
      403,
      `${what} is forbidden: User "${FAKE_USER}" cannot ${record.verb} resource "${record.resource}" in API group "${route.r.group}" ${scope}`,
      'Forbidden',
      { name: route.name, group: route.r.group, kind: route.r.plural },
    );
  }

  /**
   * As the OwnerReferencesPermissionEnforcement admission plugin (on in OpenShift): creating an object
   * whose owner reference sets blockOwnerDeletion needs `update` on the owner's `finalizers` subresource.
   */
  private authorizeOwnerRefs(record: RequestRecord, route: Route): void {
    const table = this.rbacTable;
    if (!table || record.verb !== 'create') return;
    const meta = (record.body as { metadata?: { name?: string; ownerReferences?: OwnerReference[] } } | undefined)?.metadata;
    for (const ref of (meta?.ownerReferences ?? []).filter((x) => x.blockOwnerDeletion)) {
      const owner = resourceByKind(ref.apiVersion, ref.kind);
      if (!owner || isAllowedCall('update', owner.group, `${owner.plural}/finalizers`, table)) continue;
      throw new StatusError(
        403,
        `${route.r.group ? `${route.r.plural}.${route.r.group}` : route.r.plural} "${meta?.name ?? ''}" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: User "${FAKE_USER}" cannot update resource "${owner.plural}/finalizers" in API group "${owner.group}"`,
        'Forbidden',
      );
    }
  }

  private takeFault(method: string, path: string): FaultRule | undefined {
    for (const live of this.faults) {
      const { rule } = live;
      if (live.remaining <= 0) continue;
      if (rule.method !== undefined && rule.method.toUpperCase() !== method) continue;
      if (rule.pathPrefix !== undefined && !path.startsWith(rule.pathPrefix)) continue;
      if ((rule.rate ?? 1) < 1 && !(this.random() < rule.rate!)) continue;
      live.remaining--;
      if (live.remaining <= 0) this.faults = this.faults.filter((f) => f !== live);
      return rule;
    }
    return undefined;
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      t.unref();
      this.timers.add(t);
    });
  }
}

function readyCondition(readySince: Date | false): Record<string, string> {
  return readySince
    ? { type: 'Ready', status: 'True', lastTransitionTime: kubeNow(readySince) }
    : { type: 'Ready', status: 'False', lastTransitionTime: kubeNow(new Date()), reason: 'ContainersNotReady' };
}

function verbOf(method: string, route: Route, watch: boolean): string {
  switch (method) {
    case 'GET':
      return route.name ? 'get' : watch ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return route.name ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new StatusError(413, 'request entity too large', 'RequestEntityTooLarge');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
