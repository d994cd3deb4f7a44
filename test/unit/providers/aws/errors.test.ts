import { describe, expect, it } from 'vitest';
import { classifyAwsError, ec2ErrorCode } from '../../../../src/providers/aws/errors.js';

/** The shape the SDK gives an EC2 error: the code in `name`, and `$metadata`. */
const sdkError = (name: string, status = 400): Error => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });

describe('classifyAwsError', () => {
  it.each([
    ['InsufficientInstanceCapacity', 'CAPACITY'],
    ['Unsupported', 'CAPACITY'],
    ['VcpuLimitExceeded', 'QUOTA'],
    ['InstanceLimitExceeded', 'QUOTA'],
    ['RequestLimitExceeded', 'THROTTLED'],
    ['AuthFailure', 'UNAUTHORIZED'],
    ['UnauthorizedOperation', 'UNAUTHORIZED'],
    ['InvalidInstanceID.NotFound', 'NOT_FOUND'],
    ['InvalidAMIID.Malformed', 'INVALID_REQUEST'],
    ['InvalidParameterCombination', 'INVALID_REQUEST'],
    ['InternalError', 'UNAVAILABLE'],
  ])('%s → %s', (name, code) => {
    const e = classifyAwsError(sdkError(name), 'RunInstances');
    expect(e.code).toBe(code);
    expect(e.message).toContain(`EC2 RunInstances: ${name}`);
    expect(ec2ErrorCode(e.cause)).toBe(name);
  });

  it('an unknown 5xx is UNAVAILABLE, an unknown 4xx INTERNAL', () => {
    expect(classifyAwsError(sdkError('SomethingNew', 502), 'X').code).toBe('UNAVAILABLE');
    expect(classifyAwsError(sdkError('SomethingNew', 400), 'X').code).toBe('INTERNAL');
  });

  it('network failures are UNAVAILABLE, an aborted signal is CANCELLED', () => {
    expect(classifyAwsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'X').code).toBe('UNAVAILABLE');
    const ac = new AbortController();
    ac.abort();
    expect(classifyAwsError(sdkError('InternalError'), 'X', ac.signal).code).toBe('CANCELLED');
  });

  it('a plain Error has no EC2 code', () => {
    expect(ec2ErrorCode(new Error('x'))).toBe('');
  });
});
