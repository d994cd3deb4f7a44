/**
 * A scripted libvirt daemon speaking the RPC protocol on a Unix socket, for testing the client's
 * framing, concurrency, aborts, streams and failures without root or libvirt.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HEADER_BYTES,
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  Proc,
  REMOTE_PROGRAM,
  decodeHeader,
  encodeMessage,
  writeRemoteError,
  type Header,
} from '../../../../src/lib/libvirt-rpc/protocol.js';
import { XdrReader, XdrWriter } from '../../../../src/lib/libvirt-rpc/xdr.js';

export type Reply = Buffer | { error: { code: number; message: string } } | 'hang' | 'close';
export type Handler = (args: XdrReader, h: Header) => Reply | Promise<Reply>;

export class FakeLibvirtd {
  readonly handlers = new Map<number, Handler>();
  readonly calls: { procedure: number; name?: string }[] = [];
  readonly uploads: Buffer[] = [];
  readonly sockets = new Set<Socket>();
  authTypes = [0];
  /** Reply one byte per write (framing test). */
  trickle = false;
  /** Fail the next upload stream after this many bytes. */
  failUploadAfter: number | undefined;
  pongs = 0;

  private constructor(
    private readonly server: Server,
    readonly dir: string,
    readonly socketPath: string,
  ) {}

  static async start(): Promise<FakeLibvirtd> {
    const dir = await mkdtemp(join(tmpdir(), 'caa-fakelv-'));
    const socketPath = join(dir, 'sock');
    const server = createServer();
    const fake = new FakeLibvirtd(server, dir, socketPath);
    server.on('connection', (s) => fake.serve(s));
    await new Promise<void>((r) => server.listen(socketPath, r));
    return fake;
  }

  get uri(): string {
    return `qemu+unix:///system?socket=${this.socketPath}`;
  }

  on(procedure: number, handler: Handler): this {
    this.handlers.set(procedure, handler);
    return this;
  }

  ping(): void {
    for (const s of this.sockets) s.write(encodeMessage({ program: KEEPALIVE_PROGRAM, version: 1, procedure: KEEPALIVE_PROC_PING, type: MessageType.MESSAGE, serial: 0, status: 0 }));
  }

  /** Writes raw bytes to every client (bad frames). */
  raw(b: Buffer): void {
    for (const s of this.sockets) s.write(b);
  }

  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    await rm(this.dir, { recursive: true, force: true });
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    const upload = new Map<number, Buffer[]>();
    const send = (h: Header, body?: Buffer): void => {
      const m = encodeMessage(h, body);
      if (!this.trickle) return void sock.write(m);
      for (const byte of m) sock.write(Buffer.from([byte]));
    };
    const reply = (h: Header, r: Exclude<Reply, 'hang' | 'close'>): void => {
      if (Buffer.isBuffer(r)) send({ ...h, type: MessageType.REPLY, status: MessageStatus.OK }, r);
      else send({ ...h, type: MessageType.REPLY, status: MessageStatus.ERROR }, writeRemoteError(new XdrWriter(), { code: r.error.code, domain: 10, message: r.error.message }).bytes());
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const msg = buf.subarray(4, len);
        buf = buf.subarray(len);
        const h = decodeHeader(msg);
        const body = msg.subarray(HEADER_BYTES);
        if (h.program === KEEPALIVE_PROGRAM) {
          this.pongs++;
          continue;
        }
        if (h.program !== REMOTE_PROGRAM) continue;
        if (h.type === MessageType.STREAM) {
          const parts = upload.get(h.serial) ?? [];
          if (h.status === MessageStatus.CONTINUE) {
            parts.push(Buffer.from(body));
            upload.set(h.serial, parts);
            const total = parts.reduce((n, p) => n + p.length, 0);
            if (this.failUploadAfter !== undefined && total >= this.failUploadAfter) {
              this.failUploadAfter = undefined;
              upload.delete(h.serial);
              send({ ...h, type: MessageType.STREAM, status: MessageStatus.ERROR }, writeRemoteError(new XdrWriter(), { code: 38, domain: 18, message: 'No space left on device' }).bytes());
            }
          } else if (h.status === MessageStatus.OK) {
            this.uploads.push(Buffer.concat(parts));
            upload.delete(h.serial);
            send({ ...h, type: MessageType.STREAM, status: MessageStatus.OK });
          } else {
            upload.delete(h.serial);
            reply(h, { error: { code: 39, message: 'stream aborted at client request' } });
          }
          continue;
        }
        void this.dispatch(h, body, reply, sock);
      }
    });
  }

  private async dispatch(h: Header, body: Buffer, reply: (h: Header, r: Exclude<Reply, 'hang' | 'close'>) => void, sock: Socket): Promise<void> {
    const args = new XdrReader(body);
    if (h.procedure === Proc.AUTH_LIST) return reply(h, writeInts(this.authTypes));
    if (h.procedure === Proc.CONNECT_OPEN) {
      this.calls.push({ procedure: h.procedure, name: args.optionalString() ?? '' });
      return reply(h, Buffer.alloc(0));
    }
    this.calls.push({ procedure: h.procedure });
    if (h.procedure === Proc.CONNECT_CLOSE) return reply(h, Buffer.alloc(0));
    const handler = this.handlers.get(h.procedure);
    if (!handler) return reply(h, { error: { code: 3, message: `this fake does not serve procedure ${h.procedure}` } });
    const r = await handler(args, h);
    if (r === 'hang') return;
    if (r === 'close') return void sock.destroy();
    reply(h, r);
  }
}

function writeInts(v: number[]): Buffer {
  const w = new XdrWriter().uint(v.length);
  for (const x of v) w.int(x);
  return w.bytes();
}
