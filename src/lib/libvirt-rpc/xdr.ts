/**
 * XDR (RFC 4506) as libvirt's RPC uses it: big-endian 4-byte units, strings and variable opaque
 * data with a length word and zero padding to 4 bytes, optional data as a 0/1 word, `hyper` as 8
 * bytes. Only what the procedures in protocol.ts need.
 */
import { singleCodeError } from '../../util/coded-error.js';

export class XdrError extends singleCodeError('XdrError', 'XDR_DECODE') {}

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

export class XdrWriter {
  private chunks: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }

  int(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    return this.push(b);
  }

  uint(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v >>> 0);
    return this.push(b);
  }

  uhyper(v: bigint | number): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(v));
    return this.push(b);
  }

  /** Variable-length opaque data (length word, bytes, padding). */
  opaque(data: Uint8Array): this {
    this.uint(data.length);
    this.push(Buffer.from(data));
    const p = pad4(data.length);
    return p ? this.push(Buffer.alloc(p)) : this;
  }

  /** Fixed-length opaque data (bytes and padding, no length word). */
  fixedOpaque(data: Uint8Array, length: number): this {
    if (data.length !== length) throw new XdrError(`fixed opaque of ${length} bytes given ${data.length}`);
    this.push(Buffer.from(data));
    const p = pad4(length);
    return p ? this.push(Buffer.alloc(p)) : this;
  }

  string(s: string): this {
    return this.opaque(Buffer.from(s, 'utf8'));
  }

  /** `remote_string`: an optional string (a pointer in the .x file). */
  optionalString(s: string | null | undefined): this {
    if (s === null || s === undefined) return this.uint(0);
    return this.uint(1).string(s);
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

export class XdrReader {
  private offset = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.offset + n > this.buf.length) {
      throw new XdrError(`XDR data ends at byte ${this.buf.length}, ${n} more needed at ${this.offset}`);
    }
  }

  /** A fixed-size item: `size` bytes read by `get` at the current offset. */
  private fixed<T>(size: number, get: (offset: number) => T): T {
    this.need(size);
    const v = get(this.offset);
    this.offset += size;
    return v;
  }

  int(): number {
    return this.fixed(4, (o) => this.buf.readInt32BE(o));
  }

  uint(): number {
    return this.fixed(4, (o) => this.buf.readUInt32BE(o));
  }

  hyper(): bigint {
    return this.fixed(8, (o) => this.buf.readBigInt64BE(o));
  }

  uhyper(): bigint {
    return this.fixed(8, (o) => this.buf.readBigUInt64BE(o));
  }

  bool(): boolean {
    const v = this.uint();
    if (v > 1) throw new XdrError(`XDR boolean/optional flag ${v} at ${this.offset - 4}`);
    return v === 1;
  }

  opaque(max = 64 << 20): Buffer {
    const len = this.uint();
    if (len > max) throw new XdrError(`XDR opaque of ${len} bytes exceeds ${max}`);
    this.need(len + pad4(len));
    const v = this.buf.subarray(this.offset, this.offset + len);
    this.offset += len + pad4(len);
    return v;
  }

  fixedOpaque(len: number): Buffer {
    this.need(len + pad4(len));
    const v = this.buf.subarray(this.offset, this.offset + len);
    this.offset += len + pad4(len);
    return v;
  }

  string(max?: number): string {
    return this.opaque(max).toString('utf8');
  }

  optionalString(): string | null {
    return this.bool() ? this.string() : null;
  }

  /** `T items<MAX>`: a count word and the items. */
  array<T>(item: (r: XdrReader) => T, max = 1 << 20): T[] {
    const n = this.uint();
    if (n > max) throw new XdrError(`XDR array of ${n} items exceeds ${max}`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }

  optional<T>(item: (r: XdrReader) => T): T | null {
    return this.bool() ? item(this) : null;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }
}
