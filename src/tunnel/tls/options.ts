/**
 * Node TLS options for both ends of the daemon ↔ forwarder link, and the apf.json fields that carry the
 * VM's side of it.
 */
import { messageOf } from '../../util/errors.js';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { checkCertKeyPair, splitPemCerts } from './certs.js';
import { TlsError } from './errors.js';
import type { TlsMaterial } from './material.js';
import { parseTlsProfile, type TlsMinVersion, type TlsProfile } from './profile.js';

/** The name manual-mode server certificates carry (SAN DNS:podvm-server), hence the name the daemon checks. */
export const MANUAL_SERVER_NAME = 'podvm-server';
/** Where a pod VM image built for manual mode keeps tls.crt, tls.key and ca.crt. */
export const FORWARDER_CERT_DIR = '/etc/certificates';

/** The TLS part of apf.json; absent keys are left out (Go's omitempty). */
export interface ApfTlsFields {
  'tls-server-cert'?: string;
  'tls-server-key'?: string;
  'tls-client-ca'?: string;
  /** '' (as apf.json may carry it) means unset. */
  'tls-min-version'?: TlsMinVersion;
  'tls-cipher-suites'?: string[];
}

export interface ClientTarget {
  /** The VM's instance name: the name its automatic-mode server certificate carries. */
  instanceName: string;
  /** TLS_SKIP_VERIFY (testing only): accept any server certificate. */
  skipVerify?: boolean;
}

/** The name the daemon expects in the forwarder's certificate: the instance name, or podvm-server in manual mode. */
export function expectedServerName(material: TlsMaterial, instanceName: string): string {
  return material.mode === 'auto' ? instanceName : MANUAL_SERVER_NAME;
}

/**
 * Options for `tls.connect` to a forwarder (add host and port). Undefined material (--disable-tls) gives
 * undefined: plain TCP.
 */
export function clientOptions(material: TlsMaterial, profile: TlsProfile, target: ClientTarget): ConnectionOptions;
export function clientOptions(material: TlsMaterial | undefined, profile: TlsProfile, target: ClientTarget): ConnectionOptions | undefined;
export function clientOptions(material: TlsMaterial | undefined, profile: TlsProfile, target: ClientTarget): ConnectionOptions | undefined {
  if (!material) return undefined;
  const skipVerify = target.skipVerify ?? false;
  const opts: ConnectionOptions = {
    servername: expectedServerName(material, target.instanceName),
    cert: material.clientCert,
    key: material.clientKey,
    minVersion: profile.nodeMinVersion,
    rejectUnauthorized: !skipVerify,
  };
  if (material.caCert !== undefined && !skipVerify) opts.ca = material.caCert;
  if (profile.ciphers !== undefined) opts.ciphers = profile.ciphers;
  return opts;
}

/**
 * The apf.json TLS fields for a new VM. Automatic mode issues a server certificate for `instanceName` and
 * sends the daemon's client certificate as the client CA; manual mode sends neither (the image has its own
 * files). The profile goes in both modes. Undefined material (--disable-tls) gives {}.
 */
export async function apfTlsFields(material: TlsMaterial | undefined, profile: TlsProfile, instanceName: string): Promise<ApfTlsFields> {
  if (!material) return {};
  const fields: ApfTlsFields = {};
  const server = await material.serverCertFor(instanceName);
  if (server) {
    fields['tls-server-cert'] = server.cert;
    fields['tls-server-key'] = server.key;
    fields['tls-client-ca'] = material.clientCert;
  }
  if (profile.minVersion !== '') fields['tls-min-version'] = profile.minVersion;
  if (profile.cipherSuites.length > 0) fields['tls-cipher-suites'] = [...profile.cipherSuites];
  return fields;
}

function profileOf(fields: ApfTlsFields): TlsProfile {
  return parseTlsProfile({ minVersion: fields['tls-min-version'], cipherSuites: fields['tls-cipher-suites'] });
}

function serverOptions(cert: string, key: string, ca: string, profile: TlsProfile): TlsOptions {
  const opts: TlsOptions = { cert, key, ca, requestCert: true, rejectUnauthorized: true, minVersion: profile.nodeMinVersion };
  if (profile.ciphers !== undefined) opts.ciphers = profile.ciphers;
  return opts;
}

/**
 * The forwarder's listener options from apf.json (automatic mode): its certificate, client certificates
 * required and verified against `tls-client-ca`, the profile. INVALID_CONFIG when a field is missing (the
 * forwarder never accepts unauthenticated clients), INVALID_CERTIFICATE when the key does not match.
 */
export function forwarderServerOptions(fields: ApfTlsFields): TlsOptions {
  const cert = fields['tls-server-cert'];
  const key = fields['tls-server-key'];
  const ca = fields['tls-client-ca'];
  const missing = [!cert && 'tls-server-cert', !key && 'tls-server-key', !ca && 'tls-client-ca'].filter(Boolean);
  if (!cert || !key || !ca) throw new TlsError('INVALID_CONFIG', `apf.json: TLS needs ${missing.join(', ')}`);
  checkCertKeyPair({ cert, key }, { what: 'apf.json tls-server-cert / tls-server-key', ignoreValidity: true });
  checkCa(ca, 'apf.json tls-client-ca');
  return serverOptions(cert, key, ca, profileOf(fields));
}

/** Manual-mode files of the forwarder, as paths. */
export interface ForwarderCertFiles {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}

/**
 * The forwarder's listener options from files (manual mode), as upstream: the certificate and key from the
 * files when both are given, else from apf.json; the client CA from `caFile` when given, else apf.json's
 * `tls-client-ca`; the profile from apf.json. Errors name the file: FILE_UNREADABLE, INVALID_CERTIFICATE,
 * INVALID_CONFIG (no certificate or no client CA from either source).
 */
export async function forwarderServerOptionsFromFiles(files: ForwarderCertFiles, apf: ApfTlsFields = {}): Promise<TlsOptions> {
  const pairFiles = files.certFile && files.keyFile ? { cert: files.certFile, key: files.keyFile } : undefined;
  const caFile = files.caFile || undefined;
  const [certF, keyF, caF] = await Promise.all([
    pairFiles ? readNamed(pairFiles.cert) : undefined,
    pairFiles ? readNamed(pairFiles.key) : undefined,
    caFile ? readNamed(caFile) : undefined,
  ]);
  const cert = certF ?? apf['tls-server-cert'];
  const key = keyF ?? apf['tls-server-key'];
  const ca = caF ?? apf['tls-client-ca'];
  if (!cert || !key) throw new TlsError('INVALID_CONFIG', 'forwarder TLS: no server certificate and key (neither files nor apf.json tls-server-cert/tls-server-key)');
  if (!ca) throw new TlsError('INVALID_CONFIG', 'forwarder TLS: no client CA (neither a CA file nor apf.json tls-client-ca); refusing to accept unauthenticated clients');
  checkCertKeyPair({ cert, key }, { what: pairFiles ? `${pairFiles.cert} / ${pairFiles.key}` : 'apf.json tls-server-cert / tls-server-key', ignoreValidity: true });
  checkCa(ca, caFile ?? 'apf.json tls-client-ca');
  return serverOptions(cert, key, ca, profileOf(apf));
}

/**
 * Which of tls.crt, tls.key, ca.crt exist in `dir` (default /etc/certificates). Undefined when neither
 * tls.crt nor tls.key does; INVALID_CONFIG when only one of them does.
 */
export async function forwarderCertFilesIn(dir: string = FORWARDER_CERT_DIR): Promise<ForwarderCertFiles | undefined> {
  const exists = (p: string) => access(p).then(() => true, () => false);
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const caFile = join(dir, 'ca.crt');
  const [c, k, a] = await Promise.all([exists(certFile), exists(keyFile), exists(caFile)]);
  if (!c && !k) return undefined;
  if (!c || !k) throw new TlsError('INVALID_CONFIG', `forwarder TLS: ${c ? keyFile : certFile} is missing (${c ? certFile : keyFile} exists)`);
  return a ? { certFile, keyFile, caFile } : { certFile, keyFile };
}

async function readNamed(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : messageOf(err);
    throw new TlsError('FILE_UNREADABLE', `${path}: cannot read: ${why}`, { cause: err });
  }
}

function checkCa(pem: string, what: string): void {
  if (splitPemCerts(pem).length === 0) throw new TlsError('INVALID_CERTIFICATE', `${what}: no PEM CERTIFICATE block`);
}
