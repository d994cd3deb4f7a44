/**
 * Errors of the pod VM payload modules. Each carries a stable `code` so callers decide what to do
 * (refuse a CreateVM, stop at start-up, fail the VM's provisioning) without parsing messages.
 */
import { singleCodeError, type CodedErrorOptions } from '../util/coded-error.js';

/** `apf.json` that does not match the `forwarder.Config` schema; `key` is the dotted path of the bad key. */
export class ApfConfigError extends singleCodeError('ApfConfigError', 'INVALID_APF_CONFIG') {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/** Why an initdata document was refused; the `code` is always `INVALID_INITDATA`. */
export type InitdataErrorReason =
  | 'BAD_BASE64'
  | 'NOT_GZIP'
  | 'TOO_LARGE'
  | 'BAD_TOML'
  | 'BAD_ALGORITHM'
  | 'BAD_VERSION'
  | 'BAD_DATA'
  | 'UNKNOWN_DATA_KEY';

export class InitdataError extends singleCodeError('InitdataError', 'INVALID_INITDATA') {
  constructor(
    readonly reason: InitdataErrorReason,
    message: string,
    options?: CodedErrorOptions,
  ) {
    super(message, options);
  }
}

/** A user-data document that is not the strict cloud-config the pod VM accepts. */
export class UserDataError extends singleCodeError('UserDataError', 'INVALID_USER_DATA') {}

/** The VM-side reader could not get valid user data before its deadline. */
export class ProvisionError extends singleCodeError('ProvisionError', 'USER_DATA_TIMEOUT') {}
