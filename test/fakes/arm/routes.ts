/**
 * The ARM paths the fake serves: method + path pattern → operation name (as the SDKs name the
 * operation: `virtualMachines.createOrUpdate`, …) and the handler. Names are what fault rules,
 * latency settings and call records use.
 */
import { ArmError } from './errors.js';
import type { ArmModel } from './model.js';
import { renderImage, renderNic, renderNsg, renderOperation, renderPublicIp, renderSize, renderSubnet, renderVm } from './render.js';

export interface ArmReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteContext {
  model: ArmModel;
  params: string[];
  query: URLSearchParams;
  body: unknown;
  /** `https://127.0.0.1:PORT`. */
  base: string;
  apiVersion: string;
  /** An `async` fault that fired for this request: the operation it starts will fail with it. */
  asyncFailure?: { code: string; message: string };
  pageSize: number;
  pollRetryAfterSeconds?: number;
}

export interface Route {
  method: string;
  pattern: RegExp;
  operation: string;
  handle(ctx: RouteContext): ArmReply;
}

const S = '([^/]+)';
const SUB = `^/subscriptions/${S}`;
const RG = `${SUB}/resourceGroups/${S}`;
const route = (method: string, path: string, operation: string, handle: Route['handle']): Route => ({ method, pattern: new RegExp(`${path}$`, 'i'), operation, handle });

function operationHeaders(ctx: RouteContext, op: { id: string }): Record<string, string> {
  const opUrl = `${ctx.base}/subscriptions/${ctx.model.state.subscriptionId}/providers/Microsoft.Compute/locations/${ctx.model.state.region}/operations/${op.id}`;
  return {
    'azure-asyncoperation': `${opUrl}?p=${op.id}&api-version=${ctx.apiVersion}`,
    ...(ctx.pollRetryAfterSeconds !== undefined ? { 'retry-after': String(ctx.pollRetryAfterSeconds) } : {}),
  };
}

export const ROUTES: Route[] = [
  route('PUT', `${RG}/providers/Microsoft\\.Compute/virtualMachines/${S}`, 'virtualMachines.createOrUpdate', (ctx) => {
    const [sub, rg, name] = ctx.params as [string, string, string];
    const r = ctx.model.putVm(sub, rg, name, ctx.body, ctx.asyncFailure);
    return { status: r.status, body: renderVm(r.vm, ctx.model.state), headers: operationHeaders(ctx, r.operation) };
  }),
  route('GET', `${RG}/providers/Microsoft\\.Compute/virtualMachines/${S}`, 'virtualMachines.get', (ctx) => {
    const [, rg, name] = ctx.params as [string, string, string];
    const expand = (ctx.query.get('$expand') ?? '').toLowerCase();
    return { status: 200, body: renderVm(ctx.model.getVm(rg, name), ctx.model.state, expand === 'userdata') };
  }),
  route('DELETE', `${RG}/providers/Microsoft\\.Compute/virtualMachines/${S}`, 'virtualMachines.delete', (ctx) => {
    const [, rg, name] = ctx.params as [string, string, string];
    const r = ctx.model.deleteVm(rg, name, ctx.asyncFailure);
    if (!r.operation) return { status: 204 };
    const headers = operationHeaders(ctx, r.operation);
    const location = `${headers['azure-asyncoperation']!.replace(/\?.*$/, '')}?p=${r.operation.id}&monitor=true&api-version=${ctx.apiVersion}`;
    return { status: 202, headers: { ...headers, location } };
  }),
  route('GET', `${RG}/providers/Microsoft\\.Compute/virtualMachines`, 'virtualMachines.list', (ctx) => {
    const [, rg] = ctx.params as [string, string];
    const all = ctx.model.listVms(rg);
    const skip = Number(ctx.query.get('$skiptoken') ?? '0') || 0;
    const page = all.slice(skip, skip + ctx.pageSize).map((vm) => renderVm(vm, ctx.model.state));
    const more = skip + ctx.pageSize < all.length;
    const nextLink = `${ctx.base}/subscriptions/${ctx.params[0]}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines?api-version=${ctx.apiVersion}&$skiptoken=${skip + ctx.pageSize}`;
    return { status: 200, body: { value: page, ...(more ? { nextLink } : {}) } };
  }),
  route('GET', `${SUB}/providers/Microsoft\\.Compute/locations/${S}/operations/${S}`, 'operations.get', (ctx): ArmReply => {
    const op = ctx.model.operation(ctx.params[2]!);
    const headers: Record<string, string> = op.status === 'InProgress' && ctx.pollRetryAfterSeconds !== undefined ? { 'retry-after': String(ctx.pollRetryAfterSeconds) } : {};
    // `Location` polling (monitor=true): 202 while running, 200 when done; `Azure-AsyncOperation`: the status body.
    if (ctx.query.get('monitor') === 'true') return { status: op.status === 'InProgress' ? 202 : 200, headers };
    return { status: 200, body: renderOperation(op), headers };
  }),
  route('GET', `${SUB}/providers/Microsoft\\.Compute/locations/${S}/vmSizes`, 'virtualMachineSizes.list', (ctx) => {
    const location = ctx.params[1]!;
    if (location.toLowerCase() !== ctx.model.state.region.toLowerCase()) return { status: 200, body: { value: [] } };
    return { status: 200, body: { value: [...ctx.model.state.sizes.values()].map(renderSize) } };
  }),
  route('GET', `${RG}/providers/Microsoft\\.Compute/images/${S}`, 'images.get', (ctx) => imageReply(ctx, ctx.params.slice(0, 3), (sub, rg, name) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/images/${name}`)),
  route('GET', `${RG}/providers/Microsoft\\.Compute/galleries/${S}/images/${S}/versions/${S}`, 'galleryImageVersions.get', (ctx) =>
    imageReply(ctx, ctx.params, (sub, rg, g, i, v) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/${g}/images/${i}/versions/${v}`),
  ),
  route('GET', `${RG}/providers/Microsoft\\.Compute/galleries/${S}/images/${S}`, 'galleryImages.get', (ctx) =>
    imageReply(ctx, ctx.params, (sub, rg, g, i) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/${g}/images/${i}`),
  ),
  route('GET', `${SUB}/providers/Microsoft\\.Compute/locations/${S}/communityGalleries/${S}/images/${S}/versions/${S}`, 'communityGalleryImageVersions.get', (ctx) =>
    imageReply(ctx, ctx.params.slice(2), (g, i, v) => `/CommunityGalleries/${g}/Images/${i}/Versions/${v}`),
  ),
  route('GET', `${SUB}/providers/Microsoft\\.Compute/locations/${S}/communityGalleries/${S}/images/${S}`, 'communityGalleryImages.get', (ctx) =>
    imageReply(ctx, ctx.params.slice(2), (g, i) => `/CommunityGalleries/${g}/Images/${i}`),
  ),
  route('GET', `${RG}/providers/Microsoft\\.Network/networkInterfaces/${S}`, 'networkInterfaces.get', (ctx) => {
    const [sub, rg, name] = ctx.params as [string, string, string];
    ctx.model.requireGroup(rg);
    return { status: 200, body: renderNic(ctx.model.nic(`/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkInterfaces/${name}`)) };
  }),
  route('GET', `${RG}/providers/Microsoft\\.Network/publicIPAddresses/${S}`, 'publicIPAddresses.get', (ctx) => {
    const [sub, rg, name] = ctx.params as [string, string, string];
    ctx.model.requireGroup(rg);
    return { status: 200, body: renderPublicIp(ctx.model.publicIp(`/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/publicIPAddresses/${name}`)) };
  }),
  route('GET', `${RG}/providers/Microsoft\\.Network/virtualNetworks/${S}/subnets/${S}`, 'subnets.get', (ctx) => {
    const [sub, rg, vnet, name] = ctx.params as [string, string, string, string];
    ctx.model.requireGroup(rg);
    const subnet = ctx.model.state.subnets.get(`/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${vnet}/subnets/${name}`.toLowerCase());
    if (!subnet) throw new ArmError('NotFound', `Resource /subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${vnet}/subnets/${name} not found.`, 404);
    return { status: 200, body: renderSubnet(subnet) };
  }),
  route('GET', `${RG}/providers/Microsoft\\.Network/networkSecurityGroups/${S}`, 'networkSecurityGroups.get', (ctx) => {
    const [sub, rg, name] = ctx.params as [string, string, string];
    ctx.model.requireGroup(rg);
    const id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkSecurityGroups/${name}`;
    if (!ctx.model.state.nsgs.has(id.toLowerCase())) throw new ArmError('ResourceNotFound', `The Resource 'Microsoft.Network/networkSecurityGroups/${name}' under resource group '${rg}' was not found.`);
    return { status: 200, body: renderNsg(id, ctx.model.state.region) };
  }),
];

function imageReply(ctx: RouteContext, parts: string[], idOf: (...p: string[]) => string): ArmReply {
  const id = idOf(...parts);
  const seed = ctx.model.findImage(id);
  if (!seed) {
    const code = /\/galleries\/|^\/communitygalleries\//i.test(id) ? 'GalleryImageNotFound' : 'ResourceNotFound';
    throw new ArmError(code, `The resource '${id}' could not be found.`, 404);
  }
  return { status: 200, body: renderImage(id, seed, ctx.model.state.region) };
}

export function matchRoute(method: string, path: string): { route: Route; params: string[] } | undefined {
  for (const r of ROUTES) {
    if (r.method !== method) continue;
    const m = r.pattern.exec(path);
    if (m) return { route: r, params: m.slice(1).map((p) => decodeURIComponent(p)) };
  }
  return undefined;
}
