/**
 * The TLS profile shared by the daemon and the forwarder: a protocol floor and, for TLS 1.2, the cipher
 * suites. Configured with Go's names (TLS_MIN_VERSION, IANA suite names in TLS_CIPHER_SUITES), sent to the
 * VM unchanged, and mapped here to Node's `minVersion` / `ciphers`.
 */
import { TlsError } from './errors.js';

export type TlsMinVersion = '' | 'VersionTLS12' | 'VersionTLS13';

export interface TlsProfile {
  /** As configured; '' means the default (TLS 1.2). */
  readonly minVersion: TlsMinVersion;
  /** IANA names as configured (validated, duplicates dropped, order kept); [] means Node's defaults. */
  readonly cipherSuites: readonly string[];
  /** Node's `minVersion`. */
  readonly nodeMinVersion: 'TLSv1.2' | 'TLSv1.3';
  /**
   * Node's `ciphers`, or undefined for Node's defaults. The TLS 1.3 suites are always appended: like Go,
   * choosing TLS 1.2 suites does not switch TLS 1.3 off (in Node a list without them would).
   */
  readonly ciphers: string | undefined;
}

/** IANA (Go) name → OpenSSL name of the TLS 1.2 suites that can be chosen. */
export const TLS12_CIPHER_SUITES: Readonly<Record<string, string>> = Object.freeze({
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  // Go's older constant names for the two suites above.
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
});

/**
 * TLS 1.3 suites. Go accepts their names in the suite list but they cannot be chosen (always enabled), so
 * they are accepted here too and change nothing, except that a list naming only them leaves no TLS 1.2
 * suite: only TLS 1.3 connects, as with Go.
 */
export const TLS13_CIPHER_SUITES: readonly string[] = Object.freeze(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);

const MIN_VERSIONS: Readonly<Record<TlsMinVersion, 'TLSv1.2' | 'TLSv1.3'>> = { '': 'TLSv1.2', VersionTLS12: 'TLSv1.2', VersionTLS13: 'TLSv1.3' };

/** Every name TLS_CIPHER_SUITES accepts. */
export function acceptedCipherSuites(): string[] {
  return [...Object.keys(TLS12_CIPHER_SUITES), ...TLS13_CIPHER_SUITES];
}

/**
 * Validates and maps a profile. Throws TlsError INVALID_CONFIG naming the bad value: an unknown minimum
 * version, an unknown suite (with the accepted names), or suites chosen with a TLS 1.3 floor.
 */
export function parseTlsProfile(input: { minVersion?: string; cipherSuites?: readonly string[] } = {}): TlsProfile {
  const minVersion = input.minVersion ?? '';
  if (!Object.hasOwn(MIN_VERSIONS, minVersion)) {
    throw new TlsError('INVALID_CONFIG', `TLS_MIN_VERSION: unknown version "${minVersion}" (accepted: "", VersionTLS12, VersionTLS13)`);
  }
  const version = minVersion as TlsMinVersion;
  const suites = [...new Set((input.cipherSuites ?? []).map((s) => s.trim()).filter((s) => s !== ''))];
  const unknown = suites.filter((s) => !Object.hasOwn(TLS12_CIPHER_SUITES, s) && !TLS13_CIPHER_SUITES.includes(s));
  if (unknown.length > 0) {
    throw new TlsError(
      'INVALID_CONFIG',
      `TLS_CIPHER_SUITES: unknown cipher suite${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (accepted: ${acceptedCipherSuites().join(', ')})`,
    );
  }
  if (suites.length > 0 && version === 'VersionTLS13') {
    throw new TlsError('INVALID_CONFIG', 'TLS_CIPHER_SUITES: cipher suites can only be chosen with TLS 1.2 (TLS_MIN_VERSION=VersionTLS13 given)');
  }
  let ciphers: string | undefined;
  if (suites.length > 0) {
    const openssl = new Set<string>();
    for (const s of suites) {
      const mapped = TLS12_CIPHER_SUITES[s];
      if (mapped !== undefined) openssl.add(mapped);
    }
    ciphers = [...openssl, ...TLS13_CIPHER_SUITES].join(':');
  }
  return Object.freeze({ minVersion: version, cipherSuites: Object.freeze(suites), nodeMinVersion: MIN_VERSIONS[version], ciphers });
}

/** No floor above TLS 1.2, Node's suites: what an empty configuration gives. */
export const DEFAULT_TLS_PROFILE: TlsProfile = parseTlsProfile();
