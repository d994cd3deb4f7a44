import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameReader, HEADER_LENGTH, MessageType, type Frame } from '../../../src/ttrpc/frame.js';
import { FrameWriter } from '../../../src/ttrpc/frame-writer.js';

/** What the writer did to its socket, in order: `write` (with `corked` = whether the socket was corked), `cork`, `uncork`. */
type Op = { op: 'write'; bytes: Buffer; corked: boolean } | { op: 'cork' } | { op: 'uncork' };

function recordingSocket(): { socket: Socket; ops: Op[] } {
  const ops: Op[] = [];
  let corks = 0;
  const socket = {
    destroyed: false,
    writable: true,
    write(chunk: Uint8Array) {
      ops.push({ op: 'write', bytes: Buffer.from(chunk), corked: corks > 0 });
      return true;
    },
    cork() {
      corks++;
      ops.push({ op: 'cork' });
    },
    uncork() {
      corks--;
      ops.push({ op: 'uncork' });
    },
  };
  return { socket: socket as unknown as Socket, ops };
}

const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

/** The frames a byte stream holds. */
function framesIn(bytes: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  const reader = new FrameReader({ frame: (f) => frames.push(f), oversized: () => expect.fail('oversized frame') });
  for (const b of bytes) reader.push(b);
  return frames;
}

describe('FrameWriter', () => {
  it('writes the first frame of a tick at once, uncorked, in one buffer', () => {
    const { socket, ops } = recordingSocket();
    new FrameWriter(socket).write(1, MessageType.REQUEST, 0, [Buffer.from('ab'), Buffer.from('cde')]);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ op: 'write', corked: false });
    const [f] = framesIn([(ops[0] as { bytes: Buffer }).bytes]);
    expect(f).toMatchObject({ streamId: 1, type: MessageType.REQUEST, flags: 0, length: 5 });
    expect(f!.data.toString()).toBe('abcde');
  });

  it('corks the later frames of the same tick and uncorks on the next tick', async () => {
    const { socket, ops } = recordingSocket();
    const w = new FrameWriter(socket);
    for (const id of [1, 3, 5]) w.write(id, MessageType.RESPONSE, 0, [Buffer.from(`#${id}`)]);
    expect(ops.map((o) => (o.op === 'write' ? `write${o.corked ? '(corked)' : ''}` : o.op))).toEqual([
      'write',
      'cork',
      'write(corked)',
      'write(corked)',
    ]);
    await nextTick();
    expect(ops.at(-1)).toEqual({ op: 'uncork' });

    // The next tick starts over: its first frame is not held back.
    w.write(7, MessageType.RESPONSE, 0, [Buffer.from('#7')]);
    expect(ops.at(-1)).toMatchObject({ op: 'write', corked: false });
    const frames = framesIn(ops.flatMap((o) => (o.op === 'write' ? [o.bytes] : [])));
    expect(frames.map((f) => `${f.streamId}:${f.data.toString()}`)).toEqual(['1:#1', '3:#3', '5:#5', '7:#7']);
  });

  it('sends a large frame as header and payload by reference inside one cork', () => {
    const { socket, ops } = recordingSocket();
    const payload = Buffer.alloc(64 * 1024, 7);
    new FrameWriter(socket).write(9, MessageType.RESPONSE, 0, [payload]);
    expect(ops.map((o) => o.op)).toEqual(['cork', 'write', 'write', 'uncork']);
    const [header, body] = ops.filter((o) => o.op === 'write') as { bytes: Buffer; corked: boolean }[];
    expect(header!.bytes).toHaveLength(HEADER_LENGTH);
    expect(header!.corked && body!.corked).toBe(true);
    const [f] = framesIn([header!.bytes, body!.bytes]);
    expect(f!.length).toBe(payload.length);
    expect(f!.data.equals(payload)).toBe(true);
  });

  it('flush() uncorks at once (before a close)', () => {
    const { socket, ops } = recordingSocket();
    const w = new FrameWriter(socket);
    w.write(1, MessageType.RESPONSE, 0, [Buffer.from('a')]);
    w.write(3, MessageType.RESPONSE, 0, [Buffer.from('b')]);
    w.flush();
    expect(ops.at(-1)).toEqual({ op: 'uncork' });
  });

  it('writes nothing to a destroyed socket', () => {
    const { socket, ops } = recordingSocket();
    (socket as unknown as { destroyed: boolean }).destroyed = true;
    expect(new FrameWriter(socket).write(1, MessageType.REQUEST, 0, [Buffer.from('x')])).toBe(false);
    expect(ops).toEqual([]);
  });
});
