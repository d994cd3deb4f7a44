/**
 * Speaking ttrpc as raw bytes, independently of `src/ttrpc`: frames are built and parsed here by
 * hand and envelopes go through the code generated from `request.proto` (`RequestSchema`,
 * `ResponseSchema`). Used to feed a live server malformed input and to build fake servers for the
 * client tests, so a bug in the codec under test cannot hide itself.
 */
import { connect, type Socket } from 'node:net';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import {
  RequestSchema,
  ResponseSchema,
  type Request as PbRequest,
} from '../../src/proto/gen/ttrpc/request_pb.js';
import { withTimeout } from './async.js';

export const HEADER_BYTES = 10;
export const MAX_DATA = 4 * 1024 * 1024; // 4194304
export const TYPE_REQUEST = 0x01;
export const TYPE_RESPONSE = 0x02;
export const TYPE_DATA = 0x03;

/** The 10-byte header: u32 length, u32 stream id, u8 type, u8 flags, all big-endian. */
export function rawHeader(length: number, streamId: number, type: number, flags = 0): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint32(0, length, false);
  v.setUint32(4, streamId, false);
  v.setUint8(8, type);
  v.setUint8(9, flags);
  return b;
}

export function rawFrame(streamId: number, type: number, data: Uint8Array, flags = 0): Buffer {
  return Buffer.concat([rawHeader(data.length, streamId, type, flags), data]);
}

export interface RequestInit {
  service?: string;
  method?: string;
  payload?: Uint8Array;
  timeoutNano?: bigint;
  metadata?: { key: string; value: string }[];
}

/** A Request envelope encoded by the generated code. */
export function requestBody(init: RequestInit): Uint8Array {
  return toBinary(RequestSchema, create(RequestSchema, init));
}

export interface ResponseInit {
  /** Leave the status out entirely (what Go servers may do on success). */
  omitStatus?: boolean;
  code?: number;
  message?: string;
  /** Encoded google.protobuf.Any messages. */
  details?: Uint8Array[];
  payload?: Uint8Array;
}

/** A Response envelope. Built by hand from the schema's field numbers so any bytes can go in `details`. */
export function responseBody(init: ResponseInit): Buffer {
  const parts: Buffer[] = [];
  if (!init.omitStatus) {
    const status: Buffer[] = [];
    if (init.code) status.push(Buffer.from([0x08]), varint(BigInt.asUintN(64, BigInt(init.code))));
    if (init.message) status.push(lengthDelimited(2, Buffer.from(init.message, 'utf8')));
    for (const d of init.details ?? []) status.push(lengthDelimited(3, d));
    parts.push(lengthDelimited(1, Buffer.concat(status)));
  }
  if (init.payload && init.payload.length > 0) parts.push(lengthDelimited(2, init.payload));
  return Buffer.concat(parts);
}

/** A protobuf varint; negative values as 64-bit two's complement (10 bytes). */
export function varint(v: bigint): Buffer {
  v = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

function lengthDelimited(field: number, data: Uint8Array): Buffer {
  return Buffer.concat([varint(BigInt((field << 3) | 2)), varint(BigInt(data.length)), data]);
}

export interface RawFrame {
  length: number;
  streamId: number;
  type: number;
  flags: number;
  data: Buffer;
}

export interface DecodedResponse {
  streamId: number;
  type: number;
  flags: number;
  /** Whether the status field was present on the wire. */
  hasStatus: boolean;
  code: number;
  message: string;
  /** The status details re-encoded as google.protobuf.Any bytes. */
  details: Uint8Array[];
  payload: Uint8Array;
}

/** Decodes a Response frame with the generated ResponseSchema. */
export function decodeResponseFrame(f: RawFrame): DecodedResponse {
  const res = fromBinary(ResponseSchema, f.data);
  return {
    streamId: f.streamId,
    type: f.type,
    flags: f.flags,
    hasStatus: res.status !== undefined,
    code: res.status?.code ?? 0,
    message: res.status?.message ?? '',
    details: (res.status?.details ?? []).map((d) => toBinary(AnySchema, d)),
    payload: res.payload,
  };
}

export function decodeRequestData(data: Uint8Array): PbRequest {
  return fromBinary(RequestSchema, data);
}

/**
 * An incremental frame parser for the test side. Unlike the server's it buffers everything (the
 * tests never receive oversized frames except where they ask to skip them with `skipOver`).
 */
export class RawFrameParser {
  private buf = Buffer.alloc(0);
  private skip = 0;
  readonly frames: RawFrame[] = [];
  /** Headers of frames larger than `skipOver`, whose data was discarded. */
  readonly skipped: RawFrame[] = [];

  constructor(
    private readonly onFrame: (f: RawFrame) => void = () => {},
    private readonly skipOver = Number.POSITIVE_INFINITY,
  ) {}

  push(chunk: Buffer): void {
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= HEADER_BYTES) {
      const length = this.buf.readUInt32BE(0);
      const streamId = this.buf.readUInt32BE(4);
      const type = this.buf[8]!;
      const flags = this.buf[9]!;
      if (length > this.skipOver) {
        const have = Math.min(length, this.buf.length - HEADER_BYTES);
        this.skip = length - have;
        this.buf = this.buf.subarray(HEADER_BYTES + have);
        this.skipped.push({ length, streamId, type, flags, data: Buffer.alloc(0) });
        if (this.skip > 0) {
          this.buf = Buffer.alloc(0);
          return;
        }
        continue;
      }
      if (this.buf.length < HEADER_BYTES + length) return;
      const f: RawFrame = {
        length,
        streamId,
        type,
        flags,
        data: Buffer.from(this.buf.subarray(HEADER_BYTES, HEADER_BYTES + length)),
      };
      this.buf = this.buf.subarray(HEADER_BYTES + length);
      this.frames.push(f);
      this.onFrame(f);
    }
  }

  get pendingBytes(): number {
    return this.buf.length;
  }
}

/** A client connection that writes arbitrary bytes and reads back frames. */
export class RawConnection {
  private readonly queue: RawFrame[] = [];
  private waiters: (() => void)[] = [];
  private closedFlag = false;
  private readonly closedPromise: Promise<void>;
  bytesReceived = 0;
  /** Every frame received, in arrival order (also the ones consumed by `nextFrame`). */
  readonly received: RawFrame[] = [];

  private constructor(readonly socket: Socket) {
    const parser = new RawFrameParser((f) => {
      this.queue.push(f);
      this.received.push(f);
      this.wake();
    });
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      parser.push(chunk);
    });
    // Resets are expected when the server drops a misbehaving connection.
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedFlag = true;
        this.wake();
        resolve();
      }),
    );
  }

  static open(path: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** Writes bytes and waits until they are handed to the kernel. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  sendFrame(streamId: number, type: number, data: Uint8Array, flags = 0): Promise<void> {
    return this.write(rawFrame(streamId, type, data, flags));
  }

  sendRequest(streamId: number, init: RequestInit, flags = 0): Promise<void> {
    return this.sendFrame(streamId, TYPE_REQUEST, requestBody(init), flags);
  }

  /** The next frame; rejects on timeout or when the connection closes first. */
  async nextFrame(timeoutMs = 2_000): Promise<RawFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.queue.shift();
      if (f) return f;
      if (this.closedFlag) throw new Error('connection closed before a frame arrived');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async nextResponse(timeoutMs = 2_000): Promise<DecodedResponse> {
    const f = await this.nextFrame(timeoutMs);
    if (f.type !== TYPE_RESPONSE) throw new Error(`expected a Response frame, got type ${f.type}`);
    return decodeResponseFrame(f);
  }

  async call(streamId: number, init: RequestInit, timeoutMs = 2_000): Promise<DecodedResponse> {
    await this.sendRequest(streamId, init);
    const res = await this.nextResponse(timeoutMs);
    if (res.streamId !== streamId) throw new Error(`answer on stream ${res.streamId}, expected ${streamId}`);
    return res;
  }

  /** Frames still queued (not yet taken by `nextFrame`). */
  get queued(): number {
    return this.queue.length;
  }

  /** Resolves when the peer has closed the connection; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = 2_000): Promise<void> {
    return withTimeout(this.closedPromise, timeoutMs, 'the server to close the connection');
  }

  /** Closes our side and waits for the socket to be fully closed. */
  async close(): Promise<void> {
    if (!this.closedFlag) this.socket.destroy();
    await this.closedPromise;
  }
}

/**
 * `count` Request frames with stream ids 1, 3, 5, … in one buffer, so they reach the server
 * together (a client that pipelines without waiting for answers).
 */
export function pipelinedRequests(count: number, init: (i: number) => RequestInit): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) frames.push(rawFrame(2 * i + 1, TYPE_REQUEST, requestBody(init(i))));
  return Buffer.concat(frames);
}

/** The raw connections one test opens, closed together after it (in the file's afterEach). */
export class RawConnections {
  private readonly opened: RawConnection[] = [];

  async open(path: string): Promise<RawConnection> {
    const r = await RawConnection.open(path);
    this.opened.push(r);
    return r;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((r) => r.close()));
  }
}
