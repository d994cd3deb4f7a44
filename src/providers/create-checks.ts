/**
 * What every provider's createInstance does the same way: the user-data size check, the one-time
 * notice that multi-NIC pods get one interface (once per provider object, whichever logger asks), and
 * the handling of a failure after the cloud accepted the instance (the error keeps its kind and names
 * the instance in `partialInstanceId`; deleting it is the caller's job).
 */
import type { Logger } from 'pino';
import { ProviderError, asProviderError, type ProviderErrorCode } from './errors.js';
import type { CreateInstanceRequest, InstanceSpec } from './provider.js';

/**
 * For a cloud that refuses user-data over `max` UTF-8 bytes: INVALID_REQUEST before any call, naming
 * the size; `accepts` words the cloud's limit ("EC2 accepts at most 16384 bytes (before base64)").
 */
export function checkUserDataBytes(req: Pick<CreateInstanceRequest, 'userData' | 'instanceName'>, max: number, accepts: string): void {
  const bytes = Buffer.byteLength(req.userData, 'utf8');
  if (bytes > max) throw new ProviderError('INVALID_REQUEST', `user-data for ${req.instanceName} is ${bytes} bytes; ${accepts}`);
}

/**
 * EXTERNAL_NETWORK_VIA_PODVM is not implemented by this provider: warn on the first pod that asks for
 * it, once per provider object (a warning per pod would say nothing new).
 */
export class MultiNicNotice {
  private warned = false;

  /** `provider` names it in the line; `instead` says what an instance gets ("instances get one interface"). */
  constructor(
    private readonly provider: string,
    private readonly instead: string,
  ) {}

  check(spec: Pick<InstanceSpec, 'multiNic'>, log: Logger): void {
    if (!spec.multiNic || this.warned) return;
    this.warned = true;
    log.warn(`EXTERNAL_NETWORK_VIA_PODVM is not implemented for ${this.provider}; ${this.instead}`);
  }
}

export interface CreatedInstance {
  /** The id the caller deletes after a failure. */
  id: string;
  /** The message's prefix: "instance i-0abc created but not reachable". */
  what: string;
  signal: AbortSignal;
  /** Every failure gets this kind instead of its own (local: a failed process start is INTERNAL). */
  code?: ProviderErrorCode;
  /** Failures that pass through unchanged (a provider's own signal to its capacity fallback). */
  passThrough?(err: unknown): boolean;
}

/**
 * Runs the steps that follow the cloud's acceptance of an instance (addresses, tags, start). Any
 * failure becomes a ProviderError of the same kind (CANCELLED when `signal` ended it), prefixed
 * with `what`, carrying the instance's id as `partialInstanceId`.
 */
export async function afterCreated<T>(created: CreatedInstance, steps: () => Promise<T>): Promise<T> {
  try {
    return await steps();
  } catch (err) {
    if (created.passThrough?.(err)) throw err;
    const perr = asProviderError(err, created.signal);
    throw new ProviderError(created.code ?? perr.code, `${created.what}: ${perr.message}`, { partialInstanceId: created.id, cause: err });
  }
}
