import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  apfTlsFields,
  clientOptions,
  createClientCert,
  DEFAULT_TLS_PROFILE,
  forwarderServerOptions,
  parseTlsProfile,
  TlsMaterial,
  type ApfTlsFields,
} from '../../../../src/tunnel/tls/index.js';
import { closeAll, handshake, listen } from './handshake.js';

const NAME = 'podvm-nginx-a1b2c3d4';

let material: TlsMaterial;
let fields: ApfTlsFields;
beforeAll(async () => {
  material = await TlsMaterial.generate();
  fields = await apfTlsFields(material, DEFAULT_TLS_PROFILE, NAME);
});
afterEach(closeAll);

describe('automatic mode: daemon ↔ forwarder mutual TLS', () => {
  it('the forwarder built from apf.json accepts the daemon, which checks the instance name', async () => {
    const { port, clientErrors } = await listen(forwarderServerOptions(fields));
    const hs = await handshake(port, clientOptions(material, DEFAULT_TLS_PROFILE, { instanceName: NAME }));
    expect(hs.protocol).toBe('TLSv1.3');
    expect(hs.peerSubject).toContain(NAME);
    expect(clientErrors).toEqual([]);
  });

  it('the forwarder refuses a client without a certificate', async () => {
    const { port, clientErrors } = await listen(forwarderServerOptions(fields));
    const { cert: _c, key: _k, ...noCert } = clientOptions(material, DEFAULT_TLS_PROFILE, { instanceName: NAME });
    await expect(handshake(port, noCert)).rejects.toThrow();
    await expect.poll(() => clientErrors.length).toBe(1);
    expect(clientErrors[0]!.message).toMatch(/certificate/i);
  });

  it('the forwarder refuses a client certificate it was not given (another daemon)', async () => {
    const { port, clientErrors } = await listen(forwarderServerOptions(fields));
    const other = await createClientCert();
    const client = { ...clientOptions(material, DEFAULT_TLS_PROFILE, { instanceName: NAME }), ...other };
    await expect(handshake(port, client)).rejects.toThrow();
    await expect.poll(() => clientErrors.length).toBe(1);
    // The reason, seen by a forwarder that lets the client through.
    const lax = await listen({ ...forwarderServerOptions(fields), rejectUnauthorized: false });
    await handshake(lax.port, client);
    expect(lax.unauthorized).toEqual(['DEPTH_ZERO_SELF_SIGNED_CERT']);
  });

  it('the forwarder refuses an expired client certificate', async () => {
    const expired = await createClientCert({ now: new Date(Date.now() - 3 * 86_400_000), validityMs: 86_400_000 });
    const server = forwarderServerOptions({ ...fields, 'tls-client-ca': expired.cert });
    const client = { ...clientOptions(material, DEFAULT_TLS_PROFILE, { instanceName: NAME }), ...expired };
    const { port, clientErrors } = await listen(server);
    await expect(handshake(port, client)).rejects.toThrow();
    await expect.poll(() => clientErrors.length).toBe(1);
    const lax = await listen({ ...server, rejectUnauthorized: false });
    await handshake(lax.port, client);
    expect(lax.unauthorized).toEqual(['CERT_HAS_EXPIRED']);
  });

  it('the daemon refuses a forwarder whose certificate names another instance', async () => {
    const { port } = await listen(forwarderServerOptions(await apfTlsFields(material, DEFAULT_TLS_PROFILE, 'podvm-other-00000000')));
    await expect(handshake(port, clientOptions(material, DEFAULT_TLS_PROFILE, { instanceName: NAME }))).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  it('the daemon refuses a forwarder certificate from another CA; TLS_SKIP_VERIFY accepts it', async () => {
    const stranger = await TlsMaterial.generate();
    const forged = await apfTlsFields(stranger, DEFAULT_TLS_PROFILE, NAME);
    const { port } = await listen(forwarderServerOptions({ ...forged, 'tls-client-ca': material.clientCert }));
    await expect(handshake(port, clientOptions(material, DEFAULT_TLS_PROFILE, { instanceName: NAME }))).rejects.toThrow(/self.signed|unable to (get|verify)/i);
    const insecure = clientOptions(material, DEFAULT_TLS_PROFILE, { instanceName: NAME, skipVerify: true });
    expect(insecure.rejectUnauthorized).toBe(false);
    expect(insecure.ca).toBeUndefined();
    await expect(handshake(port, insecure)).resolves.toMatchObject({ protocol: 'TLSv1.3' });
  });

  it('--disable-tls: no options, no apf.json TLS fields', async () => {
    expect(clientOptions(undefined, DEFAULT_TLS_PROFILE, { instanceName: NAME })).toBeUndefined();
    expect(await apfTlsFields(undefined, DEFAULT_TLS_PROFILE, NAME)).toEqual({});
  });

  it('forwarderServerOptions refuses apf.json without a client CA', () => {
    const { 'tls-client-ca': _ca, ...noCa } = fields;
    expect(() => forwarderServerOptions(noCa)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('tls-client-ca') }));
    expect(() => forwarderServerOptions({ ...fields, 'tls-server-key': (fields['tls-client-ca'] ?? '') })).toThrow(expect.objectContaining({ code: 'INVALID_CERTIFICATE' }));
  });
});

describe('TLS profile on the wire', () => {
  it('a TLS 1.3 floor (sent through apf.json) refuses a TLS 1.2-only daemon, and the daemon refuses a TLS 1.2-only forwarder', async () => {
    const tls13 = parseTlsProfile({ minVersion: 'VersionTLS13' });
    const f = await apfTlsFields(material, tls13, NAME);
    expect(f['tls-min-version']).toBe('VersionTLS13');
    const { port, clientErrors } = await listen(forwarderServerOptions(f));
    const client = clientOptions(material, tls13, { instanceName: NAME });
    expect(client.minVersion).toBe('TLSv1.3');
    await expect(handshake(port, { ...client, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).rejects.toThrow(/version/i);
    await expect.poll(() => clientErrors.length).toBe(1);
    await expect(handshake(port, client)).resolves.toMatchObject({ protocol: 'TLSv1.3' });

    const { port: port12 } = await listen({ ...forwarderServerOptions(fields), maxVersion: 'TLSv1.2' });
    await expect(handshake(port12, client)).rejects.toThrow(/version/i);
  });

  it('chosen TLS 1.2 suites restrict TLS 1.2 and leave TLS 1.3 on', async () => {
    const profile = parseTlsProfile({ cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] });
    const f = await apfTlsFields(material, profile, NAME);
    expect(f['tls-cipher-suites']).toEqual(['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384']);
    expect(f['tls-min-version']).toBeUndefined();
    const { port } = await listen(forwarderServerOptions(f));
    const client = clientOptions(material, profile, { instanceName: NAME });
    await expect(handshake(port, { ...client, maxVersion: 'TLSv1.2' })).resolves.toEqual(
      expect.objectContaining({ protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384' }),
    );
    await expect(handshake(port, { ...client, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).rejects.toThrow();
    await expect(handshake(port, client)).resolves.toMatchObject({ protocol: 'TLSv1.3' });
  });

  it('a list of TLS 1.3 suites only leaves no TLS 1.2 suite (as with Go)', async () => {
    const profile = parseTlsProfile({ cipherSuites: ['TLS_AES_128_GCM_SHA256'] });
    const { port } = await listen(forwarderServerOptions(await apfTlsFields(material, profile, NAME)));
    const client = clientOptions(material, profile, { instanceName: NAME });
    await expect(handshake(port, client)).resolves.toMatchObject({ protocol: 'TLSv1.3' });
    await expect(handshake(port, { ...client, ciphers: undefined, maxVersion: 'TLSv1.2' })).rejects.toThrow();
  });
});
