import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  FrameReader,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  decodeHeader,
  encodeHeader,
  type Frame,
  type FrameHeader,
} from '../../../src/ttrpc/frame.js';
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  encodeStatus,
  decodeStatus,
} from '../../../src/ttrpc/envelope.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ---- golden bytes, computed by hand -----------------------------------------------------------

// Request frame, stream 1: hypervisor.Hypervisor/Version, payload VersionRequest{version:"0.0.0"},
// timeout 1 s.
const GOLDEN_REQUEST_HEADER = hex(
  '0000002f' + // data length: 47 bytes (23 + 9 + 9 + 6, see below)
    '00000001' + // stream id 1
    '01' + // type 0x01 = Request
    '00', // flags: none
);
const GOLDEN_REQUEST_DATA = hex(
  // field 1 (service), wire type 2: tag (1<<3)|2 = 0x0a; length 21 = 0x15; "hypervisor.Hypervisor"
  '0a 15 68 79 70 65 72 76 69 73 6f 72 2e 48 79 70 65 72 76 69 73 6f 72' +
    // field 2 (method), wire type 2: tag (2<<3)|2 = 0x12; length 7; "Version"
    '12 07 56 65 72 73 69 6f 6e' +
    // field 3 (payload), wire type 2: tag (3<<3)|2 = 0x1a; length 7; VersionRequest bytes:
    //   0a = field 1 (version) wire type 2, 05 = length 5, "0.0.0" = 30 2e 30 2e 30
    '1a 07 0a 05 30 2e 30 2e 30' +
    // field 4 (timeout_nano), wire type 0: tag (4<<3)|0 = 0x20; varint 1000000000 = 0x3b9aca00:
    //   7-bit groups from the low end: 0x00, 0x14, 0x6b, 0x5c, 0x03 → 80 94 eb dc 03
    '20 80 94 eb dc 03',
);
const GOLDEN_REQUEST_FRAME = Buffer.concat([GOLDEN_REQUEST_HEADER, GOLDEN_REQUEST_DATA]);
const VERSION_REQUEST = hex('0a 05 30 2e 30 2e 30');

// Success Response frame, stream 1: status present but empty (0a 00), payload = the same 7 bytes.
const GOLDEN_OK_RESPONSE_FRAME = hex(
  '0000000b' + // data length 11 = 2 + 9
    '00000001' + // stream id 1
    '02' + // type 0x02 = Response
    '00' + // flags: none
    '0a 00' + // field 1 (status), wire type 2, length 0: an empty google.rpc.Status
    '12 07 0a 05 30 2e 30 2e 30', // field 2 (payload), wire type 2, length 7
);

// Error Response frame, stream 3: status {code: 5 (NOT_FOUND), message: "x"}, no payload.
const GOLDEN_ERROR_RESPONSE_FRAME = hex(
  '00000007' + // data length 7
    '00000003' + // stream id 3
    '02' + // type Response
    '00' + // flags
    '0a 05' + // field 1 (status), wire type 2, length 5:
    '08 05' + //   Status field 1 (code), wire type 0: tag 0x08, varint 5
    '12 01 78', //   Status field 2 (message), wire type 2: tag 0x12, length 1, "x"
);

describe('golden frames', () => {
  it('encodes the Version request frame byte for byte', () => {
    const data = encodeRequest({
      service: 'hypervisor.Hypervisor',
      method: 'Version',
      payload: VERSION_REQUEST,
      timeoutNano: 1_000_000_000,
      metadata: [],
    });
    const frame = Buffer.concat([encodeHeader(data.length, 1, MessageType.REQUEST, 0), data]);
    expect(data.toString('hex')).toBe(GOLDEN_REQUEST_DATA.toString('hex'));
    expect(frame.toString('hex')).toBe(GOLDEN_REQUEST_FRAME.toString('hex'));
  });

  it('decodes the Version request frame back', () => {
    expect(decodeHeader(GOLDEN_REQUEST_FRAME)).toEqual({ length: 47, streamId: 1, type: 0x01, flags: 0 });
    const req = decodeRequest(GOLDEN_REQUEST_FRAME.subarray(HEADER_LENGTH));
    expect(req.service).toBe('hypervisor.Hypervisor');
    expect(req.method).toBe('Version');
    expect(Buffer.from(req.payload).toString('hex')).toBe('0a05302e302e30');
    expect(req.timeoutNano).toBe(1_000_000_000);
    expect(req.metadata).toEqual([]);
  });

  it('encodes the success Response frame with an empty status sub-message', () => {
    const data = encodeResponse({ status: { code: 0, message: '', details: [] }, payload: VERSION_REQUEST });
    const frame = Buffer.concat([encodeHeader(data.length, 1, MessageType.RESPONSE, 0), data]);
    expect(frame.toString('hex')).toBe(GOLDEN_OK_RESPONSE_FRAME.toString('hex'));
  });

  it('decodes the success Response frame back', () => {
    expect(decodeHeader(GOLDEN_OK_RESPONSE_FRAME)).toEqual({ length: 11, streamId: 1, type: 0x02, flags: 0 });
    const res = decodeResponse(GOLDEN_OK_RESPONSE_FRAME.subarray(HEADER_LENGTH));
    expect(res.status).toEqual({ code: 0, message: '', details: [] });
    expect(Buffer.from(res.payload).toString('hex')).toBe('0a05302e302e30');
  });

  it('encodes the error Response frame', () => {
    const data = encodeResponse({ status: { code: 5, message: 'x', details: [] }, payload: new Uint8Array(0) });
    const frame = Buffer.concat([encodeHeader(data.length, 3, MessageType.RESPONSE, 0), data]);
    expect(frame.toString('hex')).toBe(GOLDEN_ERROR_RESPONSE_FRAME.toString('hex'));
    expect(encodeStatus({ code: 5, message: 'x', details: [] }).toString('hex')).toBe('0805120178');
  });

  it('decodes the error Response frame back', () => {
    expect(decodeHeader(GOLDEN_ERROR_RESPONSE_FRAME)).toEqual({ length: 7, streamId: 3, type: 0x02, flags: 0 });
    const res = decodeResponse(GOLDEN_ERROR_RESPONSE_FRAME.subarray(HEADER_LENGTH));
    expect(res.status).toEqual({ code: 5, message: 'x', details: [] });
    expect(res.payload.length).toBe(0);
    expect(decodeStatus(hex('0805120178'))).toEqual({ code: 5, message: 'x', details: [] });
  });

  it('leaves the status out when asked to', () => {
    expect(encodeResponse({ payload: hex('01') }).toString('hex')).toBe('120101');
    expect(decodeResponse(hex('120101')).status).toBeUndefined();
  });

  it('writes header fields big-endian, including the largest values', () => {
    expect(encodeHeader(0xfffffff0, 0xfffffffe, 0x07, 0xff).toString('hex')).toBe('fffffff0fffffffe07ff');
    expect(encodeHeader(0x01020304, 0x05060708, 0x03, 0x04).toString('hex')).toBe('01020304050607080304');
    expect(decodeHeader(hex('00 ff fffffff0 fffffffe 07 ff'), 2)).toEqual({
      length: 0xfffffff0,
      streamId: 0xfffffffe,
      type: 7,
      flags: 0xff,
    });
    expect(MAX_MESSAGE_LENGTH).toBe(4194304);
    expect(HEADER_LENGTH).toBe(10);
  });
});

// ---- FrameReader ------------------------------------------------------------------------------

interface Collected {
  frames: { streamId: number; type: number; flags: number; length: number; data: string }[];
  oversized: FrameHeader[];
  reader: FrameReader;
}

function collector(maxLength?: number): Collected {
  const c: Collected = { frames: [], oversized: [], reader: undefined as unknown as FrameReader };
  c.reader = new FrameReader(
    {
      frame: (f: Frame) =>
        c.frames.push({
          streamId: f.streamId,
          type: f.type,
          flags: f.flags,
          length: f.length,
          data: f.data.toString('hex'),
        }),
      oversized: (h) => c.oversized.push({ ...h }),
    },
    maxLength,
  );
  return c;
}

function frameBytes(streamId: number, type: number, data: Buffer, flags = 0): Buffer {
  return Buffer.concat([encodeHeader(data.length, streamId, type, flags), data]);
}

describe('FrameReader', () => {
  it('parses a frame fed one byte at a time', () => {
    const c = collector();
    for (let i = 0; i < GOLDEN_REQUEST_FRAME.length; i++) {
      expect(c.frames).toHaveLength(0);
      c.reader.push(GOLDEN_REQUEST_FRAME.subarray(i, i + 1));
      if (i < GOLDEN_REQUEST_FRAME.length - 1) expect(c.reader.buffered).toBe(i + 1);
    }
    expect(c.frames).toEqual([
      { streamId: 1, type: 1, flags: 0, length: 47, data: GOLDEN_REQUEST_DATA.toString('hex') },
    ]);
    expect(c.reader.buffered).toBe(0);
  });

  it('parses many frames from one chunk, in order', () => {
    const c = collector();
    const parts: Buffer[] = [];
    for (let i = 0; i < 50; i++) parts.push(frameBytes(2 * i + 1, MessageType.REQUEST, Buffer.from([i, i, i].slice(0, i % 4))));
    c.reader.push(Buffer.concat(parts));
    expect(c.frames).toHaveLength(50);
    c.frames.forEach((f, i) => {
      expect(f.streamId).toBe(2 * i + 1);
      expect(f.data).toBe(Buffer.from([i, i, i].slice(0, i % 4)).toString('hex'));
    });
    expect(c.reader.buffered).toBe(0);
  });

  it('keeps a partial frame at the end of a chunk and completes it with the next one', () => {
    const c = collector();
    const all = Buffer.concat([GOLDEN_OK_RESPONSE_FRAME, GOLDEN_ERROR_RESPONSE_FRAME]);
    c.reader.push(all.subarray(0, GOLDEN_OK_RESPONSE_FRAME.length + 4));
    expect(c.frames.map((f) => f.streamId)).toEqual([1]);
    expect(c.reader.buffered).toBe(4);
    c.reader.push(all.subarray(GOLDEN_OK_RESPONSE_FRAME.length + 4));
    expect(c.frames.map((f) => f.streamId)).toEqual([1, 3]);
    expect(c.frames[1]!.data).toBe('0a0508051201' + '78');
  });

  it('parses zero-length frames', () => {
    const c = collector();
    c.reader.push(Buffer.concat([encodeHeader(0, 1, 1, 0), encodeHeader(0, 3, 3, 4), encodeHeader(0, 5, 2, 0)]));
    expect(c.frames).toEqual([
      { streamId: 1, type: 1, flags: 0, length: 0, data: '' },
      { streamId: 3, type: 3, flags: 4, length: 0, data: '' },
      { streamId: 5, type: 2, flags: 0, length: 0, data: '' },
    ]);
    expect(c.oversized).toEqual([]);
  });

  it('skips an oversized frame split across chunks without buffering it, then parses the next frame', () => {
    const c = collector();
    const big = MAX_MESSAGE_LENGTH + 1;
    const next = frameBytes(5, MessageType.REQUEST, Buffer.from('after'));
    // Header alone (split in two), then the body in pieces, the last one glued to the next frame.
    c.reader.push(encodeHeader(big, 3, MessageType.REQUEST, 0).subarray(0, 6));
    expect(c.oversized).toEqual([]);
    c.reader.push(encodeHeader(big, 3, MessageType.REQUEST, 0).subarray(6));
    expect(c.oversized).toEqual([{ length: big, streamId: 3, type: 1, flags: 0 }]);
    const chunk = Buffer.alloc(1 << 20, 0xab);
    let left = big;
    while (left > 1000) {
      c.reader.push(chunk.subarray(0, Math.min(chunk.length, left - 1000)));
      left -= Math.min(chunk.length, left - 1000);
      // Nothing of the skipped body is held, only the count of bytes still to skip.
      expect(c.reader.buffered).toBe(left);
    }
    expect(c.frames).toEqual([]);
    c.reader.push(Buffer.concat([Buffer.alloc(left, 0xab), next]));
    expect(c.oversized).toHaveLength(1);
    expect(c.frames).toEqual([
      { streamId: 5, type: 1, flags: 0, length: 5, data: Buffer.from('after').toString('hex') },
    ]);
    expect(c.reader.buffered).toBe(0);
  });

  it('skips an oversized frame that is complete inside one chunk and goes on', () => {
    const c = collector(8);
    const chunk = Buffer.concat([
      frameBytes(1, 1, Buffer.alloc(9, 1)),
      frameBytes(3, 1, Buffer.alloc(8, 2)),
      frameBytes(5, 1, Buffer.alloc(100, 3)),
      frameBytes(7, 1, Buffer.alloc(0)),
    ]);
    c.reader.push(chunk);
    expect(c.oversized.map((h) => [h.streamId, h.length])).toEqual([
      [1, 9],
      [5, 100],
    ]);
    expect(c.frames.map((f) => [f.streamId, f.length])).toEqual([
      [3, 8],
      [7, 0],
    ]);
    expect(c.reader.buffered).toBe(0);
  });

  it('announces a 0xFFFFFFF0-byte frame as oversized right away and holds nothing', () => {
    const c = collector();
    c.reader.push(Buffer.concat([encodeHeader(0xfffffff0, 1, 1, 0), Buffer.alloc(100)]));
    expect(c.oversized).toEqual([{ length: 0xfffffff0, streamId: 1, type: 1, flags: 0 }]);
    expect(c.reader.buffered).toBe(0xfffffff0 - 100);
  });

  it('accepts a frame of exactly the maximum length', () => {
    const c = collector(16);
    c.reader.push(frameBytes(1, 1, Buffer.alloc(16, 7)));
    expect(c.oversized).toEqual([]);
    expect(c.frames).toHaveLength(1);
  });

  it('keeps delivered frame data intact while later chunks are parsed', () => {
    const kept: Buffer[] = [];
    const reader = new FrameReader({ frame: (f) => kept.push(f.data), oversized: () => {} });
    const wire = Buffer.concat([
      frameBytes(1, 1, Buffer.from('first!')),
      frameBytes(3, 1, Buffer.from('second')),
      frameBytes(5, 1, Buffer.from('third.')),
    ]);
    // f1 whole plus half of f2, then the rest of f2 plus a piece of f3, then the end.
    reader.push(wire.subarray(0, 20));
    reader.push(wire.subarray(20, 40));
    reader.push(wire.subarray(40));
    expect(kept.map((b) => b.toString())).toEqual(['first!', 'second', 'third.']);
  });

  it('reassembles any sequence of frames under any chunking (property)', () => {
    const frameArb = fc.record({
      streamId: fc.nat({ max: 0xffffffff }),
      type: fc.integer({ min: 0, max: 255 }),
      flags: fc.integer({ min: 0, max: 255 }),
      data: fc.uint8Array({ maxLength: 64 }),
      oversized: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 20 }), fc.array(fc.nat({ max: 40 }), { maxLength: 60 }), (frames, cuts) => {
        const max = 32;
        const wire = Buffer.concat(
          frames.map((f) => {
            const data = f.oversized ? Buffer.alloc(max + 1 + (f.data.length % 7), 0xee) : Buffer.from(f.data.subarray(0, max));
            return frameBytes(f.streamId, f.type, data, f.flags);
          }),
        );
        const c = collector(max);
        let pos = 0;
        for (const cut of cuts) {
          if (pos >= wire.length) break;
          c.reader.push(wire.subarray(pos, pos + cut + 1));
          pos += cut + 1;
        }
        if (pos < wire.length) c.reader.push(wire.subarray(pos));
        const wantFrames = frames
          .filter((f) => !f.oversized)
          .map((f) => {
            const data = Buffer.from(f.data.subarray(0, max));
            return { streamId: f.streamId, type: f.type, flags: f.flags, length: data.length, data: data.toString('hex') };
          });
        const wantOversized = frames
          .filter((f) => f.oversized)
          .map((f) => ({ length: max + 1 + (f.data.length % 7), streamId: f.streamId, type: f.type, flags: f.flags }));
        expect(c.frames).toEqual(wantFrames);
        expect(c.oversized).toEqual(wantOversized);
        expect(c.reader.buffered).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
