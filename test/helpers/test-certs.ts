/**
 * A throwaway CA and a server and a client certificate (ECDSA P-256) for TLS tests.
 */
// @peculiar/x509 resolves its ASN.1 types through tsyringe, which needs this polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface Pem {
  cert: string;
  key: string;
}

async function pkcs8(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** `serverIp` adds an IP-address SAN to the server certificate (for clients that dial an address, e.g. 127.0.0.1). */
export async function testPki(serverName = 'localhost', serverIp?: string): Promise<{ ca: string; server: Pem; client: Pem }> {
  const now = new Date(Date.now() - 60_000);
  const later = new Date(Date.now() + 3600_000);
  const caKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=test-ca',
    notBefore: now,
    notAfter: later,
    keys: caKeys as webcrypto.CryptoKeyPair,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leaf = async (cn: string, serial: string, san?: string, ip?: string): Promise<Pem> => {
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `CN=${cn}`,
      issuer: ca.subject,
      notBefore: now,
      notAfter: later,
      publicKey: keys.publicKey as webcrypto.CryptoKey,
      signingKey: caKeys.privateKey as webcrypto.CryptoKey,
      signingAlgorithm: alg,
      extensions: san
        ? [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: san }, ...(ip ? [{ type: 'ip' as const, value: ip }] : [])])]
        : [],
    });
    return { cert: cert.toString('pem'), key: await pkcs8(keys.privateKey as webcrypto.CryptoKey) };
  };
  return { ca: ca.toString('pem'), server: await leaf(serverName, '02', serverName, serverIp), client: await leaf('client', '03') };
}
