/**
 * `apf.json`: what the agent-protocol-forwarder in the pod VM reads at boot (Go struct
 * `forwarder.Config`, reference §3.8). The key names, their order and Go's `omitempty` rules are
 * part of the wire contract: the upstream pod VM image reads this file unchanged.
 */
import { messageOf } from '../util/errors.js';
import { isIP } from 'node:net';
import { z } from 'zod';
import { ApfConfigError } from './errors.js';

/** Route protocols the Go reader accepts (`netops.RouteProtocol`). */
export const ROUTE_PROTOCOLS = ['boot', 'kernel', 'static', 'dhcp'] as const;
export type RouteProtocol = (typeof ROUTE_PROTOCOLS)[number];

/** Route scopes (`netops.RouteScope`). `universe` is Go's zero value, so Go omits it: a missing scope means `universe`. */
export const ROUTE_SCOPES = ['universe', 'site', 'link', 'host', 'nowhere'] as const;
export type RouteScope = (typeof ROUTE_SCOPES)[number];

/** Neighbour states (`netops.NeighborState`). `none` is Go's zero value and is omitted like it. */
export const NEIGHBOR_STATES = ['none', 'incomplete', 'reachable', 'stale', 'delay', 'probe', 'failed', 'noarp', 'permanent'] as const;
export type NeighborState = (typeof NEIGHBOR_STATES)[number];

export const TLS_MIN_VERSIONS = ['VersionTLS12', 'VersionTLS13'] as const;
export type TlsMinVersion = (typeof TLS_MIN_VERSIONS)[number];

/** One route of the pod's network namespace (`tunneler.Route`). */
export interface ApfRoute {
  /** Destination prefix, e.g. `0.0.0.0/0` or `10.244.1.0/24`; `''` when none. Always written. */
  dst: string;
  /** Gateway address; `''` when the route has none. Always written. */
  gw: string;
  /** Device, e.g. `eth0`; omitted when empty. */
  dev?: string;
  protocol?: RouteProtocol;
  scope?: RouteScope;
}

/** A permanent neighbour entry of the pod interface (`tunneler.Neighbor`). */
export interface ApfNeighbor {
  /** Always written (`''` when unknown). */
  ip: string;
  'hw-addr'?: string;
  dev?: string;
  state?: NeighborState;
}

/** The `pod-network` object (`tunneler.Config`). */
export interface PodNetworkConfig {
  /** Pod IP with prefix length, e.g. `10.244.1.21/24`. */
  podip: string;
  /** Pod MAC address, e.g. `0a:58:0a:f4:01:15`. */
  'pod-hw-addr': string;
  /** Pod interface name, e.g. `eth0`. */
  interface: string;
  /** Worker node IP with prefix length, e.g. `10.224.0.5/16`. */
  'worker-node-ip': string;
  /** `vxlan` (the only tunnel type). */
  'tunnel-type': string;
  routes: ApfRoute[];
  /** `null` when none were recorded (Go's nil slice). */
  neighbors: ApfNeighbor[] | null;
  mtu: number;
  index: number;
  /** Omitted when 0 (Go `omitempty`). */
  'vxlan-port'?: number;
  /** Omitted when 0 (Go `omitempty`). */
  'vxlan-id'?: number;
  dedicated: boolean;
  'external-net-via-pod-vm': boolean;
}

/** The whole `apf.json` (`forwarder.Config`). TLS keys are omitted when empty (Go `omitempty`). */
export interface ApfConfig {
  /** Written as `null` when absent (Go nil pointer, no `omitempty`). */
  'pod-network'?: PodNetworkConfig | null;
  'pod-namespace': string;
  'pod-name': string;
  /** PEM private key of the forwarder's server certificate (automatic TLS only). */
  'tls-server-key'?: string;
  /** PEM server certificate, CN and DNS SAN = instance name (automatic TLS only). */
  'tls-server-cert'?: string;
  /** PEM of CAA's client certificate: the trust anchor the forwarder verifies CAA against. */
  'tls-client-ca'?: string;
  /** `''` means unset and is omitted. */
  'tls-min-version'?: TlsMinVersion | '';
  /** Go cipher suite names, e.g. `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`; omitted when empty. */
  'tls-cipher-suites'?: string[];
  /**
   * The sandbox the VM serves; the forwarder tells it to the daemon's agent proxy, which refuses a
   * forwarder of another sandbox (src/tunnel/forwarder-identity.ts). Not a key of Go's
   * `forwarder.Config`: the upstream forwarder ignores it, as Go ignores unknown keys. Omitted when empty.
   */
  'sandbox-id'?: string;
}

const isPrefix = (s: string): boolean => {
  if (s === '') return true;
  const slash = s.lastIndexOf('/');
  if (slash < 0) return false;
  const family = isIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
};
const isAddr = (s: string): boolean => s === '' || isIP(s) !== 0;

const prefix = z.string().refine(isPrefix, { message: 'expected an IP prefix such as "10.244.1.21/24" (or "")' });
const addr = z.string().refine(isAddr, { message: 'expected an IP address (or "")' });
const uint = (max: number) => z.number().int().min(0).max(max);

const routeSchema = z.object({
  dst: prefix,
  gw: addr,
  dev: z.string().optional(),
  protocol: z.enum(ROUTE_PROTOCOLS).optional(),
  scope: z.enum(ROUTE_SCOPES).optional(),
});

const neighborSchema = z.object({
  ip: addr,
  'hw-addr': z.string().optional(),
  dev: z.string().optional(),
  state: z.enum(NEIGHBOR_STATES).optional(),
});

/** The `pod-network` object; also what a sandbox's saved state holds (sandbox-store.ts). */
export const podNetworkSchema = z.object({
  podip: prefix,
  'pod-hw-addr': z.string(),
  interface: z.string(),
  'worker-node-ip': prefix,
  'tunnel-type': z.string(),
  // Go writes a nil slice as null; read it as "no routes".
  routes: z
    .array(routeSchema)
    .nullable()
    .transform((r) => r ?? []),
  neighbors: z.array(neighborSchema).nullable(),
  mtu: uint(0x7fffffff),
  index: uint(0x7fffffff),
  'vxlan-port': uint(65535).optional(),
  'vxlan-id': uint(0xffffff).optional(),
  dedicated: z.boolean(),
  'external-net-via-pod-vm': z.boolean(),
});

/** Unknown keys are dropped, as Go's `encoding/json` ignores them (e.g. the vestigial `sc-pp-prv`). */
const apfConfigSchema: z.ZodType<ApfConfig> = z.object({
  'pod-network': podNetworkSchema.nullable().optional(),
  'pod-namespace': z.string(),
  'pod-name': z.string(),
  'tls-server-key': z.string().optional(),
  'tls-server-cert': z.string().optional(),
  'tls-client-ca': z.string().optional(),
  'tls-min-version': z.enum(['', ...TLS_MIN_VERSIONS]).optional(),
  'tls-cipher-suites': z.array(z.string()).optional(),
  'sandbox-id': z.string().optional(),
});

function keyOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

/** Validates `value` against the schema; throws `ApfConfigError` naming the first bad key. */
export function validateApfConfig(value: unknown): ApfConfig {
  const r = apfConfigSchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const key = issue ? keyOf(issue.path) : '';
  throw new ApfConfigError(key, `apf.json: ${key ? `key "${key}"` : 'document'}: ${issue?.message ?? 'invalid'}`);
}

const nonEmpty = (s: string | undefined): s is string => s !== undefined && s !== '';

function renderRoute(r: ApfRoute): Record<string, unknown> {
  const o: Record<string, unknown> = { dst: r.dst, gw: r.gw };
  if (nonEmpty(r.dev)) o.dev = r.dev;
  if (r.protocol !== undefined) o.protocol = r.protocol;
  if (r.scope !== undefined && r.scope !== 'universe') o.scope = r.scope;
  return o;
}

function renderNeighbor(n: ApfNeighbor): Record<string, unknown> {
  const o: Record<string, unknown> = { ip: n.ip };
  if (nonEmpty(n['hw-addr'])) o['hw-addr'] = n['hw-addr'];
  if (nonEmpty(n.dev)) o.dev = n.dev;
  if (n.state !== undefined && n.state !== 'none') o.state = n.state;
  return o;
}

function renderPodNetwork(p: PodNetworkConfig): Record<string, unknown> {
  const o: Record<string, unknown> = {
    podip: p.podip,
    'pod-hw-addr': p['pod-hw-addr'],
    interface: p.interface,
    'worker-node-ip': p['worker-node-ip'],
    'tunnel-type': p['tunnel-type'],
    routes: p.routes.map(renderRoute),
    neighbors: p.neighbors === null ? null : p.neighbors.map(renderNeighbor),
    mtu: p.mtu,
    index: p.index,
  };
  if (p['vxlan-port']) o['vxlan-port'] = p['vxlan-port'];
  if (p['vxlan-id']) o['vxlan-id'] = p['vxlan-id'];
  o.dedicated = p.dedicated;
  o['external-net-via-pod-vm'] = p['external-net-via-pod-vm'];
  return o;
}

/**
 * The `apf.json` text: keys in Go's field order, 4-space indent, trailing newline; empty TLS
 * fields, zero `vxlan-port`/`vxlan-id` and Go zero values inside routes/neighbours omitted;
 * `sandbox-id` (ours, not Go's) last when set.
 * Validates first (throws `ApfConfigError`), so a VM never receives a file its forwarder refuses.
 */
export function renderApfJson(cfg: ApfConfig): string {
  const c = validateApfConfig(cfg);
  const o: Record<string, unknown> = {
    'pod-network': c['pod-network'] ? renderPodNetwork(c['pod-network']) : null,
    'pod-namespace': c['pod-namespace'],
    'pod-name': c['pod-name'],
  };
  if (nonEmpty(c['tls-server-key'])) o['tls-server-key'] = c['tls-server-key'];
  if (nonEmpty(c['tls-server-cert'])) o['tls-server-cert'] = c['tls-server-cert'];
  if (nonEmpty(c['tls-client-ca'])) o['tls-client-ca'] = c['tls-client-ca'];
  if (nonEmpty(c['tls-min-version'])) o['tls-min-version'] = c['tls-min-version'];
  if (c['tls-cipher-suites'] && c['tls-cipher-suites'].length > 0) o['tls-cipher-suites'] = c['tls-cipher-suites'];
  // Last: our addition after Go's fields.
  if (nonEmpty(c['sandbox-id'])) o['sandbox-id'] = c['sandbox-id'];
  return `${JSON.stringify(o, null, 4)}\n`;
}

/**
 * Reads `apf.json` text. `pod-network` may be absent or null (a VM without the pod network set up
 * yet); unknown keys are ignored like Go does. Throws `ApfConfigError` (code `INVALID_APF_CONFIG`)
 * whose `key` and message name the offending key, e.g. `pod-network.routes[0].gw`.
 */
export function parseApfJson(text: string): ApfConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApfConfigError('', `apf.json is not valid JSON: ${messageOf(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApfConfigError('', 'apf.json: expected a JSON object');
  }
  return validateApfConfig(value);
}
