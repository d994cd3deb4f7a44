/**
 * The server plumbing the stateful cloud fakes (EC2, VPC, ARM) share, as an object each fake holds:
 * listening on 127.0.0.1 port 0, the call log, in-flight / peak-in-flight counting, injected latency
 * that `close()` cuts short, and a close that drops keep-alive sockets. What a request means and how
 * it is answered stays with each fake.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** Delay before answering: one figure for every operation, or per operation name (`'*'` for the rest). */
export type LatencySetting = number | Readonly<Record<string, number>>;

/** The largest request body the fakes read. */
export const MAX_BODY_BYTES = 1 << 20;

export function latencyFor(setting: LatencySetting, operation: string): number {
  if (typeof setting === 'number') return setting;
  return (Object.hasOwn(setting, operation) ? setting[operation] : setting['*']) ?? 0;
}

/** The request body, or the error `tooLarge` makes once it passes MAX_BODY_BYTES. */
export async function readBody(req: IncomingMessage, tooLarge: (maxBytes: number) => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge(MAX_BODY_BYTES);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export class HttpFakeServer<Call> {
  readonly calls: Call[] = [];
  private readonly sleepers = new Set<() => void>();
  private server: HttpServer | HttpsServer | undefined;
  private url = '';
  private isClosed = false;
  private inFlightNow = 0;
  private inFlightPeak = 0;

  /** `operationOf` names a call for `callCount`. */
  constructor(private readonly operationOf: (call: Call) => string) {}

  /** Listens on 127.0.0.1, port 0; `server` comes with its request handler already attached. */
  async listen(server: HttpServer | HttpsServer, scheme: 'http' | 'https'): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** `scheme://127.0.0.1:PORT` ('' before `listen`). */
  get origin(): string {
    return this.url;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get inFlight(): number {
    return this.inFlightNow;
  }

  get peakInFlight(): number {
    return this.inFlightPeak;
  }

  /** Counts a request as in flight until the matching `leave()`. */
  enter(): void {
    this.inFlightNow++;
    this.inFlightPeak = Math.max(this.inFlightPeak, this.inFlightNow);
  }

  leave(): void {
    this.inFlightNow--;
  }

  callCount(operation?: string): number {
    return operation === undefined ? this.calls.length : this.calls.filter((c) => this.operationOf(c) === operation).length;
  }

  /** Forgets the calls; the peak restarts from what is in flight now. */
  resetStats(): void {
    this.calls.length = 0;
    this.inFlightPeak = this.inFlightNow;
  }

  /** Waits `ms` (at once for 0); `close()` wakes every sleeper early so that no timer holds the process. */
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /** Stops listening and drops keep-alive connections so that the test process can exit. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const wake of this.sleepers) wake();
    const server = this.server;
    if (!server) return;
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await done;
  }
}

/**
 * What every fake cloud exposes of its HttpFakeServer: the call log, how many calls of a kind, the
 * requests in flight now and at most. A fake extends this and owns `http`.
 */
export abstract class FakeCloudStats<Call> {
  protected abstract readonly http: HttpFakeServer<Call>;

  /** Every request in arrival order. */
  get calls(): Call[] {
    return this.http.calls;
  }

  /** Requests being processed now (including those waiting out injected latency). */
  get inFlight(): number {
    return this.http.inFlight;
  }

  /** The most requests processed at once since start or `resetStats()`. */
  get peakInFlight(): number {
    return this.http.peakInFlight;
  }

  /** Calls of one operation (as the fake names it), or all. */
  callCount(operation?: string): number {
    return this.http.callCount(operation);
  }

  resetStats(): void {
    this.http.resetStats();
  }
}
