import { Code, type CodeName } from '../ttrpc/codes.js';
import { codedError, type CodedErrorOptions } from '../util/coded-error.js';
import { messageOf } from '../util/errors.js';

type ShimCode = Exclude<CodeName, 'OK'>;
const SHIM_CODES = (Object.keys(Code) as CodeName[]).filter((c): c is ShimCode => c !== 'OK');

/** Errors the shim service answers with; the code is the ttrpc status the Kata shim sees. */
export class ShimError extends codedError('ShimError', SHIM_CODES) {
  /** The code as a number: the ttrpc server sends it (toTtrpcError reads `grpcCode`). */
  readonly grpcCode: number;

  constructor(code: ShimCode, message: string, options?: CodedErrorOptions) {
    super(code, message, options);
    this.grpcCode = Code[code];
  }
}

/** errno → the status a caller can act on: out of space waits for space, a broken disk for an operator. */
const STORAGE_CODES: Readonly<Record<string, Exclude<CodeName, 'OK'>>> = {
  ENOSPC: 'RESOURCE_EXHAUSTED',
  EDQUOT: 'RESOURCE_EXHAUSTED',
  EROFS: 'UNAVAILABLE',
  EACCES: 'UNAVAILABLE',
  EPERM: 'UNAVAILABLE',
  EIO: 'UNAVAILABLE',
};

/** Node's fs messages read `ENOSPC: no space left on device, write`; the middle part is what we show. */
function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const message = messageOf(err);
  if (typeof e?.code !== 'string') return message;
  const m = /^[A-Z0-9]+: (.+?), [a-z_]+( '|$)/.exec(message);
  return `${m ? m[1] : message} (${e.code})`;
}

/**
 * A failure to write or remove a sandbox's files, as the shim sees it: a stable code from the
 * errno and a message naming PODS_DIR and the path, e.g. `cannot write the sandbox state under
 * PODS_DIR=/run/peerpod/pods (…/state.json): no space left on device (ENOSPC)`.
 */
export function storageError(action: string, podsDir: string, path: string, err: unknown): ShimError {
  if (err instanceof ShimError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const code = (typeof errno === 'string' ? STORAGE_CODES[errno] : undefined) ?? 'INTERNAL';
  return new ShimError(code, `cannot ${action} under PODS_DIR=${podsDir} (${path}): ${errnoText(err)}`, { cause: err });
}
