/**
 * Reads the few parts of a Pod (as the API server sends it in an AdmissionReview) that the webhook uses,
 * checking their shape so that a broken object gives a message naming the field, not a TypeError.
 */
import { WebhookError, WebhookErrorCode } from './errors.js';

export type JsonObject = Record<string, unknown>;

export interface PodHeader {
  /** The pod itself (never copied: the webhook answers with a patch, not a new object). */
  readonly raw: JsonObject;
  /** `metadata.name`, else `metadata.generateName`, else ''. */
  readonly name: string;
  /** True when the object has a `metadata` object at all. */
  readonly hasMetadata: boolean;
  /** `metadata.annotations`, undefined when absent. */
  readonly annotations: Readonly<Record<string, string>> | undefined;
  readonly runtimeClassName: string | undefined;
  readonly spec: JsonObject;
}

/** A container or init container: what the webhook sums and what it rewrites. */
export interface PodContainer {
  /** `container "app"` or `init container "setup"`, for messages. */
  readonly label: string;
  /** JSON pointer of the container, e.g. `/spec/initContainers/0`. */
  readonly pointer: string;
  /** `resources` as found (undefined when absent or null). */
  readonly resources: JsonObject | undefined;
  readonly requests: Readonly<Record<string, string>>;
  readonly limits: Readonly<Record<string, string>>;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(message: string): WebhookError {
  return new WebhookError(WebhookErrorCode.INVALID_POD, message);
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`${field} must be a string`);
  return v;
}

/** The metadata and spec of a pod; throws INVALID_POD when they are not objects. */
export function readPodHeader(object: unknown): PodHeader {
  if (!isObject(object)) throw invalid('the reviewed object is not a JSON object');
  const metadata = object.metadata;
  if (metadata !== undefined && metadata !== null && !isObject(metadata)) throw invalid('metadata must be an object');
  const meta = isObject(metadata) ? metadata : undefined;
  let annotations: Record<string, string> | undefined;
  if (meta?.annotations !== undefined && meta.annotations !== null) {
    if (!isObject(meta.annotations)) throw invalid('metadata.annotations must be an object');
    for (const [k, v] of Object.entries(meta.annotations)) {
      if (typeof v !== 'string') throw invalid(`metadata.annotations[${JSON.stringify(k)}] must be a string`);
    }
    annotations = meta.annotations as Record<string, string>;
  }
  const spec = object.spec;
  if (!isObject(spec)) throw invalid('the pod has no spec');
  return {
    raw: object,
    name: optionalString(meta?.name, 'metadata.name') || optionalString(meta?.generateName, 'metadata.generateName') || '',
    hasMetadata: meta !== undefined,
    annotations,
    runtimeClassName: optionalString(spec.runtimeClassName, 'spec.runtimeClassName'),
    spec,
  };
}

function resourceList(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw invalid(`${where} must be an object`);
  const out: Record<string, string> = {};
  for (const [name, q] of Object.entries(v)) {
    // The API server sends quantities as strings; a hand-written review may carry a JSON number.
    if (typeof q === 'string') out[name] = q;
    else if (typeof q === 'number' && Number.isFinite(q)) out[name] = String(q);
    else throw invalid(`${where}.${name} must be a quantity string, got ${JSON.stringify(q)}`);
  }
  return out;
}

/** `spec.containers` (field `containers`) or `spec.initContainers` (field `initContainers`). */
export function readContainers(spec: JsonObject, field: 'containers' | 'initContainers'): PodContainer[] {
  const list = spec[field];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw invalid(`spec.${field} must be a list`);
  const kind = field === 'containers' ? 'container' : 'init container';
  return list.map((c: unknown, i) => {
    if (!isObject(c)) throw invalid(`spec.${field}[${i}] must be an object`);
    const name = typeof c.name === 'string' && c.name !== '' ? JSON.stringify(c.name) : `#${i}`;
    const label = `${kind} ${name}`;
    const resources = c.resources;
    if (resources !== undefined && resources !== null && !isObject(resources)) throw invalid(`${label}: resources must be an object`);
    const res = isObject(resources) ? resources : undefined;
    return {
      label,
      pointer: `/spec/${field}/${i}`,
      resources: res,
      requests: resourceList(res?.requests, `${label}: resources.requests`),
      limits: resourceList(res?.limits, `${label}: resources.limits`),
    };
  });
}
