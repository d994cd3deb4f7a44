/**
 * ttrpc framing (reference §1.1): a 10-byte big-endian header — data length (u32), stream id (u32),
 * message type (u8), flags (u8) — followed by `length` bytes.
 */
export const HEADER_LENGTH = 10;
/** The largest data length either side may send or accept: 4 MiB (`4 << 20`). */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export const MessageType = { REQUEST: 0x01, RESPONSE: 0x02, DATA: 0x03 } as const;
export const Flags = { REMOTE_CLOSED: 0x01, REMOTE_OPEN: 0x02, NO_DATA: 0x04 } as const;

export interface FrameHeader {
  readonly length: number;
  readonly streamId: number;
  readonly type: number;
  readonly flags: number;
}

export interface Frame extends FrameHeader {
  readonly data: Buffer;
}

export function encodeHeader(length: number, streamId: number, type: number, flags: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_LENGTH);
  header.writeUInt32BE(length, 0);
  header.writeUInt32BE(streamId, 4);
  header.writeUInt8(type, 8);
  header.writeUInt8(flags, 9);
  return header;
}

export function decodeHeader(buf: Buffer, offset = 0): FrameHeader {
  return {
    length: buf.readUInt32BE(offset),
    streamId: buf.readUInt32BE(offset + 4),
    type: buf.readUInt8(offset + 8),
    flags: buf.readUInt8(offset + 9),
  };
}

export interface FrameSink {
  /** A complete frame whose data fits the limit. `data` is never written to again, so it may be kept. */
  frame(frame: Frame): void;
  /** A frame over `maxLength`: its data is being skipped, never buffered (Go answers it on its stream). */
  oversized(header: FrameHeader): void;
}

/**
 * Incremental frame parser for a byte stream. Oversized frames are skipped byte by byte without being
 * held in memory, so a peer that announces 4 GiB costs nothing but the wait.
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  private skipping = 0;

  constructor(
    private readonly sink: FrameSink,
    private readonly maxLength = MAX_MESSAGE_LENGTH,
  ) {}

  /** Bytes of an incomplete frame held right now (a truncated header shows up here at close). */
  get buffered(): number {
    return this.pending.length + this.skipping;
  }

  push(chunk: Buffer): void {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, chunk.length);
      this.skipping -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    while (buf.length - offset >= HEADER_LENGTH) {
      const header = decodeHeader(buf, offset);
      if (header.length > this.maxLength) {
        offset += HEADER_LENGTH;
        const available = Math.min(header.length, buf.length - offset);
        offset += available;
        this.skipping = header.length - available;
        this.sink.oversized(header);
        if (this.skipping > 0) break;
        continue;
      }
      const end = offset + HEADER_LENGTH + header.length;
      if (end > buf.length) break;
      this.sink.frame({ ...header, data: buf.subarray(offset + HEADER_LENGTH, end) });
      offset = end;
    }
    if (this.skipping > 0) {
      this.pending = Buffer.alloc(0);
      return;
    }
    // Copy the tail so the caller's chunk can be released; small frames rarely leave one.
    buf = buf.subarray(offset);
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }
}
