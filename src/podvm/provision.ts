/**
 * The VM side of user data (upstream `process-user-data provision-files`, reference §3.13): fetch
 * the cloud-config from the cidata disk or a cloud's metadata service, write the allowed files under
 * `/run/peerpod`, then expand initdata and write its digest.
 *
 * Which cloud the VM runs in is decided by the caller (`source`); this module only knows how each
 * metadata service hands out user data. It is meant to run once per boot, alone; running it twice
 * rewrites the same files with the same content.
 */
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { sleep } from '../util/backoff.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { decodeStdBase64 } from './base64.js';
import { parseCloudConfig, type WriteFile } from './cloud-config.js';
import { ProvisionError } from './errors.js';
import {
  DEFAULT_INITDATA_TOML,
  INITDATA_DATA_KEYS,
  inspectInitdata,
  initdataDigest,
  parseInitdata,
  type InitdataAlgorithm,
} from './initdata.js';
import { CIDATA_DIR, INITDATA_DIGEST_PATH, INITDATA_PATH, PEERPOD_DIR, USER_DATA_WRITABLE_PATHS } from './paths.js';
import { timeoutSignal } from '../util/timers.js';

export type CloudSource = 'aws' | 'azure' | 'gcp';
/** `cidata`: only the cidata disk; `none`: no metadata service (initdata handling only, unless a cidata disk is present). */
export type UserDataSource = 'cidata' | CloudSource | 'none';

/** Base URLs of the metadata services (no trailing slash); tests point them at a local fake. */
export interface MetadataEndpoints {
  aws: string;
  azure: string;
  gcp: string;
}

export const DEFAULT_METADATA_ENDPOINTS: Readonly<MetadataEndpoints> = {
  aws: 'http://169.254.169.254',
  azure: 'http://169.254.169.254',
  gcp: 'http://metadata.google.internal',
};

/** Largest user-data document read (Azure allows 64 KiB base64, AWS 16 KiB): refuses a runaway body. */
export const MAX_USER_DATA_BYTES = 1024 * 1024;

/** A token PUT that does not answer in this time (e.g. a hop limit dropping it) falls back to IMDSv1. */
export const AWS_TOKEN_TIMEOUT_MS = 1000;

export interface ProvisionOptions {
  logger: Logger;
  /** Prefix of every path written (default '/'); tests pass a temporary folder. Not applied to `cidataDir`. */
  root?: string;
  /** Where the cidata disk is mounted (default `/media/cidata`); null: never look there. */
  cidataDir?: string | null;
  /**
   * The cloud(s) to ask, in order, when `<cidataDir>/user-data` does not exist (upstream checks that
   * file before any cloud too). A list is tried in order on every round. Default 'none'.
   */
  source?: UserDataSource | readonly UserDataSource[];
  endpoints?: Partial<MetadataEndpoints>;
  /** Pause between rounds (default 5000 ms). */
  retryMs?: number;
  /** Give up fetching after this long (default 180000 ms, the unit's fetch timeout). */
  timeoutMs?: number;
  /** Limit of one HTTP request (default 10000 ms, never past the overall deadline). */
  requestTimeoutMs?: number;
  /** Aborting rejects with the signal's reason; files already written stay. */
  signal?: AbortSignal;
}

export interface ProvisionResult {
  /** Where the cloud-config came from; null when there was no source (initdata handling only). */
  source: 'cidata' | CloudSource | null;
  /** Fetch attempts made (0 without a source). */
  attempts: number;
  /** VM paths written from `write_files`, in document order. */
  written: string[];
  /** `write_files` paths outside the allowed list, logged and not written. */
  ignored: string[];
  initdata: {
    /** `file`: `/run/peerpod/initdata` was present; `default`: the built-in sha256 document was used. */
    from: 'file' | 'default';
    algorithm: InitdataAlgorithm;
    digest: string;
    /** VM paths written from `[data]`. */
    files: string[];
    /** `[data]` keys outside `aa.toml`, `cdh.toml`, `policy.rego`, logged and not written. */
    ignoredKeys: string[];
  };
}

/**
 * Fetches and applies the user data, then initdata. Resolves with a summary.
 * Rejects with `ProvisionError` (code `USER_DATA_TIMEOUT`, cause = last failure) when no valid
 * cloud-config arrived within `timeoutMs`; with `InitdataError` when `/run/peerpod/initdata` is not
 * valid; with the abort reason when `signal` aborts; with the fs error when a write fails.
 * An invalid document (not strict cloud-config) counts as a failed attempt and is retried, as the
 * metadata service may not serve the final user data yet.
 */
export async function provisionFiles(options: ProvisionOptions): Promise<ProvisionResult> {
  const log = options.logger;
  const root = options.root ?? '/';
  const fetched = await retrieveCloudConfig(options);
  const written: string[] = [];
  const ignored: string[] = [];
  for (const file of fetched?.files ?? []) {
    if (USER_DATA_WRITABLE_PATHS.includes(file.path)) {
      await writeVmFile(root, file.path, file.content);
      written.push(file.path);
      log.info({ path: file.path }, `wrote ${file.path}`);
    } else {
      ignored.push(file.path);
      log.warn({ path: file.path }, `write_files path ${file.path} is not allowed; ignored`);
    }
  }
  const initdata = await applyInitdata(root, log);
  return { source: fetched?.source ?? null, attempts: fetched?.attempts ?? 0, written, ignored, initdata };
}

interface Fetched {
  source: 'cidata' | CloudSource;
  files: WriteFile[];
  attempts: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function retrieveCloudConfig(o: ProvisionOptions): Promise<Fetched | undefined> {
  const log = o.logger;
  const cidataDir = o.cidataDir === undefined ? CIDATA_DIR : o.cidataDir;
  const requested = typeof o.source === 'string' ? [o.source] : (o.source ?? ['none']);
  let sources: ('cidata' | CloudSource)[];
  if (cidataDir !== null && (await exists(join(cidataDir, 'user-data')))) {
    sources = ['cidata'];
  } else {
    sources = requested.filter((s): s is CloudSource => s !== 'cidata' && s !== 'none');
  }
  if (sources.length === 0) {
    log.info('no user data source: only initdata is handled');
    return undefined;
  }
  const endpoints = { ...DEFAULT_METADATA_ENDPOINTS, ...o.endpoints };
  const retryMs = o.retryMs ?? 5000;
  const timeoutMs = o.timeoutMs ?? 180_000;
  const requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let lastError: unknown;
  for (;;) {
    for (const source of sources) {
      if (attempts > 0 && Date.now() >= deadline) break;
      attempts += 1;
      o.signal?.throwIfAborted();
      const budget = Math.max(1, Math.min(requestTimeoutMs, deadline - Date.now()));
      const timeout = timeoutSignal(budget);
      const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
      try {
        const text = await fetchUserData(source, { cidataDir: cidataDir ?? CIDATA_DIR, endpoints, signal, log });
        const files = parseCloudConfig(text);
        log.info({ source, attempts, files: files.length }, `user data from ${source}`);
        return { source, files, attempts };
      } catch (err) {
        o.signal?.throwIfAborted();
        // A request cut short by the overall deadline says less than the failure before it.
        const cutByDeadline = timeout.aborted && budget < requestTimeoutMs;
        if (!cutByDeadline || lastError === undefined) lastError = err;
        log.warn({ source, attempt: attempts, err }, `user data from ${source} not usable yet: ${errorText(err)}`);
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new ProvisionError(`no valid user data after ${timeoutMs} ms (${attempts} attempts): ${errorText(lastError)}`, { cause: lastError });
    }
    await sleep(Math.min(retryMs, left), o.signal);
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'request timed out';
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

interface FetchContext {
  cidataDir: string;
  endpoints: MetadataEndpoints;
  signal: AbortSignal;
  log: Logger;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeBody(bytes: Uint8Array, base64: boolean, source: string): string {
  let raw = bytes;
  if (base64) {
    const decoded = decodeStdBase64(utf8.decode(bytes));
    if (decoded === undefined) throw new Error(`user data from ${source} is not base64`);
    raw = decoded;
  }
  try {
    return utf8.decode(raw);
  } catch {
    throw new Error(`user data from ${source} is not UTF-8 text`);
  }
}

async function fetchUserData(source: 'cidata' | CloudSource, c: FetchContext): Promise<string> {
  switch (source) {
    case 'cidata': {
      const path = join(c.cidataDir, 'user-data');
      const { size } = await stat(path);
      if (size > MAX_USER_DATA_BYTES) throw new Error(`${path} is larger than ${MAX_USER_DATA_BYTES} bytes`);
      return decodeBody(await readFile(path, { signal: c.signal }), false, source);
    }
    case 'aws': {
      // IMDSv2 first; an instance configured for IMDSv1 (or an old fake) answers the plain GET.
      let token: string | undefined;
      try {
        const signal = AbortSignal.any([c.signal, AbortSignal.timeout(AWS_TOKEN_TIMEOUT_MS)]);
        const t = await httpRequest('PUT', `${c.endpoints.aws}/latest/api/token`, { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, signal);
        token = decodeBody(t, false, 'aws token');
      } catch (err) {
        c.signal.throwIfAborted();
        c.log.debug({ err }, 'IMDSv2 token unavailable; trying IMDSv1');
      }
      const headers: Record<string, string> = token === undefined ? {} : { 'X-aws-ec2-metadata-token': token };
      return decodeBody(await httpRequest('GET', `${c.endpoints.aws}/latest/user-data`, headers, c.signal), false, source);
    }
    case 'azure': {
      const url = `${c.endpoints.azure}/metadata/instance/compute/userData?api-version=2021-01-01&format=text`;
      return decodeBody(await httpRequest('GET', url, { Metadata: 'true' }, c.signal), true, source);
    }
    case 'gcp': {
      const url = `${c.endpoints.gcp}/computeMetadata/v1/instance/attributes/user-data`;
      return decodeBody(await httpRequest('GET', url, { 'Metadata-Flavor': 'Google' }, c.signal), true, source);
    }
  }
}

/** The body of a 200 answer, at most `MAX_USER_DATA_BYTES`; any other status is an error. */
async function httpRequest(method: 'GET' | 'PUT', url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Uint8Array> {
  const res = await fetch(url, { method, headers, signal, redirect: 'error' });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`${method} ${url}: HTTP ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.byteLength;
      if (size > MAX_USER_DATA_BYTES) {
        await res.body.cancel().catch(() => undefined);
        throw new Error(`${method} ${url}: body larger than ${MAX_USER_DATA_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

/** Writes `content` at `root` + `vmPath`: folders 0755, file 0644, atomically (no torn file for a reader). */
async function writeVmFile(root: string, vmPath: string, content: string): Promise<void> {
  const target = join(root, vmPath);
  await mkdir(dirname(target), { recursive: true, mode: 0o755 });
  await writeFileAtomic(target, content, 0o644);
  await chmod(target, 0o644);
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function applyInitdata(root: string, log: Logger): Promise<ProvisionResult['initdata']> {
  const b64 = await readIfExists(join(root, INITDATA_PATH));
  let from: 'file' | 'default';
  let data: Record<string, string>;
  let algorithm: InitdataAlgorithm;
  let digest: string;
  if (b64 === undefined) {
    from = 'default';
    ({ algorithm, data } = parseInitdata(DEFAULT_INITDATA_TOML));
    digest = initdataDigest(DEFAULT_INITDATA_TOML, algorithm);
    log.info(`${INITDATA_PATH} not found: using the default initdata (sha256, empty aa.toml)`);
  } else {
    from = 'file';
    ({ algorithm, data, digest } = inspectInitdata(b64, { strictDataKeys: false }));
  }
  const files: string[] = [];
  const ignoredKeys: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if ((INITDATA_DATA_KEYS as readonly string[]).includes(key)) {
      const vmPath = `${PEERPOD_DIR}/${key}`;
      await writeVmFile(root, vmPath, value);
      files.push(vmPath);
      log.info({ path: vmPath }, `wrote ${vmPath} from initdata`);
    } else {
      ignoredKeys.push(key);
      log.warn({ key }, `initdata data key "${key}" is not allowed; ignored`);
    }
  }
  await writeVmFile(root, INITDATA_DIGEST_PATH, digest);
  log.info({ algorithm, digest }, `wrote ${INITDATA_DIGEST_PATH}`);
  return { from, algorithm, digest, files, ignoredKeys };
}
