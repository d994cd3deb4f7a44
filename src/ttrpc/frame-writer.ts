import type { Socket } from 'node:net';
import { encodeHeader } from './frame.js';

/**
 * Writes one frame as a unit. JavaScript runs one callback at a time, so header and data written in
 * one synchronous call can never interleave with another frame; cork/uncork makes it one syscall.
 */
export function writeFrame(socket: Socket, streamId: number, type: number, flags: number, data: Uint8Array): boolean {
  if (socket.destroyed || !socket.writable) return false;
  const header = encodeHeader(data.length, streamId, type, flags);
  if (data.length < 4096) {
    return socket.write(Buffer.concat([header, data]));
  }
  socket.cork();
  socket.write(header);
  const ok = socket.write(data);
  socket.uncork();
  return ok;
}
