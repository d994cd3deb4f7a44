import type { Socket } from 'node:net';
import { HEADER_LENGTH, encodeHeader } from './frame.js';

/** Frames up to this size are copied into one buffer; larger payloads go to the socket by reference. */
const COALESCE_LIMIT = 16 * 1024;

export function partsLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * Writes frames to one socket. A frame is written in one synchronous call, so frames never
 * interleave (JavaScript runs one callback at a time). The socket is corked on the first frame of a
 * tick and uncorked on the next tick: all responses that complete together leave in one writev.
 */
export class FrameWriter {
  private corked = false;

  constructor(private readonly socket: Socket) {}

  write(streamId: number, type: number, flags: number, parts: readonly Uint8Array[]): boolean {
    const s = this.socket;
    if (s.destroyed || !s.writable) return false;
    const length = partsLength(parts);
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(this.uncork);
    }
    const header = encodeHeader(length, streamId, type, flags);
    if (length <= COALESCE_LIMIT) return s.write(Buffer.concat([header, ...parts], HEADER_LENGTH + length));
    s.write(header);
    let ok = true;
    for (const p of parts) if (p.length > 0) ok = s.write(p);
    return ok;
  }

  /** Sends the frames queued in this tick now (before closing the socket, say). */
  flush(): void {
    if (this.corked) this.uncork();
  }

  private readonly uncork = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  };
}
