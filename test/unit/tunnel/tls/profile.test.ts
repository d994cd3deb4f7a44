import { createSecureContext } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { acceptedCipherSuites, DEFAULT_TLS_PROFILE, parseTlsProfile, TLS12_CIPHER_SUITES, TlsError } from '../../../../src/tunnel/tls/index.js';

describe('TLS profile', () => {
  it('defaults: TLS 1.2 floor, Node ciphers', () => {
    expect(DEFAULT_TLS_PROFILE).toEqual({ minVersion: '', cipherSuites: [], nodeMinVersion: 'TLSv1.2', ciphers: undefined });
    expect(parseTlsProfile({ minVersion: 'VersionTLS12' }).nodeMinVersion).toBe('TLSv1.2');
    expect(parseTlsProfile({ minVersion: 'VersionTLS13' }).nodeMinVersion).toBe('TLSv1.3');
  });

  it('maps IANA names to OpenSSL names, drops duplicates, keeps the TLS 1.3 suites on', () => {
    const p = parseTlsProfile({
      cipherSuites: [
        'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
        ' TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
        'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
        'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
      ],
    });
    expect(p.cipherSuites).toEqual(['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256']);
    expect(p.ciphers).toBe(
      'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
    );
  });

  it('every mapped name is a cipher this OpenSSL knows', () => {
    for (const [iana, openssl] of Object.entries(TLS12_CIPHER_SUITES)) {
      expect(() => createSecureContext({ ciphers: openssl, maxVersion: 'TLSv1.2' }), iana).not.toThrow();
    }
  });

  it('an unknown suite is an INVALID_CONFIG error naming it and listing the accepted ones', () => {
    let err: unknown;
    try {
      parseTlsProfile({ cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_RSA_WITH_RC4_128_SHA'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TlsError);
    expect((err as TlsError).code).toBe('INVALID_CONFIG');
    expect((err as TlsError).message).toContain('TLS_RSA_WITH_RC4_128_SHA');
    expect((err as TlsError).message).toContain('TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256');
    expect(acceptedCipherSuites()).toContain('TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384');
  });

  it('refuses suites with a TLS 1.3 floor and an unknown floor', () => {
    expect(() => parseTlsProfile({ minVersion: 'VersionTLS13', cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('TLS 1.2') }),
    );
    expect(() => parseTlsProfile({ minVersion: 'VersionTLS11' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('VersionTLS11') }));
  });
});
