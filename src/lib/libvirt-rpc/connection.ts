/**
 * One connection to a libvirt daemon over its RPC protocol: framing, calls matched to replies by
 * serial (any number in flight), upload streams, and the keepalive answer. Calls may run
 * concurrently. An aborted call rejects at once; its late reply is dropped. When the transport
 * closes, every call in flight fails with a LibvirtConnectionError and the connection is dead
 * (the client opens a new one).
 */
import { messageOf } from '../../util/errors.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import {
  HEADER_BYTES,
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  MESSAGE_MAX,
  MessageStatus,
  MessageType,
  Proc,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  STREAM_CHUNK,
  decodeHeader,
  encodeMessage,
  readRemoteError,
  type Header,
  type RemoteError,
} from './protocol.js';
import { localSocketCandidates, type ParsedUri, type Transport } from './uri.js';
import { XdrReader, XdrWriter } from './xdr.js';
import { raceAbort } from '../../util/abort.js';
import { timeoutSignal } from '../../util/timers.js';

/** The daemon answered a call with an error (`remote_error`). */
export class LibvirtRpcError extends Error {
  override readonly name = 'LibvirtRpcError';
  constructor(
    readonly procedure: number,
    readonly remote: RemoteError,
  ) {
    super(remote.message || `libvirt error ${remote.code}`);
  }
  get virCode(): number {
    return this.remote.code;
  }
}

/** The transport failed or closed, or the peer broke the protocol. */
export class LibvirtConnectionError extends Error {
  override readonly name = 'LibvirtConnectionError';
}

/** The caller's signal aborted the call. */
export class LibvirtAbortError extends Error {
  override readonly name = 'LibvirtAbortError';
}

interface Pending {
  procedure: number;
  resolve(body: Buffer): void;
  reject(err: Error): void;
}

interface StreamWaiter {
  /** Called with the daemon's final word on the stream (OK finish, or its error). */
  done(err: Error | undefined): void;
  failed: Error | undefined;
}

export interface ConnectionOptions {
  /** Bound on opening the transport, authentication and CONNECT_OPEN. */
  timeoutMs?: number;
  /** Local socket directory (tests); default /var/run/libvirt. */
  socketDir?: string;
}

const abortReason = (signal: AbortSignal): string => String((signal.reason as Error | undefined)?.message ?? signal.reason ?? 'aborted');

export class RpcConnection {
  private serial = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, StreamWaiter>();
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private closedError: LibvirtConnectionError | undefined;
  private readonly closeListeners: ((err: Error) => void)[] = [];

  private constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly destroy: () => void,
    readonly description: string,
    private readonly diagnostics: () => string,
  ) {
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.on('end', () => this.fail(new LibvirtConnectionError(`connection to ${description} closed by the peer${this.diag()}`)));
    input.on('error', (err: Error) => this.fail(new LibvirtConnectionError(`connection to ${description}: ${err.message}${this.diag()}`)));
    output.on('error', (err: Error) => this.fail(new LibvirtConnectionError(`connection to ${description}: ${err.message}${this.diag()}`)));
  }

  /** Opens the transport, authenticates and opens the driver named by the URI. */
  static async open(uri: ParsedUri, signal: AbortSignal, options: ConnectionOptions = {}): Promise<RpcConnection> {
    const deadline = AbortSignal.any([signal, timeoutSignal(options.timeoutMs ?? 30_000)]);
    const conn = await openTransport(uri.transport, uri.driver, deadline, options.socketDir);
    try {
      await conn.authenticate(deadline);
      await conn.call(Proc.CONNECT_OPEN, new XdrWriter().optionalString(uri.name).uint(0).bytes(), deadline);
      return conn;
    } catch (err) {
      conn.destroy();
      if (deadline.aborted && !signal.aborted) throw new LibvirtConnectionError(`opening ${uri.name} through ${conn.description}: timed out${conn.diag()}`);
      throw err;
    }
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  onClose(listener: (err: Error) => void): void {
    this.closeListeners.push(listener);
  }

  /** One call; resolves with the reply body, rejects with LibvirtRpcError / LibvirtConnectionError / LibvirtAbortError. */
  call(procedure: number, args: Buffer, signal: AbortSignal): Promise<Buffer> {
    return this.callWithSerial(this.nextSerial(), procedure, args, signal);
  }

  /**
   * A call that opens an upload stream (e.g. STORAGE_VOL_UPLOAD), then the data, then the finish
   * handshake. On abort or error the stream is aborted so the daemon drops what it received.
   */
  async upload(procedure: number, args: Buffer, data: Buffer, signal: AbortSignal): Promise<void> {
    const serial = this.nextSerial();
    const waiter: StreamWaiter = { failed: undefined, done: () => undefined };
    const finished = new Promise<void>((resolve, reject) => {
      waiter.done = (err) => (err ? reject(err) : resolve());
    });
    finished.catch(() => undefined);
    this.streams.set(serial, waiter);
    const header = (type: number, status: number): Header => ({ program: REMOTE_PROGRAM, version: REMOTE_PROTOCOL_VERSION, procedure, type, serial, status });
    let opened = false;
    try {
      await this.callWithSerial(serial, procedure, args, signal);
      opened = true;
      for (let off = 0; off < data.length; off += STREAM_CHUNK) {
        if (waiter.failed) throw waiter.failed;
        signal.throwIfAborted();
        await this.sendAndDrain(header(MessageType.STREAM, MessageStatus.CONTINUE), data.subarray(off, off + STREAM_CHUNK));
      }
      this.send(header(MessageType.STREAM, MessageStatus.OK));
      signal.throwIfAborted();
      await raceAbort(finished, signal, (s) => new LibvirtAbortError(abortReason(s)));
      opened = false;
    } catch (err) {
      if (opened && !this.closedError) {
        // Abort the stream (an empty ERROR packet) and give the daemon a moment to acknowledge.
        this.send(header(MessageType.STREAM, MessageStatus.ERROR));
        await Promise.race([finished.catch(() => undefined), new Promise((r) => setTimeout(r, 2_000).unref())]);
      }
      if (signal.aborted && !(err instanceof LibvirtRpcError)) throw new LibvirtAbortError(abortReason(signal));
      throw err;
    } finally {
      this.streams.delete(serial);
    }
  }

  /** CONNECT_CLOSE (best effort, bounded) and the transport closed. */
  async close(): Promise<void> {
    if (this.closedError) return;
    await this.call(Proc.CONNECT_CLOSE, Buffer.alloc(0), AbortSignal.timeout(2_000)).catch(() => undefined);
    this.fail(new LibvirtConnectionError(`connection to ${this.description} closed`));
  }

  // ---- internals ---------------------------------------------------------------------------

  private async authenticate(signal: AbortSignal): Promise<void> {
    const body = await this.call(Proc.AUTH_LIST, Buffer.alloc(0), signal);
    const types = new XdrReader(body).array((r) => r.int(), 20);
    // 0 = none, 1 = SASL, 2 = polkit. An empty list means none.
    if (types.length === 0 || types.includes(0)) return;
    if (types.includes(2)) {
      await this.call(70 /* AUTH_POLKIT */, Buffer.alloc(0), signal);
      return;
    }
    throw new LibvirtConnectionError(
      `${this.description} requires SASL authentication, which this client does not speak; connect as a user the daemon admits without it (root over ssh, or auth_unix_rw = "none")`,
    );
  }

  private callWithSerial(serial: number, procedure: number, args: Buffer, signal: AbortSignal): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (signal.aborted) return Promise.reject(new LibvirtAbortError(abortReason(signal)));
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(serial);
        reject(new LibvirtAbortError(abortReason(signal)));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(serial, {
        procedure,
        resolve: (b) => (signal.removeEventListener('abort', onAbort), resolve(b)),
        reject: (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
      });
      this.send({ program: REMOTE_PROGRAM, version: REMOTE_PROTOCOL_VERSION, procedure, type: MessageType.CALL, serial, status: MessageStatus.OK }, args);
    });
  }

  private nextSerial(): number {
    const s = this.serial;
    this.serial = this.serial >= 0x7fffffff ? 1 : this.serial + 1;
    return s;
  }

  private send(h: Header, body?: Buffer): void {
    if (this.closedError) return;
    this.output.write(encodeMessage(h, body));
  }

  private async sendAndDrain(h: Header, body: Buffer): Promise<void> {
    if (this.closedError) throw this.closedError;
    if (!this.output.write(encodeMessage(h, body))) {
      await new Promise<void>((resolve, reject) => {
        const onClose = (err: Error): void => reject(err);
        this.closeListeners.push(onClose);
        this.output.once('drain', () => {
          const i = this.closeListeners.indexOf(onClose);
          if (i >= 0) this.closeListeners.splice(i, 1);
          resolve();
        });
      });
    }
  }

  private onData(chunk: Buffer): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    for (;;) {
      if (this.bufferedBytes < 4) return;
      let buf = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedBytes);
      const len = buf.readUInt32BE(0);
      if (len < 4 + HEADER_BYTES || len > MESSAGE_MAX) {
        this.fail(new LibvirtConnectionError(`protocol error from ${this.description}: message length ${len}`));
        return;
      }
      if (buf.length < len) {
        this.buffered = [buf];
        return;
      }
      const message = buf.subarray(4, len);
      buf = buf.subarray(len);
      this.buffered = buf.length ? [buf] : [];
      this.bufferedBytes = buf.length;
      try {
        this.dispatch(decodeHeader(message), message.subarray(HEADER_BYTES));
      } catch (err) {
        this.fail(new LibvirtConnectionError(`protocol error from ${this.description}: ${messageOf(err)}`));
        return;
      }
    }
  }

  private dispatch(h: Header, body: Buffer): void {
    if (h.program === KEEPALIVE_PROGRAM) {
      if (h.procedure === KEEPALIVE_PROC_PING) {
        this.send({ program: KEEPALIVE_PROGRAM, version: 1, procedure: KEEPALIVE_PROC_PONG, type: MessageType.MESSAGE, serial: 0, status: MessageStatus.OK });
      }
      return;
    }
    if (h.program !== REMOTE_PROGRAM) return;
    if (h.type === MessageType.REPLY || h.type === MessageType.REPLY_WITH_FDS) {
      const p = this.pending.get(h.serial);
      if (p) {
        this.pending.delete(h.serial);
        if (h.status === MessageStatus.OK) p.resolve(body);
        else p.reject(new LibvirtRpcError(p.procedure, readRemoteError(new XdrReader(body))));
        return;
      }
      // A reply ending a stream (the daemon's answer to an abort) carries the stream's serial.
      const s = this.streams.get(h.serial);
      if (s && h.status !== MessageStatus.OK) this.streamFailed(s, new LibvirtRpcError(h.procedure, readRemoteError(new XdrReader(body))));
      return;
    }
    if (h.type === MessageType.STREAM) {
      const s = this.streams.get(h.serial);
      if (!s) return;
      if (h.status === MessageStatus.OK) s.done(undefined);
      else if (h.status === MessageStatus.ERROR) this.streamFailed(s, new LibvirtRpcError(h.procedure, readRemoteError(new XdrReader(body))));
    }
    // MESSAGE (events) and anything else: not subscribed to, ignored.
  }

  private streamFailed(s: StreamWaiter, err: Error): void {
    s.failed = err;
    s.done(err);
  }

  private fail(err: LibvirtConnectionError): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const s of this.streams.values()) this.streamFailed(s, err);
    for (const l of this.closeListeners.splice(0)) l(err);
    this.destroy();
  }

  private diag(): string {
    const d = this.diagnostics().trim();
    return d ? ` (${d})` : '';
  }
}

async function openTransport(t: Transport, driver: string, signal: AbortSignal, socketDir?: string): Promise<RpcConnection> {
  switch (t.kind) {
    case 'unix': {
      const path = t.socketPath ?? localSocketCandidates(driver, socketDir).find((p) => existsSync(p)) ?? localSocketCandidates(driver, socketDir).at(-1)!;
      return fromSocket(await connectSocket(() => netConnect({ path }), path, signal), path);
    }
    case 'tcp': {
      const where = `${t.host}:${t.port}`;
      return fromSocket(await connectSocket(() => netConnect({ host: t.host, port: t.port }), where, signal), where);
    }
    case 'command':
      return fromChild(t.argv, t.description);
  }
}

function connectSocket(make: () => Socket, where: string, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = make();
    const onAbort = (): void => {
      sock.destroy();
      reject(new LibvirtConnectionError(`connecting to ${where}: ${abortReason(signal)}`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(sock);
    });
    sock.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new LibvirtConnectionError(`connecting to ${where}: ${err.message}`));
    });
  });
}

function fromSocket(sock: Socket, where: string): RpcConnection {
  sock.setNoDelay(true);
  return construct(sock, sock, () => sock.destroy(), where, () => '');
}

function fromChild(argv: string[], description: string): RpcConnection {
  const [cmd, ...args] = argv;
  const child: ChildProcessWithoutNullStreams = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-2_000);
  });
  child.on('error', (err) => child.stdout.destroy(new Error(`${cmd}: ${err.message}`)));
  return construct(
    child.stdout,
    child.stdin,
    () => {
      child.stdin.destroy();
      child.stdout.destroy();
      if (child.exitCode === null) child.kill('SIGTERM');
    },
    description,
    () => stderr,
  );
}

// The constructor is private to keep `open` the only way in; the transports reach it through here.
function construct(input: Readable, output: Writable, destroy: () => void, description: string, diagnostics: () => string): RpcConnection {
  const C = RpcConnection as unknown as new (i: Readable, o: Writable, d: () => void, desc: string, diag: () => string) => RpcConnection;
  return new C(input, output, destroy, description, diagnostics);
}
