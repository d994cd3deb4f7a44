/**
 * The process exit status for an error that ends a CLI: 2 for bad configuration — an unknown or
 * malformed flag, a bad option value, a configured file that cannot be used (manual TLS files, the
 * webhook's certificate) — as docs/configuration.md promises; 3 when another daemon owns PODS_DIR or
 * the socket; 1 for everything else. Help and version output end with 0.
 */
import { ConfigError } from '../config/errors.js';
import { TlsError } from '../tunnel/tls/errors.js';
import { WebhookError, WebhookErrorCode } from '../webhook/errors.js';

const EXIT_FAILURE = 1;
const EXIT_BAD_CONFIG = 2;
/** Another daemon owns PODS_DIR or serves on the socket (docs/operations.md, "Rolling updates"). */
const EXIT_OWNED = 3;

/** TLS failures at start that are about the operator's files (manual mode: CACERT_FILE, CERT_FILE, CERT_KEY). */
const TLS_CONFIG_CODES = new Set(['INVALID_CONFIG', 'FILE_UNREADABLE', 'INVALID_CERTIFICATE', 'CERTIFICATE_EXPIRED']);

/** A signal ended the start before the daemon served (e.g. while waiting for PODS_DIR): a clean stop, exit 0. */
export class StoppedBySignal extends Error {
  readonly code = 'STOPPED_BY_SIGNAL';
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof StoppedBySignal) return 0;
  if (err instanceof ConfigError) return EXIT_BAD_CONFIG;
  if (err instanceof TlsError) return TLS_CONFIG_CODES.has(err.code) ? EXIT_BAD_CONFIG : EXIT_FAILURE;
  // The webhook's configured serving certificate or key (WEBHOOK_CERT_FILE, WEBHOOK_KEY_FILE).
  if (err instanceof WebhookError) return err.code === WebhookErrorCode.CERTIFICATE_UNUSABLE ? EXIT_BAD_CONFIG : EXIT_FAILURE;
  const e = err as { code?: unknown; exitCode?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code === 'PODS_DIR_OWNED' || code === 'SOCKET_IN_USE') return EXIT_OWNED;
  // commander's own errors (exitOverride): usage errors, or help/version that asked to end with 0.
  if (code.startsWith('commander.')) return e?.exitCode === 0 ? 0 : EXIT_BAD_CONFIG;
  return code.startsWith('INVALID_') ? EXIT_BAD_CONFIG : EXIT_FAILURE;
}

/** commander prints its own usage errors; everything else still needs its message printed. */
export function printedByCommander(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('commander.');
}
