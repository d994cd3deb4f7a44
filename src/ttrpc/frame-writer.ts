import type { Socket } from 'node:net';
import { HEADER_LENGTH, encodeHeader, writeHeader } from './frame.js';

/** Frames up to this size are copied into one buffer; larger payloads go to the socket by reference. */
const COALESCE_LIMIT = 16 * 1024;

export function partsLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * Writes frames to one socket. A frame is written in one synchronous call, so frames never
 * interleave (JavaScript runs one callback at a time). The first frame of a tick is written at once
 * (a lone call, the common case on a relay, waits for nothing); the socket is then corked until the
 * next tick, so the other frames that complete in the same tick (64 callers' answers read from one
 * chunk) leave together in one writev.
 */
export class FrameWriter {
  private corked = false;
  private wroteThisTick = false;

  constructor(private readonly socket: Socket) {}

  /**
   * Writes one frame. `parts` are its data, concatenated; in a frame over 16 KiB they are sent by
   * reference and must not change until the socket has written them. Returns false when the socket is gone (nothing
   * is written) or its buffer is over the high-water mark (written; the socket's `drain` says when
   * to go on). Any number of calls per tick.
   */
  write(streamId: number, type: number, flags: number, parts: readonly Uint8Array[]): boolean {
    const s = this.socket;
    if (s.destroyed || !s.writable) return false;
    const length = partsLength(parts);
    if (!this.corked) {
      if (!this.wroteThisTick) {
        // The first frame of a tick leaves at once: a lone call's answer waits for nothing.
        this.wroteThisTick = true;
        process.nextTick(this.uncork);
        return this.writeNow(streamId, type, flags, parts, length);
      }
      this.corked = true;
      s.cork();
    }
    return this.writeNow(streamId, type, flags, parts, length);
  }

  private writeNow(streamId: number, type: number, flags: number, parts: readonly Uint8Array[], length: number): boolean {
    const s = this.socket;
    if (length <= COALESCE_LIMIT) {
      const frame = Buffer.allocUnsafe(HEADER_LENGTH + length);
      writeHeader(frame, length, streamId, type, flags);
      let at = HEADER_LENGTH;
      for (const p of parts) {
        frame.set(p, at);
        at += p.length;
      }
      return s.write(frame);
    }
    // Header and payload by reference, in one writev.
    const corkHere = !this.corked;
    if (corkHere) s.cork();
    s.write(encodeHeader(length, streamId, type, flags));
    let ok = true;
    for (const p of parts) if (p.length > 0) ok = s.write(p);
    if (corkHere) s.uncork();
    return ok;
  }

  /** Sends the frames queued in this tick now (before closing the socket, say). */
  flush(): void {
    if (this.corked) this.uncork();
  }

  private readonly uncork = (): void => {
    this.wroteThisTick = false;
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  };
}
