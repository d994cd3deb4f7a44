import { beforeAll, describe, expect, it } from 'vitest';
import {
  CA_ORGANIZATION,
  CERT_BACKDATE_MS,
  CERT_VALIDITY_MS,
  checkCertKeyPair,
  CLIENT_ORGANIZATION,
  createCa,
  createClientCert,
  inspectCert,
  issueServerCert,
  type CertKeyPair,
} from '../../../../src/tunnel/tls/index.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DIGITAL_SIGNATURE = 1;
const KEY_CERT_SIGN = 32;
const NAME = 'podvm-nginx-a1b2c3d4';

let ca: CertKeyPair;
let client: CertKeyPair;
let server: CertKeyPair;
let t0: number;
beforeAll(async () => {
  t0 = Date.now();
  [ca, client] = await Promise.all([createCa(), createClientCert()]);
  server = await issueServerCert(ca, NAME);
});

/** `issuerNotAfter`: a certificate never outlives its issuer, so its notAfter is capped there. */
function expectFreshValidity(pem: string, issuerNotAfter?: Date): void {
  const info = inspectCert(pem);
  // Dates are encoded to the second.
  expect(info.notBefore.getTime()).toBeGreaterThanOrEqual(t0 - CERT_BACKDATE_MS - 1000);
  expect(info.notBefore.getTime()).toBeLessThanOrEqual(Date.now() - CERT_BACKDATE_MS + 1000);
  // Issued in a later second than its CA, a server certificate ends a second before two years are up.
  const expected = Math.min(info.notBefore.getTime() + CERT_VALIDITY_MS, issuerNotAfter?.getTime() ?? Infinity);
  expect(info.notAfter.getTime()).toBe(expected);
  expect(info.notAfter.getTime() - info.notBefore.getTime()).toBeGreaterThanOrEqual(CERT_VALIDITY_MS - 1000);
  expect(CERT_VALIDITY_MS).toBe(730 * 86_400_000);
}

describe('generated certificates', () => {
  it('CA: CA:TRUE, O=agent-protocol-forwarder, self-signed, digitalSignature|keyCertSign, two years from now-5min', () => {
    const info = inspectCert(ca.cert);
    expect(info.isCa).toBe(true);
    expect(info.organization).toEqual([CA_ORGANIZATION]);
    expect(info.selfSigned).toBe(true);
    expect(info.keyUsage).toBe(DIGITAL_SIGNATURE | KEY_CERT_SIGN);
    expectFreshValidity(ca.cert);
  });

  it('client: O=cloud-api-adaptor, clientAuth, not a CA, self-signed', () => {
    const info = inspectCert(client.cert);
    expect(info.organization).toEqual([CLIENT_ORGANIZATION]);
    expect(info.extKeyUsage).toEqual([CLIENT_AUTH]);
    expect(info.isCa).toBe(false);
    expect(info.selfSigned).toBe(true);
    expect(info.keyUsage).toBe(DIGITAL_SIGNATURE | KEY_CERT_SIGN);
    expectFreshValidity(client.cert);
  });

  it('server: CN and DNS SAN = instance name, serverAuth, issued by the CA', () => {
    const info = inspectCert(server.cert);
    expect(info.commonName).toBe(NAME);
    expect(info.dnsNames).toEqual([NAME]);
    expect(info.extKeyUsage).toEqual([SERVER_AUTH]);
    expect(info.isCa).toBe(false);
    expect(info.selfSigned).toBe(false);
    expect(info.issuer).toBe(inspectCert(ca.cert).subject);
    expectFreshValidity(server.cert, inspectCert(ca.cert).notAfter);
  });

  it('keys are PKCS#8 ECDSA P-256; serials are 128 random bits', async () => {
    for (const pair of [ca, client, server]) {
      expect(pair.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      expect(checkCertKeyPair(pair).notAfter).toBeInstanceOf(Date);
    }
    const { createPrivateKey } = await import('node:crypto');
    expect(createPrivateKey(ca.key).asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    const serials = await Promise.all(Array.from({ length: 8 }, () => createClientCert().then((c) => inspectCert(c.cert).serialNumber)));
    serials.push(inspectCert(ca.cert).serialNumber, inspectCert(server.cert).serialNumber);
    expect(new Set(serials).size).toBe(serials.length);
    for (const s of serials) expect(s.length).toBeLessThanOrEqual(32);
    // 10 serials of 128 random bits: at least one uses the top byte, none is short of 15 bytes.
    expect(Math.max(...serials.map((s) => s.length))).toBe(32);
  });

  it('a server certificate does not outlive its CA', async () => {
    const shortCa = await createCa({ validityMs: 10 * 86_400_000 });
    const s = await issueServerCert(shortCa, NAME);
    expect(inspectCert(s.cert).notAfter).toEqual(inspectCert(shortCa.cert).notAfter);
  });

  it('a server certificate issued in the second after its CA ends with the CA, one second short of two years', async () => {
    // Certificates carry whole seconds: the CA made at …:00.999 ends at …:00 two years on.
    const caAt = new Date(Date.UTC(2026, 10, 29, 12, 0, 0, 999));
    const sameDayCa = await createCa({ now: caAt });
    const s = inspectCert((await issueServerCert(sameDayCa, NAME, { now: new Date(caAt.getTime() + 2) })).cert);
    expect(s.notAfter).toEqual(inspectCert(sameDayCa.cert).notAfter);
    expect(s.notAfter.getTime() - s.notBefore.getTime()).toBe(CERT_VALIDITY_MS - 1000);
  });

  it('refuses a server name that cannot be a DNS SAN, and a CA key that is not P-256 PKCS#8', async () => {
    await expect(issueServerCert(ca, 'bad name')).rejects.toMatchObject({ code: 'INVALID_NAME' });
    await expect(issueServerCert(ca, '')).rejects.toMatchObject({ code: 'INVALID_NAME' });
    await expect(issueServerCert({ cert: ca.cert, key: 'garbage' }, NAME)).rejects.toMatchObject({ code: 'INVALID_CERTIFICATE' });
  });

  it('checkCertKeyPair: mismatched key, garbage, expired, expiring soon', async () => {
    expect(() => checkCertKeyPair({ cert: ca.cert, key: client.key })).toThrow(expect.objectContaining({ code: 'INVALID_CERTIFICATE', message: expect.stringMatching(/does not match/) }));
    expect(() => checkCertKeyPair({ cert: 'nope', key: client.key })).toThrow(expect.objectContaining({ code: 'INVALID_CERTIFICATE' }));
    expect(() => checkCertKeyPair({ cert: client.cert, key: 'nope' })).toThrow(expect.objectContaining({ code: 'INVALID_CERTIFICATE' }));
    const old = await createClientCert({ now: new Date(Date.now() - 3 * 86_400_000), validityMs: 86_400_000 });
    expect(() => checkCertKeyPair(old)).toThrow(expect.objectContaining({ code: 'CERTIFICATE_EXPIRED', message: expect.stringMatching(/expired/) }));
    expect(() => checkCertKeyPair(client, { minRemainingMs: 3 * 365 * 86_400_000 })).toThrow(expect.objectContaining({ code: 'CERTIFICATE_EXPIRED' }));
    expect(() => checkCertKeyPair(client, { now: new Date(Date.now() - 86_400_000) })).toThrow(expect.objectContaining({ message: expect.stringMatching(/not valid before/) }));
  });
});
