/**
 * ttrpc server (reference §1): unary calls only, which is all the Kata hypervisor, agent and PodVMInfo
 * APIs use. Many connections; calls on one connection run concurrently and are answered in
 * completion order. A handler receives an AbortSignal that fires when the caller's `timeout_nano`
 * passes (the call is then answered DEADLINE_EXCEEDED) or the connection goes away.
 *
 * Flow control, so that no client can make the server hold more than a bounded amount per
 * connection: at most `maxCallsPerConnection` calls run at once, and a connection whose answers are
 * not being read (its write buffer over `writeBufferLimit`) gets no new calls. Requests that arrive
 * meanwhile are held, unstarted, and run in order when room is made:
 *  - answers backed up (or a relay's upstream full): the connection also stops reading, so the
 *    client's further requests wait in the kernel's socket buffer and then in the client; a client
 *    that goes away is still noticed, as the answers then fail to write (or the upstream drains);
 *  - at the call cap alone: the connection keeps reading, holding up to 1 MiB of requests, so that
 *    a client that goes away is noticed (its running calls are then cancelled: a waiting call
 *    holds its place forever otherwise). A client that pipelines more than that beyond its cap is
 *    cut off (its calls fail UNAVAILABLE): no real client does, and reading must go on.
 */
import { messageOf } from '../util/errors.js';
import type { Server as NetServer, Socket } from 'node:net';
import { Code, TtrpcError, deadlineExceeded, toTtrpcError } from './codes.js';
import { DecodeError, decodeRequest, encodeResponseParts, type KeyValue, type Request } from './envelope.js';
import { Flags, FrameReader, HEADER_LENGTH, MAX_MESSAGE_LENGTH, MessageType, type Frame, type FrameHeader } from './frame.js';
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

/** The default cap of calls running at once on one connection (the daemon's MAX_CALLS_PER_CONNECTION). */
const DEFAULT_MAX_CALLS_PER_CONNECTION = 1024;
/** Answers waiting to be written beyond which a connection reads no more requests. */
export const DEFAULT_WRITE_BUFFER_LIMIT = 1 << 20;
/** Bytes of requests a connection at its call cap may hold, unstarted, before it is cut off. */
const HELD_REQUESTS_LIMIT = 1 << 20;

/**
 * Something downstream of the handlers that can be full (a relay's upstream connection): while
 * `blocked`, connections read no new requests; `onUnblocked` runs `fn` once when that ends.
 */
export interface InboundGate {
  readonly blocked: boolean;
  onUnblocked(fn: () => void): void;
}

export interface ServerOptions {
  logger?: TtrpcLogger;
  maxMessageLength?: number;
  fallback?: FallbackHandler;
  frameRelay?: FrameRelay;
  /** Calls running at once per connection; the next requests wait unread (default 1024). */
  maxCallsPerConnection?: number;
  /**
   * Calls running at once on all connections together (default: no limit beyond the per-connection
   * one). At the limit every connection waits, as at its own cap: this bounds a client that opens
   * many connections.
   */
  maxCallsInFlight?: number;
  /** Bytes of unwritten answers at which a connection stops reading requests (default 1 MiB). */
  writeBufferLimit?: number;
  inboundGate?: InboundGate;
  /**
   * Told `true` when a first connection's answers back up (over `writeBufferLimit`) and `false`
   * when none does any more: a relay stops reading its upstream meanwhile.
   */
  onWritePressure?(blocked: boolean): void;
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
      const err = deadlineExceeded();
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
  private backedUp = 0;
  private running = 0;
  /** Connections that hold a request and wait for room under `maxCallsInFlight`, oldest first. */
  private readonly starved = new Set<ServerConnection>();
  readonly maxCallsInFlight: number;
  readonly logger: TtrpcLogger;
  readonly maxMessageLength: number;
  readonly maxCallsPerConnection: number;
  readonly writeBufferLimit: number;
  readonly inboundGate: InboundGate | undefined;
  fallback: FallbackHandler | undefined;
  readonly frameRelay: FrameRelay | undefined;

  constructor(private readonly options: ServerOptions = {}) {
    this.frameRelay = options.frameRelay;
    this.logger = options.logger ?? silentLogger;
    this.maxMessageLength = options.maxMessageLength ?? MAX_MESSAGE_LENGTH;
    this.fallback = options.fallback;
    this.maxCallsPerConnection = positiveInt(options.maxCallsPerConnection ?? DEFAULT_MAX_CALLS_PER_CONNECTION, 'maxCallsPerConnection');
    this.writeBufferLimit = positiveInt(options.writeBufferLimit ?? DEFAULT_WRITE_BUFFER_LIMIT, 'writeBufferLimit');
    this.maxCallsInFlight =
      options.maxCallsInFlight === undefined ? Number.POSITIVE_INFINITY : positiveInt(options.maxCallsInFlight, 'maxCallsInFlight');
    this.inboundGate = options.inboundGate;
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
    socket.once('close', () => {
      this.connections.delete(conn);
      this.starved.delete(conn);
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Connections not reading right now (at their call cap, answers backed up, or the gate blocked). */
  get pausedConnections(): number {
    let n = 0;
    for (const c of this.connections) if (c.paused) n++;
    return n;
  }

  /** Calls running on every connection together (relayed ones included). */
  get callsInFlight(): number {
    return this.running;
  }

  /** No call may start on any connection (`maxCallsInFlight` reached). */
  get full(): boolean {
    return this.running >= this.maxCallsInFlight;
  }

  // ---- ServerConnection's accounting (@internal): each callStarted is paired with exactly one
  // callEnded; an unbalanced call breaks maxCallsInFlight for every connection. Not for handlers.

  /** @internal */
  callStarted(): void {
    this.running++;
  }

  /** @internal */
  callEnded(): void {
    this.running--;
    // After the answer is written, as for a connection's own cap.
    if (this.starved.size > 0) queueMicrotask(this.wakeStarved);
  }

  /** @internal `conn` holds a request it cannot start while the server is full. */
  starve(conn: ServerConnection): void {
    this.starved.add(conn);
  }

  /** Hands free room to waiting connections in turn (one that is still full goes to the back). */
  private readonly wakeStarved = (): void => {
    for (const conn of this.starved) {
      if (this.full) return;
      this.starved.delete(conn);
      conn.pump();
    }
  };

  /** @internal A connection's answers went over (+1) or back under (-1) the write buffer limit; paired like callStarted/callEnded. */
  writePressure(delta: 1 | -1): void {
    this.backedUp += delta;
    if (delta === 1 && this.backedUp === 1) this.options.onWritePressure?.(true);
    else if (delta === -1 && this.backedUp === 0) this.options.onWritePressure?.(false);
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

function positiveInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}

/** A frame read while the connection could take no call, kept in arrival order. */
type Held = { frame: Frame; oversized?: undefined } | { frame?: undefined; oversized: FrameHeader };

class ServerConnection {
  private readonly reader: FrameReader;
  private readonly calls = new Map<number, ServerCall>();
  private readonly writer: FrameWriter;
  private lastStreamId = 0;
  /** Calls taken by the frame relay and not answered yet (they have no ServerCall). */
  private relayed = 0;
  /**
   * Frames of the last chunk read that arrived after the connection filled up: at most one chunk
   * (64 KiB) or one whole frame, since reading stops at once.
   */
  private held: Held[] = [];
  private heldFrom = 0;
  private heldBytes = 0;
  /** Takes no new call right now (its requests are held). */
  paused = false;
  /** The socket is not being read. */
  private readStopped = false;
  /** Answers are over the write buffer limit; cleared by the socket's `drain`. */
  private backedUp = false;
  private waitingForGate = false;
  private pumping = false;

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
        this.protocolError(`frame handling failed: ${messageOf(err)}`);
      }
    });
    socket.on('error', (err) => this.server.logger.debug({ err }, 'ttrpc connection error'));
    socket.on('drain', () => {
      if (!this.backedUp) return;
      this.backedUp = false;
      this.server.writePressure(-1);
      this.pump();
    });
    socket.on('close', () => {
      this.held = [];
      this.heldFrom = 0;
      this.heldBytes = 0;
      if (this.backedUp) {
        this.backedUp = false;
        this.server.writePressure(-1);
      }
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

  get inFlight(): number {
    return this.calls.size + this.relayed;
  }

  /** Whether another request may start now. */
  private get open(): boolean {
    return (
      this.inFlight < this.server.maxCallsPerConnection &&
      !this.server.full &&
      !this.backedUp &&
      !(this.server.inboundGate?.blocked ?? false)
    );
  }

  /** Keeps a frame for later; see the file comment for when reading stops or the client is cut off. */
  private hold(h: Held): void {
    this.held.push(h);
    this.heldBytes += HEADER_LENGTH + (h.frame ? h.frame.data.length : 0);
    this.pause();
    if (this.readStopped || this.heldBytes <= HELD_REQUESTS_LIMIT) return;
    this.server.logger.warn(
      { callsInFlight: this.inFlight, heldBytes: this.heldBytes },
      'ttrpc client pipelined over 1 MiB of requests beyond its calls in flight; closing the connection',
    );
    this.socket.destroy();
  }

  /** Takes no new call; stops reading too when waiting for the socket or the gate to drain. */
  private pause(): void {
    this.paused = true;
    if (!this.readStopped && (this.backedUp || (this.server.inboundGate?.blocked ?? false))) {
      this.readStopped = true;
      this.socket.pause();
    }
    if (this.server.full) this.server.starve(this);
    // Only the gate has no event of ours to wake us: ask it for one.
    const gate = this.server.inboundGate;
    if (gate?.blocked && !this.waitingForGate) {
      this.waitingForGate = true;
      gate.onUnblocked(() => {
        this.waitingForGate = false;
        this.pump();
      });
    }
  }

  /** Runs held frames while the connection can take calls; reads again once none is left. */
  pump(): void {
    // A call answered synchronously from inside the loop below must not start a second loop.
    if (this.socket.destroyed || this.pumping) return;
    this.pumping = true;
    try {
      while (this.heldFrom < this.held.length && this.open) {
        const h = this.held[this.heldFrom]!;
        this.held[this.heldFrom++] = undefined as unknown as Held;
        this.heldBytes -= HEADER_LENGTH + (h.frame ? h.frame.data.length : 0);
        if (h.frame) this.onFrame(h.frame, true);
        else this.onOversized(h.oversized, true);
      }
    } finally {
      this.pumping = false;
    }
    if (this.heldFrom < this.held.length) {
      this.pause();
      return;
    }
    this.held = [];
    this.heldFrom = 0;
    this.heldBytes = 0;
    if (!this.open) {
      this.pause();
      return;
    }
    this.paused = false;
    if (this.readStopped) {
      this.readStopped = false;
      this.socket.resume();
    }
  }

  /** A call ended: room for the next one. */
  private readonly callDone = (): void => {
    if (this.paused) this.pump();
  };

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

  private onOversized(h: FrameHeader, fromHold = false): void {
    if (!fromHold && (this.held.length > 0 || !this.open)) {
      this.hold({ oversized: h });
      return;
    }
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

  private onFrame(f: Frame, fromHold = false): void {
    // A frame that closed the connection must not let the rest of its chunk run.
    if (this.socket.destroyed) return;
    if (!fromHold && (this.held.length > 0 || !this.open)) {
      this.hold({ frame: f });
      return;
    }
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

  /** Counts a call that has just started (relayed or in `calls`) and stops reading at the caps. */
  private admit(): void {
    this.server.callStarted();
    if (this.inFlight >= this.server.maxCallsPerConnection || this.server.full) this.pause();
  }

  /** A relayed call is over (answered, or declined to the fallback): the other half of `admit`. */
  private releaseRelayed(): void {
    this.relayed--;
    this.server.callEnded();
  }

  private dispatch(streamId: number, req: Request, envelope: Buffer): void {
    // Unknown services go to the frame relay or the fallback (raw mode); an unknown method of a
    // registered service does not.
    let handler: Handler | FallbackHandler | undefined = this.server.lookup(req.service, req.method);
    if (!handler && this.server.frameRelay && !this.server.hasService(req.service)) {
      let replied = false;
      this.relayed++;
      this.admit();
      const reply = (err: TtrpcError | undefined, response?: Uint8Array): void => {
        if (replied) return;
        replied = true;
        this.releaseRelayed();
        if (err || !response) this.respondError(streamId, err ?? new TtrpcError(Code.INTERNAL, 'relay gave no response'));
        else this.respondRaw(streamId, response);
        this.callDone();
      };
      try {
        if (this.server.frameRelay(req, envelope, reply)) return;
      } catch (err) {
        reply(toTtrpcError(err));
        return;
      }
      // Declined without answering: the call is the fallback's.
      if (!replied) {
        replied = true;
        this.releaseRelayed();
      }
    }
    if (!handler && !this.server.hasService(req.service)) handler = this.server.fallback;
    if (!handler) {
      this.respondError(streamId, this.server.unimplemented(req.service, req.method));
      return;
    }

    const call = new ServerCall(req, envelope, () => {
      this.calls.delete(streamId);
      this.server.callEnded();
      // After the answer is written (finish() runs `respond` after onDone), so that it counts.
      if (this.paused) queueMicrotask(this.callDone);
    });
    this.calls.set(streamId, call);
    this.admit();
    // Zero means no deadline. A negative value is a deadline already past: Go's client sends one when
    // its context expires on the way, and Go's server then fails the call at once. Any other value —
    // fractional ms as Go sends them, or far beyond Node's 2^31 ms timer limit — arms a long timer.
    const deadlineMs = timeoutNanoToMs(req.timeoutNano);
    if (deadlineMs !== undefined) call.startDeadline(Math.max(0, deadlineMs), (err) => this.respondError(streamId, err));
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
    this.send(streamId, parts);
  }

  /** A Response envelope encoded elsewhere (a relay's upstream); it crossed a 4 MiB limit already. */
  private respondRaw(streamId: number, envelope: Uint8Array): void {
    if (envelope.length > this.server.maxMessageLength) {
      this.respondError(streamId, new TtrpcError(Code.RESOURCE_EXHAUSTED, `response length ${envelope.length} exceed maximum message size of ${this.server.maxMessageLength}`));
      return;
    }
    this.send(streamId, [envelope]);
  }

  private respondError(streamId: number, err: TtrpcError): void {
    // The Rust client reads codes outside 0–16 as success; never let one out.
    const code = err.code >= 1 && err.code <= 16 ? err.code : Code.UNKNOWN;
    const empty = new Uint8Array(0);
    let parts = encodeResponseParts({ status: { code, message: err.message, details: [...err.details] }, payload: empty });
    if (partsLength(parts) > this.server.maxMessageLength) {
      parts = encodeResponseParts({ status: { code, message: err.message.slice(0, 4096), details: [] }, payload: empty });
    }
    this.send(streamId, parts);
  }

  /** Writes one answer; past the write buffer limit, stops taking calls until the socket drains. */
  private send(streamId: number, parts: readonly Uint8Array[]): void {
    this.writer.write(streamId, MessageType.RESPONSE, 0, parts);
    // Over the limit means over the socket's high-water mark too, so `drain` will come.
    if (!this.backedUp && this.socket.writableLength > this.server.writeBufferLimit && !this.socket.destroyed) {
      this.backedUp = true;
      this.server.writePressure(1);
      this.pause();
    }
  }
}
