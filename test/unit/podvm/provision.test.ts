import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApfConfig } from '../../../src/podvm/apf-config.js';
import { cloudConfig } from '../../../src/podvm/cloud-config.js';
import { ProvisionError, UserDataError } from '../../../src/podvm/errors.js';
import { DEFAULT_INITDATA_TOML, encodeInitdata } from '../../../src/podvm/initdata.js';
import { provisionFiles, type ProvisionOptions } from '../../../src/podvm/provision.js';
import { buildUserData } from '../../../src/podvm/user-data.js';

const apf: ApfConfig = { 'pod-namespace': 'default', 'pod-name': 'nginx' };
const INITDATA = `algorithm = "sha512"
version = "0.1.0"

[data]
"aa.toml" = "[token_configs.kbs]\\nurl = 'http://kbs:8080'\\n"
"cdh.toml" = "socket = 'unix:///run/cdh.sock'\\n"
"policy.rego" = "package agent_policy\\n"
"extra.txt" = "not for the VM"
`;
const AUTH = '{"auths":{"quay.io":{"auth":"dTpw"}}}';
const USER_DATA = buildUserData({ apf, authJson: AUTH, scratchSpace: true });

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}
function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

let dir: string;
let root: string;
let cidata: string;
let logger: Logger;
let lines: LogLine[];
const servers: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'caa-podvm-'));
  root = join(dir, 'root');
  cidata = join(dir, 'cidata');
  ({ logger, lines } = captureLogger());
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

const read = (vmPath: string): Promise<string> => readFile(join(root, vmPath), 'utf8');
const mode = async (vmPath: string): Promise<number> => (await stat(join(root, vmPath))).mode & 0o777;
const present = (vmPath: string): Promise<boolean> =>
  stat(join(root, vmPath)).then(
    () => true,
    () => false,
  );

function opts(extra: Partial<ProvisionOptions> = {}): ProvisionOptions {
  return { logger, root, cidataDir: cidata, retryMs: 20, timeoutMs: 5000, ...extra };
}

interface Fake {
  url: string;
  requests: { method: string; url: string; headers: IncomingMessage['headers'] }[];
}
type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** A metadata-service fake on 127.0.0.1 (ephemeral port), closed after each test. */
async function startFake(handler: Handler): Promise<Fake> {
  const requests: Fake['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res, requests.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const send = (res: ServerResponse, status: number, body = ''): void => {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
};
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function expectUserDataFiles(): Promise<void> {
  expect(await read('/run/peerpod/apf.json')).toBe('{\n    "pod-network": null,\n    "pod-namespace": "default",\n    "pod-name": "nginx"\n}\n');
  expect(JSON.parse(await read('/run/peerpod/auth.json'))).toEqual(JSON.parse(AUTH));
  expect(await read('/run/peerpod/scratch-space.marker')).toBe('');
}

describe('provisionFiles (VM side)', () => {
  it('reads the cidata disk, writes allowed files 0644 in 0755 folders, expands initdata', async () => {
    await mkdir(cidata);
    // written by hand: buildUserData refuses the unknown data key, the VM only skips it
    const userData = buildUserData({ apf, authJson: AUTH, scratchSpace: true }).replace(
      '  - path: /run/peerpod/scratch-space.marker',
      `  - path: /run/peerpod/initdata\n    content: |\n      ${encodeInitdata(INITDATA)}\n  - path: /run/peerpod/scratch-space.marker`,
    );
    await writeFile(join(cidata, 'user-data'), userData);
    const r = await provisionFiles(opts({ source: 'aws', endpoints: { aws: 'http://127.0.0.1:1' } }));
    expect(r).toMatchObject({
      source: 'cidata',
      attempts: 1,
      written: ['/run/peerpod/apf.json', '/run/peerpod/auth.json', '/run/peerpod/initdata', '/run/peerpod/scratch-space.marker'],
      ignored: [],
      initdata: {
        from: 'file',
        algorithm: 'sha512',
        files: ['/run/peerpod/aa.toml', '/run/peerpod/cdh.toml', '/run/peerpod/policy.rego'],
        ignoredKeys: ['extra.txt'],
      },
    });
    await expectUserDataFiles();
    expect(await read('/run/peerpod/aa.toml')).toBe("[token_configs.kbs]\nurl = 'http://kbs:8080'\n");
    expect(await read('/run/peerpod/cdh.toml')).toBe("socket = 'unix:///run/cdh.sock'\n");
    expect(await read('/run/peerpod/policy.rego')).toBe('package agent_policy\n');
    expect(await present('/run/peerpod/extra.txt')).toBe(false);
    const digest = createHash('sha512').update(Buffer.from(INITDATA, 'utf8')).digest('hex');
    expect(await read('/run/peerpod/initdata.digest')).toBe(digest);
    expect(r.initdata.digest).toBe(digest);
    expect(await mode('/run/peerpod/apf.json')).toBe(0o644);
    expect(await mode('/run/peerpod/initdata.digest')).toBe(0o644);
    expect((await stat(join(root, 'run/peerpod'))).mode & 0o777).toBe(0o755 & ~process.umask());
    expect(lines.some((l) => l.level === 40 && String(l.msg).includes('"extra.txt"'))).toBe(true);
  });

  it('fetches from AWS with an IMDSv2 token', async () => {
    const fake = await startFake((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        return req.headers['x-aws-ec2-metadata-token-ttl-seconds'] === '60' ? send(res, 200, 'tok-123') : send(res, 400);
      }
      if (req.method === 'GET' && req.url === '/latest/user-data') {
        return req.headers['x-aws-ec2-metadata-token'] === 'tok-123' ? send(res, 200, USER_DATA) : send(res, 401);
      }
      send(res, 404);
    });
    const r = await provisionFiles(opts({ source: 'aws', endpoints: { aws: fake.url } }));
    expect(r.source).toBe('aws');
    expect(fake.requests.map((q) => `${q.method} ${q.url}`)).toEqual(['PUT /latest/api/token', 'GET /latest/user-data']);
    await expectUserDataFiles();
  });

  it('falls back to IMDSv1 when AWS gives no token', async () => {
    const fake = await startFake((req, res) => {
      if (req.method === 'GET' && req.url === '/latest/user-data' && req.headers['x-aws-ec2-metadata-token'] === undefined) {
        return send(res, 200, USER_DATA);
      }
      send(res, 403);
    });
    const r = await provisionFiles(opts({ source: 'aws', endpoints: { aws: fake.url } }));
    expect(r.source).toBe('aws');
    expect(fake.requests.map((q) => q.method)).toEqual(['PUT', 'GET']);
    await expectUserDataFiles();
  });

  it('falls back to IMDSv1 when the token request hangs', async () => {
    const fake = await startFake((req, res) => {
      if (req.method === 'GET') send(res, 200, USER_DATA); // the PUT never gets an answer
    });
    const r = await provisionFiles(opts({ source: 'aws', endpoints: { aws: fake.url } }));
    expect(r).toMatchObject({ source: 'aws', attempts: 1 });
    expect(fake.requests.map((q) => q.method)).toEqual(['PUT', 'GET']);
  });

  it('fetches base64 user data from Azure with Metadata: true', async () => {
    const fake = await startFake((req, res) => {
      const ok = req.url === '/metadata/instance/compute/userData?api-version=2021-01-01&format=text' && req.headers.metadata === 'true';
      send(res, ok ? 200 : 400, ok ? b64(USER_DATA) : '');
    });
    const r = await provisionFiles(opts({ source: 'azure', endpoints: { azure: fake.url } }));
    expect(r).toMatchObject({ source: 'azure', attempts: 1 });
    expect(fake.requests[0]?.method).toBe('GET');
    await expectUserDataFiles();
  });

  it('fetches base64 user data from GCP with Metadata-Flavor: Google', async () => {
    const fake = await startFake((req, res) => {
      const ok = req.url === '/computeMetadata/v1/instance/attributes/user-data' && req.headers['metadata-flavor'] === 'Google';
      send(res, ok ? 200 : 403, ok ? `${b64(USER_DATA)}\n` : '');
    });
    const r = await provisionFiles(opts({ source: 'gcp', endpoints: { gcp: fake.url } }));
    expect(r).toMatchObject({ source: 'gcp', attempts: 1 });
    await expectUserDataFiles();
  });

  it('tries a list of sources in order', async () => {
    const down = await startFake((_req, res) => send(res, 503));
    const gcp = await startFake((_req, res) => send(res, 200, b64(USER_DATA)));
    const r = await provisionFiles(opts({ source: ['azure', 'gcp'], endpoints: { azure: down.url, gcp: gcp.url } }));
    expect(r).toMatchObject({ source: 'gcp', attempts: 2 });
    expect(down.requests).toHaveLength(1);
  });

  it('retries until the service returns valid user data', async () => {
    const fake = await startFake((_req, res, n) => {
      if (n <= 2) return send(res, 404, 'not yet');
      if (n <= 4) return send(res, 200, b64('#cloud-config\nwrite_files:\n  - path: /run/peerpod/apf.json\n    owner: root\n'));
      send(res, 200, b64(USER_DATA));
    });
    const r = await provisionFiles(opts({ source: 'azure', endpoints: { azure: fake.url } }));
    expect(r).toMatchObject({ source: 'azure', attempts: 5 });
    await expectUserDataFiles();
    expect(lines.filter((l) => l.level === 40 && String(l.msg).includes('not usable yet'))).toHaveLength(4);
  });

  it('gives up after timeoutMs with USER_DATA_TIMEOUT', async () => {
    const fake = await startFake((_req, res) => send(res, 404));
    const started = Date.now();
    const err = await provisionFiles(opts({ source: 'gcp', endpoints: { gcp: fake.url }, retryMs: 50, timeoutMs: 300 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err).toMatchObject({ code: 'USER_DATA_TIMEOUT' });
    expect((err as Error).message).toContain('HTTP 404');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fake.requests.length).toBeGreaterThanOrEqual(3);
    expect(await present('/run/peerpod/apf.json')).toBe(false);
  });

  it('times out a request that hangs', async () => {
    const hang = await startFake(() => undefined); // never answers
    const err = await provisionFiles(opts({ source: 'aws', endpoints: { aws: hang.url }, timeoutMs: 200, requestTimeoutMs: 100 })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'USER_DATA_TIMEOUT' });
  });

  it('rejects a document with a key other than path/content as invalid, and keeps retrying', async () => {
    await mkdir(cidata);
    await writeFile(join(cidata, 'user-data'), '#cloud-config\nwrite_files:\n  - path: /run/peerpod/apf.json\n    content: "{}"\n    owner: root:root\n');
    const err = await provisionFiles(opts({ timeoutMs: 150 })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'USER_DATA_TIMEOUT' });
    expect((err as Error).cause).toBeInstanceOf(UserDataError);
    expect((err as Error).message).toContain('"owner"');
    expect(await present('/run/peerpod/apf.json')).toBe(false);
  });

  it('ignores and logs paths outside the allowed list', async () => {
    await mkdir(cidata);
    await writeFile(
      join(cidata, 'user-data'),
      cloudConfig([
        { path: '/etc/passwd', content: 'root::0:0::/root:/bin/sh\n' },
        { path: '/run/peerpod/../../etc/shadow', content: 'x' },
        { path: '/run/peerpod/agent-config.toml', content: 'x' },
        { path: 'run/peerpod/apf.json', content: 'x' },
        { path: '/run/peerpod/cdh.toml', content: 'socket = "x"\n' },
      ]),
    );
    const r = await provisionFiles(opts());
    expect(r.written).toEqual(['/run/peerpod/cdh.toml']);
    expect(r.ignored).toEqual(['/etc/passwd', '/run/peerpod/../../etc/shadow', '/run/peerpod/agent-config.toml', 'run/peerpod/apf.json']);
    expect(await present('/etc/passwd')).toBe(false);
    expect(await present('/etc/shadow')).toBe(false);
    expect(await present('/run/peerpod/agent-config.toml')).toBe(false);
    expect(await read('/run/peerpod/cdh.toml')).toBe('socket = "x"\n');
    const warned = lines.filter((l) => l.level === 40 && String(l.msg).includes('is not allowed')).map((l) => l.path);
    expect(warned).toEqual(r.ignored);
  });

  it('uses the default initdata when none was sent', async () => {
    const r = await provisionFiles(opts({ source: 'none' }));
    const digest = createHash('sha256').update(DEFAULT_INITDATA_TOML).digest('hex');
    expect(r).toEqual({
      source: null,
      attempts: 0,
      written: [],
      ignored: [],
      initdata: { from: 'default', algorithm: 'sha256', digest, files: ['/run/peerpod/aa.toml'], ignoredKeys: [] },
    });
    expect(await read('/run/peerpod/aa.toml')).toBe('');
    expect(await read('/run/peerpod/initdata.digest')).toBe(digest);
    expect(await present('/run/peerpod/initdata')).toBe(false);
  });

  it('handles an initdata file already present without a user-data source', async () => {
    await mkdir(join(root, 'run/peerpod'), { recursive: true });
    const raw = 'algorithm = "sha384"\nversion = "0.1.0"\n[data]\n"policy.rego" = "package p\\n"\n';
    await writeFile(join(root, 'run/peerpod/initdata'), `${encodeInitdata(raw)}\n`);
    const r = await provisionFiles(opts({ cidataDir: null }));
    expect(r.initdata).toMatchObject({ from: 'file', algorithm: 'sha384', files: ['/run/peerpod/policy.rego'] });
    expect(await read('/run/peerpod/initdata.digest')).toBe(createHash('sha384').update(raw).digest('hex'));
  });

  it('fails on an initdata file it cannot decode', async () => {
    await mkdir(join(root, 'run/peerpod'), { recursive: true });
    await writeFile(join(root, 'run/peerpod/initdata'), 'bm90IGd6aXA=\n');
    await expect(provisionFiles(opts({ cidataDir: null }))).rejects.toMatchObject({ code: 'INVALID_INITDATA', reason: 'NOT_GZIP' });
    expect(await present('/run/peerpod/initdata.digest')).toBe(false);
  });

  it('stops when the signal aborts', async () => {
    const fake = await startFake((_req, res) => send(res, 404));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutdown')), 100);
    await expect(provisionFiles(opts({ source: 'aws', endpoints: { aws: fake.url }, retryMs: 30, signal: ac.signal }))).rejects.toThrow('shutdown');
  });
});
