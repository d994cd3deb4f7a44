/**
 * ttrpc client: many unary calls in flight on one connection, matched by stream id (1, 3, 5, …).
 * Payloads are bytes (the "raw mode" the agent proxy uses); `typed.ts` adds protobuf messages on top.
 */
import { messageOf } from '../util/errors.js';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { Code, TtrpcError, deadlineExceeded } from './codes.js';
import { decodeResponse, encodeRequestParts, responseError, type KeyValue } from './envelope.js';
import { FrameReader, MAX_MESSAGE_LENGTH, MessageType, type Frame, type FrameHeader } from './frame.js';
import { FrameWriter, partsLength } from './frame-writer.js';
import { setLongTimeout, type LongTimer } from '../util/timers.js';
import { msToTimeoutNano } from './deadline.js';

export interface CallOptions {
  /** Aborting fails the call with CANCELLED (or the reason, if it is a TtrpcError). */
  signal?: AbortSignal;
  /**
   * Relative deadline in ms, any shape (fractional, beyond 2^31 ms, Infinity); sent to the server as
   * `timeout_nano` and enforced here too. Undefined or 0: no deadline (ttrpc's 0); negative: already
   * past, the call fails DEADLINE_EXCEEDED without being sent.
   */
  timeoutMs?: number;
  metadata?: KeyValue[];
}

interface Pending {
  /** Resolve with the Response envelope itself (callRaw), not its decoded payload. */
  raw: boolean;
  resolve(payload: Buffer): void;
  reject(err: TtrpcError): void;
}

const MAX_STREAM_ID = 0xffffffff;

export class TtrpcClient {
  private readonly pending = new Map<number, Pending>();
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  private nextStreamId = 1;
  private closedError: TtrpcError | undefined;
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly maxMessageLength = MAX_MESSAGE_LENGTH,
  ) {
    socket.setNoDelay?.(true);
    this.writer = new FrameWriter(socket);
    this.reader = new FrameReader(
      { frame: (f) => this.onFrame(f), oversized: (h) => this.onOversized(h) },
      maxMessageLength,
    );
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    let onClosed!: () => void;
    this.closed = new Promise((r) => (onClosed = r));
    socket.on('error', (err) => this.fail(new TtrpcError(Code.UNAVAILABLE, `ttrpc: connection error: ${err.message}`)));
    socket.on('close', () => {
      this.fail(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: closed'));
      onClosed();
    });
  }

  /** Connects to a Unix socket path. */
  static connectUnix(path: string, options: { signal?: AbortSignal; maxMessageLength?: number } = {}): Promise<TtrpcClient> {
    return connectWith(() => netConnect({ path }), 'connect', options.signal).then(
      (s) => new TtrpcClient(s, options.maxMessageLength),
    );
  }

  /** Connects over plain TCP (tests, and --disable-tls). */
  static connectTcp(options: { host: string; port: number; signal?: AbortSignal; maxMessageLength?: number }): Promise<TtrpcClient> {
    return connectWith(() => netConnect({ host: options.host, port: options.port }), 'connect', options.signal).then(
      (s) => new TtrpcClient(s, options.maxMessageLength),
    );
  }

  /** Connects over TCP with TLS (the agent proxy's path to the forwarder). */
  static connectTls(
    options: ConnectionOptions & { host: string; port: number; signal?: AbortSignal; maxMessageLength?: number },
  ): Promise<TtrpcClient> {
    const { signal, maxMessageLength, ...tlsOptions } = options;
    return connectWith(() => tlsConnect(tlsOptions), 'secureConnect', signal).then(
      (s) => new TtrpcClient(s, maxMessageLength),
    );
  }

  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Bytes of requests queued for the socket and not written yet (a relay's measure of a full upstream). */
  get writeBuffered(): number {
    return this.socket.writableLength;
  }

  /** Runs `fn` once when the socket has written everything queued, or has closed. */
  onceDrained(fn: () => void): void {
    if (this.closedError || this.socket.writableLength === 0) {
      queueMicrotask(fn);
      return;
    }
    const once = (): void => {
      this.socket.off('drain', once);
      this.socket.off('close', once);
      fn();
    };
    this.socket.on('drain', once);
    this.socket.on('close', once);
  }

  /** Stops reading answers (a relay whose own client does not read them); `resumeReading` goes on. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /**
   * One unary call with a raw payload. Rejects with a TtrpcError carrying the server's status.
   * The payload is sent by reference: do not change it until the call settles.
   */
  call(service: string, method: string, payload: Uint8Array, options: CallOptions = {}): Promise<Buffer> {
    const parts = encodeRequestParts({
      service,
      method,
      payload,
      timeoutNano: msToTimeoutNano(options.timeoutMs),
      metadata: options.metadata ?? [],
    });
    return this.send(parts, options, false);
  }

  /**
   * Frame-level pass-through for relays: sends an already-encoded `ttrpc.Request` as it is and
   * resolves with the encoded `ttrpc.Response` as it came — status, details and payload untouched,
   * nothing decoded. Fails (TtrpcError) only for what happens here: deadline, abort, lost connection.
   */
  callRaw(requestEnvelope: Uint8Array, options: Pick<CallOptions, 'signal' | 'timeoutMs'> = {}): Promise<Buffer> {
    return this.send([requestEnvelope], options, true);
  }

  /**
   * `callRaw` without a promise, for relays on their hot path: `done` is called exactly once, with
   * the Response envelope or with the TtrpcError of what failed here (deadline, lost connection).
   */
  sendRaw(requestEnvelope: Uint8Array, timeoutMs: number | undefined, done: (err: TtrpcError | undefined, response?: Buffer) => void): void {
    if (this.closedError) return done(this.closedError);
    if (timeoutMs !== undefined && timeoutMs < 0) return done(deadlineExceeded());
    if (this.nextStreamId > MAX_STREAM_ID) return done(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: stream ids exhausted, reconnect'));
    if (requestEnvelope.length > this.maxMessageLength) {
      return done(new TtrpcError(Code.RESOURCE_EXHAUSTED, `message length ${requestEnvelope.length} exceed maximum message size of ${this.maxMessageLength}`));
    }
    const streamId = this.nextStreamId;
    this.nextStreamId += 2;
    let timer: LongTimer | undefined;
    this.pending.set(streamId, {
      raw: true,
      resolve: (p) => {
        this.pending.delete(streamId);
        timer?.clear();
        done(undefined, p);
      },
      reject: (e) => {
        this.pending.delete(streamId);
        timer?.clear();
        done(e);
      },
    });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setLongTimeout(() => this.pending.get(streamId)?.reject(deadlineExceeded()), timeoutMs);
    }
    this.writer.write(streamId, MessageType.REQUEST, 0, [requestEnvelope]);
  }

  private send(parts: readonly Uint8Array[], options: CallOptions, raw: boolean): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (timeoutMs !== undefined && timeoutMs < 0) return Promise.reject(deadlineExceeded());
    if (this.nextStreamId > MAX_STREAM_ID) {
      return Promise.reject(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: stream ids exhausted, reconnect'));
    }
    const length = partsLength(parts);
    if (length > this.maxMessageLength) {
      return Promise.reject(
        new TtrpcError(
          Code.RESOURCE_EXHAUSTED,
          `message length ${length} exceed maximum message size of ${this.maxMessageLength}`,
        ),
      );
    }
    const streamId = this.nextStreamId;
    this.nextStreamId += 2;

    return new Promise<Buffer>((resolve, reject) => {
      let timer: LongTimer | undefined;
      const cleanup = (): void => {
        this.pending.delete(streamId);
        timer?.clear();
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(abortError(signal!));
      };
      this.pending.set(streamId, {
        raw,
        resolve: (p) => {
          cleanup();
          resolve(p);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      });
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setLongTimeout(() => {
          cleanup();
          reject(deadlineExceeded());
        }, timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.writer.write(streamId, MessageType.REQUEST, 0, parts);
    });
  }

  /** Closes the connection; calls in flight fail with UNAVAILABLE. */
  close(): void {
    this.fail(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: client closed'));
    this.socket.destroy();
  }

  private fail(err: TtrpcError): void {
    if (!this.closedError) this.closedError = err;
    for (const p of [...this.pending.values()]) p.reject(err);
  }

  private onFrame(f: Frame): void {
    if (f.type !== MessageType.RESPONSE) return; // Data frames belong to streaming calls, which we never open.
    const p = this.pending.get(f.streamId);
    if (!p) return; // A late answer to a call we already gave up on.
    if (p.raw) {
      p.resolve(f.data);
      return;
    }
    let res;
    try {
      res = decodeResponse(f.data);
    } catch (err) {
      p.reject(new TtrpcError(Code.INTERNAL, `ttrpc: undecodable response: ${messageOf(err)}`));
      return;
    }
    const err = responseError(res);
    if (err) p.reject(err);
    else p.resolve(res.payload as Buffer);
  }

  private onOversized(h: FrameHeader): void {
    this.pending
      .get(h.streamId)
      ?.reject(
        new TtrpcError(
          Code.RESOURCE_EXHAUSTED,
          `message length ${h.length} exceed maximum message size of ${this.maxMessageLength}`,
        ),
      );
  }
}

function abortError(signal: AbortSignal): TtrpcError {
  const reason: unknown = signal.reason;
  if (reason instanceof TtrpcError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return deadlineExceeded();
  }
  return new TtrpcError(Code.CANCELLED, 'context canceled');
}

function connectWith<S extends Socket | TLSSocket>(
  open: () => S,
  readyEvent: 'connect' | 'secureConnect',
  signal: AbortSignal | undefined,
): Promise<S> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<S>((resolve, reject) => {
    const socket = open();
    const onAbort = (): void => {
      socket.destroy();
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once(readyEvent, () => {
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new TtrpcError(Code.UNAVAILABLE, `ttrpc: connect: ${err.message}`, [], { cause: err }));
    });
  });
}
