/**
 * The ttrpc envelope messages `Request`, `Response` and `google.rpc.Status` (reference §1.3, §1.4),
 * encoded by hand because they sit on every call's hot path. `src/proto/ttrpc/request.proto` is the
 * schema; the tests check this codec against the code generated from it. Unknown fields are skipped.
 */
import { TtrpcError } from './codes.js';

export interface KeyValue {
  key: string;
  value: string;
}

export interface Request {
  service: string;
  method: string;
  payload: Uint8Array;
  /** Nanoseconds the caller still waits; 0 means no deadline. */
  timeoutNano: number;
  metadata: KeyValue[];
}

export interface Status {
  code: number;
  message: string;
  /** Encoded `google.protobuf.Any` messages, kept as bytes. */
  details: Uint8Array[];
}

export interface Response {
  /** Absent (Go servers on success) and code 0 both mean OK. */
  status?: Status;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

// ---- encoding -------------------------------------------------------------------------------

class Writer {
  private buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(v: number): void {
    // Two's complement for negative int64/int32, as protobuf does (10 bytes).
    if (v < 0) {
      let big = BigInt.asUintN(64, BigInt(Math.trunc(v)));
      while (big > 0x7fn) {
        this.buf[this.pos++] = Number(big & 0x7fn) | 0x80;
        big >>= 7n;
      }
      this.buf[this.pos++] = Number(big);
      return;
    }
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }
  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }
  string(field: number, s: string, byteLength: number): void {
    this.tag(field, 2);
    this.varint(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function varintSize(v: number): number {
  if (v < 0) return 10;
  let n = 1;
  while (v > 0x7f) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

function ldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

/** proto3 leaves empty strings out, so an empty key or value adds nothing. */
function keyValueSize(kv: KeyValue): number {
  const k = Buffer.byteLength(kv.key);
  const v = Buffer.byteLength(kv.value);
  return (k ? ldSize(k) : 0) + (v ? ldSize(v) : 0);
}

/**
 * Encodes a Request as parts — the fields before the payload bytes, the payload itself (not copied),
 * and the fields after — so a large payload goes to the socket by reference. Field order stays 1..5.
 */
export function encodeRequestParts(req: Request): Uint8Array[] {
  const serviceLen = Buffer.byteLength(req.service);
  const methodLen = Buffer.byteLength(req.method);
  let headSize = 0;
  if (serviceLen) headSize += ldSize(serviceLen);
  if (methodLen) headSize += ldSize(methodLen);
  if (req.payload.length) headSize += 1 + varintSize(req.payload.length);
  const head = new Writer(headSize);
  if (serviceLen) head.string(1, req.service, serviceLen);
  if (methodLen) head.string(2, req.method, methodLen);
  if (req.payload.length) {
    head.tag(3, 2);
    head.varint(req.payload.length);
  }
  if (!req.timeoutNano && req.metadata.length === 0) return req.payload.length ? [head.finish(), req.payload] : [head.finish()];

  let tailSize = 0;
  if (req.timeoutNano) tailSize += 1 + varintSize(req.timeoutNano);
  const kvSizes = req.metadata.map(keyValueSize);
  for (const s of kvSizes) tailSize += ldSize(s);
  const tail = new Writer(tailSize);
  if (req.timeoutNano) {
    tail.tag(4, 0);
    tail.varint(req.timeoutNano);
  }
  req.metadata.forEach((kv, i) => {
    tail.tag(5, 2);
    tail.varint(kvSizes[i]!);
    const k = Buffer.byteLength(kv.key);
    const v = Buffer.byteLength(kv.value);
    if (k) tail.string(1, kv.key, k);
    if (v) tail.string(2, kv.value, v);
  });
  return [head.finish(), req.payload, tail.finish()];
}

export function encodeRequest(req: Request): Buffer {
  return Buffer.concat(encodeRequestParts(req));
}

function statusBodySize(s: Status): { size: number; messageLen: number } {
  const messageLen = Buffer.byteLength(s.message);
  let size = 0;
  if (s.code) size += 1 + varintSize(s.code);
  if (messageLen) size += ldSize(messageLen);
  for (const d of s.details) size += ldSize(d.length);
  return { size, messageLen };
}

function writeStatusBody(w: Writer, s: Status, messageLen: number): void {
  if (s.code) {
    w.tag(1, 0);
    w.varint(s.code);
  }
  if (messageLen) w.string(2, s.message, messageLen);
  for (const d of s.details) w.bytes(3, d);
}

/**
 * Encodes a Response as parts (the payload by reference, last). Like the Go server, a status is
 * always written, as an empty sub-message on success (`0a 00`); pass `status: undefined` to leave it out.
 */
export function encodeResponseParts(res: Response): Uint8Array[] {
  let size = 0;
  let statusInfo: { size: number; messageLen: number } | undefined;
  if (res.status) {
    statusInfo = statusBodySize(res.status);
    size += ldSize(statusInfo.size);
  }
  if (res.payload.length) size += 1 + varintSize(res.payload.length);
  const w = new Writer(size);
  if (res.status && statusInfo) {
    w.tag(1, 2);
    w.varint(statusInfo.size);
    writeStatusBody(w, res.status, statusInfo.messageLen);
  }
  if (!res.payload.length) return [w.finish()];
  w.tag(2, 2);
  w.varint(res.payload.length);
  return [w.finish(), res.payload];
}

export function encodeResponse(res: Response): Buffer {
  return Buffer.concat(encodeResponseParts(res));
}

export function encodeStatus(s: Status): Buffer {
  const info = statusBodySize(s);
  const w = new Writer(info.size);
  writeStatusBody(w, s, info.messageLen);
  return w.finish();
}

// ---- decoding -------------------------------------------------------------------------------

/** Raised for bytes that are not a valid protobuf message; servers answer INVALID_ARGUMENT. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  /**
   * A varint as a JS number. The first 7 bytes (49 bits) add up exactly in a double; longer ones
   * (large or negative int64s, 10 bytes in two's complement) continue in BigInt.
   */
  varint(): number {
    let result = 0;
    let factor = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw new DecodeError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * factor;
      if (b < 0x80) return result;
      factor *= 0x80;
    }
    let big = BigInt(result);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw new DecodeError('truncated varint');
      const b = this.buf[this.pos++]!;
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return Number(BigInt.asIntN(64, big));
    }
    throw new DecodeError('varint longer than 10 bytes');
  }
  lengthDelimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len < 0 || start + len > this.end) throw new DecodeError('length-delimited field overruns the message');
    this.pos = start + len;
    return [start, start + len];
  }
  string(): string {
    const [s, e] = this.lengthDelimited();
    return this.buf.toString('utf8', s, e);
  }
  bytes(): Buffer {
    const [s, e] = this.lengthDelimited();
    return this.buf.subarray(s, e);
  }
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.lengthDelimited();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new DecodeError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new DecodeError('fixed-width field overruns the message');
  }
  /** Reads a tag and checks the wire type a known field must have. */
  tag(): [number, number] {
    const t = this.varint();
    const field = Math.floor(t / 8);
    if (field === 0) throw new DecodeError('field number 0');
    return [field, t & 7];
  }
}

function expectWireType(field: number, got: number, want: number): void {
  if (got !== want) throw new DecodeError(`field ${field} has wire type ${got}, expected ${want}`);
}

function decodeKeyValue(buf: Buffer, start: number, end: number): KeyValue {
  const r = new Reader(buf, start, end);
  const kv: KeyValue = { key: '', value: '' };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === 2) kv.key = r.string();
    else if (field === 2 && wt === 2) kv.value = r.string();
    else r.skip(wt);
  }
  return kv;
}

const MAX_REMEMBERED_NAME = 128;

/**
 * Service and method names repeat on every call. Decoding them afresh costs a UTF-8 decode and, at
 * the first Map lookup by name, a new string hash; a relay pays both twice per call. The last few
 * names are kept with their bytes and handed out again when the bytes match.
 */
class RecentNames {
  private readonly bytes: Buffer[] = [];
  private readonly names: string[] = [];
  private next = 0;

  constructor(private readonly slots: number) {}

  get(buf: Buffer, start: number, end: number): string {
    const len = end - start;
    if (len > MAX_REMEMBERED_NAME) return buf.toString('utf8', start, end);
    seek: for (let i = 0; i < this.bytes.length; i++) {
      const known = this.bytes[i]!;
      if (known.length !== len) continue;
      for (let j = 0; j < len; j++) if (known[j] !== buf[start + j]) continue seek;
      return this.names[i]!;
    }
    const name = buf.toString('utf8', start, end);
    // A copy: `buf` is a view on a socket chunk that is not ours to keep.
    this.bytes[this.next] = Buffer.from(buf.subarray(start, end));
    this.names[this.next] = name;
    this.next = (this.next + 1) % this.slots;
    return name;
  }
}

/** One table per process, shared by every connection: names are not per peer. */
const serviceNames = new RecentNames(4);
/** The Kata agent API has about forty methods; a pod's calls cycle through a dozen or so. */
const methodNames = new RecentNames(24);

export function decodeRequest(buf: Buffer): Request {
  const r = new Reader(buf);
  const req: Request = { service: '', method: '', payload: EMPTY, timeoutNano: 0, metadata: [] };
  while (!r.done) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1: {
        expectWireType(field, wt, 2);
        const [s, e] = r.lengthDelimited();
        req.service = serviceNames.get(buf, s, e);
        break;
      }
      case 2: {
        expectWireType(field, wt, 2);
        const [s, e] = r.lengthDelimited();
        req.method = methodNames.get(buf, s, e);
        break;
      }
      case 3:
        expectWireType(field, wt, 2);
        req.payload = r.bytes();
        break;
      case 4:
        expectWireType(field, wt, 0);
        req.timeoutNano = r.varint();
        break;
      case 5: {
        expectWireType(field, wt, 2);
        const [s, e] = r.lengthDelimited();
        req.metadata.push(decodeKeyValue(buf, s, e));
        break;
      }
      default:
        r.skip(wt);
    }
  }
  return req;
}

function decodeStatusRange(buf: Buffer, start: number, end: number): Status {
  const r = new Reader(buf, start, end);
  const s: Status = { code: 0, message: '', details: [] };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === 0) s.code = r.varint();
    else if (field === 2 && wt === 2) s.message = r.string();
    else if (field === 3 && wt === 2) s.details.push(r.bytes());
    else if (field <= 3) throw new DecodeError(`status field ${field} has wire type ${wt}`);
    else r.skip(wt);
  }
  return s;
}

export function decodeStatus(buf: Buffer): Status {
  return decodeStatusRange(buf, 0, buf.length);
}

export function decodeResponse(buf: Buffer): Response {
  const r = new Reader(buf);
  const res: Response = { payload: EMPTY };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1) {
      expectWireType(field, wt, 2);
      const [s, e] = r.lengthDelimited();
      res.status = decodeStatusRange(buf, s, e);
    } else if (field === 2) {
      expectWireType(field, wt, 2);
      res.payload = r.bytes();
    } else {
      r.skip(wt);
    }
  }
  return res;
}

/** The error a Response stands for, or undefined when it succeeded. */
export function responseError(res: Response): TtrpcError | undefined {
  if (!res.status || res.status.code === 0) return undefined;
  return new TtrpcError(res.status.code, res.status.message, res.status.details);
}
