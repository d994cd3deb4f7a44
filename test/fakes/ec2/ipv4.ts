/** IPv4 address pools carved from a CIDR block, for subnets' private IPs and the public IP range. */

export function ipToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; size: number } {
  const [addr, bits] = cidr.split('/');
  const prefix = Number(bits);
  if (addr === undefined || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) throw new Error(`unsupported CIDR block: ${cidr}`);
  const size = 2 ** (32 - prefix);
  return { base: ipToNumber(addr) - (ipToNumber(addr) % size), size };
}

/**
 * Hands out unique addresses from a block. The cursor moves on after each allocation (wrapping),
 * so a released address is not immediately reused, which flushes out callers that hold on to an
 * old instance's IP.
 */
export class Ipv4Pool {
  private readonly first: number;
  private readonly last: number;
  private readonly used = new Set<number>();
  private cursor: number;

  /** `reserveHead`/`reserveTail`: addresses kept back at each end (AWS keeps 4 at the start of a subnet and 1 at the end). */
  constructor(cidr: string, reserveHead: number, reserveTail: number) {
    const { base, size } = parseCidr(cidr);
    this.first = base + reserveHead;
    this.last = base + size - 1 - reserveTail;
    this.cursor = this.first;
  }

  get capacity(): number {
    return this.last - this.first + 1;
  }

  get free(): number {
    return this.capacity - this.used.size;
  }

  allocate(): string | undefined {
    if (this.free <= 0) return undefined;
    while (this.used.has(this.cursor)) this.advance();
    const n = this.cursor;
    this.used.add(n);
    this.advance();
    return numberToIp(n);
  }

  release(ip: string): void {
    this.used.delete(ipToNumber(ip));
  }

  private advance(): void {
    this.cursor = this.cursor >= this.last ? this.first : this.cursor + 1;
  }
}
