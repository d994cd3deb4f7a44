/** Failures of the daemon ↔ forwarder TLS set-up, each with a stable `code`. */
import { codedError } from '../../util/coded-error.js';

/**
 * Codes:
 * - `INVALID_CONFIG`: a TLS setting is wrong (unknown cipher suite, inconsistent manual files, …): fix the
 *   configuration.
 * - `FILE_UNREADABLE`: a configured certificate, key or CA file cannot be read; the message names it.
 * - `INVALID_CERTIFICATE`: PEM that does not parse, a key that does not match its certificate, a CA that is not a
 *   CA.
 * - `CERTIFICATE_EXPIRED`: a certificate is expired, not yet valid, or expires too soon.
 * - `INVALID_NAME`: a server certificate was asked for a name that is not a DNS name.
 */
export class TlsError extends codedError('TlsError', ['INVALID_CONFIG', 'FILE_UNREADABLE', 'INVALID_CERTIFICATE', 'CERTIFICATE_EXPIRED', 'INVALID_NAME']) {}

export const TlsErrorCode = TlsError.Code;
export type TlsErrorCode = TlsError['code'];

export const isTlsError = (err: unknown, code?: TlsErrorCode): err is TlsError => TlsError.is(err, code);
