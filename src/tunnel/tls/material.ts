/**
 * The daemon's TLS identity towards the forwarders: in automatic mode a CA (issues one server certificate per
 * VM) and a self-signed client certificate, kept under `<stateDir>/tls/` so that a restarted daemon still
 * reaches the VMs it created; in manual mode the operator's files.
 */
import { messageOf } from '../../util/errors.js';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../../util/atomic-file.js';
import {
  checkCertKeyPair,
  createCa,
  createClientCert,
  importSigningKey,
  inspectCert,
  issueServerCert,
  splitPemCerts,
  type CertGenOptions,
  type CertInfo,
  type CertKeyPair,
} from './certs.js';
import { TlsError, isTlsError } from './errors.js';

export type TlsLogger = Pick<Logger, 'info' | 'warn'>;

export type TlsMode = 'auto' | 'manual';

/** Sub-folder of the state dir holding the automatic-mode material. */
export const TLS_STATE_SUBDIR = 'tls';
/** Persisted material expiring sooner than this is replaced at start. */
export const RENEW_BEFORE_MS = 30 * 86_400_000;
/** File names under `<stateDir>/tls/`. */
export const TLS_STATE_FILES = { caCert: 'ca.crt', caKey: 'ca.key', clientCert: 'client.crt', clientKey: 'client.key' } as const;

/** Manual mode (CACERT_FILE, CERT_FILE, CERT_KEY). */
export interface ManualTlsFiles {
  /** CA that signed the forwarders' server certificates; '' or undefined = the system's roots. */
  caCertFile?: string;
  certFile: string;
  certKey: string;
}

export interface LoadOrCreateOptions {
  /** Clock for the validity checks and new certificates (tests). */
  now?: Date;
}

export class TlsMaterial {
  readonly #ca: CertKeyPair | undefined;

  private constructor(
    /** 'auto': generated here, server certificates issued per VM; 'manual': the operator's files. */
    readonly mode: TlsMode,
    /** PEM the forwarder's certificate is verified against; undefined = Node's (system) roots. */
    readonly caCert: string | undefined,
    /** The daemon's client certificate (PEM); in auto mode also the forwarders' trust anchor. */
    readonly clientCert: string,
    /** Its private key (PEM). */
    readonly clientKey: string,
    ca: CertKeyPair | undefined,
  ) {
    this.#ca = ca;
  }

  /** Fresh automatic-mode material kept in memory only (upstream's behaviour; tests). */
  static async generate(opts: CertGenOptions = {}): Promise<TlsMaterial> {
    const [ca, client] = await Promise.all([createCa(opts), createClientCert(opts)]);
    return new TlsMaterial('auto', ca.cert, client.cert, client.key, ca);
  }

  /**
   * Automatic mode. Loads the CA and the client certificate from `<stateDir>/tls/` when they parse, their
   * keys match and they stay valid for 30 more days; otherwise generates (and persists, files 0600, folder
   * 0700) whichever is missing or unusable, logging why. Replacing either means VMs created before will
   * refuse the daemon or be refused by it. Throws on I/O errors other than a missing file.
   */
  static async loadOrCreate(stateDir: string, logger: TlsLogger, opts: LoadOrCreateOptions = {}): Promise<TlsMaterial> {
    const dir = join(stateDir, TLS_STATE_SUBDIR);
    await ensurePrivateDir(dir, logger);
    const gen: CertGenOptions = opts.now ? { now: opts.now } : {};
    const ca = await loadOrCreatePair(dir, TLS_STATE_FILES.caCert, TLS_STATE_FILES.caKey, logger, opts, 'CA', () => createCa(gen), async (pair, info) => {
      if (!info.isCa) throw new TlsError('INVALID_CERTIFICATE', `${TLS_STATE_FILES.caCert}: not a CA certificate`);
      await importSigningKey(pair.key);
    });
    const client = await loadOrCreatePair(dir, TLS_STATE_FILES.clientCert, TLS_STATE_FILES.clientKey, logger, opts, 'client certificate', () => createClientCert(gen), (_pair, info) => {
      if (!info.selfSigned) throw new TlsError('INVALID_CERTIFICATE', `${TLS_STATE_FILES.clientCert}: not self-signed`);
      return Promise.resolve();
    });
    return new TlsMaterial('auto', ca.cert, client.cert, client.key, ca);
  }

  /**
   * Manual mode: reads the files, checks that the client key matches its certificate, that it has not
   * expired (a warning when it expires within 30 days) and that the CA file holds certificates. Errors name
   * the file: FILE_UNREADABLE, INVALID_CERTIFICATE, CERTIFICATE_EXPIRED, INVALID_CONFIG (a missing name).
   */
  static async fromFiles(files: ManualTlsFiles, logger?: TlsLogger): Promise<TlsMaterial> {
    if (!files.certFile || !files.certKey) {
      throw new TlsError('INVALID_CONFIG', 'manual TLS needs both CERT_FILE and CERT_KEY');
    }
    const [caCert, clientCert, clientKey] = await Promise.all([
      files.caCertFile ? readConfigured(files.caCertFile, 'CACERT_FILE') : Promise.resolve(undefined),
      readConfigured(files.certFile, 'CERT_FILE'),
      readConfigured(files.certKey, 'CERT_KEY'),
    ]);
    if (caCert !== undefined) {
      const blocks = splitPemCerts(caCert);
      if (blocks.length === 0) throw new TlsError('INVALID_CERTIFICATE', `CACERT_FILE ${files.caCertFile}: no PEM CERTIFICATE block`);
      blocks.forEach((b) => inspectCert(b, `CACERT_FILE ${files.caCertFile}`));
    }
    const info = checkCertKeyPair({ cert: clientCert, key: clientKey }, { what: `CERT_FILE ${files.certFile} / CERT_KEY ${files.certKey}` });
    if (info.notAfter.getTime() - Date.now() < RENEW_BEFORE_MS) {
      logger?.warn({ file: files.certFile, notAfter: info.notAfter.toISOString() }, 'TLS client certificate expires within 30 days');
    }
    return new TlsMaterial('manual', caCert, clientCert, clientKey, undefined);
  }

  /**
   * Picks the mode from the daemon options: manual when any of CACERT_FILE, CERT_FILE, CERT_KEY is set
   * (CACERT_FILE alone is INVALID_CONFIG), automatic with persistence otherwise.
   */
  static async fromConfig(cfg: { stateDir: string; caCertFile?: string; certFile?: string; certKey?: string }, logger: TlsLogger): Promise<TlsMaterial> {
    if (cfg.caCertFile || cfg.certFile || cfg.certKey) {
      if (!cfg.certFile || !cfg.certKey) {
        const given = [cfg.caCertFile && 'CACERT_FILE', cfg.certFile && 'CERT_FILE', cfg.certKey && 'CERT_KEY'].filter(Boolean).join(', ');
        throw new TlsError('INVALID_CONFIG', `manual TLS needs both CERT_FILE and CERT_KEY (given: ${given})`);
      }
      return TlsMaterial.fromFiles({ caCertFile: cfg.caCertFile ?? '', certFile: cfg.certFile, certKey: cfg.certKey }, logger);
    }
    return TlsMaterial.loadOrCreate(cfg.stateDir, logger);
  }

  /** A fresh server certificate for a VM (CN and DNS SAN = instanceName); undefined in manual mode. */
  async serverCertFor(instanceName: string): Promise<CertKeyPair | undefined> {
    return this.#ca ? issueServerCert(this.#ca, instanceName) : undefined;
  }

  /** SHA-256 fingerprint of the CA certificate (auto mode), for logs and tests. */
  get caFingerprint(): string | undefined {
    return this.#ca ? inspectCert(this.#ca.cert).fingerprint256 : undefined;
  }

  /** Keeps keys out of logs and dumps. */
  toJSON(): object {
    return { mode: this.mode, caFingerprint: this.caFingerprint };
  }

  [inspect.custom](): string {
    return `TlsMaterial ${JSON.stringify(this.toJSON())}`;
  }
}

async function readConfigured(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : messageOf(err);
    throw new TlsError('FILE_UNREADABLE', `${option} ${path}: cannot read: ${why}`, { cause: err });
  }
}

async function ensurePrivateDir(dir: string, logger: TlsLogger): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const mode = (await stat(dir)).mode & 0o777;
  if (mode !== 0o700) {
    await chmod(dir, 0o700);
    if (mode & 0o077) logger.warn({ dir, mode: mode.toString(8) }, 'TLS state folder was accessible to others; set to 0700');
  }
}

/** Reads a file; undefined if it does not exist. Files readable by others are set to 0600. */
async function readPrivate(path: string, logger: TlsLogger): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const mode = (await stat(path)).mode & 0o777;
  if (mode & 0o077) {
    await chmod(path, 0o600);
    logger.warn({ file: path, mode: mode.toString(8) }, 'TLS state file was accessible to others; set to 0600');
  }
  return text;
}

async function loadOrCreatePair(
  dir: string,
  certName: string,
  keyName: string,
  logger: TlsLogger,
  opts: LoadOrCreateOptions,
  what: string,
  create: () => Promise<CertKeyPair>,
  extraCheck: (pair: CertKeyPair, info: CertInfo) => Promise<void>,
): Promise<CertKeyPair> {
  const certPath = join(dir, certName);
  const keyPath = join(dir, keyName);
  const [cert, key] = await Promise.all([readPrivate(certPath, logger), readPrivate(keyPath, logger)]);
  if (cert !== undefined && key !== undefined) {
    try {
      const info = checkCertKeyPair({ cert, key }, { now: opts.now, minRemainingMs: RENEW_BEFORE_MS, what: `${certName} / ${keyName}` });
      await extraCheck({ cert, key }, info);
      logger.info({ dir, what, fingerprint: info.fingerprint256, notAfter: info.notAfter.toISOString() }, `TLS ${what} loaded`);
      return { cert, key };
    } catch (err) {
      if (!isTlsError(err)) throw err;
      logger.warn(
        { dir, what, reason: err.message, code: err.code },
        `TLS ${what} in the state folder is unusable; generating a new one (connections to pod VMs created before will fail)`,
      );
    }
  } else if (cert !== undefined || key !== undefined) {
    logger.warn({ dir, what, missing: cert === undefined ? certName : keyName }, `TLS ${what} is incomplete in the state folder; generating a new one`);
  }
  const pair = await create();
  // Key first: a crash in between leaves a pair that does not match, which the next start replaces.
  await writeFileAtomic(keyPath, pair.key, 0o600);
  await writeFileAtomic(certPath, pair.cert, 0o600);
  await Promise.all([chmod(keyPath, 0o600), chmod(certPath, 0o600)]);
  const info = inspectCert(pair.cert);
  if (cert === undefined && key === undefined) logger.info({ dir, what, fingerprint: info.fingerprint256 }, `TLS ${what} generated`);
  return pair;
}
