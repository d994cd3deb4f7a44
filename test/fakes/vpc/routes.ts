/** Method + path → operation name (as IBM's SDK methods are named) and handler. */
import * as catalog from './handlers/catalog.js';
import type { Handler } from './handlers/context.js';
import * as instances from './handlers/instances.js';
import * as tagging from './handlers/tagging.js';

export type Api = 'vpc' | 'iam' | 'tagging';

export interface Route {
  operation: string;
  api: Api;
  method: string;
  pattern: RegExp;
  /** Names of the pattern's groups, in order. */
  params: string[];
  handler?: Handler;
}

const seg = '([^/]+)';

function route(api: Api, method: string, path: string, operation: string, handler?: Handler): Route {
  const params: string[] = [];
  const pattern = new RegExp(`^${path.replace(/:(\w+)/g, (_, name: string) => (params.push(name), seg))}$`);
  return { api, method, pattern, params, operation, ...(handler ? { handler } : {}) };
}

export const ROUTES: Route[] = [
  route('vpc', 'POST', '/v1/instances', 'create_instance', instances.createInstance),
  route('vpc', 'GET', '/v1/instances', 'list_instances', instances.listInstances),
  route('vpc', 'GET', '/v1/instances/:id', 'get_instance', instances.getInstance),
  route('vpc', 'DELETE', '/v1/instances/:id', 'delete_instance', instances.deleteInstance),
  route('vpc', 'GET', '/v1/instance/profiles', 'list_instance_profiles', catalog.listInstanceProfiles),
  route('vpc', 'GET', '/v1/instance/profiles/:name', 'get_instance_profile', catalog.getInstanceProfile),
  route('vpc', 'GET', '/v1/images/:id', 'get_image', catalog.getImage),
  route('vpc', 'GET', '/v1/subnets/:id', 'get_subnet', catalog.getSubnet),
  route('vpc', 'GET', '/v1/security_groups', 'list_security_groups', catalog.listSecurityGroups),
  route('vpc', 'GET', '/v1/security_groups/:id', 'get_security_group', catalog.getSecurityGroup),
  route('vpc', 'GET', '/v1/keys/:id', 'get_key', catalog.getKey),
  route('vpc', 'GET', '/v1/dedicated_hosts/:id', 'get_dedicated_host', catalog.getDedicatedHost),
  route('vpc', 'GET', '/v1/dedicated_host/groups/:id', 'get_dedicated_host_group', catalog.getDedicatedHostGroup),
  route('vpc', 'GET', '/v1/vpcs/:id', 'get_vpc', catalog.getVpc),
  route('vpc', 'GET', '/v1/regions', 'list_regions', catalog.listRegions),
  route('iam', 'POST', '/identity/token', 'iam_token'),
  route('tagging', 'POST', '/v3/tags/attach', 'attach_tag', tagging.attachTag),
  route('tagging', 'GET', '/v3/tags', 'list_tags', tagging.listTags),
];

export function findRoute(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
  for (const r of ROUTES) {
    if (r.method !== method) continue;
    const m = r.pattern.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    r.params.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
    return { route: r, params };
  }
  return undefined;
}
