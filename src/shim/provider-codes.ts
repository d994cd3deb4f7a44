/**
 * The ttrpc status the Kata shim gets for each kind of provider failure. The table lives here, not in
 * the provider layer: providers classify failures (ProviderErrorCode) and know nothing of ttrpc; the
 * shim decides what the caller sees. docs/providers.md shows the same table.
 */
import type { ProviderErrorCode } from '../providers/errors.js';
import type { CodeName } from '../ttrpc/codes.js';

export const PROVIDER_STATUS: Readonly<Record<ProviderErrorCode, Exclude<CodeName, 'OK'>>> = {
  CAPACITY: 'RESOURCE_EXHAUSTED',
  QUOTA: 'RESOURCE_EXHAUSTED',
  THROTTLED: 'UNAVAILABLE',
  NOT_FOUND: 'NOT_FOUND',
  INVALID_CONFIG: 'FAILED_PRECONDITION',
  INVALID_REQUEST: 'INVALID_ARGUMENT',
  UNAUTHORIZED: 'UNAUTHENTICATED',
  UNAVAILABLE: 'UNAVAILABLE',
  CANCELLED: 'CANCELLED',
  INTERNAL: 'INTERNAL',
};
