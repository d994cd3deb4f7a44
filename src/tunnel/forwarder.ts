/**
 * The agent-protocol-forwarder (runs inside the pod VM, reference §3.13): listens on TCP 15150 —
 * TLS requiring a client certificate — and forwards every ttrpc call to the kata-agent's Unix
 * socket. Before forwarding, a request gate (the pod's policy) may refuse a call with
 * PERMISSION_DENIED. Rewrites: CreateContainer joins the pod network namespace (when a pod network
 * is configured), CreateSandbox loses `dns`.
 */
import { messageOf } from '../util/errors.js';
import { createServer as createTcpServer, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { fromBinary } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { SetPolicyRequestSchema } from '../proto/gen/agent/agent_pb.js';
import { TtrpcClient } from '../ttrpc/client.js';
import { TtrpcServer } from '../ttrpc/server.js';
import { rewriteCreateContainerInVm, rewriteCreateSandboxInVm } from './container-rewrites.js';
import type { Rewriter } from './relay.js';
import { ReconnectingClient } from './reconnecting-client.js';
import { parsePolicy } from './policy/parse.js';
import { Code, TtrpcError } from '../ttrpc/codes.js';
import { createFrameRelay, createRelay, RelayFlow, type RelayOptions } from './relay.js';
import { IDENTITY_METHOD, IDENTITY_SERVICE, identityResponse } from './forwarder-identity.js';

/** Decides whether a call may reach the agent; throws (PERMISSION_DENIED) to refuse. */
export interface RequestGate {
  check(service: string, method: string): void;
  /** A SetPolicy the agent accepted: the gate follows the new policy. */
  update?(policyText: string): void;
}

export interface ForwarderOptions {
  host: string;
  port: number;
  /** Server TLS options (certificate, client CA, requestCert); undefined = plain TCP (tests only). */
  tls: TlsOptions | undefined;
  agentSocket: string;
  /** How long a call waits for the agent socket to appear (upstream: 150 s). */
  agentWaitMs?: number;
  /** The pod network namespace containers join; undefined when no pod network is configured. */
  podNetnsPath: string | undefined;
  gate?: RequestGate;
  /**
   * The sandbox this VM serves (apf.json `sandbox-id`), told to the daemon's agent proxy when it asks
   * (forwarder-identity.ts); '' or undefined when the daemon did not say.
   */
  sandboxId?: string;
  logger: Logger;
}

function validatePolicy(text: string): void {
  try {
    parsePolicy(text);
  } catch (err) {
    throw new TtrpcError(Code.INVALID_ARGUMENT, `SetPolicy refused: ${messageOf(err)}`);
  }
}

/** Calls the forwarder runs at once on its connection from the agent proxy. */
export const FORWARDER_MAX_CALLS = 65_536;

export class Forwarder {
  private readonly upstream: ReconnectingClient;
  private readonly server: TtrpcServer;
  private listener: NetServer | undefined;

  constructor(private readonly o: ForwarderOptions) {
    const log = o.logger;
    const flow = new RelayFlow();
    this.upstream = new ReconnectingClient({
      logger: log,
      connectWaitMs: o.agentWaitMs ?? 150_000,
      backoff: { initialMs: 20, maxMs: 500 },
      dial: (signal) => TtrpcClient.connectUnix(o.agentSocket, { signal }),
      onConnect: (c) => {
        flow.attach(c);
        log.info({ socket: o.agentSocket }, `connected to the kata-agent at ${o.agentSocket}`);
      },
    });
    const rewriters = new Map<string, Rewriter>([['grpc.AgentService/CreateSandbox', rewriteCreateSandboxInVm]]);
    if (o.podNetnsPath) {
      const netns = o.podNetnsPath;
      rewriters.set('grpc.AgentService/CreateContainer', (p) => rewriteCreateContainerInVm(p, netns));
    }
    const relay: RelayOptions = {
      upstream: this.upstream,
      rewriters,
      gate: (service, method, payload) => {
        try {
          o.gate?.check(service, method);
          // A policy the agent would accept but our gate could not read must not split the two.
          if (service === 'grpc.AgentService' && method === 'SetPolicy' && o.gate?.update) {
            validatePolicy(fromBinary(SetPolicyRequestSchema, payload).policy);
          }
        } catch (err) {
          log.warn({ service, method, reason: messageOf(err) }, `refused ${service}/${method}`);
          throw err;
        }
      },
      after: new Map([
        [
          'grpc.AgentService/SetPolicy',
          (request: Uint8Array) => {
            if (!o.gate?.update) return;
            o.gate.update(fromBinary(SetPolicyRequestSchema, request).policy);
            log.info('policy updated by SetPolicy');
          },
        ],
      ]),
    };
    this.server = new TtrpcServer({
      logger: log,
      fallback: createRelay(relay),
      frameRelay: createFrameRelay(relay),
      // Its one client is the daemon's agent proxy, which multiplexes every shim connection of the
      // sandbox (each capped at MAX_CALLS_PER_CONNECTION there) onto this connection: never the
      // tighter end, only a backstop.
      maxCallsPerConnection: FORWARDER_MAX_CALLS,
      inboundGate: flow,
      onWritePressure: flow.setDownstreamBlocked,
    });
    // Answered here, never relayed: the proxy checks it reached this sandbox's forwarder.
    const identity = identityResponse(o.sandboxId ?? '');
    this.server.register(IDENTITY_SERVICE, { [IDENTITY_METHOD]: () => identity });
  }

  /** Listens; resolves with the bound port (0 in the options picks a free one). */
  async start(): Promise<number> {
    const listener = this.o.tls ? createTlsServer(this.o.tls) : createTcpServer();
    // A TLS handshake that fails (no or wrong client certificate, garbage) must not reach the log as a crash.
    listener.on('tlsClientError', (err) => this.o.logger.warn({ err }, 'TLS handshake refused'));
    this.server.serve(listener, this.o.tls ? 'secureConnection' : 'connection');
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.o.port, this.o.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    this.listener = listener;
    const port = (listener.address() as { port: number }).port;
    this.o.logger.info({ listen: `${this.o.host}:${port}`, tls: this.o.tls !== undefined }, `forwarder listening on ${this.o.host}:${port}`);
    return port;
  }

  async close(): Promise<void> {
    this.upstream.close();
    await this.server.shutdown(0);
  }

  get listening(): boolean {
    return this.listener?.listening ?? false;
  }
}
