/**
 * The VPC and Global Tagging REST APIs as `ibm-cloud-sdk-core` BaseService subclasses (what the
 * generated IBM SDKs are made of; `ibm-vpc` itself is not on our registry). One method per endpoint
 * we use, typed on the wire JSON; no retries, limits or error mapping here (client.ts does that).
 * Every method takes an AbortSignal, handed to axios.
 */
import { BaseService, type AuthenticatorInterface } from 'ibm-cloud-sdk-core';
import type {
  DedicatedHost,
  DedicatedHostGroup,
  InstancePage,
  InstanceProfile,
  InstancePrototype,
  RegionList,
  SecurityGroupPage,
  TagList,
  TagResults,
  VpcImage,
  VpcInstance,
  VpcKey,
  VpcSecurityGroup,
  VpcSubnet,
} from './vpc-types.js';

/** The VPC API version date sent with every call (`version=`), with `generation=2`. */
export const VPC_API_VERSION = '2025-06-03';

export interface SdkResponse<T> {
  status: number;
  result: T;
  headers: Record<string, string>;
}

interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  path?: Record<string, string>;
  qs?: Record<string, string | number | undefined>;
  body?: unknown;
}

interface ServiceOptions {
  serviceUrl: string;
  authenticator: AuthenticatorInterface;
}

abstract class JsonService extends BaseService {
  constructor(options: ServiceOptions) {
    super({ serviceUrl: options.serviceUrl, authenticator: options.authenticator });
  }

  protected baseQuery(): Record<string, string | number> {
    return {};
  }

  protected send<T>(spec: RequestSpec, signal: AbortSignal): Promise<SdkResponse<T>> {
    const qs: Record<string, string | number> = { ...this.baseQuery() };
    for (const [k, v] of Object.entries(spec.qs ?? {})) if (v !== undefined) qs[k] = v;
    return this.createRequest({
      // No redirects (the APIs never send one), which also spares axios its follow-redirects wrapper.
      options: { method: spec.method, url: spec.url, path: spec.path, qs, body: spec.body, axiosOptions: { signal, maxRedirects: 0 } },
      // Only what a request needs: the SDK deep-copies these options on every call, and `baseOptions`
      // holds the authenticator with its token manager and HTTP client.
      defaultOptions: {
        serviceUrl: this.baseOptions.serviceUrl,
        headers: { Accept: 'application/json', ...(spec.body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      },
    }) as Promise<SdkResponse<T>>;
  }
}

export type InstanceQuery = { name?: string; 'vpc.id'?: string; start?: string; limit?: number };

export class VpcV1 extends JsonService {
  static override DEFAULT_SERVICE_URL = 'https://us-south.iaas.cloud.ibm.com/v1';

  protected override baseQuery(): Record<string, string | number> {
    return { version: VPC_API_VERSION, generation: 2 };
  }

  createInstance(prototype: InstancePrototype, signal: AbortSignal): Promise<SdkResponse<VpcInstance>> {
    return this.send({ method: 'POST', url: '/instances', body: prototype }, signal);
  }

  getInstance(id: string, signal: AbortSignal): Promise<SdkResponse<VpcInstance>> {
    return this.send({ method: 'GET', url: '/instances/{id}', path: { id } }, signal);
  }

  deleteInstance(id: string, signal: AbortSignal): Promise<SdkResponse<unknown>> {
    return this.send({ method: 'DELETE', url: '/instances/{id}', path: { id } }, signal);
  }

  listInstances(query: InstanceQuery, signal: AbortSignal): Promise<SdkResponse<InstancePage>> {
    return this.send({ method: 'GET', url: '/instances', qs: query }, signal);
  }

  getInstanceProfile(name: string, signal: AbortSignal): Promise<SdkResponse<InstanceProfile>> {
    return this.send({ method: 'GET', url: '/instance/profiles/{name}', path: { name } }, signal);
  }

  getImage(id: string, signal: AbortSignal): Promise<SdkResponse<VpcImage>> {
    return this.send({ method: 'GET', url: '/images/{id}', path: { id } }, signal);
  }

  getSubnet(id: string, signal: AbortSignal): Promise<SdkResponse<VpcSubnet>> {
    return this.send({ method: 'GET', url: '/subnets/{id}', path: { id } }, signal);
  }

  getSecurityGroup(id: string, signal: AbortSignal): Promise<SdkResponse<VpcSecurityGroup>> {
    return this.send({ method: 'GET', url: '/security_groups/{id}', path: { id } }, signal);
  }

  listSecurityGroups(query: { 'vpc.id'?: string; start?: string; limit?: number }, signal: AbortSignal): Promise<SdkResponse<SecurityGroupPage>> {
    return this.send({ method: 'GET', url: '/security_groups', qs: query }, signal);
  }

  getKey(id: string, signal: AbortSignal): Promise<SdkResponse<VpcKey>> {
    return this.send({ method: 'GET', url: '/keys/{id}', path: { id } }, signal);
  }

  getDedicatedHost(id: string, signal: AbortSignal): Promise<SdkResponse<DedicatedHost>> {
    return this.send({ method: 'GET', url: '/dedicated_hosts/{id}', path: { id } }, signal);
  }

  getDedicatedHostGroup(id: string, signal: AbortSignal): Promise<SdkResponse<DedicatedHostGroup>> {
    return this.send({ method: 'GET', url: '/dedicated_host/groups/{id}', path: { id } }, signal);
  }

  listRegions(signal: AbortSignal): Promise<SdkResponse<RegionList>> {
    return this.send({ method: 'GET', url: '/regions' }, signal);
  }
}

export class GlobalTaggingV1 extends JsonService {
  static override DEFAULT_SERVICE_URL = 'https://tags.global-search-tagging.cloud.ibm.com';

  /** Attaches user tags to resources by CRN (creating the tags that do not exist yet). */
  attachTag(crns: string[], tagNames: string[], signal: AbortSignal): Promise<SdkResponse<TagResults>> {
    return this.send({ method: 'POST', url: '/v3/tags/attach', qs: { tag_type: 'user' }, body: { resources: crns.map((resource_id) => ({ resource_id })), tag_names: tagNames } }, signal);
  }

  /** The user tags attached to one resource. */
  listTags(attachedTo: string, offset: number, signal: AbortSignal): Promise<SdkResponse<TagList>> {
    return this.send({ method: 'GET', url: '/v3/tags', qs: { attached_to: attachedTo, tag_type: 'user', offset, limit: 1000 } }, signal);
  }
}
