/**
 * initdata (reference §3.9): a Trustee TOML document with `algorithm`, `version` and a `[data]`
 * table of file name → content. On the wire (pod annotation `io.katacontainers.config.hypervisor.cc_init_data`,
 * global `INITDATA`, `/run/peerpod/initdata` in the VM) it is gzip then standard base64.
 * The digest attesters see is taken over the raw TOML bytes, so those bytes are never re-serialised.
 */
import { messageOf } from '../util/errors.js';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parse as parseToml } from 'smol-toml';
import { decodeStdBase64, encodeStdBase64 } from './base64.js';
import { InitdataError } from './errors.js';

export const INITDATA_ALGORITHMS = ['sha256', 'sha384', 'sha512'] as const;
export type InitdataAlgorithm = (typeof INITDATA_ALGORITHMS)[number];

/** The `[data]` keys CAA and the VM accept; each becomes `/run/peerpod/<key>` in the VM. */
export const INITDATA_DATA_KEYS = ['aa.toml', 'cdh.toml', 'policy.rego'] as const;
export type InitdataDataKey = (typeof INITDATA_DATA_KEYS)[number];

/** Cap on the raw (decompressed) TOML: far above any provider's user-data limit, low enough to stop a gzip bomb. */
export const MAX_INITDATA_BYTES = 1024 * 1024;

/** What the VM uses when it received no initdata: AA still gets an (empty) config file and starts. */
export const DEFAULT_INITDATA_TOML = 'algorithm = "sha256"\nversion = "0.1.0"\n\n[data]\n"aa.toml" = ""\n';

export interface Initdata {
  algorithm: InitdataAlgorithm;
  version: string;
  /** File name → content. Keys outside `INITDATA_DATA_KEYS` only appear with `strictDataKeys: false`. */
  data: Record<string, string>;
}

export interface ParseInitdataOptions {
  /**
   * true (default, CAA side): a `[data]` key outside `INITDATA_DATA_KEYS` is an error.
   * false (VM side, as upstream's reader): such keys are kept in `data` for the caller to log and skip.
   */
  strictDataKeys?: boolean;
}

const isAlgorithm = (v: unknown): v is InitdataAlgorithm => INITDATA_ALGORITHMS.includes(v as InitdataAlgorithm);
const isDataKey = (k: string): k is InitdataDataKey => INITDATA_DATA_KEYS.includes(k as InitdataDataKey);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Validates raw initdata TOML and returns its fields. Throws `InitdataError` (code `INVALID_INITDATA`)
 * with `reason` BAD_TOML, BAD_ALGORITHM, BAD_VERSION, BAD_DATA, UNKNOWN_DATA_KEY or TOO_LARGE.
 * Other top-level keys are ignored, as the Go reader does.
 */
export function parseInitdata(rawToml: string, options: ParseInitdataOptions = {}): Initdata {
  if (Buffer.byteLength(rawToml) > MAX_INITDATA_BYTES) {
    throw new InitdataError('TOO_LARGE', `initdata is larger than ${MAX_INITDATA_BYTES} bytes`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(rawToml);
  } catch (err) {
    throw new InitdataError('BAD_TOML', `initdata is not valid TOML: ${messageOf(err).split('\n')[0]}`, { cause: err });
  }
  const { algorithm, version, data } = doc;
  if (!isAlgorithm(algorithm)) {
    throw new InitdataError('BAD_ALGORITHM', `initdata "algorithm" must be one of ${INITDATA_ALGORITHMS.join(', ')}, got ${JSON.stringify(algorithm) ?? 'nothing'}`);
  }
  if (typeof version !== 'string' || version === '') {
    throw new InitdataError('BAD_VERSION', `initdata "version" must be a non-empty string, got ${JSON.stringify(version) ?? 'nothing'}`);
  }
  const out: Record<string, string> = {};
  if (data !== undefined) {
    if (typeof data !== 'object' || data === null || Array.isArray(data) || data instanceof Date) {
      throw new InitdataError('BAD_DATA', 'initdata "data" must be a table');
    }
    for (const [key, value] of Object.entries(data)) {
      if (options.strictDataKeys !== false && !isDataKey(key)) {
        throw new InitdataError('UNKNOWN_DATA_KEY', `initdata data key "${key}" is not allowed (allowed: ${INITDATA_DATA_KEYS.join(', ')})`);
      }
      if (typeof value !== 'string') throw new InitdataError('BAD_DATA', `initdata data "${key}" must be a string`);
      out[key] = value;
    }
  }
  return { algorithm, version, data: out };
}

/** gzip then standard base64 (`gzip | base64 -w0`): the annotation / `INITDATA` / in-VM file format. No validation. */
export function encodeInitdata(rawToml: string): string {
  return encodeStdBase64(gzipSync(Buffer.from(rawToml, 'utf8')));
}

/**
 * The raw TOML inside gzip+base64 initdata, validated with `parseInitdata`. Whitespace around and
 * inside the base64 (a trailing newline, `base64` without `-w0`) is ignored. Decompression stops at
 * `MAX_INITDATA_BYTES`. Throws `InitdataError`: BAD_BASE64, NOT_GZIP, TOO_LARGE, then the parse reasons.
 */
export function decodeInitdata(b64: string, options: ParseInitdataOptions = {}): string {
  return decodeAndParse(b64, options).raw;
}

function decodeAndParse(b64: string, options: ParseInitdataOptions): { raw: string; initdata: Initdata } {
  const gz = decodeStdBase64(b64);
  if (gz === undefined || gz.length === 0) throw new InitdataError('BAD_BASE64', 'initdata is not standard base64');
  if (gz[0] !== 0x1f || gz[1] !== 0x8b) throw new InitdataError('NOT_GZIP', 'initdata is not gzip-compressed (no gzip header)');
  let bytes: Buffer;
  try {
    bytes = gunzipSync(gz, { maxOutputLength: MAX_INITDATA_BYTES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InitdataError('TOO_LARGE', `initdata decompresses to more than ${MAX_INITDATA_BYTES} bytes`, { cause: err });
    }
    throw new InitdataError('NOT_GZIP', `initdata is not valid gzip: ${messageOf(err)}`, { cause: err });
  }
  let raw: string;
  try {
    raw = utf8.decode(bytes);
  } catch (err) {
    throw new InitdataError('BAD_TOML', 'initdata is not UTF-8 text', { cause: err });
  }
  return { raw, initdata: parseInitdata(raw, options) };
}

/** Hex digest of the raw TOML bytes with `algorithm` (what the VM writes to `/run/peerpod/initdata.digest`). */
export function initdataDigest(rawToml: string | Uint8Array, algorithm: InitdataAlgorithm): string {
  if (!isAlgorithm(algorithm)) throw new InitdataError('BAD_ALGORITHM', `unsupported initdata algorithm ${JSON.stringify(algorithm)}`);
  return createHash(algorithm).update(typeof rawToml === 'string' ? Buffer.from(rawToml, 'utf8') : rawToml).digest('hex');
}

export interface DecodedInitdata extends Initdata {
  raw: string;
  digest: string;
}

/** decode + parse + digest in one step (VM side and start-up checks). */
export function inspectInitdata(b64: string, options: ParseInitdataOptions = {}): DecodedInitdata {
  const { raw, initdata } = decodeAndParse(b64, options);
  return { ...initdata, raw, digest: initdataDigest(raw, initdata.algorithm) };
}

/**
 * Start-up check of the global `INITDATA` (flag `-initdata`): '' (none) is fine and returns
 * undefined; anything else must decode and parse strictly. Throws `InitdataError` whose message
 * names `INITDATA`, so the daemon can stop with it before any pod gets a VM that cannot boot.
 */
export function validateGlobalInitdata(b64: string): DecodedInitdata | undefined {
  if (b64.trim() === '') return undefined;
  try {
    return inspectInitdata(b64);
  } catch (err) {
    if (err instanceof InitdataError) throw new InitdataError(err.reason, `INITDATA: ${err.message}`, { cause: err });
    throw err;
  }
}
