/**
 * IPv4 addresses for LIBVIRT_IP_SOURCE=static: the provider picks a free address of
 * LIBVIRT_STATIC_IP_RANGE for each VM and records it in the domain's metadata, so the record lives
 * (and dies) with the domain: no state of ours to lose, and undefining the domain frees the address.
 */
import { singleCodeError } from '../../util/coded-error.js';

export class CidrError extends singleCodeError('CidrError', 'INVALID_CONFIG') {}

export interface Ipv4Range {
  /** Network address as a 32-bit number. */
  network: number;
  prefix: number;
  /** `a.b.c.d/n` as given (normalised). */
  cidr: string;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) throw new CidrError(`"${ip}" is not an IPv4 address`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): Ipv4Range {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) throw new CidrError(`"${cidr}" is not an IPv4 range (a.b.c.d/n)`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new CidrError(`"${cidr}": the prefix must be /8 to /30`);
  const addr = ipToInt(m[1]!);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (addr & mask) >>> 0;
  if (network !== addr) throw new CidrError(`"${cidr}" has host bits set; the range is ${intToIp(network)}/${prefix}`);
  return { network, prefix, cidr: `${intToIp(network)}/${prefix}` };
}

export const netmaskOf = (r: Ipv4Range): string => intToIp((0xffffffff << (32 - r.prefix)) >>> 0);

export function contains(r: Ipv4Range, ip: string): boolean {
  const n = ipToInt(ip);
  const mask = (0xffffffff << (32 - r.prefix)) >>> 0;
  return ((n & mask) >>> 0) === r.network;
}

/**
 * The lowest address of the range that is not the network or broadcast address, not reserved
 * (the gateway) and not in use; undefined when the range is full.
 */
export function pickAddress(r: Ipv4Range, used: ReadonlySet<string>, reserved: ReadonlySet<string>): string | undefined {
  const size = 2 ** (32 - r.prefix);
  for (let i = 1; i < size - 1; i++) {
    const ip = intToIp(r.network + i);
    if (!used.has(ip) && !reserved.has(ip)) return ip;
  }
  return undefined;
}
