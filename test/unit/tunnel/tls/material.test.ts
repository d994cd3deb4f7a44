import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  apfTlsFields,
  clientOptions,
  createCa,
  createClientCert,
  DEFAULT_TLS_PROFILE,
  forwarderCertFilesIn,
  forwarderServerOptions,
  forwarderServerOptionsFromFiles,
  inspectCert,
  MANUAL_SERVER_NAME,
  parseTlsProfile,
  TLS_STATE_FILES,
  TlsMaterial,
} from '../../../../src/tunnel/tls/index.js';
import { testPki } from '../../../helpers/test-certs.js';
import { closeAll, handshake, listen } from './handshake.js';

interface Line {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function captureLogger(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  return { logger, lines };
}

const WARN = 40;
let root: string;
let n = 0;
const freshDir = () => join(root, `state-${n++}`);
const mode = async (p: string) => (await stat(p)).mode & 0o777;
/** Writes a state file as the daemon would (0600 in a 0700 folder), so that only the content is at fault. */
async function plant(tlsDir: string, name: string, content: string): Promise<void> {
  await mkdir(tlsDir, { recursive: true, mode: 0o700 });
  await writeFile(join(tlsDir, name), content, { mode: 0o600 });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'caa-tls-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));
afterEach(closeAll);

describe('automatic mode: persisted material', () => {
  it('generates on first start, reloads the same on the next (0700 folder, 0600 files)', async () => {
    const dir = freshDir();
    const first = captureLogger();
    const a = await TlsMaterial.loadOrCreate(dir, first.logger);
    expect(a.mode).toBe('auto');
    expect(first.lines.filter((l) => l.level >= WARN)).toEqual([]);
    expect(first.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['TLS CA generated', 'TLS client certificate generated']));

    const tlsDir = join(dir, 'tls');
    expect(await mode(tlsDir)).toBe(0o700);
    for (const f of Object.values(TLS_STATE_FILES)) expect(await mode(join(tlsDir, f)), f).toBe(0o600);
    expect(await readFile(join(tlsDir, TLS_STATE_FILES.clientCert), 'utf8')).toBe(a.clientCert);

    const second = captureLogger();
    const b = await TlsMaterial.loadOrCreate(dir, second.logger);
    expect(b.caFingerprint).toBe(a.caFingerprint);
    expect(b.caCert).toBe(a.caCert);
    expect(b.clientCert).toBe(a.clientCert);
    expect(b.clientKey).toBe(a.clientKey);
    expect(second.lines.map((l) => l.msg)).toEqual(['TLS CA loaded', 'TLS client certificate loaded']);

    // A VM created before the restart (server certificate from the old process) and the reloaded daemon
    // still accept each other.
    const fieldsBefore = await apfTlsFields(a, DEFAULT_TLS_PROFILE, 'podvm-a-00000001');
    const { port } = await listen(forwarderServerOptions(fieldsBefore));
    await expect(handshake(port, clientOptions(b, DEFAULT_TLS_PROFILE, { instanceName: 'podvm-a-00000001' }))).resolves.toMatchObject({ protocol: 'TLSv1.3' });
  });

  it('tightens loose permissions on the folder and the files', async () => {
    const dir = freshDir();
    await TlsMaterial.loadOrCreate(dir, captureLogger().logger);
    const tlsDir = join(dir, 'tls');
    await chmod(tlsDir, 0o755);
    await chmod(join(tlsDir, TLS_STATE_FILES.caKey), 0o644);
    const { logger, lines } = captureLogger();
    await TlsMaterial.loadOrCreate(dir, logger);
    expect(await mode(tlsDir)).toBe(0o700);
    expect(await mode(join(tlsDir, TLS_STATE_FILES.caKey))).toBe(0o600);
    expect(lines.filter((l) => l.level === WARN)).toHaveLength(2);
  });

  it('replaces a corrupt file, logging why, and keeps the rest', async () => {
    const dir = freshDir();
    const a = await TlsMaterial.loadOrCreate(dir, captureLogger().logger);
    await plant(join(dir, 'tls'), TLS_STATE_FILES.clientCert, 'not a certificate');
    const { logger, lines } = captureLogger();
    const b = await TlsMaterial.loadOrCreate(dir, logger);
    expect(b.caFingerprint).toBe(a.caFingerprint);
    expect(b.clientCert).not.toBe(a.clientCert);
    expect(inspectCert(b.clientCert).selfSigned).toBe(true);
    const warns = lines.filter((l) => l.level === WARN);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ what: 'client certificate', code: 'INVALID_CERTIFICATE', reason: expect.stringContaining('client.crt') });
    expect(await readFile(join(dir, 'tls', TLS_STATE_FILES.clientCert), 'utf8')).toBe(b.clientCert);
    expect(await mode(join(dir, 'tls', TLS_STATE_FILES.clientCert))).toBe(0o600);
  });

  it('replaces an expired CA and one expiring within 30 days; a key of another certificate; a missing half', async () => {
    const dir = freshDir();
    const tlsDir = join(dir, 'tls');
    const expired = await createCa({ now: new Date(Date.now() - 3 * 86_400_000), validityMs: 86_400_000 });
    await plant(tlsDir, TLS_STATE_FILES.caCert, expired.cert);
    await plant(tlsDir, TLS_STATE_FILES.caKey, expired.key);
    const soon = await createClientCert({ validityMs: 20 * 86_400_000 });
    await plant(tlsDir, TLS_STATE_FILES.clientCert, soon.cert);
    await plant(tlsDir, TLS_STATE_FILES.clientKey, soon.key);

    const first = captureLogger();
    const a = await TlsMaterial.loadOrCreate(dir, first.logger);
    expect(a.caCert).not.toBe(expired.cert);
    expect(a.clientCert).not.toBe(soon.cert);
    const reasons = first.lines.filter((l) => l.level === WARN).map((l) => String(l.reason));
    expect(reasons).toEqual([expect.stringMatching(/expired on/), expect.stringMatching(/within 30 days/)]);

    // The client key of another certificate; the CA key gone.
    await plant(tlsDir, TLS_STATE_FILES.clientKey, (await createClientCert()).key);
    await rm(join(tlsDir, TLS_STATE_FILES.caKey));
    const second = captureLogger();
    const b = await TlsMaterial.loadOrCreate(dir, second.logger);
    expect(b.caFingerprint).not.toBe(a.caFingerprint);
    expect(b.clientCert).not.toBe(a.clientCert);
    const warns = second.lines.filter((l) => l.level === WARN);
    expect(warns.map((l) => l.missing ?? l.reason)).toEqual(['ca.key', expect.stringMatching(/does not match/)]);
  });

  it('a persisted "CA" that is not a CA is replaced', async () => {
    const dir = freshDir();
    const tlsDir = join(dir, 'tls');
    const notCa = await createClientCert();
    await plant(tlsDir, TLS_STATE_FILES.caCert, notCa.cert);
    await plant(tlsDir, TLS_STATE_FILES.caKey, notCa.key);
    const { logger, lines } = captureLogger();
    const m = await TlsMaterial.loadOrCreate(dir, logger);
    expect(inspectCert(m.caCert ?? '').isCa).toBe(true);
    expect(lines.find((l) => l.level === WARN)).toMatchObject({ reason: expect.stringContaining('not a CA') });
  });

  it('never shows keys when logged or printed', async () => {
    const m = await TlsMaterial.generate();
    expect(JSON.stringify({ m })).not.toContain('PRIVATE KEY');
    expect(inspect(m)).not.toContain('PRIVATE KEY');
    expect(inspect(m)).toContain(m.caFingerprint ?? 'x');
  });
});

describe('manual mode', () => {
  let files: { caCertFile: string; certFile: string; certKey: string; serverCert: string; serverKey: string };
  beforeAll(async () => {
    const pki = await testPki(MANUAL_SERVER_NAME);
    const dir = join(root, 'manual');
    await mkdir(dir);
    files = {
      caCertFile: join(dir, 'ca.crt'),
      certFile: join(dir, 'client.crt'),
      certKey: join(dir, 'client.key'),
      serverCert: join(dir, 'tls.crt'),
      serverKey: join(dir, 'tls.key'),
    };
    await Promise.all([
      writeFile(files.caCertFile, pki.ca),
      writeFile(files.certFile, pki.client.cert),
      writeFile(files.certKey, pki.client.key),
      writeFile(files.serverCert, pki.server.cert),
      writeFile(files.serverKey, pki.server.key),
    ]);
  });

  it('loads the files, dials podvm-server, issues nothing, sends only the profile to the VM', async () => {
    const m = await TlsMaterial.fromFiles(files);
    expect(m.mode).toBe('manual');
    expect(await m.serverCertFor('podvm-x-1')).toBeUndefined();
    const profile = parseTlsProfile({ minVersion: 'VersionTLS12', cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] });
    const apf = await apfTlsFields(m, profile, 'podvm-x-1');
    expect(apf).toEqual({ 'tls-min-version': 'VersionTLS12', 'tls-cipher-suites': ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] });

    const vmFiles = await forwarderCertFilesIn(join(root, 'manual'));
    expect(vmFiles).toEqual({ certFile: files.serverCert, keyFile: files.serverKey, caFile: files.caCertFile });
    const { port } = await listen(await forwarderServerOptionsFromFiles(vmFiles ?? {}, apf));
    const client = clientOptions(m, profile, { instanceName: 'podvm-x-1' });
    expect(client.servername).toBe(MANUAL_SERVER_NAME);
    await expect(handshake(port, { ...client, maxVersion: 'TLSv1.2' })).resolves.toMatchObject({ protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    await expect(handshake(port, client)).resolves.toMatchObject({ protocol: 'TLSv1.3' });
  });

  it('fromConfig picks the mode', async () => {
    const { logger } = captureLogger();
    expect((await TlsMaterial.fromConfig({ stateDir: freshDir(), ...files }, logger)).mode).toBe('manual');
    expect((await TlsMaterial.fromConfig({ stateDir: freshDir(), caCertFile: '', certFile: '', certKey: '' }, logger)).mode).toBe('auto');
    await expect(TlsMaterial.fromConfig({ stateDir: freshDir(), caCertFile: files.caCertFile }, logger)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });

  it('a missing or bad file is an error naming it', async () => {
    const missing = join(root, 'manual', 'nope.crt');
    await expect(TlsMaterial.fromFiles({ ...files, certFile: missing })).rejects.toMatchObject({
      code: 'FILE_UNREADABLE',
      message: expect.stringContaining(`CERT_FILE ${missing}`),
    });
    await expect(TlsMaterial.fromFiles({ ...files, caCertFile: missing })).rejects.toMatchObject({ code: 'FILE_UNREADABLE', message: expect.stringContaining(`CACERT_FILE ${missing}`) });
    await expect(TlsMaterial.fromFiles({ ...files, certKey: files.serverKey })).rejects.toMatchObject({
      code: 'INVALID_CERTIFICATE',
      message: expect.stringContaining(files.serverKey),
    });
    await expect(TlsMaterial.fromFiles({ ...files, caCertFile: files.certKey })).rejects.toMatchObject({ code: 'INVALID_CERTIFICATE', message: expect.stringContaining('CACERT_FILE') });
    await expect(forwarderServerOptionsFromFiles({ certFile: missing, keyFile: files.serverKey })).rejects.toMatchObject({
      code: 'FILE_UNREADABLE',
      message: expect.stringContaining(missing),
    });
    await expect(forwarderServerOptionsFromFiles({ certFile: files.serverCert, keyFile: files.serverKey })).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('client CA') });
  });

  it('forwarderCertFilesIn: no files → undefined; half a pair → error', async () => {
    const empty = join(root, 'empty-certs');
    await mkdir(empty);
    expect(await forwarderCertFilesIn(empty)).toBeUndefined();
    await writeFile(join(empty, 'tls.crt'), 'x');
    await expect(forwarderCertFilesIn(empty)).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('tls.key') });
  });

  it('a manual client certificate that expired is refused at start', async () => {
    const old = await createClientCert({ now: new Date(Date.now() - 3 * 86_400_000), validityMs: 86_400_000 });
    const dir = join(root, 'manual-expired');
    await mkdir(dir);
    await writeFile(join(dir, 'c.crt'), old.cert);
    await writeFile(join(dir, 'c.key'), old.key);
    await expect(TlsMaterial.fromFiles({ certFile: join(dir, 'c.crt'), certKey: join(dir, 'c.key') })).rejects.toMatchObject({ code: 'CERTIFICATE_EXPIRED' });
  });
});
