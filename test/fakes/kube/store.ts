/**
 * The fake's object store: server-set metadata (uid, resourceVersion, creationTimestamp, generateName),
 * validation of names and labels, the status subresource split, resourceVersion preconditions,
 * finalizers (a delete only marks an object that has some; dropping the last one of a deleting object
 * removes it) and owner-reference garbage collection on demand.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { applyJsonPatch, applyMergePatch } from './patch.js';
import { apiVersionOf, resourceByKind, RESOURCES, type KubeObject, type ResourceType } from './resources.js';
import { StatusError, alreadyExists, conflict, invalid, notFound } from './status.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  resource: ResourceType;
  object: KubeObject;
  /** The store's resourceVersion after the change. */
  rv: number;
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const HISTORY = 10_000;
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

const clone = <T>(v: T): T => structuredClone(v);

export const kubeNow = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0 && (prefix.length > 253 || !SUBDOMAIN.test(prefix))) return `prefix part of ${JSON.stringify(key)} must be a DNS subdomain`;
  if (name.length > 63 || !LABEL_NAME.test(name)) return `name part of ${JSON.stringify(key)} must be 63 characters or less, alphanumeric, '-', '_' or '.'`;
  return undefined;
}

export class ObjectStore {
  private readonly objects = new Map<string, KubeObject>();
  private readonly listeners = new Set<(e: StoreEvent) => void>();
  private readonly history: StoreEvent[] = [];
  private rv = 100;

  constructor(private readonly now: () => Date = () => new Date()) {}

  get resourceVersion(): number {
    return this.rv;
  }

  /** Events with rv > `after`, or undefined when the history no longer reaches back that far. */
  eventsSince(after: number): StoreEvent[] | undefined {
    const oldest = this.history[0];
    if (oldest && oldest.rv > after + 1 && this.history.length >= HISTORY) return undefined;
    return this.history.filter((e) => e.rv > after);
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get(r: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.objects.get(this.key(r, namespace, name));
    return o ? clone(o) : undefined;
  }

  /** Objects of `r` (in `namespace`, or all), sorted by namespace then name. */
  list(r: ResourceType, namespace?: string): KubeObject[] {
    const prefix = `${r.group}/${r.plural}/`;
    return [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(prefix) && (namespace === undefined || o.metadata.namespace === namespace))
      .map(([, o]) => clone(o))
      .sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
  }

  /** POST semantics: server-set metadata, validation, status dropped where it is a subresource. */
  create(r: ResourceType, namespace: string | undefined, body: unknown, options: { keepStatus?: boolean } = {}): KubeObject {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new StatusError(400, 'the body is not a JSON object');
    const obj = clone(body) as KubeObject;
    const meta = (obj.metadata ?? {}) as Partial<KubeObject['metadata']>;
    if (r.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== namespace) {
        throw new StatusError(400, 'the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace;
    } else delete meta.namespace;
    if (!meta.name) {
      if (!meta.generateName) throw invalid(r.kind, '', 'metadata.name: Required value: name or generateName is required', r.group);
      let name: string;
      do {
        name = meta.generateName.slice(0, 253 - 5) + Array.from({ length: 5 }, () => GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)]).join('');
      } while (this.objects.has(this.key(r, namespace, name)));
      meta.name = name;
    }
    if (this.objects.has(this.key(r, namespace, meta.name))) throw alreadyExists(r.plural, meta.name, r.group);
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    meta.uid = randomUUID();
    meta.creationTimestamp = kubeNow(this.now());
    meta.generation = 1;
    obj.metadata = meta as KubeObject['metadata'];
    obj.apiVersion = apiVersionOf(r);
    obj.kind = r.kind;
    if (r.statusSubresource && !options.keepStatus) delete obj.status;
    this.validate(r, obj);
    return this.commit(r, obj, 'ADDED');
  }

  /** PUT semantics (main resource or `status`). */
  update(r: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource?: string): KubeObject {
    const old = this.mustGet(r, namespace, name);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new StatusError(400, 'the body is not a JSON object');
    return this.write(r, old, clone(body) as KubeObject, subresource);
  }

  /** PATCH semantics for the JSON-patch, merge-patch and (as merge) strategic-merge-patch content types. */
  patch(r: ResourceType, namespace: string | undefined, name: string, contentType: string, patch: unknown, subresource?: string): KubeObject {
    const old = this.mustGet(r, namespace, name);
    let patched: unknown;
    if (contentType === 'application/json-patch+json') patched = applyJsonPatch(old, patch);
    else if (contentType === 'application/merge-patch+json' || contentType === 'application/strategic-merge-patch+json') patched = applyMergePatch(old, patch);
    else throw new StatusError(415, `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
    if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) throw invalid(r.kind, name, 'the patched document is not an object', r.group);
    return this.write(r, old, patched as KubeObject, subresource);
  }

  /** DELETE: marks an object with finalizers (deletionTimestamp), removes one without. */
  delete(r: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const old = this.mustGet(r, namespace, name);
    if ((old.metadata.finalizers ?? []).length > 0) {
      if (old.metadata.deletionTimestamp) return old;
      const marked = clone(old);
      marked.metadata.deletionTimestamp = kubeNow(this.now());
      marked.metadata.deletionGracePeriodSeconds = 0;
      return this.commit(r, marked, 'MODIFIED');
    }
    this.remove(r, old);
    return old;
  }

  /**
   * One pass of the garbage collector, repeated until nothing changes: an object whose every owner
   * (matched by uid, in the object's namespace) is gone is deleted — with finalizers, only marked.
   * Returns how many objects it deleted or marked.
   */
  gc(): number {
    let n = 0;
    for (;;) {
      let changed = false;
      for (const r of RESOURCES) {
        for (const o of this.list(r)) {
          const refs = o.metadata.ownerReferences ?? [];
          if (refs.length === 0 || o.metadata.deletionTimestamp) continue;
          if (refs.some((ref) => this.ownerExists(ref.apiVersion, ref.kind, ref.uid, o.metadata.namespace))) continue;
          this.delete(r, o.metadata.namespace, o.metadata.name);
          n++;
          changed = true;
        }
      }
      if (!changed) return n;
    }
  }

  private ownerExists(apiVersion: string, kind: string, uid: string, namespace: string | undefined): boolean {
    const r = resourceByKind(apiVersion, kind);
    if (!r) return true; // an owner kind the fake does not serve: never collect
    return this.list(r, r.namespaced ? namespace : undefined).some((o) => o.metadata.uid === uid);
  }

  private write(r: ResourceType, old: KubeObject, next: KubeObject, subresource?: string): KubeObject {
    const name = old.metadata.name;
    if (subresource !== undefined && subresource !== 'status') throw new StatusError(404, `the server could not find the requested resource (${r.plural}/${subresource})`, 'NotFound');
    const meta = (next.metadata ?? {}) as KubeObject['metadata'];
    if (meta.name !== undefined && meta.name !== name) throw new StatusError(400, `the name of the object (${meta.name}) does not match the name on the URL (${name})`);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(r.plural, name, 'the object has been modified; please apply your changes to the latest version and try again', r.group);
    }
    let out: KubeObject;
    if (subresource === 'status') {
      out = clone(old);
      if (next.status === undefined) delete out.status;
      else out.status = next.status;
    } else {
      out = { ...next, metadata: { ...meta } };
      if (r.statusSubresource) {
        if (old.status === undefined) delete out.status;
        else out.status = clone(old.status);
      }
      // Server-owned metadata cannot be changed by a client.
      const keep = ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const;
      for (const k of keep) {
        if (old.metadata[k] === undefined) delete (out.metadata as unknown as Record<string, unknown>)[k];
        else (out.metadata as unknown as Record<string, unknown>)[k] = old.metadata[k];
      }
      const added = (out.metadata.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
      if (old.metadata.deletionTimestamp && added.length > 0) {
        throw invalid(r.kind, name, `metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`, r.group);
      }
      const spec = (o: KubeObject): unknown => Object.fromEntries(Object.entries(o).filter(([k]) => !['metadata', 'status', 'kind', 'apiVersion'].includes(k)));
      if (!isDeepStrictEqual(spec(old), spec(out))) out.metadata.generation = (old.metadata.generation ?? 1) + 1;
    }
    out.apiVersion = apiVersionOf(r);
    out.kind = r.kind;
    out.metadata.resourceVersion = old.metadata.resourceVersion;
    this.validate(r, out);
    if (isDeepStrictEqual(out, old)) return old;
    if (out.metadata.deletionTimestamp && (out.metadata.finalizers ?? []).length === 0) {
      this.remove(r, out);
      return out;
    }
    return this.commit(r, out, 'MODIFIED');
  }

  private validate(r: ResourceType, o: KubeObject): void {
    const m = o.metadata;
    const problems: string[] = [];
    if (m.name.length > 253 || !SUBDOMAIN.test(m.name)) problems.push(`metadata.name: Invalid value: ${JSON.stringify(m.name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`);
    for (const [k, v] of Object.entries(m.labels ?? {})) {
      const keyProblem = labelKeyProblem(k);
      if (keyProblem) problems.push(`metadata.labels: Invalid value: ${keyProblem}`);
      if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) problems.push(`metadata.labels: Invalid value: ${JSON.stringify(v)}: must be no more than 63 characters`);
    }
    const refs = m.ownerReferences ?? [];
    for (const ref of refs) {
      if (!ref.apiVersion || !ref.kind || !ref.name || !ref.uid) problems.push('metadata.ownerReferences: Invalid value: apiVersion, kind, name and uid must be set');
    }
    if (refs.filter((ref) => ref.controller).length > 1) problems.push('metadata.ownerReferences: Invalid value: Only one reference can have Controller set to true');
    if (r.kind === 'Event') {
      const involved = o.involvedObject as { namespace?: string } | undefined;
      if (!involved) problems.push('involvedObject: Required value');
      else if ((involved.namespace ?? '') !== (m.namespace ?? '')) problems.push(`involvedObject.namespace: Invalid value: ${JSON.stringify(involved.namespace)}: does not match event.namespace`);
    }
    if (r.kind === 'PeerPod') {
      const spec = (o.spec ?? {}) as Record<string, unknown>;
      for (const f of ['cloudProvider', 'instanceID']) {
        if (spec[f] !== undefined && typeof spec[f] !== 'string') problems.push(`spec.${f}: Invalid value: must be of type string`);
      }
    }
    if (problems.length > 0) throw invalid(r.kind, m.name, `[${problems.join(', ')}]`, r.group);
  }

  private mustGet(r: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const o = this.objects.get(this.key(r, namespace, name));
    if (!o) throw notFound(r.plural, name, r.group);
    return clone(o);
  }

  private commit(r: ResourceType, obj: KubeObject, type: WatchEventType): KubeObject {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    this.objects.set(this.key(r, obj.metadata.namespace, obj.metadata.name), clone(obj));
    this.emit({ type, resource: r, object: clone(obj), rv: this.rv });
    return clone(obj);
  }

  private remove(r: ResourceType, obj: KubeObject): void {
    this.objects.delete(this.key(r, obj.metadata.namespace, obj.metadata.name));
    this.rv++;
    const gone = clone(obj);
    gone.metadata.resourceVersion = String(this.rv);
    this.emit({ type: 'DELETED', resource: r, object: gone, rv: this.rv });
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    if (this.history.length > HISTORY) this.history.shift();
    for (const fn of this.listeners) fn(e);
  }

  private key(r: ResourceType, namespace: string | undefined, name: string): string {
    return `${r.group}/${r.plural}/${r.namespaced ? (namespace ?? '') : ''}/${name}`;
  }
}
