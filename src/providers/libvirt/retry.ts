/**
 * Retries of libvirt calls that failed for a transient reason (UNAVAILABLE: the connection broke,
 * the daemon timed out), as the cloud SDKs retry their HTTP calls. Every call of the API is safe to
 * repeat because of how the provider uses it: reads are reads; a define carries the UUID we chose,
 * so a repeat redefines the same domain; a repeated volume create meets "exists" and the provider
 * replaces its own leftover; an upload rewrites the same bytes; delete, destroy and undefine of
 * something already gone are handled as success by the provider. The one answer that needs care is
 * a start repeated after its first reply was lost: "already running" then means success.
 */
import { isProviderError } from '../errors.js';
import { retry } from '../../util/retry.js';
import type { LibvirtApi } from './client.js';
import { virErrorCode } from './errors.js';
import { VirErr } from '../../lib/libvirt-rpc/protocol.js';
import { signalOf, wrapCalls } from './wrap-calls.js';

export interface RetryOptions {
  /** Attempts per call, the first included (default 3). */
  attempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** On a repeat, these answers mean the first attempt did take effect. */
const DONE_ON_REPEAT: Record<string, number> = { startDomain: VirErr.OPERATION_INVALID };

export function withRetries(api: LibvirtApi, options: RetryOptions = {}): LibvirtApi {
  const attempts = Math.max(1, options.attempts ?? 3);
  return wrapCalls(api, async (method, args, call) => {
    const signal = signalOf(args);
    return retry(
      async (attempt) => {
        try {
          return await call(args);
        } catch (err) {
          if (attempt > 1 && DONE_ON_REPEAT[method] !== undefined && virErrorCode(err) === DONE_ON_REPEAT[method]) return undefined;
          throw err;
        }
      },
      {
        attempts,
        backoff: { initialMs: options.initialDelayMs ?? 200, maxMs: options.maxDelayMs ?? 2_000 },
        signal,
        retryable: (err) => isProviderError(err, 'UNAVAILABLE'),
        // The caller learns why the call failed, not that the wait for the next attempt was cut short.
        cancelled: (err) => err,
      },
    );
  });
}
