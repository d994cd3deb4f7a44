/**
 * What CreateVM records about the pod's network (reference §3.7 "Inspect"): the pod network
 * namespace's primary interface, its single IPv4 address, MAC, MTU, IPv4 routes and permanent
 * neighbours, and the worker's interface and IP the VXLAN tunnel runs over. The result becomes the
 * `pod-network` object of `apf.json` (`PodNetworkConfig`), which the pod VM replays at boot.
 *
 * Everything is read with `ip -json` (entered with nsenter for the pod's namespace), so the
 * daemon needs CAP_NET_ADMIN + CAP_SYS_ADMIN like the Go CAA does.
 */
import { isIPv4 } from 'node:net';
import type { ApfNeighbor, ApfRoute, PodNetworkConfig, RouteProtocol, RouteScope } from '../../podvm/apf-config.js';
import { CommandError } from '../../util/run-command.js';
import { NetnsError, NetnsErrorCode, describeNetns } from './errors.js';
import { ipJson, netnsProblem, type NetToolOptions } from './exec.js';
import { isOwnNetns } from '../../util/netns-identity.js';

/** The pod side of the `pod-network` config. */
export interface PodNetnsInfo {
  /** Primary interface: the device of the IPv4 default route, usually `eth0`. */
  interface: string;
  /** Its only IPv4 address with prefix length, e.g. `10.244.1.21/24`. */
  podIp: string;
  /** Its MAC address, e.g. `0a:58:0a:f4:01:15` (`''` for a device without one). */
  hwAddr: string;
  mtu: number;
  /** Gateway of the default route on the primary interface, `''` when it has none (used for `podSubnetCidrs`). */
  gateway: string;
  /** All IPv4 unicast routes of the main table, in the order Go's `netops.RouteList` returns them. */
  routes: ApfRoute[];
  /** PERMANENT IPv4 neighbour entries on the primary interface; `null` when none (Go nil slice). */
  neighbors: ApfNeighbor[] | null;
}

/** The worker side of the `pod-network` config. */
export interface HostNetInfo {
  /** The interface the tunnel runs over: `hostInterface` if given, else the primary interface. */
  interface: string;
  /** First IPv4 address of that interface with prefix length, e.g. `10.224.0.5/16`. */
  workerNodeIp: string;
  mtu: number;
  /** A `hostInterface` was given and differs from the primary interface. */
  dedicated: boolean;
}

export interface InspectOptions {
  signal?: AbortSignal;
}

export interface InspectHostOptions extends InspectOptions {
  /** `-host-interface`: use this interface instead of the primary one (`''` = not set). */
  hostInterface?: string;
  /** Namespace to inspect instead of the current one (tests stand a namespace in for the worker's). */
  netns?: string;
}

// ---- `ip -json` shapes (only the fields we read; everything optional because ip omits freely) ----

interface IpNexthop {
  gateway?: string;
  dev?: string;
}
interface IpRoute {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  nexthops?: IpNexthop[];
}
interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
}
interface IpLink {
  ifname?: string;
  mtu?: number;
  address?: string;
  addr_info?: IpAddrInfo[];
}
interface IpNeigh {
  dst?: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

interface Route extends ApfRoute {
  dev: string;
  metric: number;
}

const PROTOCOLS: ReadonlyMap<string, RouteProtocol> = new Map([
  ['boot', 'boot'],
  ['kernel', 'kernel'],
  ['static', 'static'],
  ['dhcp', 'dhcp'],
]);
const SCOPES: ReadonlyMap<string, RouteScope> = new Map([
  ['global', 'universe'],
  ['universe', 'universe'],
  ['site', 'site'],
  ['link', 'link'],
  ['host', 'host'],
  ['nowhere', 'nowhere'],
]);

const DEFAULT_DST = '0.0.0.0/0';

function ipv4Number(addr: string): number {
  return addr.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** `default` → `0.0.0.0/0`, a host route `a.b.c.d` → `a.b.c.d/32`, a prefix stays. */
function normalizeDst(dst: string): string {
  if (dst === 'default') return DEFAULT_DST;
  return dst.includes('/') ? dst : `${dst}/32`;
}

function unexpected(what: string, netns: string | undefined, value: unknown): NetnsError {
  return new NetnsError(
    NetnsErrorCode.UNEXPECTED_OUTPUT,
    `unexpected ${what} from ip in ${describeNetns(netns)}: ${JSON.stringify(value)?.slice(0, 200)}`,
    { netns },
  );
}

function asArray<T>(value: unknown, what: string, netns: string | undefined): T[] {
  if (!Array.isArray(value)) throw unexpected(what, netns, value);
  return value as T[];
}

/**
 * IPv4 unicast routes of the main table, sorted like Go's `netops.RouteList` (destination address,
 * prefix length, metric; `ip`'s order otherwise). A multipath route is recorded with its first hop.
 */
async function listRoutes(opts: NetToolOptions): Promise<Route[]> {
  // -details: ip then prints type, protocol and scope even when they are unicast/boot/global.
  const raw = asArray<IpRoute>(await ipJson(['-4', '-details', 'route', 'show', 'table', 'main'], opts), 'route list', opts.netns);
  const routes: (Route & { key: [number, number] })[] = [];
  for (const r of raw) {
    if ((r.type ?? 'unicast') !== 'unicast' || typeof r.dst !== 'string') continue;
    const dst = normalizeDst(r.dst);
    const [addr = '', bits = ''] = dst.split('/');
    if (!isIPv4(addr)) continue;
    const hop: IpNexthop = r.nexthops?.[0] ?? {};
    const gw = r.gateway ?? hop.gateway ?? '';
    const route: Route & { key: [number, number] } = {
      dst,
      gw: isIPv4(gw) ? gw : '',
      dev: r.dev ?? hop.dev ?? '',
      metric: typeof r.metric === 'number' ? r.metric : 0,
      key: [ipv4Number(addr), Number(bits)],
    };
    const protocol = r.protocol === undefined ? undefined : PROTOCOLS.get(r.protocol);
    if (protocol) route.protocol = protocol;
    const scope = r.scope === undefined ? undefined : SCOPES.get(r.scope);
    if (scope) route.scope = scope;
    routes.push(route);
  }
  routes.sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.metric - b.metric);
  return routes.map(({ key: _key, ...r }) => r);
}

function toApfRoute(r: Route): ApfRoute {
  const out: ApfRoute = { dst: r.dst, gw: r.gw };
  if (r.dev) out.dev = r.dev;
  if (r.protocol) out.protocol = r.protocol;
  if (r.scope) out.scope = r.scope;
  return out;
}

/** `ens12` → [`ens`, 12]; a name without a numeric suffix sorts last within its prefix. */
function splitIfName(name: string): [string, number] {
  const i = name.search(/\d/);
  if (i < 0) return [name, Number.POSITIVE_INFINITY];
  const digits = name.slice(i);
  return [name.slice(0, i), /^\d+$/.test(digits) ? Number(digits) : Number.POSITIVE_INFINITY];
}

/**
 * The primary interface (Go `findPrimaryInterface`): the device of the first default route (lowest
 * metric); a later default route replaces it only when its device has the same name prefix and a
 * lower number (`ens0` over `ens1`, but `eth0` does not displace `ens1`).
 */
export function pickPrimaryRoute<R extends { dst: string; dev?: string }>(routes: readonly R[]): R | undefined {
  let best: R | undefined;
  let bestPrefix = '';
  let bestNum = Number.POSITIVE_INFINITY;
  for (const r of routes) {
    if (r.dst !== DEFAULT_DST || !r.dev) continue;
    const [prefix, num] = splitIfName(r.dev);
    if (best === undefined || (prefix === bestPrefix && num < bestNum)) {
      best = r;
      bestPrefix = prefix;
      bestNum = num;
    }
  }
  return best;
}

function describeRoutes(routes: readonly Route[]): string {
  if (routes.length === 0) return 'no IPv4 routes';
  return `routes: ${routes.map((r) => `${r.dst}${r.gw ? ` via ${r.gw}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`).join('; ')}`;
}

function ipv4Prefixes(link: IpLink): string[] {
  return (link.addr_info ?? [])
    .filter((a) => a.family === 'inet' && typeof a.local === 'string' && typeof a.prefixlen === 'number')
    .map((a) => `${a.local}/${a.prefixlen}`);
}

/** Throws `POD_NETNS_IS_HOST` when `netnsPath` is the daemon's own network namespace (see `isOwnNetns`). */
export async function refuseOwnNetns(netnsPath: string): Promise<void> {
  if (await isOwnNetns(netnsPath)) {
    throw new NetnsError(
      NetnsErrorCode.POD_NETNS_IS_HOST,
      `pod network namespace ${netnsPath} is the daemon's own (host) network namespace; a peer pod needs a network namespace of its own`,
      { netns: netnsPath },
    );
  }
}

/** Reads the pod's network namespace at `netnsPath` (e.g. `/var/run/netns/cni-…`). */
export async function inspectPodNetns(netnsPath: string, options: InspectOptions = {}): Promise<PodNetnsInfo> {
  const problem = await netnsProblem(netnsPath);
  if (problem !== undefined) {
    throw new NetnsError(NetnsErrorCode.POD_NETNS_NOT_FOUND, `pod network namespace ${netnsPath} ${problem}`, { netns: netnsPath });
  }
  await refuseOwnNetns(netnsPath);
  const opts: NetToolOptions = { netns: netnsPath };
  if (options.signal) opts.signal = options.signal;
  const where = `pod network namespace ${netnsPath}`;

  const [routes, linksRaw, neighRaw] = await Promise.all([
    listRoutes(opts),
    ipJson<unknown>(['address', 'show'], opts),
    ipJson<unknown>(['-4', 'neighbour', 'show', 'nud', 'permanent'], opts),
  ]);

  const primary = pickPrimaryRoute(routes);
  if (!primary) {
    throw new NetnsError(NetnsErrorCode.NO_DEFAULT_ROUTE, `no IPv4 default route with a device in ${where} (${describeRoutes(routes)})`, {
      netns: netnsPath,
    });
  }
  const ifname = primary.dev;
  const link = asArray<IpLink>(linksRaw, 'address list', netnsPath).find((l) => l.ifname === ifname);
  if (!link) {
    throw new NetnsError(NetnsErrorCode.INTERFACE_NOT_FOUND, `primary interface ${ifname} of ${where} is gone`, {
      netns: netnsPath,
      interface: ifname,
    });
  }
  const addrs = ipv4Prefixes(link);
  if (addrs.length === 0) {
    throw new NetnsError(NetnsErrorCode.NO_POD_IP, `no IPv4 address on interface ${ifname} of ${where}`, { netns: netnsPath, interface: ifname });
  }
  if (addrs.length > 1) {
    throw new NetnsError(
      NetnsErrorCode.POD_IP_NOT_UNIQUE,
      `more than one IPv4 address on interface ${ifname} of ${where}: ${addrs.join(', ')}`,
      { netns: netnsPath, interface: ifname },
    );
  }

  const neighbors: ApfNeighbor[] = [];
  for (const n of asArray<IpNeigh>(neighRaw, 'neighbour list', netnsPath)) {
    if (n.dev !== ifname || typeof n.dst !== 'string' || !n.state?.includes('PERMANENT')) continue;
    const entry: ApfNeighbor = { ip: n.dst };
    if (n.lladdr) entry['hw-addr'] = n.lladdr;
    entry.dev = ifname;
    entry.state = 'permanent';
    neighbors.push(entry);
  }

  return {
    interface: ifname,
    podIp: addrs[0] as string,
    hwAddr: link.address ?? '',
    mtu: link.mtu ?? 0,
    gateway: primary.gw,
    routes: routes.map(toApfRoute),
    neighbors: neighbors.length > 0 ? neighbors : null,
  };
}

/** Reads the worker's side: its primary (or the configured) interface and that interface's IPv4 address. */
export async function inspectHost(options: InspectHostOptions = {}): Promise<HostNetInfo> {
  const { netns } = options;
  if (netns !== undefined) {
    const problem = await netnsProblem(netns);
    if (problem !== undefined) {
      throw new NetnsError(NetnsErrorCode.NETNS_NOT_FOUND, `network namespace ${netns} ${problem}`, { netns });
    }
  }
  const opts: NetToolOptions = {};
  if (netns !== undefined) opts.netns = netns;
  if (options.signal) opts.signal = options.signal;
  const where = describeNetns(netns);

  const routes = await listRoutes(opts);
  const primary = pickPrimaryRoute(routes);
  if (!primary) {
    throw new NetnsError(NetnsErrorCode.NO_DEFAULT_ROUTE, `cannot find the host primary interface: no IPv4 default route with a device in ${where} (${describeRoutes(routes)})`, {
      netns,
    });
  }
  const configured = options.hostInterface || undefined;
  const ifname = configured ?? primary.dev;

  let links: IpLink[];
  try {
    links = asArray<IpLink>(await ipJson(['address', 'show', 'dev', ifname], opts), 'address list', netns);
  } catch (err) {
    if (err instanceof CommandError && /does not exist|cannot find device/i.test(err.stderr)) {
      throw new NetnsError(NetnsErrorCode.INTERFACE_NOT_FOUND, `host interface ${ifname} does not exist in ${where}`, {
        netns,
        interface: ifname,
        cause: err,
      });
    }
    throw err;
  }
  const link = links.find((l) => l.ifname === ifname);
  const addr = link ? ipv4Prefixes(link)[0] : undefined;
  if (!link || addr === undefined) {
    throw new NetnsError(NetnsErrorCode.NO_HOST_IP, `no IPv4 address on host interface ${ifname} in ${where}`, { netns, interface: ifname });
  }
  return {
    interface: ifname,
    workerNodeIp: addr,
    mtu: link.mtu ?? 0,
    dedicated: configured !== undefined && configured !== primary.dev,
  };
}

export interface PodNetworkConfigInput {
  pod: Pick<PodNetnsInfo, 'interface' | 'podIp' | 'hwAddr' | 'mtu' | 'routes' | 'neighbors'> & { gateway?: string };
  host: Pick<HostNetInfo, 'workerNodeIp' | 'dedicated'>;
  /** VXLAN network identifier: `-vxlan-min-id` + index. */
  vni: number;
  /** VXLAN UDP port (`-vxlan-port`, default 4789). */
  port: number;
  /** The pod's index (per-process counter). */
  index: number;
  externalNetViaPodVm: boolean;
  /** Experimental `POD_SUBNET_CIDRS`: adds `<cidr> via <pod gateway> dev <pod interface>` per entry. */
  podSubnetCidrs?: readonly string[];
}

function checkInt(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`pod network: ${name} must be an integer between 0 and ${max}, got ${value}`);
  }
}

function isIPv4Prefix(s: string): boolean {
  const [addr = '', bits, ...rest] = s.split('/');
  return rest.length === 0 && bits !== undefined && /^\d{1,2}$/.test(bits) && Number(bits) <= 32 && isIPv4(addr);
}

/** The `pod-network` object of `apf.json` (Go `tunneler.Config`) for a pod. */
export function podNetworkConfig(input: PodNetworkConfigInput): PodNetworkConfig {
  const { pod, host } = input;
  checkInt('vni', input.vni, 0xffffff);
  checkInt('port', input.port, 65535);
  checkInt('index', input.index, 0x7fffffff);
  const routes: ApfRoute[] = pod.routes.map((r) => ({ ...r }));
  for (const cidr of input.podSubnetCidrs ?? []) {
    if (!isIPv4Prefix(cidr)) throw new RangeError(`pod network: pod subnet CIDR ${JSON.stringify(cidr)} is not an IPv4 prefix`);
    routes.push({ dst: cidr, gw: pod.gateway ?? '', dev: pod.interface });
  }
  return {
    podip: pod.podIp,
    'pod-hw-addr': pod.hwAddr,
    interface: pod.interface,
    'worker-node-ip': host.workerNodeIp,
    'tunnel-type': 'vxlan',
    routes,
    neighbors: pod.neighbors === null ? null : pod.neighbors.map((n) => ({ ...n })),
    mtu: pod.mtu,
    index: input.index,
    'vxlan-port': input.port,
    'vxlan-id': input.vni,
    dedicated: host.dedicated,
    'external-net-via-pod-vm': input.externalNetViaPodVm,
  };
}
