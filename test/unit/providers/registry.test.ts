import { describe, expect, it } from 'vitest';
import { builtinProviders } from '../../../src/providers/builtin/index.js';
import { ProviderRegistry, UnknownProviderError, tunnelInterface } from '../../../src/providers/registry.js';
import { ProviderError } from '../../../src/providers/errors.js';
import { PROVIDER_STATUS } from '../../../src/shim/provider-codes.js';
import { Code } from '../../../src/ttrpc/codes.js';

describe('provider registry', () => {
  it('an unknown name fails with the list of known ones', () => {
    const r = builtinProviders();
    expect(() => r.get('openstack')).toThrow(UnknownProviderError);
    expect(() => r.get('openstack')).toThrow(/unknown provider "openstack"; known providers: aws, azure, ibmcloud, libvirt, local/);
  });
  it('refuses a second registration of one name', () => {
    const r = new ProviderRegistry();
    const p = { name: 'x', description: '', options: {}, create: async () => { throw new Error('unused'); } };
    r.register(p);
    expect(() => r.register(p)).toThrow(/registered twice/);
  });
  it('the pod network\'s interface: HOST_INTERFACE, else the provider\'s underlay, else empty (the default route\'s)', () => {
    expect(tunnelInterface('eth1', { underlayInterface: 'caabr236' })).toBe('eth1');
    expect(tunnelInterface('', { underlayInterface: 'caabr236' })).toBe('caabr236');
    expect(tunnelInterface('', {})).toBe('');
  });
});

describe('provider errors', () => {
  it('carry a stable code, a gRPC code, retryability and the partial instance', () => {
    const e = new ProviderError('CAPACITY', 'no m6a.large in us-east-1a', { partialInstanceId: 'i-1' });
    expect(e.code).toBe('CAPACITY');
    expect(Code[PROVIDER_STATUS[e.code]]).toBe(8);
    expect(e.retryable).toBe(true);
    expect(e.partialInstanceId).toBe('i-1');
    expect(new ProviderError('INVALID_CONFIG', 'x').retryable).toBe(false);
    expect(Code[PROVIDER_STATUS[new ProviderError('INVALID_CONFIG', 'x').code]]).toBe(9);
  });
});
