import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InitdataError, type InitdataErrorReason } from '../../../src/podvm/errors.js';
import {
  DEFAULT_INITDATA_TOML,
  INITDATA_ALGORITHMS,
  MAX_INITDATA_BYTES,
  decodeInitdata,
  encodeInitdata,
  initdataDigest,
  inspectInitdata,
  parseInitdata,
  validateGlobalInitdata,
} from '../../../src/podvm/initdata.js';

const RAW = `algorithm = "sha384"
version = "0.1.0"

[data]
"aa.toml" = '''
[token_configs.kbs]
url = "http://kbs.example:8080"
'''
"cdh.toml" = '''
socket = "unix:///run/confidential-containers/cdh.sock"
'''
"policy.rego" = '''
package agent_policy
default AllowRequestsFailingPolicy := true
'''
`;

const b64 = (data: string | Uint8Array): string => Buffer.from(data).toString('base64');

function initdataError(fn: () => unknown): InitdataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InitdataError);
    expect((err as InitdataError).code).toBe('INVALID_INITDATA');
    return err as InitdataError;
  }
  throw new Error('expected an InitdataError');
}
const reasonOf = (fn: () => unknown): InitdataErrorReason => initdataError(fn).reason;

describe('initdata', () => {
  it('parses algorithm, version and the data files', () => {
    expect(parseInitdata(RAW)).toEqual({
      algorithm: 'sha384',
      version: '0.1.0',
      data: {
        'aa.toml': '[token_configs.kbs]\nurl = "http://kbs.example:8080"\n',
        'cdh.toml': 'socket = "unix:///run/confidential-containers/cdh.sock"\n',
        'policy.rego': 'package agent_policy\ndefault AllowRequestsFailingPolicy := true\n',
      },
    });
    expect(parseInitdata('algorithm = "sha256"\nversion = "0.1.0"\n').data).toEqual({});
    expect(parseInitdata(DEFAULT_INITDATA_TOML)).toEqual({ algorithm: 'sha256', version: '0.1.0', data: { 'aa.toml': '' } });
  });

  it('encodes as gzip + standard base64 and decodes back to the same bytes', () => {
    const encoded = encodeInitdata(RAW);
    expect(encoded).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(encoded, 'base64').subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(decodeInitdata(encoded)).toBe(RAW);
    // what `gzip | base64` (76-column lines, trailing newline) and a YAML literal block give
    const wrapped = `${encoded.replace(/(.{76})/g, '$1\n')}\n`;
    expect(decodeInitdata(wrapped)).toBe(RAW);
    // bytes survive exactly: CRLF, BOM, non-ASCII
    const odd = '\uFEFFalgorithm = "sha256"\r\nversion = "0.1.0"\r\n[data]\r\n"aa.toml" = "café ☕"\r\n';
    expect(decodeInitdata(encodeInitdata(odd))).toBe(odd);
  });

  it('refuses bad base64, non-gzip, corrupt gzip and non-UTF-8 content', () => {
    expect(reasonOf(() => decodeInitdata('not base64!'))).toBe('BAD_BASE64');
    expect(reasonOf(() => decodeInitdata('abc'))).toBe('BAD_BASE64');
    expect(reasonOf(() => decodeInitdata(''))).toBe('BAD_BASE64');
    expect(reasonOf(() => decodeInitdata(b64(RAW)))).toBe('NOT_GZIP');
    const truncated = gzipSync(Buffer.from(RAW)).subarray(0, 20);
    expect(reasonOf(() => decodeInitdata(b64(truncated)))).toBe('NOT_GZIP');
    expect(reasonOf(() => decodeInitdata(b64(gzipSync(Buffer.from([0xff, 0xfe, 0x00])))))).toBe('BAD_TOML');
  });

  it('refuses a gzip bomb without inflating it', () => {
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x61));
    expect(bomb.length).toBeLessThan(32 * 1024);
    const e = initdataError(() => decodeInitdata(b64(bomb)));
    expect(e.reason).toBe('TOO_LARGE');
    // just over the cap is refused, the cap itself is not "too large"
    const padded = (n: number): string => `algorithm = "sha256"\nversion = "0.1.0"\n#${'x'.repeat(n)}\n`;
    const base = Buffer.byteLength(padded(0));
    expect(parseInitdata(decodeInitdata(encodeInitdata(padded(MAX_INITDATA_BYTES - base))))).toMatchObject({ algorithm: 'sha256' });
    expect(reasonOf(() => decodeInitdata(encodeInitdata(padded(MAX_INITDATA_BYTES - base + 1))))).toBe('TOO_LARGE');
    expect(reasonOf(() => parseInitdata(padded(MAX_INITDATA_BYTES)))).toBe('TOO_LARGE');
  });

  it('refuses bad TOML, algorithms, versions and data', () => {
    const enc = (raw: string) => () => decodeInitdata(encodeInitdata(raw));
    expect(reasonOf(enc('algorithm = "sha256'))).toBe('BAD_TOML');
    expect(reasonOf(enc('algorithm = "md5"\nversion = "0.1.0"\n'))).toBe('BAD_ALGORITHM');
    expect(reasonOf(enc('version = "0.1.0"\n'))).toBe('BAD_ALGORITHM');
    expect(reasonOf(enc('algorithm = "sha256"\n'))).toBe('BAD_VERSION');
    expect(reasonOf(enc('algorithm = "sha256"\nversion = 1\n'))).toBe('BAD_VERSION');
    expect(reasonOf(enc('algorithm = "sha256"\nversion = "0.1.0"\ndata = "x"\n'))).toBe('BAD_DATA');
    expect(reasonOf(enc('algorithm = "sha256"\nversion = "0.1.0"\n[data]\n"aa.toml" = 1\n'))).toBe('BAD_DATA');
    const unknown = initdataError(enc('algorithm = "sha256"\nversion = "0.1.0"\n[data]\n"agent-config.toml" = ""\n'));
    expect(unknown.reason).toBe('UNKNOWN_DATA_KEY');
    expect(unknown.message).toContain('agent-config.toml');
  });

  it('keeps unknown data keys for the VM side when asked', () => {
    const raw = 'algorithm = "sha256"\nversion = "0.1.0"\n[data]\n"extra" = "x"\n"cdh.toml" = "y"\n';
    expect(parseInitdata(raw, { strictDataKeys: false }).data).toEqual({ extra: 'x', 'cdh.toml': 'y' });
  });

  it('digests the raw TOML bytes with each algorithm', () => {
    const raw = RAW.replace('kbs.example', 'kbs.exämple');
    for (const algorithm of INITDATA_ALGORITHMS) {
      const expected = createHash(algorithm).update(Buffer.from(raw, 'utf8')).digest('hex');
      expect(initdataDigest(raw, algorithm)).toBe(expected);
      expect(initdataDigest(Buffer.from(raw, 'utf8'), algorithm)).toBe(expected);
    }
    expect(initdataDigest('', 'sha256')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(initdataDigest(RAW, 'sha384')).toHaveLength(96);
    expect(initdataDigest(RAW, 'sha512')).toHaveLength(128);
    expect(reasonOf(() => initdataDigest(RAW, 'md5' as 'sha256'))).toBe('BAD_ALGORITHM');
    expect(inspectInitdata(encodeInitdata(RAW)).digest).toBe(createHash('sha384').update(RAW).digest('hex'));
  });

  it('checks the global INITDATA at start-up', () => {
    expect(validateGlobalInitdata('')).toBeUndefined();
    expect(validateGlobalInitdata(' \n')).toBeUndefined();
    expect(validateGlobalInitdata(encodeInitdata(RAW))).toMatchObject({ algorithm: 'sha384', version: '0.1.0', raw: RAW });
    const e = initdataError(() => validateGlobalInitdata(b64('algorithm = "sha256"')));
    expect(e.reason).toBe('NOT_GZIP');
    expect(e.message).toMatch(/^INITDATA: /);
  });
});
