/**
 * The fake ARM speaks HTTPS only: @azure/core-rest-pipeline refuses to send a bearer token over plain
 * http. Its certificate comes from a throwaway CA that the client process must trust through
 * NODE_EXTRA_CA_CERTS, which Node reads once, at process start. So the CA is made *before* the
 * process that runs the SDK starts: by vitest's globalSetup (global-setup.ts) for the test workers, by
 * the benchmark for its child processes. The material lives in a folder named by
 * `CAA_FAKE_ARM_TLS_DIR`: `ca.crt` (what clients trust), `server.crt` and `server.key`.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its ASN.1 types through tsyringe
import { webcrypto } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export const TLS_DIR_ENV = 'CAA_FAKE_ARM_TLS_DIR';
export const TLS_FILES = { ca: 'ca.crt', cert: 'server.crt', key: 'server.key', bundle: 'trust-bundle.crt' } as const;

export interface ArmTls {
  /** PEM of the CA that signed `cert`: what NODE_EXTRA_CA_CERTS must name. */
  ca: string;
  cert: string;
  key: string;
}

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const VALIDITY_MS = 7 * 24 * 3600_000;

async function pkcs8(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A CA and a server certificate for 127.0.0.1 and localhost (ECDSA P-256, valid a week). */
export async function createArmTls(): Promise<ArmTls> {
  const notBefore = new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(Date.now() + VALIDITY_MS);
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=fake-arm-ca',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  return { ca: ca.toString('pem'), cert: cert.toString('pem'), key: await pkcs8(serverKeys.privateKey) };
}

/**
 * Writes the material into `dir` and returns the file to put in NODE_EXTRA_CA_CERTS: our CA, plus
 * the certificates of a NODE_EXTRA_CA_CERTS already set, so that trusting the fake takes nothing away.
 */
export async function writeArmTls(dir: string, tls: ArmTls, existingExtraCa = process.env.NODE_EXTRA_CA_CERTS): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, TLS_FILES.ca), tls.ca);
  await writeFile(join(dir, TLS_FILES.cert), tls.cert);
  await writeFile(join(dir, TLS_FILES.key), tls.key, { mode: 0o600 });
  const previous = existingExtraCa && existsSync(existingExtraCa) ? await readFile(existingExtraCa, 'utf8') : '';
  const bundle = join(dir, TLS_FILES.bundle);
  await writeFile(bundle, `${previous.trim() ? `${previous.trim()}\n` : ''}${tls.ca}`);
  return bundle;
}

/** The material global-setup.ts (or a benchmark) prepared for this process, or undefined. */
export function armTlsFromEnv(env: NodeJS.ProcessEnv = process.env): ArmTls | undefined {
  const dir = env[TLS_DIR_ENV];
  if (!dir) return undefined;
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return { ca: read(TLS_FILES.ca), cert: read(TLS_FILES.cert), key: read(TLS_FILES.key) };
}
