/**
 * Names and labels made from arbitrary pod names, node names and sandbox ids are always valid; HTTP
 * answers and transport failures classify into stable KubeError codes.
 */
import { ApiException } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asKubeError, codeOfStatus } from '../../../src/k8s/errors.js';
import { isDnsSubdomain, isLabelValue, labelValue } from '../../../src/k8s/names.js';
import { peerPodName } from '../../../src/k8s/peerpods.js';

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
const podName = fc.array(label, { minLength: 1, maxLength: 8 }).map((parts) => parts.join('.').slice(0, 253).replace(/[-.]+$/, '')).filter((n) => isDnsSubdomain(n));

describe('names', () => {
  it('peerPodName is a valid object name for any pod name', () => {
    fc.assert(
      fc.property(podName, (name) => {
        const pp = peerPodName(name);
        expect(isDnsSubdomain(pp)).toBe(true);
        expect(pp).toMatch(/-resource-[a-z0-9]{5}$/);
        expect(name.startsWith(pp.replace(/-resource-[a-z0-9]{5}$/, ''))).toBe(true);
      }),
    );
  });

  it('labelValue is a valid label value for any string, and keeps valid short ones as they are', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        expect(isLabelValue(labelValue(s))).toBe(true);
      }),
    );
    expect(labelValue('node-a')).toBe('node-a');
    expect(labelValue('a'.repeat(64))).toBe('a'.repeat(63));
    expect(labelValue('ip-10-0-0-1.ec2.internal')).toBe('ip-10-0-0-1.ec2.internal');
  });
});

describe('KubeError classification', () => {
  it('maps statuses (409 split by reason) and keeps status and reason', () => {
    expect([404, 403, 401, 400, 415, 422, 429, 500, 503, 418].map((s) => codeOfStatus(s))).toEqual([
      'NOT_FOUND',
      'FORBIDDEN',
      'UNAUTHORIZED',
      'INVALID',
      'INVALID',
      'INVALID',
      'THROTTLED',
      'UNAVAILABLE',
      'UNAVAILABLE',
      'INTERNAL',
    ]);
    expect(codeOfStatus(409, 'AlreadyExists')).toBe('ALREADY_EXISTS');
    expect(codeOfStatus(409, 'Conflict')).toBe('CONFLICT');
    const e = asKubeError(new ApiException(409, 'x', JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'modified' }), {}), 'patch x');
    expect(e).toMatchObject({ code: 'CONFLICT', status: 409, reason: 'Conflict', retryable: true });
    expect(e.message).toBe('patch x: HTTP 409 Conflict: modified');
    expect(asKubeError(new ApiException(502, 'x', '<html>bad gateway</html>', {}), 'get y')).toMatchObject({ code: 'UNAVAILABLE', status: 502 });
  });

  it('network failures are UNAVAILABLE, an abort of the caller CANCELLED, anything else INTERNAL', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(asKubeError(refused, 'get')).toMatchObject({ code: 'UNAVAILABLE', status: undefined, retryable: true });
    const ctl = new AbortController();
    ctl.abort(new Error('bye'));
    expect(asKubeError(new Error('whatever'), 'get', ctl.signal)).toMatchObject({ code: 'CANCELLED', retryable: false });
    expect(asKubeError(new TypeError('boom'), 'get')).toMatchObject({ code: 'INTERNAL' });
  });
});
