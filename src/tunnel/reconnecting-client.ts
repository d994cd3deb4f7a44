/**
 * One upstream ttrpc connection that heals itself: dialled with jittered backoff, re-dialled when
 * lost. Calls made while it is down wait for the next connection (within their own deadline), so a
 * forwarder or agent restart costs only the calls that were in flight — those fail UNAVAILABLE.
 */
import { messageOf } from '../util/errors.js';
import type { Logger } from 'pino';
import { Code, TtrpcError } from '../ttrpc/codes.js';
import type { CallOptions, TtrpcClient } from '../ttrpc/client.js';
import { raceAbort } from '../util/abort.js';
import type { BackoffOptions } from '../util/backoff.js';
import { retry } from '../util/retry.js';
import { startTimeout } from '../util/timers.js';

export type Dialer = (signal: AbortSignal) => Promise<TtrpcClient>;

export interface ReconnectingClientOptions {
  dial: Dialer;
  logger: Logger;
  /** Default: 50 ms doubling to at most 1 s (upstream waits up to 5 s between tries). */
  backoff?: BackoffOptions;
  /** How long a call waits for a connection when it has no deadline of its own. */
  connectWaitMs: number;
  /**
   * After a refused dial (the host is up and answered: its listener is about to start, as a booting
   * VM's forwarder), retry within this many ms instead of the grown backoff. A refusal costs one
   * SYN and one RST. Default: the backoff alone.
   */
  refusedRetryMs?: number;
  /** Called on every (re)connection. */
  onConnect?(client: TtrpcClient, attempt: number): void;
}

/** At most one "not reachable yet" line this often while dialling. */
const LOG_EVERY_MS = 10_000;

export class ReconnectingClient {
  private client: TtrpcClient | undefined;
  private connecting: Promise<TtrpcClient> | undefined;
  private readonly closing = new AbortController();
  private connections = 0;

  constructor(private readonly o: ReconnectingClientOptions) {}

  get connected(): boolean {
    return this.client !== undefined && !this.client.isClosed;
  }

  /** Number of successful dials so far (1 after the first connection). */
  get connectionCount(): number {
    return this.connections;
  }

  /** Connects (or waits for the connection in progress); rejects when `signal` aborts first. */
  connect(signal?: AbortSignal): Promise<TtrpcClient> {
    if (this.client && !this.client.isClosed) return Promise.resolve(this.client);
    this.connecting ??= this.dialLoop().finally(() => (this.connecting = undefined));
    if (!signal) return this.connecting;
    return raceAbort(this.connecting, signal, abortReason);
  }

  /** Forwards one call; waits for a connection first if there is none. */
  async call(service: string, method: string, payload: Uint8Array, options: CallOptions = {}): Promise<Buffer> {
    // The common case, on every relayed call: connected — no signals, no timers.
    const current = this.client;
    if (current && !current.isClosed) return current.call(service, method, payload, options);
    const { client, timeoutMs } = await this.waitForConnection(options);
    return client.call(service, method, payload, { ...options, timeoutMs });
  }

  /**
   * Waits for a connection within the call's deadline, or `connectWaitMs` when it has none (timeoutMs
   * undefined or 0, ttrpc's "no deadline"). Any deadline shape works: the Go shim's are fractional ms.
   * Resolves with the connection and what is left of the call's deadline (see `timeLeft`).
   */
  private async waitForConnection(options: Pick<CallOptions, 'signal' | 'timeoutMs'>): Promise<{ client: TtrpcClient; timeoutMs: number | undefined }> {
    const started = performance.now();
    const limit = startTimeout(options.timeoutMs || this.o.connectWaitMs);
    const waitSignal = options.signal ? AbortSignal.any([options.signal, limit.signal]) : limit.signal;
    let client: TtrpcClient;
    try {
      client = await this.connect(waitSignal);
    } catch (err) {
      if (this.closing.signal.aborted) throw new TtrpcError(Code.UNAVAILABLE, 'upstream closed');
      throw err instanceof TtrpcError ? err : new TtrpcError(Code.UNAVAILABLE, `upstream not reachable: ${messageOf(err)}`);
    } finally {
      limit.clear();
    }
    return { client, timeoutMs: timeLeft(options.timeoutMs, started) };
  }

  /** Frame-level pass-through (TtrpcClient.callRaw) with the same connection handling as `call`. */
  async callRaw(requestEnvelope: Uint8Array, options: Pick<CallOptions, 'signal' | 'timeoutMs'> = {}): Promise<Buffer> {
    const current = this.client;
    if (current && !current.isClosed) return current.callRaw(requestEnvelope, options);
    const { client, timeoutMs } = await this.waitForConnection(options);
    return client.callRaw(requestEnvelope, { ...options, timeoutMs });
  }

  /** `TtrpcClient.sendRaw` with the same connection handling: waits for a connection when there is none. */
  sendRaw(requestEnvelope: Uint8Array, timeoutMs: number | undefined, done: (err: TtrpcError | undefined, response?: Buffer) => void): void {
    const current = this.client;
    if (current && !current.isClosed) return current.sendRaw(requestEnvelope, timeoutMs, done);
    this.waitForConnection({ timeoutMs }).then(
      (waited) => waited.client.sendRaw(requestEnvelope, waited.timeoutMs, done),
      (err: unknown) => done(err instanceof TtrpcError ? err : new TtrpcError(Code.UNAVAILABLE, String(err))),
    );
  }

  /** Closes the connection and stops re-dialling. Calls in flight fail UNAVAILABLE. Idempotent. */
  close(): void {
    this.closing.abort(new TtrpcError(Code.UNAVAILABLE, 'upstream closed'));
    this.client?.close();
    this.client = undefined;
  }

  /** Dials until a connection is made or the client is closed (then rejects with the close reason). */
  private async dialLoop(): Promise<TtrpcClient> {
    const signal = this.closing.signal;
    let lastLogAt = 0;
    return retry((attempt) => this.dialOnce(attempt, signal), {
      backoff: { initialMs: 50, maxMs: 1000, ...this.o.backoff },
      signal,
      // Every failure is retried and attempts are unlimited: only the close ends the loop.
      giveUp: () => signal.reason,
      delayMs: (err, next) => {
        const delay = next();
        return this.o.refusedRetryMs !== undefined && isRefused(err) ? Math.min(delay, this.o.refusedRetryMs) : delay;
      },
      onRetry: (err, attempt, delay) => {
        // The first failure, then one line per LOG_EVERY_MS however fast the retries come.
        if (attempt === 1 || Date.now() - lastLogAt >= LOG_EVERY_MS) {
          lastLogAt = Date.now();
          this.o.logger.info({ attempt, err, retryInMs: Math.round(delay) }, 'upstream not reachable yet');
        }
      },
    });
  }

  private async dialOnce(attempt: number, signal: AbortSignal): Promise<TtrpcClient> {
    signal.throwIfAborted();
    const client = await this.o.dial(signal);
    if (signal.aborted) {
      client.close();
      signal.throwIfAborted();
    }
    this.client = client;
    this.connections++;
    this.o.onConnect?.(client, attempt);
    void client.closed.then(() => {
      if (this.client === client) {
        this.client = undefined;
        if (!signal.aborted) {
          this.o.logger.warn('upstream connection lost; reconnecting');
          // Re-dial at once so the next call finds a connection; failures are retried in the loop.
          this.connect().catch(() => undefined);
        }
      }
    });
    return client;
  }
}

/** ECONNREFUSED, also as the cause of a ttrpc connect error. */
export function isRefused(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
  }
  return false;
}

function abortReason(signal: AbortSignal): TtrpcError {
  const r: unknown = signal.reason;
  if (r instanceof TtrpcError) return r;
  if (r instanceof Error && r.name === 'TimeoutError') return new TtrpcError(Code.UNAVAILABLE, 'upstream not reachable in time');
  return new TtrpcError(Code.CANCELLED, 'cancelled while waiting for the upstream connection');
}

/**
 * The call's deadline after waiting for a connection since `started`: the time spent waiting counts
 * against it (the shim's deadline does not restart). Undefined/0 stay "no deadline"; one that has run
 * out becomes negative, which the client fails at once with DEADLINE_EXCEEDED.
 */
function timeLeft(timeoutMs: number | undefined, started: number): number | undefined {
  if (!timeoutMs) return timeoutMs;
  const left = timeoutMs - (performance.now() - started);
  return left > 0 ? left : -1;
}
