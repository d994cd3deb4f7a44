/**
 * The HTTP endpoints the kubelet and Prometheus call, on PROBE_PORT (8000):
 * - `/startup` (upstream's semantics): 500 until the hypervisor socket accepts a connection and,
 *   with a Kubernetes API, every kata-remote pod on this node is Ready since the daemon started;
 *   once passed it stays passed.
 * - `/healthz`: 200 while the hypervisor socket accepts connections (liveness: a daemon whose
 *   socket is gone is restarted).
 * - `/readyz`: 200 once started and until shutdown begins.
 * - `/metrics`: Prometheus text.
 * During a rolling update the old daemon still holds the port (Node 20 has no SO_REUSEPORT): the
 * new one retries binding every second and answers as soon as the old one is gone.
 */
import { messageOf } from '../util/errors.js';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { Logger } from 'pino';

export interface ProbeChecks {
  /** The hypervisor socket path, once the daemon listens. */
  socketPath(): string | undefined;
  /** Upstream's condition (b); undefined = no Kubernetes API, condition skipped. */
  podsReady?(signal: AbortSignal): Promise<boolean>;
  /** False once shutdown has begun. */
  serving(): boolean;
  metrics?(): Promise<string>;
}

export class ProbeServer {
  private server: Server | undefined;
  private started = false;
  private closing = false;
  private retry: NodeJS.Timeout | undefined;
  private boundPort = 0;

  constructor(
    private readonly checks: ProbeChecks,
    private readonly log: Logger,
  ) {}

  get port(): number {
    return this.boundPort;
  }

  /**
   * Binds `host:port` (port 0: any free port). Resolves once bound, or at once if the port is busy
   * (retried every second until `close()`). Call once per ProbeServer.
   */
  listen(port: number, host?: string): Promise<void> {
    const server = createServer((req, res) => {
      void this.answer(req.url ?? '/').then(
        ({ status, body, type }) => {
          res.writeHead(status, { 'content-type': type ?? 'text/plain; charset=utf-8' });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`probe failed: ${messageOf(err)}\n`);
        },
      );
    });
    server.requestTimeout = 10_000;
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      let warned = false;
      const attempt = (): void => {
        server.once('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE' && !this.closing) {
            if (!warned) this.log.warn({ port }, `probe port ${port} is in use (the previous daemon during a rolling update?); retrying every second`);
            warned = true;
            this.retry = setTimeout(attempt, 1_000);
            this.retry.unref();
            resolve();
            return;
          }
          reject(err);
        });
        server.listen({ port, host }, () => {
          const addr = server.address();
          this.boundPort = typeof addr === 'object' && addr ? addr.port : port;
          this.log.info({ port: this.boundPort }, `probes and metrics on :${this.boundPort} (/startup /healthz /readyz /metrics)`);
          resolve();
        });
      };
      attempt();
    });
  }

  /** Stops retrying and closes the listener and its connections. Idempotent. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.retry) clearTimeout(this.retry);
    const server = this.server;
    if (!server?.listening) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async answer(url: string): Promise<{ status: number; body: string; type?: string }> {
    const path = url.split('?')[0];
    switch (path) {
      case '/startup':
        return this.startup();
      case '/healthz':
        return (await this.socketAccepts()) ? ok('ok') : fail(500, 'the hypervisor socket does not accept connections');
      case '/readyz':
        if (!this.checks.serving()) return fail(503, 'shutting down');
        return this.started || (await this.socketAccepts()) ? ok('ready') : fail(503, 'not serving yet');
      case '/metrics':
        if (!this.checks.metrics) return fail(404, 'metrics are off');
        return { status: 200, body: await this.checks.metrics(), type: 'text/plain; version=0.0.4; charset=utf-8' };
      default:
        return fail(404, 'not found');
    }
  }

  private async startup(): Promise<{ status: number; body: string }> {
    if (this.started) return ok('started');
    if (!(await this.socketAccepts())) return fail(500, 'the hypervisor socket does not accept connections yet');
    if (this.checks.podsReady && !(await this.checks.podsReady(AbortSignal.timeout(5_000)))) {
      return fail(500, 'kata-remote pods on this node are not all Ready since the daemon started');
    }
    this.started = true;
    return ok('started');
  }

  private socketAccepts(): Promise<boolean> {
    const path = this.checks.socketPath();
    if (!path) return Promise.resolve(false);
    return new Promise((resolve) => {
      const s = connect(path);
      const done = (v: boolean): void => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(2_000, () => done(false));
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    });
  }
}

const ok = (body: string) => ({ status: 200, body: `${body}\n` });
const fail = (status: number, body: string) => ({ status, body: `${body}\n` });
