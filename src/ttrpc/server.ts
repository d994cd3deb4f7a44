/**
 * ttrpc server (reference §1): unary calls only, which is all the Kata hypervisor, agent and PodVMInfo
 * APIs use. Many connections; calls on one connection run concurrently and are answered in
 * completion order. A handler receives an AbortSignal that fires when the caller's `timeout_nano`
 * passes (the call is then answered DEADLINE_EXCEEDED) or the connection goes away.
 */
import type { Server as NetServer, Socket } from 'node:net';
import { Code, TtrpcError, toTtrpcError } from './codes.js';
import { DecodeError, decodeRequest, encodeResponseParts, type KeyValue, type Request } from './envelope.js';
import { Flags, FrameReader, MAX_MESSAGE_LENGTH, MessageType, type Frame, type FrameHeader } from './frame.js';
import { FrameWriter, partsLength } from './frame-writer.js';
import { silentLogger, type TtrpcLogger } from './logger.js';
import { setLongTimeout, type LongTimer } from '../util/timers.js';
import { timeoutNanoToMs } from './deadline.js';

export interface CallContext {
  readonly service: string;
  readonly method: string;
  /** The encoded `ttrpc.Request` as it arrived (for frame-level relays). */
  readonly request: Buffer;
  readonly metadata: readonly KeyValue[];
  /** Aborted at the caller's deadline (reason: a DEADLINE_EXCEEDED TtrpcError) or when the caller is gone. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds of the caller's deadline, if it sent one. */
  readonly deadline: number | undefined;
}

/**
 * An already-encoded `ttrpc.Response` a fallback handler hands back to be sent as it is (a relay
 * passing the upstream's answer through without decoding it).
 */
export class RawResponse {
  constructor(readonly envelope: Uint8Array) {}
}

/** A method handler on raw bytes: the request payload in, the response payload out. Throw to fail. */
export type Handler = (payload: Buffer, ctx: CallContext) => Promise<Uint8Array> | Uint8Array;

/**
 * Serves calls to services that were not registered (the agent proxy forwards everything as bytes).
 * Returning undefined means "no such service" and the caller gets UNIMPLEMENTED.
 */
export type FallbackHandler = (
  payload: Buffer,
  ctx: CallContext,
) => Promise<Uint8Array | RawResponse | undefined> | Uint8Array | RawResponse | undefined;

/**
 * A relay's synchronous fast path for calls to unregistered services: given the decoded request and
 * its envelope, either take the call — and call `reply` exactly once, with an error or an encoded
 * Response — and return true, or return false to let the fallback handler serve it. No call context,
 * no promise: the upstream's deadline handling bounds the call.
 */
export type FrameRelay = (
  req: Request,
  envelope: Buffer,
  reply: (err: TtrpcError | undefined, responseEnvelope?: Uint8Array) => void,
) => boolean;

export interface ServerOptions {
  logger?: TtrpcLogger;
  maxMessageLength?: number;
  fallback?: FallbackHandler;
  frameRelay?: FrameRelay;
}

/**
 * One call in flight, and the context its handler sees. The AbortController is made only when the
 * handler reads `signal` (most handlers never do; it costs microseconds on every call otherwise).
 */
class ServerCall implements CallContext {
  readonly service: string;
  readonly method: string;
  readonly metadata: readonly KeyValue[];
  readonly request: Buffer;
  deadline: number | undefined;
  readonly settled: Promise<void>;
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private timer: LongTimer | undefined;
  private done = false;
  private settle!: () => void;

  constructor(
    req: Request,
    request: Buffer,
    private readonly onDone: () => void,
  ) {
    this.request = request;
    this.service = req.service;
    this.method = req.method;
    this.metadata = req.metadata;
    this.settled = new Promise<void>((r) => (this.settle = r));
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  /** At the deadline the call is answered DEADLINE_EXCEEDED and the handler's signal aborts. */
  startDeadline(ms: number, respond: (err: TtrpcError) => void): void {
    this.deadline = Date.now() + ms;
    this.timer = setLongTimeout(() => {
      const err = new TtrpcError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded');
      this.finish(() => respond(err));
      this.abort(err);
    }, ms);
  }

  /** Ends the call once: `respond` (if given) writes its answer; later calls are no-ops. */
  finish(respond?: () => void): void {
    if (this.done) return;
    this.done = true;
    this.timer?.clear();
    this.onDone();
    respond?.();
    this.settle();
  }
}

export class TtrpcServer {
  private readonly services = new Map<string, Map<string, Handler>>();
  private readonly connections = new Set<ServerConnection>();
  private readonly listeners = new Set<NetServer>();
  private draining = false;
  readonly logger: TtrpcLogger;
  readonly maxMessageLength: number;
  fallback: FallbackHandler | undefined;
  readonly frameRelay: FrameRelay | undefined;

  constructor(options: ServerOptions = {}) {
    this.frameRelay = options.frameRelay;
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

  /** The handler of a registered method; undefined when the service or the method is unknown. */
  lookup(service: string, method: string): Handler | undefined {
    return this.services.get(service)?.get(method);
  }

  /** The UNIMPLEMENTED error Go's server answers for an unknown service or method. */
  unimplemented(service: string, method: string): TtrpcError {
    return this.services.has(service)
      ? new TtrpcError(Code.UNIMPLEMENTED, `method ${method}`)
      : new TtrpcError(Code.UNIMPLEMENTED, `service ${service}`);
  }

  hasService(service: string): boolean {
    return this.services.has(service);
  }

  /**
   * Stops accepting connections and calls, waits up to `graceMs` for calls in flight, then closes every
   * connection (calls still running see their signal abort) and resolves once they are closed (a
   * peer that keeps its side open is cut off after 1 s). Safe to call more than once.
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
    await Promise.all([...this.connections].map((c) => c.close()));
  }
}

class ServerConnection {
  private readonly reader: FrameReader;
  private readonly calls = new Map<number, ServerCall>();
  private readonly writer: FrameWriter;
  private lastStreamId = 0;

  constructor(
    private readonly server: TtrpcServer,
    private readonly socket: Socket,
  ) {
    socket.setNoDelay?.(true);
    this.writer = new FrameWriter(socket);
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
      const gone = new TtrpcError(Code.CANCELLED, 'connection closed by the client');
      for (const call of [...this.calls.values()]) {
        call.finish();
        call.abort(gone);
      }
    });
  }

  settledCalls(): Promise<void>[] {
    return [...this.calls.values()].map((c) => c.settled);
  }

  /** Sends what is queued, then closes; a peer that does not close its side is cut off after 1 s. */
  close(): Promise<void> {
    if (this.socket.closed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.writer.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    return closed;
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
    // A frame that closed the connection must not let the rest of its chunk run.
    if (this.socket.destroyed) return;
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
    this.dispatch(f.streamId, req, f.data);
  }

  private dispatch(streamId: number, req: Request, envelope: Buffer): void {
    // Unknown services go to the frame relay or the fallback (raw mode); an unknown method of a
    // registered service does not.
    let handler: Handler | FallbackHandler | undefined = this.server.lookup(req.service, req.method);
    if (!handler && this.server.frameRelay && !this.server.hasService(req.service)) {
      let replied = false;
      const reply = (err: TtrpcError | undefined, response?: Uint8Array): void => {
        if (replied) return;
        replied = true;
        if (err || !response) this.respondError(streamId, err ?? new TtrpcError(Code.INTERNAL, 'relay gave no response'));
        else this.respondRaw(streamId, response);
      };
      try {
        if (this.server.frameRelay(req, envelope, reply)) return;
      } catch (err) {
        reply(toTtrpcError(err));
        return;
      }
    }
    if (!handler && !this.server.hasService(req.service)) handler = this.server.fallback;
    if (!handler) {
      this.respondError(streamId, this.server.unimplemented(req.service, req.method));
      return;
    }

    const call = new ServerCall(req, envelope, () => this.calls.delete(streamId));
    this.calls.set(streamId, call);
    // Zero means no deadline. A negative value is a deadline already past: Go's client sends one when
    // its context expires on the way, and Go's server then fails the call at once. Any other value —
    // fractional ms as Go sends them, or far beyond Node's 2^31 ms timer limit — arms a long timer.
    const deadlineMs = timeoutNanoToMs(req.timeoutNano);
    if (deadlineMs !== undefined) call.startDeadline(deadlineMs, (err) => this.respondError(streamId, err));
    let result: Promise<Uint8Array | RawResponse | undefined>;
    try {
      result = Promise.resolve(handler(req.payload as Buffer, call));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (payload) =>
        call.finish(() => {
          if (payload === undefined) this.respondError(streamId, new TtrpcError(Code.UNIMPLEMENTED, `service ${req.service}`));
          else if (payload instanceof RawResponse) this.respondRaw(streamId, payload.envelope);
          else this.respond(streamId, payload);
        }),
      (err: unknown) => call.finish(() => this.respondError(streamId, toTtrpcError(err))),
    );
  }

  private respond(streamId: number, payload: Uint8Array): void {
    const parts = encodeResponseParts({ status: { code: 0, message: '', details: [] }, payload });
    const length = partsLength(parts);
    if (length > this.server.maxMessageLength) {
      // Never send a frame over the limit: the Rust client would lose sync with the stream.
      this.respondError(
        streamId,
        new TtrpcError(
          Code.RESOURCE_EXHAUSTED,
          `response length ${length} exceed maximum message size of ${this.server.maxMessageLength}`,
        ),
      );
      return;
    }
    this.writer.write(streamId, MessageType.RESPONSE, 0, parts);
  }

  /** A Response envelope encoded elsewhere (a relay's upstream); it crossed a 4 MiB limit already. */
  private respondRaw(streamId: number, envelope: Uint8Array): void {
    if (envelope.length > this.server.maxMessageLength) {
      this.respondError(streamId, new TtrpcError(Code.RESOURCE_EXHAUSTED, `response length ${envelope.length} exceed maximum message size of ${this.server.maxMessageLength}`));
      return;
    }
    this.writer.write(streamId, MessageType.RESPONSE, 0, [envelope]);
  }

  private respondError(streamId: number, err: TtrpcError): void {
    // The Rust client reads codes outside 0–16 as success; never let one out.
    const code = err.code >= 1 && err.code <= 16 ? err.code : Code.UNKNOWN;
    const empty = new Uint8Array(0);
    let parts = encodeResponseParts({ status: { code, message: err.message, details: [...err.details] }, payload: empty });
    if (partsLength(parts) > this.server.maxMessageLength) {
      parts = encodeResponseParts({ status: { code, message: err.message.slice(0, 4096), details: [] }, payload: empty });
    }
    this.writer.write(streamId, MessageType.RESPONSE, 0, parts);
  }
}
