/**
 * A kata-agent stand-in for tests and the demo: serves ttrpc on a Unix socket like the real agent at
 * /run/kata-containers/agent.sock. `grpc.Health` answers SERVING; every `grpc.AgentService` method
 * answers an empty message (0 bytes decodes as the empty response of each); any other method of any
 * service echoes its request payload, so tests can see that unknown calls pass through unchanged.
 * Every call is recorded; delays and errors can be injected per method.
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  CreateContainerRequestSchema,
  CreateSandboxRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
  SetPolicyRequestSchema,
  VersionCheckResponseSchema,
  type CreateContainerRequest,
  type CreateSandboxRequest,
  type SetPolicyRequest,
} from '../../src/proto/gen/agent/agent_pb.js';
import type { KeyValue } from '../../src/ttrpc/envelope.js';
import type { TtrpcError } from '../../src/ttrpc/codes.js';
import type { CallContext } from '../../src/ttrpc/server.js';
import { TtrpcServer } from '../../src/ttrpc/server.js';
import { listenUnix, type UnixListener } from '../../src/ttrpc/unix-socket.js';
import { AGENT_METHODS, AGENT_SERVICE, HEALTH_SERVICE } from '../../src/tunnel/policy/methods.js';
import { sleep } from '../../src/util/backoff.js';

export interface RecordedCall {
  readonly service: string;
  readonly method: string;
  readonly payload: Buffer;
  readonly metadata: readonly KeyValue[];
  /** Epoch milliseconds when the call arrived. */
  readonly at: number;
}

export interface FakeKataAgentOptions {
  /**
   * Milliseconds to wait before answering, keyed by method (`ExecProcess`) or by
   * `service/method` (`grpc.Health/Check`, which wins over the bare name).
   */
  delays?: Record<string, number>;
  /** Errors to answer with instead of a result, keyed like `delays`. */
  errors?: Record<string, TtrpcError>;
  /** Called for every call as it arrives (the stand-in in the pod VM prints them to the console). */
  onCall?: (call: RecordedCall) => void;
  /** What Health/Check reports (default SERVING). */
  healthStatus?: HealthCheckResponse_ServingStatus;
  /** What Health/Version reports as agent_version. */
  agentVersion?: string;
}

const EMPTY = new Uint8Array(0);
const AGENT_METHOD_SET = new Set(AGENT_METHODS);

export class FakeKataAgent {
  /** Every call in arrival order (also the ones answered with an injected error). */
  readonly calls: RecordedCall[] = [];
  /** Per-method delays; change them while the agent runs. */
  readonly delays: Map<string, number>;
  /** Per-method errors; change them while the agent runs. */
  readonly errors: Map<string, TtrpcError>;
  healthStatus: HealthCheckResponse_ServingStatus;
  agentVersion: string;
  onCall: ((call: RecordedCall) => void) | undefined;
  private closed = false;

  private constructor(
    readonly socketPath: string,
    readonly server: TtrpcServer,
    private readonly listener: UnixListener,
    options: FakeKataAgentOptions,
  ) {
    this.delays = new Map(Object.entries(options.delays ?? {}));
    this.errors = new Map(Object.entries(options.errors ?? {}));
    this.healthStatus = options.healthStatus ?? HealthCheckResponse_ServingStatus.SERVING;
    this.onCall = options.onCall;
    this.agentVersion = options.agentVersion ?? '3.0.0-fake';
  }

  static async start(socketPath: string, options: FakeKataAgentOptions = {}): Promise<FakeKataAgent> {
    // Everything goes through the fallback: TtrpcServer answers UNIMPLEMENTED for an unknown method of a
    // registered service, and this agent must echo those too.
    const server = new TtrpcServer();
    const listener = await listenUnix(socketPath);
    const agent = new FakeKataAgent(socketPath, server, listener, options);
    server.fallback = (payload, ctx) => agent.handle(payload, ctx);
    server.serve(listener.server);
    return agent;
  }

  private lookup<T>(table: Map<string, T>, service: string, method: string): T | undefined {
    return table.get(`${service}/${method}`) ?? table.get(method);
  }

  private async handle(payload: Buffer, ctx: CallContext): Promise<Uint8Array> {
    const { service, method } = ctx;
    const call = { service, method, payload: Buffer.from(payload), metadata: [...ctx.metadata], at: Date.now() };
    this.calls.push(call);
    this.onCall?.(call);
    const delay = this.lookup(this.delays, service, method);
    if (delay !== undefined && delay > 0) await sleep(delay, ctx.signal);
    const error = this.lookup(this.errors, service, method);
    if (error) throw error;

    if (service === HEALTH_SERVICE && method === 'Check') {
      return toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: this.healthStatus }));
    }
    if (service === HEALTH_SERVICE && method === 'Version') {
      return toBinary(
        VersionCheckResponseSchema,
        create(VersionCheckResponseSchema, { grpcVersion: 'ttrpc', agentVersion: this.agentVersion }),
      );
    }
    if (service === AGENT_SERVICE && AGENT_METHOD_SET.has(method)) return EMPTY;
    return payload; // Unknown: echo.
  }

  /** Calls to `method` (of `service`, default grpc.AgentService), in order. */
  callsTo(method: string, service: string = AGENT_SERVICE): RecordedCall[] {
    return this.calls.filter((c) => c.service === service && c.method === method);
  }

  /** Every recorded request to `method` of grpc.AgentService, decoded with `schema`. */
  requests<S extends DescMessage>(schema: S, method: string): MessageShape<S>[] {
    return this.callsTo(method).map((c) => fromBinary(schema, c.payload));
  }

  private last<S extends DescMessage>(schema: S, method: string): MessageShape<S> | undefined {
    const call = this.callsTo(method).at(-1);
    return call ? fromBinary(schema, call.payload) : undefined;
  }

  lastCreateContainer(): CreateContainerRequest | undefined {
    return this.last(CreateContainerRequestSchema, 'CreateContainer');
  }

  lastCreateSandbox(): CreateSandboxRequest | undefined {
    return this.last(CreateSandboxRequestSchema, 'CreateSandbox');
  }

  lastSetPolicy(): SetPolicyRequest | undefined {
    return this.last(SetPolicyRequestSchema, 'SetPolicy');
  }

  clearCalls(): void {
    this.calls.length = 0;
  }

  /** Stops serving (connections are closed, calls in flight see their signal abort) and removes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.server.shutdown(0);
    await this.listener.close();
  }
}
