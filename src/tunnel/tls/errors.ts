/** Failures of the daemon ↔ forwarder TLS set-up, each with a stable `code`. */
import { codedError } from '../../util/coded-error.js';

export const TlsErrorCode = {
  /** A TLS setting is wrong (unknown cipher suite, inconsistent manual files, …): fix the configuration. */
  INVALID_CONFIG: 'INVALID_CONFIG',
  /** A configured certificate, key or CA file cannot be read; the message names it. */
  FILE_UNREADABLE: 'FILE_UNREADABLE',
  /** PEM that does not parse, a key that does not match its certificate, a CA that is not a CA. */
  INVALID_CERTIFICATE: 'INVALID_CERTIFICATE',
  /** A certificate is expired, not yet valid, or expires too soon. */
  CERTIFICATE_EXPIRED: 'CERTIFICATE_EXPIRED',
  /** A server certificate was asked for a name that is not a DNS name. */
  INVALID_NAME: 'INVALID_NAME',
} as const;

export type TlsErrorCode = (typeof TlsErrorCode)[keyof typeof TlsErrorCode];

export class TlsError extends codedError('TlsError', TlsErrorCode) {}

export const isTlsError = (err: unknown, code?: TlsErrorCode): err is TlsError => TlsError.is(err, code);
