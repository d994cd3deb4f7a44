/**
 * ttrpc server (reference §1): unary calls only, which is all the Kata hypervisor, agent and PodVMInfo
 * APIs use. Many connections; calls on one connection run concurrently and are answered in
 * completion order. A handler receives an AbortSignal that fires when the caller's `timeout_nano`
 * passes (the call is then answered DEADLINE_EXCEEDED) or the connection goes away.
 */
import type { Server as NetServer, Socket } from 'node:net';
import { Code, TtrpcError, toTtrpcError } from './codes.js';
import { DecodeError, decodeRequest, encodeResponse, type KeyValue, type Request } from './envelope.js';
import { Flags, FrameReader, MAX_MESSAGE_LENGTH, MessageType, type Frame, type FrameHeader } from './frame.js';
import { writeFrame } from './frame-writer.js';
import { silentLogger, type TtrpcLogger } from './logger.js';
import { setLongTimeout, type LongTimer } from '../util/timers.js';

export interface CallContext {
  readonly service: string;
  readonly method: string;
  readonly metadata: readonly KeyValue[];
  /** Aborted at the caller's deadline (reason: a DEADLINE_EXCEEDED TtrpcError) or when the caller is gone. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds of the caller's deadline, if it sent one. */
  readonly deadline: number | undefined;
}

/** A method handler on raw bytes: the request payload in, the response payload out. Throw to fail. */
export type Handler = (payload: Buffer, ctx: CallContext) => Promise<Uint8Array> | Uint8Array;

/**
 * Serves calls to services that were not registered (the agent proxy forwards everything as bytes).
 * Returning undefined means "no such service" and the caller gets UNIMPLEMENTED.
 */
export type FallbackHandler = (payload: Buffer, ctx: CallContext) => Promise<Uint8Array> | Uint8Array | undefined;

export interface ServerOptions {
  logger?: TtrpcLogger;
  maxMessageLength?: number;
  fallback?: FallbackHandler;
}

interface ActiveCall {
  controller: AbortController;
  settled: Promise<void>;
}

export class TtrpcServer {
  private readonly services = new Map<string, Map<string, Handler>>();
  private readonly connections = new Set<ServerConnection>();
  private readonly listeners = new Set<NetServer>();
  private draining = false;
  readonly logger: TtrpcLogger;
  readonly maxMessageLength: number;
  fallback: FallbackHandler | undefined;

  constructor(options: ServerOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.maxMessageLength = options.maxMessageLength ?? MAX_MESSAGE_LENGTH;
    this.fallback = options.fallback;
  }

  /** Adds methods of a fully-qualified service (e.g. `hypervisor.Hypervisor`). May be called again to add more. */
  register(service: string, methods: Record<string, Handler>): void {
    let table = this.services.get(service);
    if (!table) {
      table = new Map();
      this.services.set(service, table);
    }
    for (const [name, handler] of Object.entries(methods)) table.set(name, handler);
  }

  /** Serves every connection a listener accepts (a Unix `net.Server` or a `tls.Server`). */
  serve(listener: NetServer, connectionEvent: 'connection' | 'secureConnection' = 'connection'): void {
    this.listeners.add(listener);
    listener.on(connectionEvent, (socket: Socket) => this.handleConnection(socket));
    listener.on('close', () => this.listeners.delete(listener));
  }

  /** Takes over one accepted socket. */
  handleConnection(socket: Socket): void {
    const conn = new ServerConnection(this, socket);
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  lookup(service: string, method: string): Handler | TtrpcError {
    const table = this.services.get(service);
    if (!table) return new TtrpcError(Code.UNIMPLEMENTED, `service ${service}`);
    return table.get(method) ?? new TtrpcError(Code.UNIMPLEMENTED, `method ${method}`);
  }

  hasService(service: string): boolean {
    return this.services.has(service);
  }

  /**
   * Stops accepting connections and calls, waits up to `graceMs` for calls in flight, then closes every
   * connection (calls still running see their signal abort). Safe to call more than once.
   */
  async shutdown(graceMs = 5_000): Promise<void> {
    this.draining = true;
    for (const l of this.listeners) l.close();
    const inFlight = [...this.connections].flatMap((c) => c.settledCalls());
    if (inFlight.length > 0) {
      let timer: LongTimer | undefined;
      await Promise.race([
        Promise.allSettled(inFlight),
        new Promise<void>((resolve) => {
          timer = setLongTimeout(resolve, graceMs);
        }),
      ]);
      timer?.clear();
    }
    for (const c of this.connections) c.close();
  }
}

class ServerConnection {
  private readonly reader: FrameReader;
  private readonly calls = new Map<number, ActiveCall>();
  private lastStreamId = 0;

  constructor(
    private readonly server: TtrpcServer,
    private readonly socket: Socket,
  ) {
    socket.setNoDelay?.(true);
    this.reader = new FrameReader(
      { frame: (f) => this.onFrame(f), oversized: (h) => this.onOversized(h) },
      server.maxMessageLength,
    );
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.protocolError(`frame handling failed: ${(err as Error).message}`);
      }
    });
    socket.on('error', (err) => this.server.logger.debug({ err: err.message }, 'ttrpc connection error'));
    socket.on('close', () => {
      if (this.reader.buffered > 0) {
        this.server.logger.debug({ bytes: this.reader.buffered }, 'ttrpc connection closed inside a frame');
      }
      for (const call of this.calls.values()) {
        call.controller.abort(new TtrpcError(Code.CANCELLED, 'connection closed by the client'));
      }
    });
  }

  settledCalls(): Promise<void>[] {
    return [...this.calls.values()].map((c) => c.settled);
  }

  close(): void {
    this.socket.destroy();
  }

  private protocolError(reason: string): void {
    this.server.logger.warn({ reason }, 'ttrpc protocol error, closing connection');
    this.socket.destroy();
  }

  /** Enforces odd, strictly increasing ids for new streams (Go ttrpc's rule). */
  private checkStreamId(streamId: number): TtrpcError | undefined {
    if (streamId % 2 === 0) {
      return new TtrpcError(Code.INVALID_ARGUMENT, 'StreamID must be odd for client initiated streams');
    }
    if (streamId <= this.lastStreamId) {
      return new TtrpcError(Code.INVALID_ARGUMENT, 'StreamID cannot be re-used and must increment');
    }
    this.lastStreamId = streamId;
    return undefined;
  }

  private onOversized(h: FrameHeader): void {
    if (h.type !== MessageType.REQUEST) {
      this.protocolError(`oversized frame of type ${h.type}`);
      return;
    }
    const idError = this.checkStreamId(h.streamId);
    this.respondError(
      h.streamId,
      idError ??
        new TtrpcError(
          Code.RESOURCE_EXHAUSTED,
          `message length ${h.length} exceed maximum message size of ${this.server.maxMessageLength}`,
        ),
    );
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case MessageType.REQUEST:
        this.onRequest(f);
        return;
      case MessageType.DATA:
        // Only unary calls exist here; data for a stream we never opened is dropped like Go drops it.
        this.server.logger.debug({ streamId: f.streamId }, 'ttrpc data frame ignored');
        return;
      default:
        this.protocolError(`unexpected message type ${f.type} from a client`);
    }
  }

  private onRequest(f: Frame): void {
    const idError = this.checkStreamId(f.streamId);
    if (idError) {
      this.respondError(f.streamId, idError);
      return;
    }
    if (f.flags & (Flags.REMOTE_OPEN | Flags.REMOTE_CLOSED)) {
      this.respondError(f.streamId, new TtrpcError(Code.UNIMPLEMENTED, 'streaming calls are not supported'));
      return;
    }
    if (this.server.isDraining) {
      this.respondError(f.streamId, new TtrpcError(Code.UNAVAILABLE, 'server is shutting down'));
      return;
    }
    let req: Request;
    try {
      req = decodeRequest(f.data);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.respondError(f.streamId, new TtrpcError(Code.INVALID_ARGUMENT, `unmarshal request error: ${err.message}`));
      return;
    }
    this.dispatch(f.streamId, req);
  }

  private dispatch(streamId: number, req: Request): void {
    let handler: Handler | FallbackHandler;
    const found = this.server.lookup(req.service, req.method);
    if (found instanceof TtrpcError) {
      if (!this.server.fallback || this.server.hasService(req.service)) {
        this.respondError(streamId, found);
        return;
      }
      handler = this.server.fallback;
    } else {
      handler = found;
    }

    const controller = new AbortController();
    let timer: LongTimer | undefined;
    let deadline: number | undefined;
    let done = false;
    let settle!: () => void;
    const settled = new Promise<void>((r) => (settle = r));
    const finish = (respond: () => void): void => {
      if (done) return;
      done = true;
      timer?.clear();
      this.calls.delete(streamId);
      respond();
      settle();
    };
    // Zero means no deadline. A negative value is a deadline already past: Go's client sends one when
    // its context expires on the way, and Go's server then fails the call at once.
    if (req.timeoutNano !== 0) {
      const ms = Math.max(0, req.timeoutNano / 1e6);
      deadline = Date.now() + ms;
      timer = setLongTimeout(() => {
        const err = new TtrpcError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded');
        finish(() => this.respondError(streamId, err));
        controller.abort(err);
      }, ms);
    }
    controller.signal.addEventListener('abort', () => finish(() => {}), { once: true });
    this.calls.set(streamId, { controller, settled });

    const ctx: CallContext = {
      service: req.service,
      method: req.method,
      metadata: req.metadata,
      signal: controller.signal,
      deadline,
    };
    let result: Promise<Uint8Array | undefined>;
    try {
      result = Promise.resolve(handler(req.payload as Buffer, ctx));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (payload) =>
        finish(() => {
          if (payload === undefined) this.respondError(streamId, new TtrpcError(Code.UNIMPLEMENTED, `service ${req.service}`));
          else this.respond(streamId, payload);
        }),
      (err: unknown) => finish(() => this.respondError(streamId, toTtrpcError(err))),
    );
  }

  private respond(streamId: number, payload: Uint8Array): void {
    const body = encodeResponse({ status: { code: 0, message: '', details: [] }, payload });
    if (body.length > this.server.maxMessageLength) {
      // Never send a frame over the limit: the Rust client would lose sync with the stream.
      this.respondError(
        streamId,
        new TtrpcError(
          Code.RESOURCE_EXHAUSTED,
          `response length ${body.length} exceed maximum message size of ${this.server.maxMessageLength}`,
        ),
      );
      return;
    }
    writeFrame(this.socket, streamId, MessageType.RESPONSE, 0, body);
  }

  private respondError(streamId: number, err: TtrpcError): void {
    // The Rust client reads codes outside 0–16 as success; never let one out.
    const code = err.code >= 1 && err.code <= 16 ? err.code : Code.UNKNOWN;
    let body = encodeResponse({ status: { code, message: err.message, details: [...err.details] }, payload: new Uint8Array(0) });
    if (body.length > this.server.maxMessageLength) {
      body = encodeResponse({
        status: { code, message: err.message.slice(0, 4096), details: [] },
        payload: new Uint8Array(0),
      });
    }
    writeFrame(this.socket, streamId, MessageType.RESPONSE, 0, body);
  }
}
