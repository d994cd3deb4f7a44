/**
 * The worker side of one sandbox's agent path (reference §3.6): a ttrpc listener on
 * `PODS_DIR/<id>/agent.ttrpc` for the Kata shim, and one upstream connection (mTLS over TCP) to the
 * forwarder in the VM, shared by every shim connection (the upstream client allocates its own
 * stream ids, so ids of several shim connections never clash). Frames pass as bytes except
 * CreateContainer, which is rewritten.
 */
import { messageOf } from '../util/errors.js';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import { TtrpcClient } from '../ttrpc/client.js';
import { TtrpcServer } from '../ttrpc/server.js';
import { listenUnix, type UnixListener } from '../ttrpc/unix-socket.js';
import { rewriteCreateContainerOnWorker } from './container-rewrites.js';
import { ReconnectingClient } from './reconnecting-client.js';
import { createFrameRelay, createRelay, RelayFlow, type RelayOptions } from './relay.js';
import { timeoutSignal } from '../util/timers.js';
import { checkForwarderIdentity, ForwarderIdentityError } from './forwarder-identity.js';
import { TunnelError } from './errors.js';

/** One dial attempt; a SYN to a VM whose network is not up yet may otherwise hang for minutes. */
const DIAL_ATTEMPT_TIMEOUT_MS = 3000;
/** Retry delay after a refused dial (see ReconnectingClientOptions.refusedRetryMs). */
export const REFUSED_RETRY_MS = 50;

export interface AgentProxyOptions {
  sandboxId: string;
  socketPath: string;
  host: string;
  port: number;
  /** TLS client options for the forwarder; undefined = plain TCP (--disable-tls, tests only). */
  tls: ConnectionOptions | undefined;
  /** Longest wait for the forwarder (PROXY_TIMEOUT), also for calls while it is unreachable. */
  proxyTimeoutMs: number;
  logger: Logger;
  directVolumesDir?: string;
  /** Called when a lost upstream connection is re-established (not on the first connection). */
  onReconnect?(): void;
  /** Calls running at once per shim connection (MAX_CALLS_PER_CONNECTION); default the server's. */
  maxCallsPerConnection?: number;
}

export class AgentProxy {
  private readonly upstream: ReconnectingClient;
  private readonly server: TtrpcServer;
  private listener: UnixListener | undefined;
  private closed = false;
  /** Aborted, with the ForwarderIdentityError, when the forwarder at the address is another sandbox's. */
  private readonly refused = new AbortController();
  /** The sandbox last found at the address instead of ours (its refusal is logged once). */
  private refusedFound: string | undefined;
  /** The "cannot check this forwarder" warning is logged once per proxy. */
  private warnedUnproven = false;

  constructor(private readonly o: AgentProxyOptions) {
    const log = o.logger;
    const flow = new RelayFlow();
    this.upstream = new ReconnectingClient({
      logger: log,
      connectWaitMs: o.proxyTimeoutMs,
      // A VM that is still booting may drop SYNs instead of refusing them: bound each attempt.
      dial: (signal) => {
        const attempt = AbortSignal.any([signal, AbortSignal.timeout(DIAL_ATTEMPT_TIMEOUT_MS)]);
        const connected = o.tls
          ? TtrpcClient.connectTls({ ...o.tls, host: o.host, port: o.port, signal: attempt })
          : TtrpcClient.connectTcp({ host: o.host, port: o.port, signal: attempt });
        return connected.then((client) => this.checkIdentity(client, attempt));
      },
      // Retry every ≤ 250 ms: the forwarder's first second matters for pod start (upstream waits up to 5 s);
      // once the VM refuses (its network is up, the forwarder about to listen), every ≤ 50 ms.
      backoff: { initialMs: 25, maxMs: 250 },
      refusedRetryMs: REFUSED_RETRY_MS,
      onConnect: (c, attempt) => {
        flow.attach(c);
        log.info({ attempt, forwarder: `${o.host}:${o.port}` }, `connected to the forwarder at ${o.host}:${o.port}`);
        if (this.upstream.connectionCount > 1) o.onReconnect?.();
      },
    });
    const relay: RelayOptions = {
      upstream: this.upstream,
      rewriters: new Map([
        [
          'grpc.AgentService/CreateContainer',
          (p: Buffer) => rewriteCreateContainerOnWorker(p, { directVolumesDir: o.directVolumesDir, onStorage: (line) => log.info(line) }),
        ],
      ]),
    };
    this.server = new TtrpcServer({
      logger: log,
      fallback: createRelay(relay),
      frameRelay: createFrameRelay(relay),
      maxCallsPerConnection: o.maxCallsPerConnection,
      inboundGate: flow,
      onWritePressure: flow.setDownstreamBlocked,
    });
  }

  /**
   * Keeps the connection only when the forwarder is this sandbox's (forwarder-identity.ts). Another
   * sandbox's forwarder fails the attempt — and StartVM at once, with that reason — whatever the
   * TLS settings; one that cannot say is accepted, with a warning when TLS verification is relaxed.
   */
  private async checkIdentity(client: TtrpcClient, signal: AbortSignal): Promise<TtrpcClient> {
    const forwarder = `${this.o.host}:${this.o.port}`;
    try {
      const check = await checkForwarderIdentity(client, this.o.sandboxId, signal);
      if (check.kind === 'unproven' && !this.warnedUnproven) {
        this.warnedUnproven = true;
        const verified = this.o.tls !== undefined && this.o.tls.rejectUnauthorized !== false;
        const line = `cannot confirm that the forwarder at ${forwarder} serves sandbox ${this.o.sandboxId}: ${check.reason}`;
        if (verified) this.o.logger.info({ forwarder }, `${line}; its verified certificate names the instance`);
        else this.o.logger.warn({ forwarder }, `${line}; with TLS verification relaxed nothing else checks it`);
      }
      return client;
    } catch (err) {
      client.close();
      // Logged once per sandbox found there: a running sandbox's re-dials keep meeting it every ≤ 250 ms.
      if (err instanceof ForwarderIdentityError) {
        if (this.refusedFound !== err.found) this.o.logger.error({ forwarder }, `refused the forwarder at ${forwarder}: ${err.message}`);
        this.refusedFound = err.found;
        this.refused.abort(err);
      }
      throw err;
    }
  }

  get upstreamConnections(): number {
    return this.upstream.connectionCount;
  }

  /** Calls being relayed, and shim connections the proxy is not reading right now (backpressure). */
  get flow(): { callsInFlight: number; pausedConnections: number } {
    return { callsInFlight: this.server.callsInFlight, pausedConnections: this.server.pausedConnections };
  }

  /**
   * Dials the forwarder (retrying within PROXY_TIMEOUT and `signal`), then serves the shim's socket.
   * Resolves once both are up — StartVM returns only when the forwarder is reachable.
   */
  async start(signal: AbortSignal): Promise<void> {
    const limit = AbortSignal.any([signal, timeoutSignal(this.o.proxyTimeoutMs)]);
    try {
      await this.upstream.connect(AbortSignal.any([limit, this.refused.signal]));
    } catch (err) {
      const prefix = `failed to establish agent proxy connection to ${this.o.host}:${this.o.port}`;
      // Another sandbox's forwarder at this address will not turn into ours: say so now.
      const refusal: unknown = this.refused.signal.reason;
      if (refusal instanceof ForwarderIdentityError) throw new TunnelError('IDENTITY_MISMATCH', `${prefix}: ${refusal.message}`, { cause: refusal });
      throw new TunnelError(signal.aborted ? 'CANCELLED' : 'FORWARDER_UNREACHABLE', `${prefix}: ${messageOf(err)}`, { cause: err });
    }
    if (this.closed) throw new TunnelError('CLOSED', 'agent proxy closed while starting');
    this.listener = await listenUnix(this.o.socketPath);
    this.server.serve(this.listener.server);
    this.o.logger.info({ socket: this.o.socketPath }, `agent proxy serving ${this.o.socketPath}`);
  }

  /** Stops serving and drops the upstream connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.upstream.close();
    await this.server.shutdown(0);
    await this.listener?.close();
  }
}
