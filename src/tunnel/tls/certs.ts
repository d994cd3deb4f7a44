/**
 * Certificates for automatic mutual TLS, as upstream's tlsutil generates them: ECDSA P-256 keys in PKCS#8
 * PEM, 128-bit random serials, notBefore five minutes in the past, two years of validity, KeyUsage
 * digitalSignature|keyCertSign, basicConstraints always present.
 *
 * - the CA (O=agent-protocol-forwarder, CA:TRUE) signs one server certificate per VM;
 * - the client certificate (O=cloud-api-adaptor, clientAuth) is self-signed and is itself the trust
 *   anchor the forwarder checks the daemon against (apf.json `tls-client-ca`).
 */
// @peculiar/x509 resolves its ASN.1 types through tsyringe, which needs this polyfill loaded first.
import { messageOf } from '../../util/errors.js';
import 'reflect-metadata';
import { X509Certificate as NodeX509, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { TlsError } from './errors.js';

x509.cryptoProvider.set(webcrypto);

export const CA_ORGANIZATION = 'agent-protocol-forwarder';
export const CLIENT_ORGANIZATION = 'cloud-api-adaptor';
/** Validity of generated certificates (Go: 2 × 365 × 24 h). */
export const CERT_VALIDITY_MS = 2 * 365 * 24 * 3600_000;
/** How far notBefore is set in the past, for clock skew between the worker and the VM. */
export const CERT_BACKDATE_MS = 5 * 60_000;

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const keyUsage = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign;

/** A certificate and its private key, both PEM (the key PKCS#8 `PRIVATE KEY`). */
export interface CertKeyPair {
  cert: string;
  key: string;
}

/** Overrides for tests: the clock and the lifetime of the new certificate. */
export interface CertGenOptions {
  now?: Date;
  validityMs?: number;
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** 128 random bits, as Go's rand.Int(2^128); the library adds the sign byte DER needs. */
function serial(): string {
  return randomBytes(16).toString('hex');
}

function validity(opts: CertGenOptions): { notBefore: Date; notAfter: Date } {
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - CERT_BACKDATE_MS);
  return { notBefore, notAfter: new Date(notBefore.getTime() + (opts.validityMs ?? CERT_VALIDITY_MS)) };
}

async function selfSigned(organization: string, ca: boolean, eku: x509.ExtendedKeyUsage, opts: CertGenOptions): Promise<CertKeyPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ O: [organization] }],
    ...validity(opts),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(ca, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension([eku]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await pkcs8Pem(keys.privateKey) };
}

/** A new CA: O=agent-protocol-forwarder, CA:TRUE (and serverAuth, as upstream's). */
export function createCa(opts: CertGenOptions = {}): Promise<CertKeyPair> {
  return selfSigned(CA_ORGANIZATION, true, x509.ExtendedKeyUsage.serverAuth, opts);
}

/** A new self-signed client certificate: O=cloud-api-adaptor, clientAuth. */
export function createClientCert(opts: CertGenOptions = {}): Promise<CertKeyPair> {
  return selfSigned(CLIENT_ORGANIZATION, false, x509.ExtendedKeyUsage.clientAuth, opts);
}

const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Throws INVALID_NAME unless `name` can be a DNS SAN (the VM's instance name). */
export function checkDnsName(name: string): void {
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => DNS_LABEL.test(l))) {
    throw new TlsError('INVALID_NAME', `"${name}" is not a valid DNS name for a server certificate`);
  }
}

/**
 * A server certificate for `serverName` signed by `ca`: subject O=agent-protocol-forwarder, CN and DNS SAN
 * = serverName, serverAuth. Its validity is clamped to the CA's. Throws INVALID_NAME, or
 * INVALID_CERTIFICATE when the CA pair is unusable (not ECDSA P-256 PKCS#8).
 */
export async function issueServerCert(ca: CertKeyPair, serverName: string, opts: CertGenOptions = {}): Promise<CertKeyPair> {
  checkDnsName(serverName);
  const caCert = parseCert(ca.cert, 'CA certificate');
  const signingKey = await importSigningKey(ca.key);
  const keys = await newKeys();
  let { notBefore, notAfter } = validity(opts);
  if (notBefore < caCert.notBefore) notBefore = caCert.notBefore;
  if (notAfter > caCert.notAfter) notAfter = caCert.notAfter;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ O: [CA_ORGANIZATION] }, { CN: [serverName] }],
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: serverName }]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: cert.toString('pem'), key: await pkcs8Pem(keys.privateKey) };
}

/** Imports a PKCS#8 PEM ECDSA P-256 key for signing; INVALID_CERTIFICATE otherwise. */
export async function importSigningKey(keyPem: string): Promise<webcrypto.CryptoKey> {
  try {
    const [der] = x509.PemConverter.decode(keyPem);
    if (der === undefined) throw new Error('no PEM block');
    return await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  } catch (err) {
    throw new TlsError('INVALID_CERTIFICATE', `CA key is not a PKCS#8 ECDSA P-256 key: ${messageOf(err)}`, { cause: err });
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The CERTIFICATE blocks of a PEM bundle, in order. */
export function splitPemCerts(pem: string): string[] {
  return [...pem.matchAll(PEM_CERT)].map((m) => `${m[0]}\n`);
}

function parseCert(pem: string, what: string): x509.X509Certificate {
  const first = splitPemCerts(pem)[0];
  if (first === undefined) throw new TlsError('INVALID_CERTIFICATE', `${what}: no PEM CERTIFICATE block`);
  try {
    return new x509.X509Certificate(first);
  } catch (err) {
    throw new TlsError('INVALID_CERTIFICATE', `${what}: cannot parse: ${messageOf(err)}`, { cause: err });
  }
}

/** What a certificate says, for checks and tests. */
export interface CertInfo {
  subject: string;
  issuer: string;
  organization: string[];
  commonName: string | undefined;
  dnsNames: string[];
  /** Hex, without the DER sign byte. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  /** Extended key usage OIDs (1.3.6.1.5.5.7.3.1 serverAuth, …3.2 clientAuth). */
  extKeyUsage: string[];
  keyUsage: number;
  selfSigned: boolean;
  /** SHA-256 of the DER, colon-separated hex (as Node prints it). */
  fingerprint256: string;
}

/** Parses the first certificate of a PEM text. Throws INVALID_CERTIFICATE; `what` names it in messages. */
export function inspectCert(pem: string, what = 'certificate'): CertInfo {
  const cert = parseCert(pem, what);
  const node = new NodeX509(cert.toString('pem'));
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    organization: cert.subjectName.getField('O'),
    commonName: cert.subjectName.getField('CN')[0],
    dnsNames: (san?.names.items ?? []).filter((n) => n.type === 'dns').map((n) => n.value),
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    isCa: bc?.ca ?? false,
    extKeyUsage: (eku?.usages ?? []).map(String),
    keyUsage: ku?.usages ?? 0,
    selfSigned: node.checkIssued(node) && node.verify(node.publicKey),
    fingerprint256: node.fingerprint256,
  };
}

export interface CheckPairOptions {
  /** Defaults to the current time. */
  now?: Date;
  /** Refuse a certificate that expires within this time (CERTIFICATE_EXPIRED). Default 0. */
  minRemainingMs?: number;
  /** Used in messages, e.g. a file name. */
  what?: string;
  /** Only check that the key matches (the forwarder leaves dates to its peer). */
  ignoreValidity?: boolean;
}

/**
 * Checks that `pair.key` is the private key of `pair.cert` and that the certificate is valid now and for
 * `minRemainingMs` more. Throws INVALID_CERTIFICATE or CERTIFICATE_EXPIRED; returns what it parsed.
 */
export function checkCertKeyPair(pair: CertKeyPair, opts: CheckPairOptions = {}): CertInfo {
  const what = opts.what ?? 'certificate';
  const info = inspectCert(pair.cert, what);
  let matches: boolean;
  try {
    matches = new NodeX509(splitPemCerts(pair.cert)[0] ?? '').checkPrivateKey(createPrivateKey(pair.key));
  } catch (err) {
    throw new TlsError('INVALID_CERTIFICATE', `${what}: private key does not parse: ${messageOf(err)}`, { cause: err });
  }
  if (!matches) throw new TlsError('INVALID_CERTIFICATE', `${what}: private key does not match the certificate`);
  if (!opts.ignoreValidity) checkValidity(info, opts);
  return info;
}

/** Throws CERTIFICATE_EXPIRED if `info` is not valid at `now` or expires within `minRemainingMs`. */
export function checkValidity(info: CertInfo, opts: CheckPairOptions = {}): void {
  const what = opts.what ?? 'certificate';
  const now = opts.now ?? new Date();
  if (info.notAfter <= now) throw new TlsError('CERTIFICATE_EXPIRED', `${what}: expired on ${info.notAfter.toISOString()}`);
  if (info.notBefore > now) throw new TlsError('CERTIFICATE_EXPIRED', `${what}: not valid before ${info.notBefore.toISOString()}`);
  const min = opts.minRemainingMs ?? 0;
  if (info.notAfter.getTime() - now.getTime() < min) {
    throw new TlsError('CERTIFICATE_EXPIRED', `${what}: expires on ${info.notAfter.toISOString()}, within ${Math.round(min / 86_400_000)} days`);
  }
}
