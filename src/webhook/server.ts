/**
 * The webhook's HTTPS server: `POST /mutate-v1-pod` (AdmissionReview v1), `GET /healthz`.
 *
 * Limits: a body over `maxBodyBytes` is answered 413 without being buffered; a request that is not fully
 * received within `requestTimeoutMs` is answered 408 by Node. The serving certificate is re-read when its
 * files change. `close()` stops accepting, lets requests in flight finish (up to `shutdownGraceMs`), then
 * cuts what is left.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { reviewAdmission } from './admission.js';
import { CertificateWatcher, loadServingCertificate } from './certificates.js';
import type { WebhookConfig } from './config.js';
import { WebhookError, WebhookErrorCode, isWebhookError } from './errors.js';
import type { MutateOptions } from './mutate.js';
import { setLongTimeout } from '../util/timers.js';

export const MUTATE_PATH = '/mutate-v1-pod';
export const HEALTH_PATH = '/healthz';

/** An AdmissionReview of a pod is a few KiB; etcd refuses objects over 1.5 MiB, and a review carries one or two. */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;
/** The API server waits at most 30 s (10 s by default) for a webhook. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_CERT_CHECK_INTERVAL_MS = 10_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

export interface WebhookServerOptions {
  certFile: string;
  keyFile: string;
  /** '' or undefined: every interface. */
  host?: string;
  /** 0: any free port (see `address()`). */
  port: number;
  mutate: MutateOptions;
  logger: Logger;
  maxBodyBytes?: number;
  requestTimeoutMs?: number;
  certCheckIntervalMs?: number;
  shutdownGraceMs?: number;
}

export class WebhookServer {
  private closing = false;
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    private readonly watcher: CertificateWatcher,
    private readonly options: WebhookServerOptions,
    private readonly log: Logger,
  ) {}

  /** The server for the `webhook` subcommand's configuration. */
  static fromConfig(config: WebhookConfig, logger: Logger): Promise<WebhookServer> {
    return WebhookServer.start({
      certFile: config.certFile,
      keyFile: config.keyFile,
      host: config.host,
      port: config.port,
      mutate: { targetRuntimeClass: config.targetRuntimeClass, podVmExtendedResource: config.podVmExtendedResource },
      logger,
    });
  }

  /**
   * Loads the certificate (WebhookError `CERTIFICATE_UNUSABLE` naming the file if it cannot be used) and
   * listens. Resolves once the port is bound.
   */
  static async start(options: WebhookServerOptions): Promise<WebhookServer> {
    const log = options.logger.child({ component: 'webhook' });
    const first = await loadServingCertificate(options.certFile, options.keyFile);
    const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const server = createServer({
      cert: first.cert,
      key: first.key,
      minVersion: 'TLSv1.2',
      requestTimeout,
      headersTimeout: requestTimeout,
      // Node checks request deadlines on this period (30 s by default, longer than the deadline itself).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4))),
    });
    const watcher = new CertificateWatcher({
      certFile: options.certFile,
      keyFile: options.keyFile,
      current: first,
      intervalMs: options.certCheckIntervalMs ?? DEFAULT_CERT_CHECK_INTERVAL_MS,
      onChange: (next) => {
        server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
        log.info({ subject: next.subject, notAfter: next.notAfter }, 'serving certificate reloaded');
      },
      onError: (err) => log.warn({ code: err.code }, `serving certificate not reloaded (the previous one stays): ${err.message}`),
    });
    const self = new WebhookServer(server, watcher, options, log);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => self.handle(req, res));
    server.on('tlsClientError', (err: Error) => log.debug({ err }, 'TLS handshake failed'));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host || undefined, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      watcher.close();
      throw err;
    }
    server.on('error', (err: Error) => log.error({ err }, 'server error'));
    const { address, port } = self.address();
    log.info({ address, port, subject: first.subject, notAfter: first.notAfter }, `webhook listening on ${address}:${port}`);
    return self;
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Re-reads the certificate files now (they are also polled); true when a new pair was installed. */
  checkCertificates(): Promise<boolean> {
    return this.watcher.check();
  }

  /** Stops accepting; requests in flight finish within `shutdownGraceMs`, then connections are cut. Idempotent. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.closing = true;
      this.watcher.close();
      const force = setLongTimeout(() => this.server.closeAllConnections(), this.options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
      this.server.close(() => {
        force.clear();
        this.log.info('webhook stopped');
        resolve();
      });
      this.server.closeIdleConnections();
    });
    return this.closed;
  }

  private send(res: ServerResponse, status: number, body: string | object, headers: Record<string, string> = {}): void {
    const json = typeof body !== 'string';
    const payload = json ? JSON.stringify(body) : `${body}\n`;
    res.writeHead(status, {
      'content-type': json ? 'application/json' : 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(payload)),
      ...(this.closing ? { connection: 'close' } : {}),
      ...headers,
    });
    res.end(payload);
    if (this.closing) res.once('finish', () => this.server.closeIdleConnections());
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === HEALTH_PATH) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
      return this.send(res, 200, 'ok');
    }
    if (path !== MUTATE_PATH) return this.send(res, 404, `not found: ${path} (the webhook serves POST ${MUTATE_PATH})`);
    if (req.method !== 'POST') return this.send(res, 405, `method not allowed: ${MUTATE_PATH} takes POST`, { allow: 'POST' });
    const limit = this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    readBody(req, limit).then(
      (body) => this.review(body, res),
      (err: unknown) => {
        if (isWebhookError(err, WebhookErrorCode.BODY_TOO_LARGE)) {
          this.log.warn({ limit }, err.message);
          this.send(res, 413, err.message);
        } else {
          this.log.debug({ err }, 'request body not received');
          if (!res.headersSent && !res.destroyed) this.send(res, 400, 'request body not received');
        }
      },
    );
  }

  private review(body: Buffer, res: ServerResponse): void {
    let decision: ReturnType<typeof reviewAdmission>;
    try {
      decision = reviewAdmission(body, this.options.mutate);
    } catch (err) {
      if (isWebhookError(err, WebhookErrorCode.MALFORMED_REVIEW)) {
        this.log.warn({ code: err.code }, `malformed AdmissionReview: ${err.message}`);
        return this.send(res, 400, `malformed AdmissionReview: ${err.message}`);
      }
      this.log.error({ err }, 'review failed');
      return this.send(res, 500, 'internal error');
    }
    const { request, outcome, reason, mutation } = decision;
    const fields = { uid: request.uid, namespace: request.namespace, pod: podName(request.object), outcome };
    if (outcome === 'mutated') this.log.info({ ...fields, annotations: mutation?.annotations }, 'pod mutated for a peer pod VM');
    else if (outcome === 'denied') this.log.warn(fields, `pod denied: ${reason}`);
    else this.log.debug({ ...fields, reason }, `pod ${outcome}`);
    this.send(res, 200, decision.review);
  }
}

function podName(object: Record<string, unknown>): string {
  const meta = object.metadata as { name?: unknown; generateName?: unknown } | undefined;
  const name = typeof meta?.name === 'string' && meta.name ? meta.name : typeof meta?.generateName === 'string' ? meta.generateName : '';
  return name;
}

/**
 * Collects a request body up to `limit` bytes. A declared Content-Length over the limit is refused before
 * reading; a longer stream is refused as soon as it passes the limit, and the rest is read and dropped so
 * the client receives the 413 (closing on unread data would reset the connection and lose the answer).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const tooLarge = (): WebhookError => new WebhookError(WebhookErrorCode.BODY_TOO_LARGE, `request body larger than ${limit} bytes`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        chunks.length = 0;
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks, size));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('the client went away before sending the whole body'));
    });
  });
}
