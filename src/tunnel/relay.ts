/**
 * Byte-level ttrpc pass-through: every call that reaches the local server is sent upstream as it
 * came (service, method, payload, metadata, remaining deadline) and the upstream's answer — payload
 * or status with details — comes back unchanged. A few methods get their payload rewritten, and a
 * gate may refuse a call before it leaves. Unknown services and methods pass like any other.
 */
import { timeoutNanoToMs } from '../ttrpc/deadline.js';
import type { TtrpcClient } from '../ttrpc/client.js';
import { DEFAULT_WRITE_BUFFER_LIMIT, RawResponse, type FallbackHandler, type FrameRelay, type InboundGate } from '../ttrpc/server.js';
import type { ReconnectingClient } from './reconnecting-client.js';
import { TunnelError } from './errors.js';

/** Rewrites a request payload; returns the payload to send. May throw a TtrpcError to refuse. */
export type Rewriter = (payload: Buffer) => Uint8Array | Promise<Uint8Array>;

export interface RelayOptions {
  upstream: ReconnectingClient;
  /** Keyed `service/method`, e.g. `grpc.AgentService/CreateContainer`. */
  rewriters?: ReadonlyMap<string, Rewriter>;
  /** Runs before anything is sent; throw (a TtrpcError) to refuse the call. */
  gate?(service: string, method: string, payload: Buffer): void;
  /** Runs after the upstream answered successfully; keyed like `rewriters`. */
  after?: ReadonlyMap<string, AfterHook>;
}

type AfterHook = (request: Uint8Array, response: Buffer) => void;

interface MethodHooks {
  rewrite?: Rewriter;
  after?: AfterHook;
}

/**
 * The rewriter and after-hook of every method that has either, looked up by service, then method:
 * no `service/method` string is built (and hashed) per call.
 */
function hookTable(o: RelayOptions): (service: string, method: string) => MethodHooks | undefined {
  const table = new Map<string, Map<string, MethodHooks>>();
  const add = (key: string, hook: MethodHooks): void => {
    const slash = key.lastIndexOf('/');
    if (slash <= 0) throw new TunnelError('INVALID_ARGUMENT', `relay hook key ${JSON.stringify(key)} is not service/method`);
    const service = key.slice(0, slash);
    const method = key.slice(slash + 1);
    let methods = table.get(service);
    if (!methods) table.set(service, (methods = new Map()));
    methods.set(method, { ...methods.get(method), ...hook });
  };
  for (const [key, rewrite] of o.rewriters ?? []) add(key, { rewrite });
  for (const [key, after] of o.after ?? []) add(key, { after });
  return (service, method) => table.get(service)?.get(method);
}

export function createRelay(o: RelayOptions): FallbackHandler {
  const hooksOf = hookTable(o);
  return async (payload, ctx) => {
    o.gate?.(ctx.service, ctx.method, payload);
    const { rewrite, after } = hooksOf(ctx.service, ctx.method) ?? {};
    const timeoutMs = ctx.deadline !== undefined ? Math.max(1, ctx.deadline - Date.now()) : undefined;
    // No cancellation upstream: ttrpc has no cancel frame, so a caller that goes away can only stop
    // waiting — and reading ctx.signal would cost an AbortController on every relayed call.
    if (!rewrite && !after) {
      // The common case: the request envelope goes up and the response envelope comes back as bytes.
      return new RawResponse(await o.upstream.callRaw(ctx.request, { timeoutMs }));
    }
    const out = rewrite ? await rewrite(payload) : payload;
    const response = await o.upstream.call(ctx.service, ctx.method, out, {
      timeoutMs,
      metadata: ctx.metadata.length > 0 ? [...ctx.metadata] : undefined,
    });
    after?.(out, response);
    return response;
  };
}

/**
 * The synchronous fast path of the same relay (TtrpcServer `frameRelay`): calls that need no rewrite
 * and no hook go upstream from inside the socket's data callback — gate, new stream id, write — and
 * their answers come back the same way, with no promise or call context on either side. Serve it
 * together with `createRelay` on the same options: it declines the methods that have a hook, and
 * the server hands those to the fallback.
 */
export function createFrameRelay(o: RelayOptions): FrameRelay {
  const hooksOf = hookTable(o);
  return (req, envelope, reply) => {
    // A method with a hook is the promise path's (createRelay) to serve.
    if (hooksOf(req.service, req.method)) return false;
    o.gate?.(req.service, req.method, req.payload as Buffer);
    // A deadline already past (-1) fails here at once rather than wait for a connection with none.
    const timeoutMs = timeoutNanoToMs(req.timeoutNano);
    o.upstream.sendRaw(envelope, timeoutMs, reply);
    return true;
  };
}

/**
 * Backpressure across a relay, both ways, so that neither end can make it buffer without bound:
 *  - towards the upstream: while the upstream connection has more than `limit` bytes of requests
 *    unwritten (the upstream is not reading), the relay's server reads no new calls (serve this as
 *    the TtrpcServer's `inboundGate`);
 *  - back from it: while a client of the relay's server does not read its answers (the server's
 *    `onWritePressure`), the relay stops reading the upstream's answers, which then wait in the
 *    upstream's socket — and the upstream, in turn, stops reading.
 * One upstream connection serves every client of the relay (one shim's connections to one
 * sandbox), so a client that does not read slows the others of the same sandbox, never another's.
 */
export class RelayFlow implements InboundGate {
  private client: TtrpcClient | undefined;
  private waiting: (() => void)[] = [];
  private downstreamBlocked = false;

  constructor(private readonly limit = DEFAULT_WRITE_BUFFER_LIMIT) {}

  /** The upstream connection now in use (call from the ReconnectingClient's `onConnect`). */
  attach(client: TtrpcClient): void {
    this.client = client;
    if (this.downstreamBlocked) client.pauseReading();
    void client.closed.then(() => {
      if (this.client !== client) return;
      this.client = undefined;
      this.wake();
    });
    this.wake();
  }

  get blocked(): boolean {
    const c = this.client;
    return c !== undefined && c.writeBuffered > this.limit;
  }

  onUnblocked(fn: () => void): void {
    this.waiting.push(fn);
    if (this.waiting.length > 1) return;
    const c = this.client;
    if (!c || !this.blocked) queueMicrotask(() => this.wake());
    else c.onceDrained(() => this.wake());
  }

  /** The server's `onWritePressure`. */
  readonly setDownstreamBlocked = (blocked: boolean): void => {
    this.downstreamBlocked = blocked;
    if (blocked) this.client?.pauseReading();
    else this.client?.resumeReading();
  };

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const fn of waiting) fn();
  }
}
