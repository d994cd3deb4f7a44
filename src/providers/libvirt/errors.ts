/**
 * libvirt failures → the provider contract's kinds. libvirt tells the kind in `virErrorNumber`
 * (remote_error.code); the transport's own failures are UNAVAILABLE.
 */
import { ProviderError, type ProviderErrorCode } from '../errors.js';
import { LibvirtAbortError, LibvirtConnectionError, LibvirtRpcError } from '../../lib/libvirt-rpc/connection.js';
import { VirErr } from '../../lib/libvirt-rpc/protocol.js';
import { LibvirtUriError } from '../../lib/libvirt-rpc/uri.js';
import { messageOf } from '../../util/errors.js';

const byVirCode = new Map<number, ProviderErrorCode>([
  [VirErr.NO_DOMAIN, 'NOT_FOUND'],
  [VirErr.NO_NETWORK, 'NOT_FOUND'],
  [VirErr.NO_STORAGE_POOL, 'NOT_FOUND'],
  [VirErr.NO_STORAGE_VOL, 'NOT_FOUND'],
  [VirErr.NO_DOMAIN_METADATA, 'NOT_FOUND'],
  [VirErr.AUTH_FAILED, 'UNAUTHORIZED'],
  [VirErr.AUTH_CANCELLED, 'UNAUTHORIZED'],
  [VirErr.AUTH_UNAVAILABLE, 'UNAUTHORIZED'],
  [VirErr.ACCESS_DENIED, 'UNAUTHORIZED'],
  [VirErr.OPERATION_DENIED, 'UNAUTHORIZED'],
  [VirErr.XML_ERROR, 'INVALID_CONFIG'],
  [VirErr.XML_DETAIL, 'INVALID_CONFIG'],
  [VirErr.XML_INVALID_SCHEMA, 'INVALID_CONFIG'],
  [VirErr.CONFIG_UNSUPPORTED, 'INVALID_CONFIG'],
  [VirErr.NO_SUPPORT, 'INVALID_CONFIG'],
  [VirErr.OPERATION_UNSUPPORTED, 'INVALID_CONFIG'],
  [VirErr.ARGUMENT_UNSUPPORTED, 'INVALID_CONFIG'],
  [VirErr.DEVICE_MISSING, 'INVALID_CONFIG'],
  [VirErr.DOM_EXIST, 'INVALID_REQUEST'],
  [VirErr.STORAGE_VOL_EXIST, 'INVALID_REQUEST'],
  [VirErr.INVALID_ARG, 'INVALID_REQUEST'],
  [VirErr.OPERATION_TIMEOUT, 'UNAVAILABLE'],
  [VirErr.RESOURCE_BUSY, 'UNAVAILABLE'],
  [VirErr.RPC, 'UNAVAILABLE'],
  [VirErr.NO_CONNECT, 'UNAVAILABLE'],
  [VirErr.INVALID_CONN, 'UNAVAILABLE'],
  [VirErr.SSH, 'UNAVAILABLE'],
  [VirErr.OPEN_FAILED, 'UNAVAILABLE'],
]);

/** A host that cannot give a VM its memory right now is out of capacity, not broken. */
const NO_MEMORY = /cannot allocate memory|out of memory|resource temporarily unavailable/i;

/** The libvirt error number behind an error, or undefined. */
export function virErrorCode(err: unknown): number | undefined {
  if (err instanceof LibvirtRpcError) return err.virCode;
  if (err instanceof ProviderError) return virErrorCode(err.cause);
  return undefined;
}

export function classifyLibvirtError(err: unknown, action: string, signal?: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  const message = `libvirt ${action}: ${messageOf(err)}`;
  if (err instanceof LibvirtAbortError || signal?.aborted) return new ProviderError('CANCELLED', message, { cause: err });
  if (err instanceof LibvirtConnectionError) return new ProviderError('UNAVAILABLE', message, { cause: err });
  if (err instanceof LibvirtUriError) return new ProviderError('INVALID_CONFIG', message, { cause: err });
  if (err instanceof LibvirtRpcError) {
    const kind = byVirCode.get(err.virCode) ?? (NO_MEMORY.test(err.message) ? 'CAPACITY' : 'INTERNAL');
    return new ProviderError(kind, message, { cause: err });
  }
  return new ProviderError('INTERNAL', message, { cause: err });
}
