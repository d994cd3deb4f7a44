/**
 * The webhook's serving certificate: loaded from two PEM files and re-read when they change, because
 * cert-manager renews the Secret and the kubelet swaps the mounted files (an atomic symlink switch, which
 * file watches miss — so the files are polled, which costs two small reads every interval).
 */
import { messageOf } from '../util/errors.js';
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { WebhookError, WebhookErrorCode } from './errors.js';
import { setLongTimeout, type LongTimer } from '../util/timers.js';

export interface ServingCertificate {
  cert: Buffer;
  key: Buffer;
  /** sha256 of both files: a change of either is a new certificate. */
  digest: string;
  subject: string;
  notAfter: string;
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new WebhookError(WebhookErrorCode.CERTIFICATE_UNUSABLE, `cannot read the ${what} ${path}: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * Reads and checks a certificate/key pair. Throws WebhookError `CERTIFICATE_UNUSABLE` naming the file
 * when a file cannot be read, does not parse, or the key does not belong to the certificate.
 */
export async function loadServingCertificate(certFile: string, keyFile: string): Promise<ServingCertificate> {
  const [cert, key] = await Promise.all([readPem(certFile, 'certificate'), readPem(keyFile, 'key')]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new WebhookError(WebhookErrorCode.CERTIFICATE_UNUSABLE, `${certFile} is not a PEM certificate: ${messageOf(err)}`, { cause: err });
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new WebhookError(WebhookErrorCode.CERTIFICATE_UNUSABLE, `${keyFile} is not the key of ${certFile}: ${messageOf(err)}`, { cause: err });
  }
  const digest = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
  return { cert, key, digest, subject: x509.subject.replace(/\n/g, ', '), notAfter: x509.validTo };
}

export interface CertificateWatcherOptions {
  certFile: string;
  keyFile: string;
  /** The pair in use now (the watcher reports only a different one). */
  current: ServingCertificate;
  intervalMs: number;
  /** A new, valid pair: install it. */
  onChange: (next: ServingCertificate) => void;
  /** The files changed but are unusable (mid-rotation, wrong key): the old pair stays. Reported once per distinct problem. */
  onError: (err: WebhookError) => void;
}

/**
 * Polls the files every `intervalMs` (an unref()ed timer: it never keeps the process alive).
 * `check()` runs one poll now. Polls never overlap. `close()` stops polling.
 */
export class CertificateWatcher {
  private applied: string;
  private lastProblem = '';
  private timer: LongTimer | undefined;
  private closed = false;
  private running: Promise<boolean> | undefined;

  constructor(private readonly options: CertificateWatcherOptions) {
    this.applied = options.current.digest;
    this.schedule();
  }

  /** Re-reads the files now; true when a new pair was installed. */
  check(): Promise<boolean> {
    this.running ??= this.poll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  close(): void {
    this.closed = true;
    this.timer?.clear();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setLongTimeout(() => {
      void this.check().finally(() => this.schedule());
    }, this.options.intervalMs);
  }

  private async poll(): Promise<boolean> {
    let next: ServingCertificate;
    try {
      next = await loadServingCertificate(this.options.certFile, this.options.keyFile);
    } catch (err) {
      const e = err instanceof WebhookError ? err : new WebhookError(WebhookErrorCode.CERTIFICATE_UNUSABLE, String(err), { cause: err });
      if (e.message !== this.lastProblem) {
        this.lastProblem = e.message;
        this.options.onError(e);
      }
      return false;
    }
    this.lastProblem = '';
    if (next.digest === this.applied || this.closed) return false;
    this.applied = next.digest;
    this.options.onChange(next);
    return true;
  }
}
