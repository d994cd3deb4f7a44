/** EC2 errors as the fake raises them: an error code, a message and the HTTP status EC2 would use. */

/** Codes that are not plain client errors (HTTP 400). */
const STATUS_BY_CODE: Record<string, number> = {
  AuthFailure: 401,
  UnauthorizedOperation: 403,
  DryRunOperation: 412,
  InternalError: 500,
  InsufficientInstanceCapacity: 500,
  InsufficientAddressCapacity: 500,
  RequestLimitExceeded: 503,
  Unavailable: 503,
  ServiceUnavailable: 503,
};

const DEFAULT_MESSAGES: Record<string, string> = {
  AuthFailure: 'AWS was not able to validate the provided access credentials',
  DryRunOperation: 'Request would have succeeded, but DryRun flag is set.',
  InternalError: 'An internal error has occurred',
  InsufficientInstanceCapacity: 'We currently do not have sufficient capacity in the Availability Zone you requested.',
  RequestLimitExceeded: 'Request limit exceeded.',
  Unavailable: 'The server is overloaded and cannot handle the request.',
};

export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 400;
}

export function defaultMessageForCode(code: string): string {
  return DEFAULT_MESSAGES[code] ?? `Injected ${code}`;
}

export class Ec2Error extends Error {
  override readonly name = 'Ec2Error';
  constructor(
    readonly code: string,
    message: string = defaultMessageForCode(code),
    readonly status: number = statusForCode(code),
  ) {
    super(message);
  }
}

export function missingParameter(name: string): Ec2Error {
  return new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);
}

export function invalidValue(name: string, value: string, why?: string): Ec2Error {
  return new Ec2Error('InvalidParameterValue', why ?? `Invalid value '${value}' for ${name}`);
}

/** EC2's not-found wording: "The instance ID 'i-1' does not exist" / "The instance IDs 'i-1, i-2' do not exist". */
export function notFound(code: string, noun: string, ids: readonly string[]): Ec2Error {
  return ids.length === 1
    ? new Ec2Error(code, `The ${noun} '${ids[0]}' does not exist`)
    : new Ec2Error(code, `The ${noun}s '${ids.join(', ')}' do not exist`);
}

export function dryRunOperation(): Ec2Error {
  return new Ec2Error('DryRunOperation');
}
